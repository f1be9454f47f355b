//! Rollups maintained at ingest, so dashboard aggregates never scan raw flows: per minute and
//! per hour, talkers (bytes/packets sent and received, flows) and destination ports; per minute,
//! IP protocols and alerts. A flow counts in the bucket of its first packet.
//!
//! A range of up to an hour reads minute rows (resolved to whole minutes); a longer one reads
//! hour rows (resolved outward to whole hours), see [`Buckets`]. Minute rows are exact. Hour
//! rows are exact until a capture that wrote into the hour completes; then the hour keeps its
//! [`KEEP_PER_HOUR`] largest talkers and ports (by bytes) and drops the rest, so a day's
//! ranking reads at most 24 × 1,000 rows whatever the traffic. A listed address's figures stay
//! exact unless a later capture adds to an hour it had been dropped from.
//!
//! Readers always sum rows by key and skip keys whose flows sum to zero: on PostgreSQL the
//! minute tables are append-only (a batch's sums are new rows; replacing a capture appends
//! its share negated), see `pg::rollups::upsert_rollups`.
//!
//! The SQL here is shared by both backends (numbered `$n` parameters mean the same in SQLite
//! and PostgreSQL); each binds times and addresses in its own types.

use std::collections::HashMap;
use std::net::IpAddr;

use flow::geo::Geo;
use flow::FlowRecord;

use crate::model::{Alert, TimeRange};
use crate::schema::DbValue;
use crate::{HOUR_US, MINUTE_US};

/// Sums of one talker in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TalkerSums {
    /// Wire bytes sent.
    pub bytes_sent: u64,
    /// Wire bytes received.
    pub bytes_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Flows.
    pub flows: u64,
}

/// Sums of one port or protocol in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficSums {
    /// Flows.
    pub flows: u64,
    /// Packets both ways.
    pub packets: u64,
    /// Wire bytes both ways.
    pub bytes: u64,
}

/// Alerts of one source and kind in one minute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertSums {
    /// Alerts.
    pub alerts: u64,
    /// Highest severity.
    pub max_severity: u8,
}

/// The rollup rows one batch adds (to be added to what is stored).
#[derive(Debug, Default)]
pub struct BatchRollup {
    /// (bucket start, address) per minute.
    pub talkers_1m: HashMap<(i64, IpAddr), TalkerSums>,
    /// (bucket start, address) per hour.
    pub talkers_1h: HashMap<(i64, IpAddr), TalkerSums>,
    /// (bucket start, protocol, destination port) per minute.
    pub ports_1m: HashMap<(i64, u8, u16), TrafficSums>,
    /// (bucket start, protocol, destination port) per hour.
    pub ports_1h: HashMap<(i64, u8, u16), TrafficSums>,
    /// (bucket start, protocol) per minute.
    pub protocols_1m: HashMap<(i64, u8), TrafficSums>,
    /// Where each address of the talker rows is, as the batch's flows were enriched (only
    /// addresses the databases knew).
    pub talker_geo: HashMap<IpAddr, Geo>,
}

impl BatchRollup {
    /// The country, ASN and AS name of a talker row's address, as database values.
    pub fn geo_values(&self, ip: IpAddr) -> [DbValue<'static>; 3] {
        match self.talker_geo.get(&ip) {
            None => [DbValue::Null, DbValue::Null, DbValue::Null],
            Some(g) => [
                g.country.map_or(DbValue::Null, |c| {
                    DbValue::Text(c.as_str().to_string().into())
                }),
                g.asn.map_or(DbValue::Null, |a| DbValue::Int(a.into())),
                g.as_name
                    .as_deref()
                    .map_or(DbValue::Null, |n| DbValue::Text(n.to_string().into())),
            ],
        }
    }
}

fn floor(t: i64, width: i64) -> i64 {
    t.div_euclid(width) * width
}

/// Port rows are kept for the protocols that have ports.
fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

