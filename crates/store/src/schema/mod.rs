//! The `flows` table's columns, derived from `flow::columns` (the one table that also names the
//! CSV header, the Parquet schema and the model's inputs), and the mapping between a
//! [`StoredFlow`] and one row of database values. Both backends bind and read rows through
//! this, so a flow reads back exactly as it was written. The tables themselves, in each SQL
//! dialect, are in `tables`.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::OnceLock;

use flow::app::Application;
use flow::columns::{self, Column, ColumnType, Value};
use flow::features::FEATURES;
use flow::geo::Country;
use flow::{AppMeta, Direction, EndReason, FlowRecord, N_FEATURES};
use packet::Timestamp;

use crate::model::{flow_row_id, CaptureId, Score, StoredFlow, FLOW_SEQ_BITS};

mod alerts;
mod incidents;
mod tables;

pub use alerts::{
    alert_column_list, alert_row, insert_alert_sql, stored_alert, update_alert_sql, ALERT_COLUMNS,
};
pub use incidents::{incident_column_list, stored_incident, INCIDENT_COLUMNS};
pub(crate) use tables::CAPTURE_COLUMNS;
pub use tables::{
    Dialect, ALERT_DEVICE_COLUMNS, ALERT_EPISODE_COLUMNS, ALERT_FLOW_COLUMNS, ALERT_LIVE_COLUMNS,
    ALERT_WORKFLOW_COLUMNS, AUDIT_CHANGE_COLUMNS, CAPTURE_WRITER_COLUMNS, FLOW_COLUMNS_V10,
    FLOW_COLUMNS_V5, FLOW_COLUMNS_V8, FLOW_COLUMNS_V9, FLOW_INDEXES, FLOW_TIME_INDEX,
    INCIDENT_DIGEST_COLUMNS, TALKER_GEO_COLUMNS,
};

/// A column's type in the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbType {
    /// 64-bit integer.
    Int,
    /// Double precision.
    Float,
    /// Text.
    Text,
    /// UTC time, µs (`timestamptz` / SQLite integer µs).
    Time,
    /// IP address (`inet` / SQLite blob, see `sqlite::ip_blob`).
    Ip,
    /// Bytes (`bytea` / SQLite blob).
    Bytes,
}

/// Where a column's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Database id.
    Id,
    /// Capture id.
    Capture,
    /// The minute of the first packet (UTC µs): the leading key of the address and port
    /// indexes, so one batch's index inserts land in a few pages (see `FLOW_INDEXES`).
    Minute,
    /// A column of the flow table (`flow::columns`) other than a feature.
    Column(Column),
    /// Every feature, in `flow::features::FEATURES` order, as one [`encode_features`] value.
    Features,
    /// Last packet time.
    LastSeen,
    /// Tunnel kind.
    Tunnel,
    /// Packets, forward (0) or backward (1).
    Packets(usize),
    /// Counted bytes, forward or backward.
    Bytes(usize),
    /// IP bytes, forward or backward.
    IpBytes(usize),
    /// Score label.
    Label,
    /// P(attack).
    PAttack,
    /// Probability of the label.
    Confidence,
    /// Model version.
    Model,
}

/// One column of `flows`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbColumn {
    /// SQL name.
    pub name: String,
    /// SQL type.
    pub ty: DbType,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Where the value comes from.
    pub source: Source,
}

/// One database value.
#[derive(Clone, Debug, PartialEq)]
pub enum DbValue<'a> {
    /// NULL.
    Null,
    /// Integer.
    Int(i64),
    /// Real.
    Float(f64),
    /// Text.
    Text(Cow<'a, str>),
    /// Time, µs.
    Time(i64),
    /// Address.
    Ip(IpAddr),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl DbValue<'_> {
    /// The value, owning its text (a bound parameter that outlives the row it came from).
    pub fn into_owned(self) -> DbValue<'static> {
        match self {
            DbValue::Null => DbValue::Null,
            DbValue::Int(i) => DbValue::Int(i),
            DbValue::Float(f) => DbValue::Float(f),
            DbValue::Text(t) => DbValue::Text(Cow::Owned(t.into_owned())),
            DbValue::Time(t) => DbValue::Time(t),
            DbValue::Ip(a) => DbValue::Ip(a),
            DbValue::Bytes(b) => DbValue::Bytes(b),
        }
    }
}

