//! SQL of the listings and dashboard queries, built once for both backends: `$n` parameters (SQLite reads them
//! as `?n`), values as [`DbValue`]s each backend binds in its own types.

use std::borrow::Cow;
use std::fmt::Write;

use std::net::IpAddr;

use packet::Timestamp;

use crate::model::{
    AlertFilter, CaptureId, FlowCursor, FlowFilter, FlowPage, IncidentFilter, IpFilter, StoredFlow,
    TimeRange,
};
use crate::rollup::{self, Buckets};
use crate::schema::{alert_column_list, flow_column_list, incident_column_list, DbValue};
use crate::{StoreError, HOUR_US, MINUTE_US};

/// A statement and its parameters.
#[derive(Debug, Default)]
pub struct Sql {
    /// Text with `$1`… placeholders.
    pub text: String,
    /// Values of `$1`….
    pub params: Vec<DbValue<'static>>,
}

impl Sql {
    pub(crate) fn param(&mut self, v: DbValue<'static>) -> String {
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

pub(crate) fn ip_range(sql: &mut Sql, w: &mut String, col: &str, f: IpFilter) {
    let lo = sql.param(DbValue::Ip(f.lo));
    if f.lo == f.hi {
        let _ = write!(w, " AND {col} = {lo}");
    } else {
        let hi = sql.param(DbValue::Ip(f.hi));
        let _ = write!(w, " AND {col} >= {lo} AND {col} <= {hi}");
    }
}

/// `AND {col} >= from AND {col} < to`.
pub(crate) fn time_range(sql: &mut Sql, w: &mut String, col: &str, t: TimeRange) {
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
    if let Some(d) = &f.device {
        let p = sql.param(DbValue::Text(Cow::Owned(d.to_lowercase())));
        let _ = write!(w, " AND (src_device = {p} OR dst_device = {p})");
    }
    if let Some(c) = &f.country {
        let p = sql.param(DbValue::Text(Cow::Owned(c.to_uppercase())));
        let _ = write!(w, " AND (src_country = {p} OR dst_country = {p})");
    }
    if let Some(a) = f.asn {
        let p = sql.param(DbValue::Int(a as i64));
        let _ = write!(w, " AND (src_asn = {p} OR dst_asn = {p})");
    }
    if let Some(a) = &f.application {
        let p = sql.param(DbValue::Text(Cow::Owned(a.clone())));
        let _ = write!(w, " AND application = {p}");
    }
    if let Some(e) = &f.search {
        crate::search::and_where(sql, &mut w, e, crate::search::Target::Flows);
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
/// `(first_seen, id)`, newest first), optionally only of the given minutes (each
/// `minute_us` value, see [`list_flows`]). An address on either end becomes a union of two
/// index scans.
pub fn flow_page(
    f: &FlowFilter,
    after: Option<FlowCursor>,
    limit: usize,
    minutes: Option<&[i64]>,
) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let cols = flow_column_list();
    let mut base = common(&mut sql, f, after);
    if let Some(m) = minutes {
        let list: Vec<String> = m.iter().map(|&m| sql.param(DbValue::Int(m))).collect();
        let (lo, hi) = (
            m.iter().copied().min().unwrap_or(0),
            m.iter().copied().max().unwrap_or(0),
        );
        // The time bounds are implied by the minutes; PostgreSQL prunes partitions with them.
        time_range(
            &mut sql,
            &mut base,
            "first_seen",
            TimeRange {
                from: Timestamp(lo),
                to: Timestamp(hi.saturating_add(MINUTE_US)),
            },
        );
        let _ = write!(base, " AND minute_us IN ({})", list.join(", "));
    }
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

/// Most minutes one step of a listing walk reads.
const MAX_WALK: i64 = 1024;

/// Whether a listing walks minutes (see [`list_flows`]): it filters on an address or the
/// destination port, or its search requires one
/// ([`narrows_by_minute_index`](crate::search::narrows_by_minute_index)).
pub fn walks_minutes(f: &FlowFilter) -> bool {
    f.ip.is_some()
        || f.src.is_some()
        || f.dst.is_some()
        || f.dst_port.is_some()
        || f.search
            .as_ref()
            .is_some_and(crate::search::narrows_by_minute_index)
}

/// The newest stored flow first seen before `t` (any flow: it tells where data resumes).
fn latest_before(t: i64) -> Sql {
    Sql {
        text: format!(
            "SELECT {} FROM flows WHERE first_seen < $1 ORDER BY first_seen DESC, id DESC LIMIT 1",
            flow_column_list()
        ),
        params: vec![DbValue::Time(t)],
    }
}

/// A page of flows: the flows and the cursor after them. `run` executes one query.
///
/// A filter on an address or the destination port ([`walks_minutes`]) is answered from an
/// index led by the minute (`schema::FLOW_INDEXES`): the listing walks the minutes newest
/// first, reading 1, 2, 4, … up to [`MAX_WALK`] minutes per query, until the page is full or
/// the filter's range is exhausted; each step starts at the newest stored flow below the
/// previous one, so gaps without traffic cost one lookup. Every other filter is one query in
/// `(first_seen, id)` order.
pub fn list_flows(
    f: &FlowFilter,
    after: Option<FlowCursor>,
    limit: usize,
    mut run: impl FnMut(&Sql) -> Result<Vec<StoredFlow>, StoreError>,
) -> Result<FlowPage, StoreError> {
    let mut flows = Vec::new();
    if !walks_minutes(f) {
        flows = run(&flow_page(f, after, limit, None))?;
    } else if limit > 0 {
        let minute = |t: i64| t.div_euclid(MINUTE_US) * MINUTE_US;
        let lo = f.time.map_or(i64::MIN, |t| minute(t.from.0));
        // Exclusive: flows before it are candidates.
        let mut below = f.time.map_or(i64::MAX, |t| t.to.0);
        if let Some(c) = after {
            below = below.min(c.first.0.saturating_add(1));
        }
        let mut step = 1;
        while flows.len() < limit {
            let Some(newest) = run(&latest_before(below))?.pop() else {
                break;
            };
            let hi = minute(newest.record.first.0);
            if hi < lo {
                break;
            }
            let from = hi.saturating_sub((step - 1) * MINUTE_US).max(lo);
            let minutes: Vec<i64> = (0..)
                .map(|k| hi - k * MINUTE_US)
                .take_while(|&m| m >= from)
                .collect();
            flows.extend(run(&flow_page(
                f,
                after,
                limit - flows.len(),
                Some(&minutes),
            ))?);
            below = from;
            step = (step * 2).min(MAX_WALK);
        }
    }
    let next = (flows.len() == limit && limit > 0)
        .then(|| flows.last())
        .flatten()
        .map(|f| FlowCursor {
            first: f.record.first,
            id: f.id,
        });
    Ok(FlowPage { flows, next })
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

pub(crate) fn count(n: usize) -> DbValue<'static> {
    // usize::MAX would be -1 as i64, which PostgreSQL refuses.
    DbValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn times(r: TimeRange) -> Vec<DbValue<'static>> {
    vec![DbValue::Time(r.from.0), DbValue::Time(r.to.0)]
}

/// Most buckets one address's talker query names one by one.
const MAX_LISTED_BUCKETS: i64 = 4096;

/// Talkers over a range (all, or the one address), `n` rows: see `rollup::talkers_sql`.
///
/// The rollups are keyed `(bucket, ip)` only (an address-first index would be rewritten
/// all over by every batch), so one address's row names its buckets: each is one seek.
pub fn talkers(range: TimeRange, ip: Option<IpAddr>, n: usize) -> Sql {
    let b = Buckets::of(range);
    let mut sql = Sql {
        text: String::new(),
        params: b.params().iter().map(|&t| DbValue::Time(t)).collect(),
    };
    sql.params.push(count(n));
    let Some(ip) = ip else {
        sql.text = rollup::talkers_sql("", "");
        return sql;
    };
    let ip = sql.param(DbValue::Ip(ip));
    let each = |from: i64, to: i64, width: i64| (from..to).step_by(width as usize);
    // i128: a range may be all time.
    let span = |from: i64, to: i64, width: i64| (to as i128 - from as i128) / width as i128;
    let listed = span(b.hours_from, b.hours_to, HOUR_US)
        + span(b.from, b.hours_from, MINUTE_US)
        + span(b.hours_to, b.to, MINUTE_US);
    let (hour_filter, minute_filter) = if listed <= MAX_LISTED_BUCKETS as i128 {
        let mut list = |buckets: Vec<i64>| {
            let names: Vec<String> = buckets
                .into_iter()
                .map(|t| sql.param(DbValue::Time(t)))
                .collect();
            match names.is_empty() {
                true => " AND FALSE".to_string(),
                false => format!(" AND bucket IN ({}) AND ip = {ip}", names.join(", ")),
            }
        };
        let h = list(each(b.hours_from, b.hours_to, HOUR_US).collect());
        let m = list(
            each(b.from, b.hours_from, MINUTE_US)
                .chain(each(b.hours_to, b.to, MINUTE_US))
                .collect(),
        );
        (h, m)
    } else {
        let f = format!(" AND ip = {ip}");
        (f.clone(), f)
    };
    sql.text = rollup::talkers_sql(&hour_filter, &minute_filter);
    sql
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

/// Traffic per rollup bucket over a range (see `rollup::BUCKET_TRAFFIC_SQL`).
pub fn bucket_traffic(range: TimeRange) -> Sql {
    Sql {
        text: rollup::BUCKET_TRAFFIC_SQL.to_string(),
        params: Buckets::of(range)
            .params()
            .iter()
            .map(|&t| DbValue::Time(t))
            .collect(),
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

/// Alerts matching a filter, newest first, with the columns of [`crate::schema::ALERT_COLUMNS`].
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
    if let Some(ip) = f.host {
        let p = sql.param(DbValue::Ip(ip));
        let q = sql.param(DbValue::Ip(ip));
        let _ = write!(w, " AND (src_ip = {p} OR dst_ip = {q})");
    }
    if let Some(k) = &f.kind {
        let p = sql.param(DbValue::Text(k.clone().into()));
        let _ = write!(w, " AND kind = {p}");
    }
    if let Some(k) = &f.family {
        let p = sql.param(DbValue::Text(k.clone().into()));
        let _ = write!(w, " AND family = {p}");
    }
    if let Some(i) = f.incident {
        let p = sql.param(DbValue::Int(i));
        let _ = write!(w, " AND incident_id = {p}");
    }
    if let Some(d) = &f.device {
        let p = sql.param(DbValue::Text(d.to_lowercase().into()));
        let _ = write!(w, " AND (src_device = {p} OR dst_device = {p})");
    }
    if let Some(c) = f.before {
        keyset(&mut sql, &mut w, "raised_at", c);
    }
    if let Some(id) = f.id {
        let p = sql.param(DbValue::Int(id));
        let _ = write!(w, " AND id = {p}");
    }
    if let Some(id) = f.after_id {
        let p = sql.param(DbValue::Int(id));
        let _ = write!(w, " AND id > {p}");
    }
    if let Some(e) = &f.search {
        crate::search::and_where(&mut sql, &mut w, e, crate::search::Target::Alerts);
    }
    if let Some(now) = f.unsuppressed_at {
        let p = sql.param(DbValue::Time(now));
        w.push_str(&crate::workflow::not_suppressed("alerts.", &p));
    }
    let lim = sql.param(count(limit));
    // Tailing by id reads the oldest first, so that a page short of the backlog loses nothing.
    let order = if f.after_id.is_some() {
        "id"
    } else {
        "raised_at DESC, id DESC"
    };
    sql.text = format!(
        "SELECT {} FROM alerts WHERE {w} ORDER BY {order} LIMIT {lim}",
        alert_column_list()
    );
    sql
}

/// `AND` rows after `(time, id)` in `ORDER BY {col} DESC, id DESC`.
fn keyset(sql: &mut Sql, w: &mut String, col: &str, (time, id): (i64, i64)) {
    let (t, i) = (sql.param(DbValue::Time(time)), sql.param(DbValue::Int(id)));
    let _ = write!(w, " AND ({col} < {t} OR ({col} = {t} AND id < {i}))");
}

/// Incidents matching a filter, most recently active first, with the columns of
/// [`crate::schema::INCIDENT_COLUMNS`].
pub fn incidents(f: &IncidentFilter, limit: usize) -> Sql {
    let mut sql = Sql {
        text: String::new(),
        params: Vec::new(),
    };
    let mut w = String::from("TRUE");
    if let Some(t) = f.time {
        let (a, b) = (
            sql.param(DbValue::Time(t.from.0)),
            sql.param(DbValue::Time(t.to.0)),
        );
        let _ = write!(w, " AND updated_at >= {a} AND opened_at < {b}");
    }
    if let Some(s) = f.min_severity {
        let p = sql.param(DbValue::Int(s as i64));
        let _ = write!(w, " AND severity >= {p}");
    }
    if let Some(s) = &f.status {
        let p = sql.param(DbValue::Text(s.clone().into()));
        let _ = write!(w, " AND status = {p}");
    }
    // What its episodes say: one EXISTS over them.
    let mut episode = String::new();
    if let Some(ip) = f.host {
        let p = sql.param(DbValue::Ip(ip));
        let q = sql.param(DbValue::Ip(ip));
        let _ = write!(episode, " AND (a.src_ip = {p} OR a.dst_ip = {q})");
    }
    if let Some(k) = &f.kind {
        let p = sql.param(DbValue::Text(k.clone().into()));
        let _ = write!(episode, " AND a.kind = {p}");
    }
    if let Some(k) = &f.family {
        let p = sql.param(DbValue::Text(k.clone().into()));
        let _ = write!(episode, " AND a.family = {p}");
    }
    if !episode.is_empty() {
        let _ = write!(
            w,
            " AND EXISTS (SELECT 1 FROM alerts a WHERE a.incident_id = incidents.id{episode})"
        );
    }
    if let Some(c) = f.before {
        keyset(&mut sql, &mut w, "updated_at", c);
    }
    if let Some(id) = f.id {
        let p = sql.param(DbValue::Int(id));
        let _ = write!(w, " AND id = {p}");
    }
    if let Some(id) = f.after_id {
        let p = sql.param(DbValue::Int(id));
        let _ = write!(w, " AND id > {p}");
    }
    let lim = sql.param(count(limit));
    let order = if f.after_id.is_some() {
        "id"
    } else {
        "updated_at DESC, id DESC"
    };
    sql.text = format!(
        "SELECT {} FROM incidents WHERE {w} ORDER BY {order} LIMIT {lim}",
        incident_column_list()
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