impl BatchRollup {
    /// The rollups of a batch of flows.
    pub fn of_flows(flows: &[FlowRecord]) -> Self {
        let mut b = BatchRollup::default();
        for r in flows {
            let (m, h) = (floor(r.first.0, MINUTE_US), floor(r.first.0, HOUR_US));
            let packets = r.packets[0] + r.packets[1];
            let bytes = r.wire_bytes[0] + r.wire_bytes[1];
            for (bucket, talkers) in [(m, &mut b.talkers_1m), (h, &mut b.talkers_1h)] {
                let s = talkers.entry((bucket, r.src)).or_default();
                s.bytes_sent += r.wire_bytes[0];
                s.bytes_received += r.wire_bytes[1];
                s.packets_sent += r.packets[0];
                s.packets_received += r.packets[1];
                s.flows += 1;
                if r.dst != r.src {
                    let d = talkers.entry((bucket, r.dst)).or_default();
                    d.bytes_sent += r.wire_bytes[1];
                    d.bytes_received += r.wire_bytes[0];
                    d.packets_sent += r.packets[1];
                    d.packets_received += r.packets[0];
                    d.flows += 1;
                }
            }
            let add = |s: &mut TrafficSums| {
                s.flows += 1;
                s.packets += packets;
                s.bytes += bytes;
            };
            if has_ports(r.proto) {
                add(b.ports_1m.entry((m, r.proto, r.dport)).or_default());
                add(b.ports_1h.entry((h, r.proto, r.dport)).or_default());
            }
            add(b.protocols_1m.entry((m, r.proto)).or_default());
            for (ip, g) in [(r.src, &r.geo[0]), (r.dst, &r.geo[1])] {
                if !g.is_empty() && !b.talker_geo.contains_key(&ip) {
                    b.talker_geo.insert(ip, g.clone());
                }
            }
        }
        b
    }
}

/// The source address stored for an alert without one (rollup keys cannot be NULL).
pub const NO_ADDRESS: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

/// Per-minute alert rows of a batch of alerts: (minute, source, kind).
pub fn alerts_of(alerts: &[Alert]) -> HashMap<(i64, IpAddr, String), AlertSums> {
    let mut out: HashMap<(i64, IpAddr, String), AlertSums> = HashMap::new();
    for a in alerts {
        let s = out
            .entry((
                floor(a.time, MINUTE_US),
                a.src.unwrap_or(NO_ADDRESS),
                a.kind.clone(),
            ))
            .or_default();
        s.alerts += 1;
        s.max_severity = s.max_severity.max(a.severity);
    }
    out
}

/// The start of the hour of a time.
pub fn hour_of(t: i64) -> i64 {
    floor(t, HOUR_US)
}

/// Talkers and ports an hour keeps once sealed.
pub const KEEP_PER_HOUR: i64 = 1000;

/// The hourly tables sealing trims, each with the SQL of one hour's seal: `.0` lists the hours
/// in `[$1, $2]` (the hour of a capture's first packet, floored by [`hour_of`], and its last
/// packet time), `.1` finds an hour's (`$1`)
/// [`KEEP_PER_HOUR`]-th largest byte count, `.2` deletes the rows of hour `$1` below that
/// count `$2` (rows tied with it stay, so an hour may keep a few more).
pub fn trim_sql() -> [(String, String, String); 2] {
    [
        ("talkers_1h", "bytes_sent + bytes_received"),
        ("ports_1h", "bytes"),
    ]
    .map(|(t, bytes)| {
        (
            format!("SELECT DISTINCT bucket FROM {t} WHERE bucket >= $1 AND bucket <= $2"),
            format!(
                "SELECT {bytes} FROM {t} WHERE bucket = $1 ORDER BY 1 DESC LIMIT 1 OFFSET {}",
                KEEP_PER_HOUR - 1
            ),
            format!("DELETE FROM {t} WHERE bucket = $1 AND {bytes} < $2"),
        )
    })
}

/// How a range maps to buckets: minutes `[from, hours_from)` and `[hours_to, to)`, hours
/// `[hours_from, hours_to)` (one of the two kinds is empty). Bind as `$1`…`$4` of the queries
/// below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buckets {
    /// Range start, rounded up to a minute.
    pub from: i64,
    /// First whole hour.
    pub hours_from: i64,
    /// End of the last whole hour.
    pub hours_to: i64,
    /// Range end, rounded up to a minute.
    pub to: i64,
}