/// The SQL name of a flow-table column: its canonical name in snake case
/// (`Flow Bytes/s` → `flow_bytes_s`), except the identity columns.
pub fn sql_name(c: Column) -> String {
    match c {
        Column::Timestamp => "first_seen".into(),
        _ => {
            let mut out = String::new();
            for ch in c.name().chars() {
                if ch.is_ascii_alphanumeric() {
                    out.push(ch.to_ascii_lowercase());
                } else if !out.is_empty() && !out.ends_with('_') {
                    out.push('_');
                }
            }
            while out.ends_with('_') {
                out.pop();
            }
            out
        }
    }
}

/// Every column of `flows`, in table order.
pub fn flow_columns() -> &'static [DbColumn] {
    static COLS: OnceLock<Vec<DbColumn>> = OnceLock::new();
    COLS.get_or_init(|| {
        let col = |name: &str, ty, nullable, source| DbColumn {
            name: name.to_string(),
            ty,
            nullable,
            source,
        };
        let mut v = vec![
            col("id", DbType::Int, false, Source::Id),
            col("capture_id", DbType::Int, false, Source::Capture),
            col("minute_us", DbType::Int, false, Source::Minute),
        ];
        let features = || col("features", DbType::Bytes, false, Source::Features);
        for c in columns::all().filter(|&c| c != Column::FlowId) {
            if let Column::Feature(f) = c {
                // The features go into one value where the first one stood.
                if f as usize == 0 {
                    v.push(features());
                }
                continue;
            }
            let ty = match (c, c.ty()) {
                (Column::SrcIp | Column::DstIp, _) => DbType::Ip,
                (_, ColumnType::Int) => DbType::Int,
                (_, ColumnType::Float) => DbType::Float,
                (_, ColumnType::Time) => DbType::Time,
                (_, ColumnType::Text) => DbType::Text,
            };
            // Addresses are text columns that always hold one.
            let nullable = c.nullable() && !matches!(c, Column::SrcIp | Column::DstIp);
            v.push(DbColumn {
                name: sql_name(c),
                ty,
                nullable,
                source: Source::Column(c),
            });
        }
        v.extend([
            col("last_seen", DbType::Time, false, Source::LastSeen),
            col("tunnel", DbType::Int, false, Source::Tunnel),
            col("fwd_packets", DbType::Int, false, Source::Packets(0)),
            col("bwd_packets", DbType::Int, false, Source::Packets(1)),
            col("fwd_bytes", DbType::Int, false, Source::Bytes(0)),
            col("bwd_bytes", DbType::Int, false, Source::Bytes(1)),
            col("fwd_ip_bytes", DbType::Int, false, Source::IpBytes(0)),
            col("bwd_ip_bytes", DbType::Int, false, Source::IpBytes(1)),
            col("label", DbType::Text, true, Source::Label),
            col("p_attack", DbType::Float, true, Source::PAttack),
            col("confidence", DbType::Float, true, Source::Confidence),
            col("model_version", DbType::Text, true, Source::Model),
        ]);
        v
    })
}

/// The comma-separated column names of `flows`, in table order.
pub fn flow_column_list() -> &'static str {
    static LIST: OnceLock<String> = OnceLock::new();
    LIST.get_or_init(|| {
        flow_columns()
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The value of column `c` for flow `r` of capture `cap`.
pub fn value<'a>(
    c: &DbColumn,
    cap: CaptureId,
    r: &'a FlowRecord,
    score: Option<&'a Score>,
) -> DbValue<'a> {
    let int = |v: u64| DbValue::Int(v as i64);
    match c.source {
        Source::Id => DbValue::Int(flow_row_id(cap, r.id)),
        Source::Capture => DbValue::Int(cap),
        Source::Minute => DbValue::Int(r.first.0.div_euclid(crate::MINUTE_US) * crate::MINUTE_US),
        Source::Features => DbValue::Bytes(encode_features(&r.features)),
        Source::Column(Column::SrcIp) => DbValue::Ip(r.src),
        Source::Column(Column::DstIp) => DbValue::Ip(r.dst),
        Source::Column(col) => match col.value(r) {
            Value::Text(t) => DbValue::Text(t),
            Value::Int(i) => DbValue::Int(i),
            Value::Float(f) => DbValue::Float(f),
            Value::Time(t) => DbValue::Time(t),
            Value::Null => DbValue::Null,
        },
        Source::LastSeen => DbValue::Time(r.last.0),
        Source::Tunnel => int(r.tunnel as u64),
        Source::Packets(d) => int(r.packets[d]),
        Source::Bytes(d) => int(r.bytes[d]),
        Source::IpBytes(d) => int(r.ip_bytes[d]),
        Source::Label => score.map_or(DbValue::Null, |s| DbValue::Text(Cow::Borrowed(&s.label))),
        Source::PAttack => score.map_or(DbValue::Null, |s| DbValue::Float(s.p_attack)),
        Source::Confidence => score.map_or(DbValue::Null, |s| DbValue::Float(s.confidence)),
        Source::Model => score.map_or(DbValue::Null, |s| DbValue::Text(Cow::Borrowed(&s.model))),
    }
}

