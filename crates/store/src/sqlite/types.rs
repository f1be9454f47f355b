//! Addresses as stored ([`ip_blob`]) and the binding of [`DbValue`]s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::ToSql;

use crate::schema::DbValue;

/// An address as stored: its family's byte (4 or 6) then its bytes, so that blocks compare as
/// ranges and IPv4 and IPv6 never mix.
pub fn ip_blob(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => {
            let mut v = Vec::with_capacity(5);
            v.push(4);
            v.extend_from_slice(&a.octets());
            v
        }
        IpAddr::V6(a) => {
            let mut v = Vec::with_capacity(17);
            v.push(6);
            v.extend_from_slice(&a.octets());
            v
        }
    }
}

/// The address of an [`ip_blob`].
pub fn blob_ip(b: &[u8]) -> Option<IpAddr> {
    match b {
        [4, rest @ ..] => <[u8; 4]>::try_from(rest)
            .ok()
            .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        [6, rest @ ..] => <[u8; 16]>::try_from(rest)
            .ok()
            .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

impl ToSql for DbValue<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            DbValue::Null => ToSqlOutput::Owned(SqlValue::Null),
            DbValue::Int(i) | DbValue::Time(i) => ToSqlOutput::Owned(SqlValue::Integer(*i)),
            DbValue::Float(f) => ToSqlOutput::Owned(SqlValue::Real(*f)),
            DbValue::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            DbValue::Ip(ip) => ToSqlOutput::Owned(SqlValue::Blob(ip_blob(*ip))),
            DbValue::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}