impl Buckets {
    /// The buckets of a range: up to an hour, its minutes (rounded up); longer, its hours
    /// (rounded outward).
    pub fn of(r: TimeRange) -> Self {
        let up = |t: i64, w: i64| floor(t.saturating_add(w - 1), w);
        if r.to.0.saturating_sub(r.from.0) <= HOUR_US {
            let from = up(r.from.0, MINUTE_US);
            let to = up(r.to.0, MINUTE_US).max(from);
            Buckets {
                from,
                hours_from: to,
                hours_to: to,
                to,
            }
        } else {
            let from = floor(r.from.0, HOUR_US);
            let to = up(r.to.0, HOUR_US);
            Buckets {
                from,
                hours_from: from,
                hours_to: to,
                to,
            }
        }
    }

    /// The range the buckets cover.
    pub fn covered(&self) -> TimeRange {
        TimeRange {
            from: packet::Timestamp(self.from),
            to: packet::Timestamp(self.to),
        }
    }

    /// In bind order.
    pub fn params(&self) -> [i64; 4] {
        [self.from, self.hours_from, self.hours_to, self.to]
    }
}

const TALKER_SUMS: &str =
    "ip, bytes_sent, bytes_received, packets_sent, packets_received, flows, country, asn, as_name";

/// Talkers over `Buckets` ($1..$4), rows `ip, bytes_sent, bytes_received, packets_sent,
/// packets_received, flows, country, asn, as_name` (where the address is: any row's, they
/// agree unless the databases changed); `{hours}` and `{minutes}` are `` or extra `AND …` conditions on
/// the hour and minute rows; ordered by bytes, `$5` rows.
pub fn talkers_sql(hours: &str, minutes: &str) -> String {
    format!(
        "SELECT ip, SUM(bytes_sent), SUM(bytes_received), SUM(packets_sent), \
         SUM(packets_received), SUM(flows), MAX(country), MAX(asn), MAX(as_name) FROM ( \
           SELECT {TALKER_SUMS} FROM talkers_1h WHERE bucket >= $2 AND bucket < $3 {hours} \
           UNION ALL \
           SELECT {TALKER_SUMS} FROM talkers_1m WHERE ((bucket >= $1 AND bucket < $2) \
             OR (bucket >= $3 AND bucket < $4)) {minutes} \
         ) t GROUP BY ip HAVING SUM(flows) > 0 \
         ORDER BY SUM(bytes_sent) + SUM(bytes_received) DESC, ip LIMIT $5"
    )
}

/// Destination ports over `Buckets` ($1..$4): `protocol, port, flows, packets, bytes`,
/// by bytes, `$5` rows.
pub const PORTS_SQL: &str = "SELECT protocol, port, SUM(flows), SUM(packets), SUM(bytes) FROM ( \
       SELECT protocol, port, flows, packets, bytes FROM ports_1h \
         WHERE bucket >= $2 AND bucket < $3 \
       UNION ALL \
       SELECT protocol, port, flows, packets, bytes FROM ports_1m \
         WHERE (bucket >= $1 AND bucket < $2) OR (bucket >= $3 AND bucket < $4) \
     ) t GROUP BY protocol, port HAVING SUM(flows) > 0 \
     ORDER BY SUM(bytes) DESC, protocol, port LIMIT $5";

/// IP protocols over a minute range ($1, $2): `protocol, flows, packets, bytes`, by bytes.
pub const PROTOCOLS_SQL: &str = "SELECT protocol, SUM(flows), SUM(packets), SUM(bytes) \
     FROM protocols_1m WHERE bucket >= $1 AND bucket < $2 \
     GROUP BY protocol HAVING SUM(flows) > 0 ORDER BY SUM(bytes) DESC, protocol";

/// Alerts per minute over a range ($1, $2): `bucket, alerts`.
/// Traffic per rollup bucket over a range (the buckets of `Buckets::params`, $1–$4): `bucket,
/// flows, packets, bytes`, oldest first; hours where the range covers them, minutes at its
/// ends. From the port rollups, which count every flow once.
pub const BUCKET_TRAFFIC_SQL: &str = "SELECT bucket, SUM(flows), SUM(packets), SUM(bytes) FROM ( \
       SELECT bucket, flows, packets, bytes FROM ports_1h \
         WHERE bucket >= $2 AND bucket < $3 \
       UNION ALL \
       SELECT bucket, flows, packets, bytes FROM ports_1m \
         WHERE (bucket >= $1 AND bucket < $2) OR (bucket >= $3 AND bucket < $4) \
     ) t GROUP BY bucket ORDER BY bucket";