/// A stored row that does not make a flow or an alert.
#[derive(Debug, thiserror::Error)]
#[error("{table} {id}: column {column}: {problem}")]
pub struct RowError {
    /// What the row is: `flow row`, `alert`.
    pub table: &'static str,
    /// The row's id (0 when unread).
    pub id: i64,
    /// The column.
    pub column: String,
    /// What is wrong.
    pub problem: String,
}

/// Rebuilds a stored flow from one row of values in [`flow_columns`] order.
pub fn stored_flow(vals: Vec<DbValue<'static>>) -> Result<StoredFlow, RowError> {
    let cols = flow_columns();
    let id = match vals.first() {
        Some(DbValue::Int(i)) => *i,
        _ => 0,
    };
    let bad = |c: &DbColumn, problem: &str| RowError {
        table: "flow row",
        id,
        column: c.name.clone(),
        problem: problem.to_string(),
    };
    if vals.len() != cols.len() {
        return Err(RowError {
            table: "flow row",
            id,
            column: "*".into(),
            problem: format!("{} values for {} columns", vals.len(), cols.len()),
        });
    }
    let mut r = FlowRecord {
        id: (id & ((1 << FLOW_SEQ_BITS) - 1)) as u64,
        src: IpAddr::from([0u8; 4]),
        dst: IpAddr::from([0u8; 4]),
        sport: 0,
        dport: 0,
        proto: 0,
        vlan: None,
        tunnel: 0,
        first: Timestamp(0),
        last: Timestamp(0),
        end_reason: EndReason::Eof,
        packets: [0; 2],
        bytes: [0; 2],
        wire_bytes: [0; 2],
        ip_bytes: [0; 2],
        retrans: [0; 2],
        features: [0.0; N_FEATURES],
        app: AppMeta::default(),
        application: Application::Unknown,
        service: "",
        geo: Default::default(),
        devices: Default::default(),
        direction: Direction::External,
    };
    let mut capture = 0;
    let mut score = Score::default();
    let mut scored = false;
    for (c, v) in cols.iter().zip(vals) {
        let int = || match v {
            DbValue::Int(i) => Ok(i),
            _ => Err(bad(c, "expected an integer")),
        };
        let uint = || int().and_then(|i| u64::try_from(i).map_err(|_| bad(c, "negative")));
        let text = || match &v {
            DbValue::Text(t) => Some(t.to_string()),
            _ => None,
        };
        match c.source {
            Source::Id | Source::Minute => {}
            Source::Capture => capture = int()?,
            Source::Features => {
                let DbValue::Bytes(b) = &v else {
                    return Err(bad(c, "expected bytes"));
                };
                r.features = decode_features(b).map_err(|p| bad(c, &p))?;
            }
            Source::Column(col) => match col {
                Column::SrcIp | Column::DstIp => {
                    let DbValue::Ip(ip) = v else {
                        return Err(bad(c, "expected an address"));
                    };
                    if col == Column::SrcIp {
                        r.src = ip;
                    } else {
                        r.dst = ip;
                    }
                }
                Column::SrcPort => r.sport = port(int()?).ok_or_else(|| bad(c, "not a port"))?,
                Column::DstPort => r.dport = port(int()?).ok_or_else(|| bad(c, "not a port"))?,
                Column::Protocol => {
                    r.proto = u8::try_from(int()?).map_err(|_| bad(c, "not a protocol"))?
                }
                Column::Timestamp => match v {
                    DbValue::Time(t) => r.first = Timestamp(t),
                    _ => return Err(bad(c, "expected a time")),
                },
                // Stored in `features`.
                Column::Feature(_) => {}
                Column::Vlan => {
                    r.vlan = match v {
                        DbValue::Null => None,
                        DbValue::Int(i) => {
                            Some(u16::try_from(i).map_err(|_| bad(c, "not a VLAN"))?)
                        }
                        _ => return Err(bad(c, "expected an integer")),
                    }
                }
                Column::FwdWireBytes => r.wire_bytes[0] = uint()?,
                Column::BwdWireBytes => r.wire_bytes[1] = uint()?,
                Column::FwdRetrans => r.retrans[0] = uint()? as u32,
                Column::BwdRetrans => r.retrans[1] = uint()? as u32,
                Column::EndReason => {
                    r.end_reason = text()
                        .and_then(|t| EndReason::parse(&t))
                        .ok_or_else(|| bad(c, "unknown end reason"))?
                }
                Column::Direction => {
                    r.direction = text()
                        .and_then(|t| Direction::parse(&t))
                        .ok_or_else(|| bad(c, "unknown direction"))?
                }
                // Recomputed below from the ports: it is a function of them.
                Column::Service => {}
                // NULL: nothing identified (and every flow stored before version 8).
                // NULL: no GeoIP database, a non-global address, or stored before version 9.
                Column::Country(e) => r.geo[e & 1].country = text().and_then(|t| Country::new(&t)),
                Column::Asn(e) => {
                    r.geo[e & 1].asn = match v {
                        DbValue::Null => None,
                        DbValue::Int(i) => {
                            Some(u32::try_from(i).map_err(|_| bad(c, "not an AS number"))?)
                        }
                        _ => return Err(bad(c, "expected an integer")),
                    }
                }
                Column::AsName(e) => r.geo[e & 1].as_name = text().map(Into::into),
                // NULL: no device known, or stored before version 10.
                Column::Device(e) => r.devices[e & 1] = text().map(Into::into),
                Column::Application => {
                    r.application = match text() {
                        None => Application::Unknown,
                        Some(t) => {
                            Application::parse(&t).ok_or_else(|| bad(c, "unknown application"))?
                        }
                    }
                }
                Column::DnsQuery => {
                    r.app.dns_queries = text()
                        .map(|t| t.split(';').map(str::to_string).collect())
                        .unwrap_or_default()
                }
                Column::DnsRcode => {
                    r.app.dns_rcode = text().and_then(|t| flow::app::dns::rcode_of(&t))
                }
                Column::TlsSni => r.app.tls_sni = text(),
                Column::TlsAlpn => r.app.tls_alpn = text(),
                Column::HttpHost => r.app.http_host = text(),
                Column::HttpMethod => r.app.http_method = text(),
                Column::HttpUri => r.app.http_uri = text(),
                Column::HttpUserAgent => r.app.http_user_agent = text(),
                // A function of the record (`FlowRecord::community_id`), as the Flow ID.
                Column::CommunityId | Column::FlowId => {}
            },
            Source::LastSeen => match v {
                DbValue::Time(t) => r.last = Timestamp(t),
                _ => return Err(bad(c, "expected a time")),
            },
            Source::Tunnel => r.tunnel = int()? as u8,
            Source::Packets(d) => r.packets[d] = uint()?,
            Source::Bytes(d) => r.bytes[d] = uint()?,
            Source::IpBytes(d) => r.ip_bytes[d] = uint()?,
            Source::Label => {
                if let Some(t) = text() {
                    score.label = t;
                    scored = true;
                }
            }
            Source::PAttack => {
                if let DbValue::Float(x) = v {
                    score.p_attack = x;
                }
            }
            Source::Confidence => {
                if let DbValue::Float(x) = v {
                    score.confidence = x;
                }
            }
            Source::Model => score.model = text().unwrap_or_default(),
        }
    }
    r.service = flow::service::of_flow(r.sport, r.dport, r.proto);
    Ok(StoredFlow {
        id,
        capture,
        record: r,
        score: scored.then_some(score),
    })
}

