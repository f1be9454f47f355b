//! PostgreSQL's wire types: times ([`PgTime`]), whole numbers from `NUMERIC` sums ([`Num`]),
//! and the binding of [`DbValue`]s.

use std::error::Error as StdError;
use std::net::IpAddr;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres_types::to_sql_checked;

use crate::schema::{DbType, DbValue};
#[cfg(doc)]
use crate::TimeRange;

/// µs between the Unix epoch and PostgreSQL's (2000-01-01 UTC).
pub(super) const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

/// PostgreSQL's earliest timestamp (4714-11-24 BC), µs since its epoch. Earlier times are
/// bound as `-infinity`, so an open range such as [`TimeRange::ALL`] means what it says.
const PG_MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;

/// A time for `TIMESTAMPTZ`: µs since the Unix epoch (UTC), converted from and to the binary
/// wire format (µs since 2000-01-01 UTC), so it round-trips exactly whatever the session's
/// `TimeZone`. Times before PostgreSQL's range are sent as `-infinity`; `±infinity` read back as
/// `i64::MIN` / `i64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PgTime(pub i64);

impl ToSql for PgTime {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let pg = match self.0.checked_sub(PG_EPOCH_OFFSET_US) {
            Some(v) if v >= PG_MIN_TIMESTAMP => v,
            _ => i64::MIN,
        };
        out.extend_from_slice(&pg.to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMPTZ | Type::TIMESTAMP)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for PgTime {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        let b: [u8; 8] = raw.try_into().map_err(|_| "a timestamp is 8 bytes")?;
        Ok(PgTime(match i64::from_be_bytes(b) {
            i64::MIN => i64::MIN,
            i64::MAX => i64::MAX,
            v => v.saturating_add(PG_EPOCH_OFFSET_US),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::TIMESTAMPTZ | Type::TIMESTAMP)
    }
}

/// A whole number read from an integer or `NUMERIC` column (`SUM` of a `BIGINT` is `NUMERIC`
/// in PostgreSQL); fractions are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Num(pub(super) i128);

impl Num {
    pub(super) fn u64(self) -> u64 {
        self.0.clamp(0, u64::MAX as i128) as u64
    }
}

impl<'a> FromSql<'a> for Num {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Num(match *ty {
            Type::INT2 => i16::from_sql(ty, raw)? as i128,
            Type::INT4 => i32::from_sql(ty, raw)? as i128,
            Type::INT8 => i64::from_sql(ty, raw)? as i128,
            _ => numeric_integer(raw)?,
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT2 | Type::INT4 | Type::INT8 | Type::NUMERIC)
    }
}

/// The integer part of a binary `NUMERIC`: `ndigits, weight, sign, dscale` (16 bits each), then
/// base-10000 digits, the first worth `10000^weight`.
pub(super) fn numeric_integer(
    raw: &[u8],
) -> std::result::Result<i128, Box<dyn StdError + Sync + Send>> {
    let word = |i: usize| -> Option<u16> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let (Some(ndigits), Some(weight), Some(sign)) = (word(0), word(1), word(2)) else {
        return Err("short NUMERIC".into());
    };
    let (ndigits, weight) = (ndigits as usize, weight as i16);
    if raw.len() < 8 + 2 * ndigits {
        return Err("short NUMERIC".into());
    }
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        _ => return Err("NUMERIC is NaN or infinite".into()),
    };
    let mut v: i128 = 0;
    for i in 0..(weight as i32 + 1).max(0) as usize {
        let digit = if i < ndigits {
            word(4 + i).unwrap_or(0)
        } else {
            0
        };
        v = v
            .checked_mul(10_000)
            .and_then(|v| v.checked_add(digit as i128))
            .ok_or("NUMERIC out of range")?;
    }
    Ok(if negative { -v } else { v })
}

impl ToSql for DbValue<'_> {
    /// Binds as the parameter's (or COPY column's) type: integers as `BIGINT` (or a narrower
    /// integer, or a double), reals as `DOUBLE PRECISION`, times as `TIMESTAMPTZ`, addresses as
    /// `INET`; NULL as any type.
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let mismatch = || -> Box<dyn StdError + Sync + Send> {
            format!("cannot bind {self:?} as {ty}").into()
        };
        match self {
            DbValue::Null => Ok(IsNull::Yes),
            DbValue::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => Err(mismatch()),
            },
            DbValue::Float(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(mismatch()),
            },
            DbValue::Text(t) if <&str as ToSql>::accepts(ty) => (&**t as &str).to_sql(ty, out),
            DbValue::Time(t) if <PgTime as ToSql>::accepts(ty) => PgTime(*t).to_sql(ty, out),
            DbValue::Ip(ip) if <IpAddr as ToSql>::accepts(ty) => ip.to_sql(ty, out),
            DbValue::Bytes(b) if *ty == Type::BYTEA => b.as_slice().to_sql(ty, out),
            _ => Err(mismatch()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The PostgreSQL type of a flow column.
pub(super) fn pg_type(t: DbType) -> Type {
    match t {
        DbType::Int => Type::INT8,
        DbType::Float => Type::FLOAT8,
        DbType::Text => Type::TEXT,
        DbType::Time => Type::TIMESTAMPTZ,
        DbType::Ip => Type::INET,
        DbType::Bytes => Type::BYTEA,
    }
}

pub(super) fn params_of<'a>(vals: &'a [DbValue<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    vals.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeRange;

    #[test]
    fn numerics_read_as_their_integer_part() {
        // 123456789012 = [12, 3456, 7890, 12]: ndigits 4, weight 2 → integer part 1234567890;
        // with 12 after the point.
        let mut raw = Vec::new();
        for w in [4u16, 2, 0, 2, 1, 2345, 6789, 1200] {
            raw.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(numeric_integer(&raw).unwrap(), 123_456_789);
        let mut raw = Vec::new();
        for w in [1u16, 2, 0x4000, 0, 7] {
            raw.extend_from_slice(&w.to_be_bytes());
        }
        assert_eq!(numeric_integer(&raw).unwrap(), -700_000_000);
    }

    #[test]
    fn times_are_bound_from_postgres_epoch_and_open_ranges_as_minus_infinity() {
        let mut out = BytesMut::new();
        PgTime(PG_EPOCH_OFFSET_US + 5)
            .to_sql(&Type::TIMESTAMPTZ, &mut out)
            .unwrap();
        assert_eq!(&out[..], &5i64.to_be_bytes());
        assert_eq!(
            PgTime::from_sql(&Type::TIMESTAMPTZ, &out).unwrap(),
            PgTime(PG_EPOCH_OFFSET_US + 5)
        );
        let mut out = BytesMut::new();
        PgTime(TimeRange::ALL.from.0)
            .to_sql(&Type::TIMESTAMPTZ, &mut out)
            .unwrap();
        assert_eq!(&out[..], &i64::MIN.to_be_bytes());
    }
}