pub const ATTACK_RATE_SQL: &str = "SELECT bucket, SUM(alerts) FROM alerts_1m \
     WHERE bucket >= $1 AND bucket < $2 GROUP BY bucket ORDER BY bucket";

/// Alert sources over a range ($1, $2; `$3` is the no-address marker): `src_ip, alerts,
/// max severity`, `$4` rows.
pub const ATTACKERS_SQL: &str = "SELECT src_ip, SUM(alerts), MAX(max_severity) FROM alerts_1m \
     WHERE bucket >= $1 AND bucket < $2 AND src_ip <> $3 \
     GROUP BY src_ip ORDER BY SUM(alerts) DESC, MAX(max_severity) DESC, src_ip LIMIT $4";

/// Windows summed over a range ($1, $2) of their starts, in `TrafficHealth` field order.
pub const HEALTH_SQL: &str = "SELECT COUNT(*), \
     COALESCE(SUM(packets), 0), COALESCE(SUM(bytes), 0), COALESCE(SUM(tcp_segments), 0), \
     COALESCE(SUM(syn), 0), COALESCE(SUM(syn_ack), 0), COALESCE(SUM(fin), 0), \
     COALESCE(SUM(rst), 0), COALESCE(SUM(retransmissions), 0), \
     COALESCE(SUM(inbound_packets), 0), COALESCE(SUM(inbound_bytes), 0), \
     COALESCE(SUM(outbound_packets), 0), COALESCE(SUM(outbound_bytes), 0), \
     COALESCE(SUM(internal_packets), 0), COALESCE(SUM(internal_bytes), 0), \
     COALESCE(SUM(external_packets), 0), COALESCE(SUM(external_bytes), 0) \
     FROM windows WHERE start_time >= $1 AND start_time < $2";

/// The numeric columns of `windows` besides the key, in [`window_numbers`] order.
pub const WINDOW_NUMBER_COLUMNS: [&str; 18] = [
    "width_us",
    "packets",
    "bytes",
    "flows_started",
    "flows_ended",
    "tcp_segments",
    "syn",
    "syn_ack",
    "fin",
    "rst",
    "retransmissions",
    "inbound_packets",
    "inbound_bytes",
    "outbound_packets",
    "outbound_bytes",
    "internal_packets",
    "internal_bytes",
    "external_packets",
];

/// The values of [`WINDOW_NUMBER_COLUMNS`] and then `external_bytes` for a window.
pub fn window_numbers(w: &flow::window::report::WindowReport) -> [i64; 19] {
    let d = &w.directions;
    [
        w.end_us - w.start_us,
        w.packets as i64,
        w.bytes as i64,
        w.flows_started as i64,
        w.flows_ended as i64,
        w.tcp.segments as i64,
        w.tcp.syn as i64,
        w.tcp.syn_ack as i64,
        w.tcp.fin as i64,
        w.tcp.rst as i64,
        w.tcp.retransmissions as i64,
        d.inbound.packets as i64,
        d.inbound.bytes as i64,
        d.outbound.packets as i64,
        d.outbound.bytes as i64,
        d.internal.packets as i64,
        d.internal.bytes as i64,
        d.external.packets as i64,
        d.external.bytes as i64,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::Timestamp;

    #[test]
    fn a_day_resolves_outward_to_whole_hours() {
        let h = HOUR_US;
        let r = TimeRange {
            from: Timestamp(10 * h + 5 * MINUTE_US + 1),
            to: Timestamp(34 * h + 30 * MINUTE_US),
        };
        let b = Buckets::of(r);
        assert_eq!((b.from, b.hours_from), (10 * h, 10 * h));
        assert_eq!((b.hours_to, b.to), (35 * h, 35 * h));
    }

    #[test]
    fn a_range_inside_one_hour_is_all_minutes() {
        let r = TimeRange {
            from: Timestamp(HOUR_US + MINUTE_US),
            to: Timestamp(HOUR_US + 20 * MINUTE_US),
        };
        let b = Buckets::of(r);
        assert_eq!((b.hours_from, b.hours_to), (b.to, b.to));
        assert_eq!(b.from, HOUR_US + MINUTE_US);
    }
}