fn port(i: i64) -> Option<u16> {
    u16::try_from(i).ok()
}

/// The version byte that starts an encoded feature vector.
const FEATURES_FORMAT: u8 = 1;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Largest magnitude stored as an integer (every integer below it is an exact `f64`).
const EXACT_INT: f64 = (1u64 << 52) as f64;

/// The feature vector as one value: a format byte, the count, then per feature a varint —
/// even: an integral value, zig-zag encoded, shifted left once (zero is one byte); 1: the
/// next 8 bytes are the little-endian `f64`. Exact for every value (NaN, -0.0 and fractions
/// take the 9-byte form); about 2.5× smaller than the raw doubles on real flows. One value
/// instead of one column per feature keeps a row insert to a few bound values, which is most
/// of the ingest cost (docs/benchmarks.md).
pub fn encode_features(f: &[f64; N_FEATURES]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + N_FEATURES * 3);
    out.push(FEATURES_FORMAT);
    put_varint(&mut out, N_FEATURES as u64);
    for &x in f {
        if x.fract() == 0.0 && x.abs() < EXACT_INT && !(x == 0.0 && x.is_sign_negative()) {
            let i = x as i64;
            put_varint(&mut out, (((i << 1) ^ (i >> 63)) as u64) << 1);
        } else {
            out.push(1);
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// Reads an [`encode_features`] value back.
pub fn decode_features(b: &[u8]) -> Result<[f64; N_FEATURES], String> {
    if b.first() != Some(&FEATURES_FORMAT) {
        return Err(format!("unknown feature format {:?}", b.first()));
    }
    let mut at = 1;
    let n = get_varint(b, &mut at).ok_or("truncated feature count")?;
    if n != N_FEATURES as u64 {
        return Err(format!("{n} features stored, {N_FEATURES} known"));
    }
    let mut f = [0.0; N_FEATURES];
    for (k, x) in f.iter_mut().enumerate() {
        let name = FEATURES[k].name;
        let v = get_varint(b, &mut at).ok_or_else(|| format!("{name}: truncated"))?;
        *x = if v == 1 {
            let raw = b
                .get(at..at + 8)
                .ok_or_else(|| format!("{name}: truncated"))?;
            at += 8;
            f64::from_le_bytes(raw.try_into().map_err(|_| format!("{name}: truncated"))?)
        } else if v & 1 == 0 {
            let z = v >> 1;
            ((z >> 1) as i64 ^ -((z & 1) as i64)) as f64
        } else {
            return Err(format!("{name}: bad tag {v}"));
        };
    }
    if at != b.len() {
        return Err(format!("{} bytes after the features", b.len() - at));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_names_are_unique_snake_case_and_cover_every_flow_column() {
        let cols = flow_columns();
        let mut names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert!(names.iter().all(|n| n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate SQL column names");
        // Every canonical column but the derived Flow ID is stored: the features in one.
        assert_eq!(
            cols.iter()
                .filter(|c| matches!(c.source, Source::Column(_)))
                .count(),
            columns::all().count() - 1 - N_FEATURES
        );
        assert_eq!(
            cols.iter().filter(|c| c.source == Source::Features).count(),
            1
        );
        assert_eq!(sql_name(Column::Timestamp), "first_seen");
        assert_eq!(sql_name(Column::SrcIp), "src_ip");
    }

    #[test]
    fn features_encode_exactly_and_compactly() {
        let mut f = [0.0; N_FEATURES];
        let odd = [
            -0.0,
            f64::NAN,
            f64::INFINITY,
            -1.5,
            1e300,
            1.0 - (1u64 << 52) as f64,
            (1u64 << 52) as f64,
            123_456_789.0,
            -7.0,
            0.1,
        ];
        f[..odd.len()].copy_from_slice(&odd);
        f[N_FEATURES - 1] = 3.0;
        let b = encode_features(&f);
        let back = decode_features(&b).unwrap();
        for (a, b) in f.iter().zip(back.iter()) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        // Zeros and small integers take one byte each.
        let ones = encode_features(&[1.0; N_FEATURES]);
        assert_eq!(ones.len(), 2 + N_FEATURES);
        assert_eq!(decode_features(&ones).unwrap(), [1.0; N_FEATURES]);
        assert!(decode_features(&b[..b.len() - 1])
            .unwrap_err()
            .contains("truncated"));
        assert!(decode_features(&[9]).unwrap_err().contains("format"));
    }
}
