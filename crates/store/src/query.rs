//! SQL of the listings and dashboard queries, built once for both backends: `$n` parameters (SQLite reads them
//! as `?n`), values as [`DbValue`]s each backend binds in its own types.

use std::borrow::Cow;
use std::fmt::Write;

use std::net::IpAddr;

use crate::model::{AlertFilter, CaptureId, FlowCursor, FlowFilter, IpFilter, TimeRange};
use crate::rollup::{self, Buckets};
use crate::schema::{flow_column_list, DbValue};

/// A statement and its parameters.
#[derive(Debug)]
pub struct Sql {
    /// Text with `$1`… placeholders.
    pub text: String,
    /// Values of `$1`….
    pub params: Vec<DbValue<'static>>,
}

impl Sql {
    fn param(&mut self, v: DbValue<'static>) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'`.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn ip_range(sql: &mut Sql, w: &mut String, col: &str, f: IpFilter) {
    let lo = sql.param(DbValue::Ip(f.lo));
    if f.lo == f.hi {
        let _ = write!(w, " AND {col} = {lo}");
    } else {
        let hi = sql.param(DbValue::Ip(f.hi));
        let _ = write!(w, " AND {col} >= {lo} AND {col} <= {hi}");
    }
}

/// `AND {col} >= from AND {col} < to`.
fn time_range(sql: &mut Sql, w: &mut String, col: &str, t: TimeRange) {
    let (a, b) = (
        sql.param(DbValue::Time(t.from.0)),
        sql.param(DbValue::Time(t.to.0)),
    );
    let _ = write!(w, " AND {col} >= {a} AND {col} < {b}");
}

/// The conditions every part of the listing shares.
fn common(sql: &mut Sql, f: &FlowFilter, after: Option<FlowCursor>) -> String {
    let mut w = String::from("TRUE");
    if let Some(t) = f.time {
        time_range(sql, &mut w, "first_seen", t);
    }
    if let Some(ip) = f.src {
        ip_range(sql, &mut w, "src_ip", ip);
    }
    if let Some(ip) = f.dst {
        ip_range(sql, &mut w, "dst_ip", ip);
    }
    if let Some(p) = f.src_port {
        let p = sql.param(DbValue::Int(p as i64));
        let _ = write!(w, " AND src_port = {p}");
    }
    if let Some(p) = f.dst_port {
        let p = sql.param(DbValue::Int(p as i64));
        let _ = write!(w, " AND dst_port = {p}");
    }
    if let Some(p) = f.protocol {
        let p = sql.param(DbValue::Int(p as i64));
        let _ = write!(w, " AND protocol = {p}");
    }
    if let Some(l) = &f.label {
        let p = sql.param(DbValue::Text(Cow::Owned(l.clone())));
        let _ = write!(w, " AND label = {p}");
    }
    if let Some(s) = f.min_score {
        let p = sql.param(DbValue::Float(s));
        let _ = write!(w, " AND p_attack >= {p}");
    }
    if let Some(c) = f.capture {
        let p = sql.param(DbValue::Int(c));
        let _ = write!(w, " AND capture_id = {p}");
    }
    if let Some(t) = &f.text {
        let p = sql.param(DbValue::Text(Cow::Owned(like_pattern(t))));
        let _ = write!(
            w,
            " AND (LOWER(dns_query) LIKE {p} ESCAPE '\\' OR LOWER(tls_sni) LIKE {p} ESCAPE '\\' \
             OR LOWER(http_host) LIKE {p} ESCAPE '\\')"
        );
    }
    if let Some(c) = after {
        let (t, i) = (
            sql.param(DbValue::Time(c.first.0)),
            sql.param(DbValue::Int(c.id)),
        );
        let _ = write!(
            w,
            " AND (first_seen < {t} OR (first_seen = {t} AND id < {i}))"
        );
    }
    w
}

/// The newest `limit` flows matching a filter, after a cursor (keyset pagination on
/// `(first_seen, id)`, newest first). An address on either end becomes a union of two
/// index scans.
pub fn flow_page(f: &FlowFilter, after: Option<FlowCursor>, limit: usize) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let cols = flow_column_list();
    let base = common(&mut sql, f, after);
    let lim = sql.param(count(limit));
    let order = "ORDER BY first_seen DESC, id DESC";
    sql.text = match f.ip {
        None => format!("SELECT {cols} FROM flows WHERE {base} {order} LIMIT {lim}"),
        Some(ip) => {
            let mut src = base.clone();
            ip_range(&mut sql, &mut src, "src_ip", ip);
            let mut dst = base;
            ip_range(&mut sql, &mut dst, "dst_ip", ip);
            format!(
                "SELECT {cols} FROM ( \
                   SELECT * FROM (SELECT {cols} FROM flows WHERE {src} {order} LIMIT {lim}) a \
                   UNION \
                   SELECT * FROM (SELECT {cols} FROM flows WHERE {dst} {order} LIMIT {lim}) b \
                 ) u {order} LIMIT {lim}"
            )
        }
    };
    sql
}

/// One flow by id.
pub fn flow_by_id(id: i64) -> Sql {
    Sql {
        text: format!("SELECT {} FROM flows WHERE id = $1", flow_column_list()),
        params: vec![DbValue::Int(id)],
    }
}

/// Every flow first seen in `[from, to)`, oldest first.
pub fn flow_scan(from: i64, to: i64) -> Sql {
    Sql {
        text: format!(
            "SELECT {} FROM flows WHERE first_seen >= $1 AND first_seen < $2 \
             ORDER BY first_seen, id",
            flow_column_list()
        ),
        params: vec![DbValue::Time(from), DbValue::Time(to)],
    }
}

fn count(n: usize) -> DbValue<'static> {
    // usize::MAX would be -1 as i64, which PostgreSQL refuses.
    DbValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn times(r: TimeRange) -> Vec<DbValue<'static>> {
    vec![DbValue::Time(r.from.0), DbValue::Time(r.to.0)]
}

/// Talkers over a range (all, or the one address), `n` rows: see `rollup::talkers_sql`.
pub fn talkers(range: TimeRange, ip: Option<IpAddr>, n: usize) -> Sql {
    let mut params: Vec<DbValue<'static>> = Buckets::of(range)
        .params()
        .iter()
        .map(|&t| DbValue::Time(t))
        .collect();
    params.push(count(n));
    let filter = match ip {
        Some(ip) => {
            params.push(DbValue::Ip(ip));
            "AND ip = $6"
        }
        None => "",
    };
    Sql {
        text: rollup::talkers_sql(filter),
        params,
    }
}

/// Destination ports over a range, `n` rows.
pub fn ports(range: TimeRange, n: usize) -> Sql {
    let mut params: Vec<DbValue<'static>> = Buckets::of(range)
        .params()
        .iter()
        .map(|&t| DbValue::Time(t))
        .collect();
    params.push(count(n));
    Sql {
        text: rollup::PORTS_SQL.to_string(),
        params,
    }
}

/// IP protocols over a range (whole minutes).
pub fn protocols(range: TimeRange) -> Sql {
    Sql {
        text: rollup::PROTOCOLS_SQL.to_string(),
        params: times(Buckets::of(range).covered()),
    }
}

/// TCP health and directions: windows starting in a range, summed.
pub fn health(range: TimeRange) -> Sql {
    Sql {
        text: rollup::HEALTH_SQL.to_string(),
        params: times(range),
    }
}

/// Window reports starting in a range (of one capture, or all), oldest first.
pub fn windows(range: TimeRange, capture: Option<CaptureId>) -> Sql {
    let mut params = times(range);
    let cond = match capture {
        Some(c) => {
            params.push(DbValue::Int(c));
            " AND capture_id = $3"
        }
        None => "",
    };
    Sql {
        text: format!(
            "SELECT report FROM windows WHERE start_time >= $1 AND start_time < $2{cond} \
             ORDER BY start_time, capture_id"
        ),
        params,
    }
}

/// Alerts per minute over a range.
pub fn attack_rate(range: TimeRange) -> Sql {
    Sql {
        text: rollup::ATTACK_RATE_SQL.to_string(),
        params: times(range),
    }
}

/// Alert sources over a range, `n` rows.
pub fn attackers(range: TimeRange, n: usize) -> Sql {
    let mut params = times(range);
    params.push(DbValue::Ip(rollup::NO_ADDRESS));
    params.push(count(n));
    Sql {
        text: rollup::ATTACKERS_SQL.to_string(),
        params,
    }
}

/// The columns of an alert row, in [`alerts`] order.
pub const ALERT_COLUMNS: &str = "id, raised_at, capture_id, flow_id, window_start, src_ip, \
    dst_ip, kind, severity, confidence, model_version, detail, status, incident_id";

/// Alerts matching a filter, newest first.
pub fn alerts(f: &AlertFilter, limit: usize) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let mut w = String::from("TRUE");
    if let Some(t) = f.time {
        time_range(&mut sql, &mut w, "raised_at", t);
    }
    if let Some(s) = f.min_severity {
        let p = sql.param(DbValue::Int(s as i64));
        let _ = write!(w, " AND severity >= {p}");
    }
    if let Some(ip) = f.src {
        let p = sql.param(DbValue::Ip(ip));
        let _ = write!(w, " AND src_ip = {p}");
    }
    let lim = sql.param(count(limit));
    sql.text = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE {w} ORDER BY raised_at DESC, id DESC LIMIT {lim}"
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_pattern("Ex_ample%"), "%ex\\_ample\\%%");
    }
}
