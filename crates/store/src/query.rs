//! SQL of the flow listing, built once for both backends: `$n` parameters (SQLite reads them
//! as `?n`), values as [`DbValue`]s each backend binds in its own types.

use std::borrow::Cow;
use std::fmt::Write;

use crate::model::{FlowCursor, FlowFilter, IpFilter};
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

/// The conditions every part of the listing shares.
fn common(sql: &mut Sql, f: &FlowFilter, after: Option<FlowCursor>) -> String {
    let mut w = String::from("TRUE");
    if let Some(t) = f.time {
        let (a, b) = (
            sql.param(DbValue::Time(t.from.0)),
            sql.param(DbValue::Time(t.to.0)),
        );
        let _ = write!(w, " AND first_seen >= {a} AND first_seen < {b}");
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
    // usize::MAX would be -1 as i64, which PostgreSQL refuses.
    let lim = sql.param(DbValue::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(like_pattern("Ex_ample%"), "%ex\\_ample\\%%");
    }
}
