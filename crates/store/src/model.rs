//! What the store keeps and answers: captures, flow scores, alerts, filters and the typed rows
//! of the dashboard queries. Times are [`Timestamp`]s (UTC µs) everywhere.

use std::net::IpAddr;

pub use detect::{Alert, Detector, EpisodeStage, EpisodeState, Family, FlowRef};
use flow::direction::Cidr;
use flow::FlowRecord;
use packet::Timestamp;
use serde::{Deserialize, Serialize};

/// A capture's row id.
pub type CaptureId = i64;

/// How far a capture's ingest got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaptureStatus {
    /// Flows are being written (or the writer died: a capture left in this state is
    /// incomplete; its rows are whole batches).
    Ingesting,
    /// Every flow and window was written.
    Complete,
    /// The ingest stopped on an error; what was written stays, whole batches only.
    Failed,
}

impl CaptureStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureStatus::Ingesting => "ingesting",
            CaptureStatus::Complete => "complete",
            CaptureStatus::Failed => "failed",
        }
    }

    /// The status of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            CaptureStatus::Ingesting,
            CaptureStatus::Complete,
            CaptureStatus::Failed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// What is known of a capture before its packets are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCapture {
    /// File name(s), or the interface of a live run.
    pub name: String,
    /// SHA-256 of the file's bytes (hex); for several files, of their sorted digests; `None` for
    /// a live run.
    pub sha256: Option<String>,
    /// Size in bytes of the input file(s).
    pub size: u64,
    /// Interface of a live run.
    pub interface: Option<String>,
    /// The sensor that metered it.
    pub sensor: String,
}

/// Totals written when a capture's ingest ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureTotals {
    /// First packet time.
    pub start: Option<Timestamp>,
    /// Last packet time.
    pub end: Option<Timestamp>,
    /// Frames read.
    pub packets: u64,
    /// Frame bytes read.
    pub bytes: u64,
    /// Flows written.
    pub flows: u64,
}

/// One stored capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capture {
    /// Row id.
    #[schema(value_type = i64)]
    pub id: CaptureId,
    /// File name(s) or interface.
    pub name: String,
    /// Content digest (hex).
    pub sha256: Option<String>,
    /// Input size in bytes.
    pub size: u64,
    /// Interface of a live run.
    pub interface: Option<String>,
    /// Sensor name.
    pub sensor: String,
    /// When the ingest began (wall clock).
    #[schema(value_type = i64)]
    pub ingested: Timestamp,
    /// First packet time.
    #[schema(value_type = Option<i64>)]
    pub start: Option<Timestamp>,
    /// Last packet time.
    #[schema(value_type = Option<i64>)]
    pub end: Option<Timestamp>,
    /// Frames.
    pub packets: u64,
    /// Frame bytes.
    pub bytes: u64,
    /// Flows (while `ingesting`: those stored so far).
    pub flows: u64,
    /// How far the ingest got.
    pub status: CaptureStatus,
    /// The process that wrote it (`None` for captures stored before schema version 3).
    pub writer: Option<Writer>,
    /// When its last batch was committed (wall clock; at first, when its ingest began).
    #[schema(value_type = Option<i64>)]
    pub heartbeat: Option<Timestamp>,
}

/// A writer on another host whose last batch is older than this (µs) is taken to be dead.
pub const HEARTBEAT_STALE_US: i64 = 5 * 60 * 1_000_000;

/// The process writing a capture, recorded when its ingest begins, so that a capture left
/// `ingesting` tells whether its writer is still running or died.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Writer {
    /// Host name.
    pub host: String,
    /// The host's boot (`/proc/sys/kernel/random/boot_id`): a pid means something within
    /// one boot only.
    pub boot_id: String,
    /// Process id.
    pub pid: u32,
    /// The process's start time in clock ticks after boot (`/proc/<pid>/stat` field 22): a
    /// reused pid has another.
    pub start: u64,
}

/// Whether a capture's writer still runs, as far as can be told from this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Same host and boot, and the process exists with the same start time.
    Running,
    /// Same host: the process is gone (or its pid is another process's now), or the host
    /// rebooted since.
    Dead,
    /// Another host: its last batch is younger than [`HEARTBEAT_STALE_US`] (a guess).
    PresumedRunning,
    /// Another host, and its last batch is older than that (a guess); or no writer was
    /// recorded (stored before schema version 3).
    PresumedDead,
}

impl Liveness {
    /// Whether the writer is (taken to be) still writing.
    pub fn running(self) -> bool {
        matches!(self, Liveness::Running | Liveness::PresumedRunning)
    }
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`), if it exists and is not
/// a zombie.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // Field 3, the state: a zombie (Z) or dead (X) process writes nothing any more.
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Writer {
    /// This process.
    pub fn this_process() -> Writer {
        let pid = std::process::id();
        let host = Some(read_trimmed("/proc/sys/kernel/hostname"))
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        Writer {
            host,
            boot_id: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid,
            start: process_start(pid).unwrap_or(0),
        }
    }

    /// Whether this writer still runs, judged from `me` (this process): on the same host and
    /// boot by its process; elsewhere by the age of its last batch (`heartbeat`) at `now`.
    pub fn liveness(&self, me: &Writer, heartbeat: Option<Timestamp>, now: Timestamp) -> Liveness {
        if !self.host.is_empty() && self.host == me.host && !me.boot_id.is_empty() {
            if self.boot_id != me.boot_id {
                return Liveness::Dead;
            }
            return if process_start(self.pid) == Some(self.start) {
                Liveness::Running
            } else {
                Liveness::Dead
            };
        }
        match heartbeat {
            Some(h) if now.0 - h.0 < HEARTBEAT_STALE_US => Liveness::PresumedRunning,
            _ => Liveness::PresumedDead,
        }
    }
}

/// A duration in words, rounded down: `42 s`, `7 min`, `3 h`, `2 days`.
fn age(us: i64) -> String {
    let s = us.max(0) / 1_000_000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

impl Capture {
    /// Whether this capture's writer still runs (see [`Writer::liveness`]); `None` unless it
    /// is `ingesting`.
    pub fn liveness(&self, me: &Writer, now: Timestamp) -> Option<Liveness> {
        (self.status == CaptureStatus::Ingesting).then(|| match &self.writer {
            Some(w) => w.liveness(me, self.heartbeat, now),
            None => Liveness::PresumedDead,
        })
    }

    /// What this stored copy is, in a few words for a message: complete, failed,
    /// interrupted (its writer died: which, and how many flows it stored) or still being
    /// written (by which process, last batch how long ago).
    pub fn describe(&self, me: &Writer, now: Timestamp) -> String {
        let id = self.id;
        let n = self.flows;
        let Some(live) = self.liveness(me, now) else {
            return match self.status {
                CaptureStatus::Failed => format!("capture {id} failed after storing {n} flows"),
                _ => format!("capture {id} is complete ({n} flows)"),
            };
        };
        let Some(w) = &self.writer else {
            return format!(
                "capture {id} was interrupted (written by a netvigil that recorded no writer) \
                 after storing {n} flows"
            );
        };
        let who = format!("pid {} on {}", w.pid, w.host);
        let last = self
            .heartbeat
            .map(|h| format!("last batch {} ago", age(now.0 - h.0)))
            .unwrap_or_else(|| "no batch yet".into());
        match live {
            Liveness::Running => format!("capture {id} is still being written by {who} ({last})"),
            Liveness::PresumedRunning => format!(
                "capture {id} is presumably still being written by {who} ({last}; a guess \
                 from that heartbeat, the writer runs on another host)"
            ),
            Liveness::Dead => format!(
                "capture {id} was interrupted: its writer, {who}, died after storing {n} flows"
            ),
            Liveness::PresumedDead => format!(
                "capture {id} was interrupted after storing {n} flows: its writer, {who}, \
                 has written nothing for {} (a guess from that heartbeat, the writer ran on \
                 another host)",
                self.heartbeat
                    .map(|h| age(now.0 - h.0))
                    .unwrap_or_else(|| "an unknown time".into())
            ),
        }
    }
}

/// A flow's score from the detector (written with the flow).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Score {
    /// The predicted class ("BENIGN", an attack family) or a ground-truth label.
    pub label: String,
    /// P(attack).
    pub p_attack: f64,
    /// Probability of the predicted class.
    pub confidence: f64,
    /// Model version.
    pub model: String,
}

/// A stored flow: the record as metered, with its database id and score.
#[derive(Clone, Debug)]
pub struct StoredFlow {
    /// Database id: `capture << 40 | sequence in the capture` (see [`flow_row_id`]).
    pub id: i64,
    /// The capture it came from.
    pub capture: CaptureId,
    /// The record (its `id` is the sequence in the capture).
    pub record: FlowRecord,
    /// The score, once scored.
    pub score: Option<Score>,
}

/// Bits of a flow id that hold the sequence number within its capture.
pub const FLOW_SEQ_BITS: u32 = 40;

/// The database id of a capture's `seq`-th flow: deterministic, so a retried batch is
/// recognised (and a redelivered one never duplicates a row).
pub fn flow_row_id(capture: CaptureId, seq: u64) -> i64 {
    (capture << FLOW_SEQ_BITS) | (seq as i64 & ((1 << FLOW_SEQ_BITS) - 1))
}

/// A half-open time range `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Timestamp,
    /// Exclusive end.
    pub to: Timestamp,
}

impl TimeRange {
    /// Everything.
    pub const ALL: TimeRange = TimeRange {
        from: Timestamp(i64::MIN / 2),
        to: Timestamp(i64::MAX / 2),
    };

    /// The `hours` before `end`.
    pub fn hours_before(end: Timestamp, hours: i64) -> Self {
        TimeRange {
            from: Timestamp(end.0 - hours * 3_600_000_000),
            to: end,
        }
    }
}

/// Parses an age: a count and a unit (`90d`, `12h`, `30m`, `45s`, `2w`), in µs.
pub fn parse_age(s: &str) -> Result<i64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s}: expected e.g. 90d, 12h, 30m, 1w"))?;
    let per = match unit {
        "w" => 7 * crate::DAY_US,
        "d" => crate::DAY_US,
        "h" => crate::HOUR_US,
        "m" => crate::MINUTE_US,
        "s" => 1_000_000,
        _ => return Err(format!("{s}: expected e.g. 90d, 12h, 30m, 1w")),
    };
    n.checked_mul(per)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("{s}: out of range"))
}

/// Parses a time, UTC µs: RFC 3339, a UTC date, or an age before now (`24h`).
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(age) = parse_age(s) {
        return Ok(Timestamp::now().0 - age);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    Err(format!(
        "{s}: expected a date (2017-07-07), an RFC 3339 time (2017-07-07T09:00:00Z) or an age (24h, 7d)"
    ))
}

/// An address or a network, as a flow filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IpFilter {
    /// Lowest address in the block.
    #[schema(value_type = String)]
    pub lo: IpAddr,
    /// Highest address in the block.
    #[schema(value_type = String)]
    pub hi: IpAddr,
}

impl IpFilter {
    /// One address.
    pub fn addr(ip: IpAddr) -> Self {
        IpFilter { lo: ip, hi: ip }
    }

    /// Every address of a block.
    pub fn cidr(c: Cidr) -> Self {
        let (lo, hi) = c.bounds();
        IpFilter { lo, hi }
    }

    /// Parses `a.b.c.d`, an IPv6 address or a CIDR block.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(IpFilter::addr(ip));
        }
        s.parse::<Cidr>()
            .map(IpFilter::cidr)
            .map_err(|e| format!("{s}: not an address or CIDR block ({})", e.0))
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (ip, self.lo, self.hi) {
            (IpAddr::V4(a), IpAddr::V4(l), IpAddr::V4(h)) => l <= a && a <= h,
            (IpAddr::V6(a), IpAddr::V6(l), IpAddr::V6(h)) => l <= a && a <= h,
            _ => false,
        }
    }
}

/// Which flows a listing returns. Every set field must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowFilter {
    /// First-seen time range.
    pub time: Option<TimeRange>,
    /// Source or destination address inside.
    pub ip: Option<IpFilter>,
    /// Source address inside.
    pub src: Option<IpFilter>,
    /// Destination address inside.
    pub dst: Option<IpFilter>,
    /// Source port (not indexed: combine with a time range or an address).
    pub src_port: Option<u16>,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// IP protocol number.
    pub protocol: Option<u8>,
    /// Score label (exact).
    pub label: Option<String>,
    /// P(attack) at least.
    pub min_score: Option<f64>,
    /// Substring of the DNS query, TLS SNI or HTTP host (case-insensitive).
    pub text: Option<String>,
    /// Only this capture.
    pub capture: Option<CaptureId>,
    /// Either end is this device (its inventory key; not indexed: combine with a time range
    /// or an address).
    pub device: Option<String>,
    /// Either end is in this country (ISO 3166 code, upper case; not indexed).
    pub country: Option<String>,
    /// Either end is in this autonomous system (not indexed).
    pub asn: Option<u32>,
    /// The application identified in the flow (its name as stored, e.g. `TLS`; not indexed).
    pub application: Option<String>,
    /// A search (`crate::search`), AND-ed with the rest.
    pub search: Option<crate::search::Expr>,
}

/// Where a page of flows continues: the last row of the previous page (newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FlowCursor {
    /// First-seen time of the last row shown.
    pub first: Timestamp,
    /// Its id.
    pub id: i64,
}

/// One page of a flow listing.
#[derive(Clone, Debug)]
pub struct FlowPage {
    /// Newest first.
    pub flows: Vec<StoredFlow>,
    /// The cursor of the next page, when there may be one.
    pub next: Option<FlowCursor>,
}

/// The traffic of one rollup bucket: an hour, or a minute at a range's ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BucketTraffic {
    /// The bucket's start.
    #[schema(value_type = i64)]
    pub start: Timestamp,
    /// Flows first seen in it.
    pub flows: u64,
    /// Their packets.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A host's traffic over a range (from the per-minute rollups).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TalkerRow {
    /// Address.
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// Wire bytes it sent.
    pub bytes_sent: u64,
    /// Wire bytes it received.
    pub bytes_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Flows it took part in.
    pub flows: u64,
    /// Its country (ISO 3166-1 alpha-2), when the GeoIP database knew it.
    pub country: Option<String>,
    /// Its autonomous system's number, when the ASN database knew it.
    pub asn: Option<u32>,
    /// Its autonomous system's name.
    pub as_name: Option<String>,
}

impl TalkerRow {
    /// A row of the talkers query (`query::talkers`): the address, then the sums in column
    /// order read by `v(1)`…`v(5)`.
    pub fn from_sums<E>(ip: IpAddr, v: impl Fn(usize) -> Result<u64, E>) -> Result<Self, E> {
        Ok(TalkerRow {
            ip,
            bytes_sent: v(1)?,
            bytes_received: v(2)?,
            packets_sent: v(3)?,
            packets_received: v(4)?,
            flows: v(5)?,
            country: None,
            asn: None,
            as_name: None,
        })
    }

    /// The row with where its address is (columns 6 to 8 of the talkers query).
    pub fn with_geo(
        self,
        country: Option<String>,
        asn: Option<i64>,
        as_name: Option<String>,
    ) -> Self {
        TalkerRow {
            country,
            asn: asn.and_then(|a| u32::try_from(a).ok()),
            as_name,
            ..self
        }
    }

    /// Bytes both ways.
    pub fn bytes(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }
}

/// A destination port's traffic over a range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PortRow {
    /// IP protocol.
    pub protocol: u8,
    /// Destination port.
    pub port: u16,
    /// IANA service name (or "").
    pub service: &'static str,
    /// Flows.
    pub flows: u64,
    /// Packets both ways.
    pub packets: u64,
    /// Wire bytes both ways.
    pub bytes: u64,
}

impl PortRow {
    /// A row of the ports query (`query::ports`), columns read by `v(0)`…`v(4)`.
    pub fn from_sums<E>(v: impl Fn(usize) -> Result<u64, E>) -> Result<Self, E> {
        let (protocol, port) = (v(0)? as u8, v(1)? as u16);
        Ok(PortRow {
            protocol,
            port,
            service: flow::service::name(port, protocol),
            flows: v(2)?,
            packets: v(3)?,
            bytes: v(4)?,
        })
    }
}

/// An IP protocol's traffic over a range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProtocolRow {
    /// IP protocol.
    pub protocol: u8,
    /// Flows.
    pub flows: u64,
    /// Packets both ways.
    pub packets: u64,
    /// Wire bytes both ways.
    pub bytes: u64,
}

impl ProtocolRow {
    /// A row of the protocols query (`query::protocols`), columns read by `v(0)`…`v(3)`.
    pub fn from_sums<E>(v: impl Fn(usize) -> Result<u64, E>) -> Result<Self, E> {
        Ok(ProtocolRow {
            protocol: v(0)? as u8,
            flows: v(1)?,
            packets: v(2)?,
            bytes: v(3)?,
        })
    }
}

/// TCP health and the home-network split over a range (summed windows).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrafficHealth {
    /// Windows summed.
    pub windows: u64,
    /// Frames.
    pub packets: u64,
    /// Frame bytes.
    pub bytes: u64,
    /// TCP segments.
    pub tcp_segments: u64,
    /// SYN without ACK.
    pub syn: u64,
    /// SYN-ACK.
    pub syn_ack: u64,
    /// FIN.
    pub fin: u64,
    /// RST.
    pub rst: u64,
    /// Retransmissions.
    pub retransmissions: u64,
    /// Inbound packets and bytes.
    pub inbound: [u64; 2],
    /// Outbound packets and bytes.
    pub outbound: [u64; 2],
    /// Internal packets and bytes.
    pub internal: [u64; 2],
    /// External packets and bytes.
    pub external: [u64; 2],
}

impl TrafficHealth {
    /// The row of the health query (`query::health`), columns read by `v(0)`…`v(16)`.
    pub fn from_sums<E>(v: impl Fn(usize) -> Result<u64, E>) -> Result<Self, E> {
        Ok(TrafficHealth {
            windows: v(0)?,
            packets: v(1)?,
            bytes: v(2)?,
            tcp_segments: v(3)?,
            syn: v(4)?,
            syn_ack: v(5)?,
            fin: v(6)?,
            rst: v(7)?,
            retransmissions: v(8)?,
            inbound: [v(9)?, v(10)?],
            outbound: [v(11)?, v(12)?],
            internal: [v(13)?, v(14)?],
            external: [v(15)?, v(16)?],
        })
    }
}

/// Alerts in one minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MinuteCount {
    /// Minute start.
    #[schema(value_type = i64)]
    pub minute: Timestamp,
    /// Alerts.
    pub count: u64,
}

/// A source of alerts over a range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttackerRow {
    /// Source address.
    #[schema(value_type = String)]
    pub ip: IpAddr,
    /// Alerts.
    pub alerts: u64,
    /// Highest severity.
    pub max_severity: u8,
}

/// A stored alert: the alert exactly as its detector raised it (and `--alerts-out` wrote it),
/// with the four things storing adds. Its JSON is the alert's JSON plus `id`, `capture`,
/// `status` and `incident` (docs/alerts.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredAlert {
    /// Row id.
    pub id: i64,
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// The capture whose run raised it (`None` when written without one).
    #[schema(value_type = Option<i64>)]
    pub capture: Option<CaptureId>,
    /// new / acknowledged / dismissed / resolved.
    pub status: String,
    /// Incident it belongs to.
    pub incident: Option<i64>,
    /// The analyst's verdict once resolved (`true_positive`, `false_positive`,
    /// `benign_expected`); absent from its JSON until set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

/// Which alerts a listing returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFilter {
    /// Time range.
    pub time: Option<TimeRange>,
    /// Severity at least.
    pub min_severity: Option<u8>,
    /// Source address.
    pub src: Option<IpAddr>,
    /// Source or destination address.
    pub host: Option<IpAddr>,
    /// Kind (model class or rule), exactly.
    pub kind: Option<String>,
    /// Family (`dos`, `scan`, …).
    pub family: Option<String>,
    /// Incident.
    pub incident: Option<i64>,
    /// Naming this device (its inventory key) as source or destination.
    pub device: Option<String>,
    /// This alert only.
    pub id: Option<i64>,
    /// Only alerts stored after this one (id greater), oldest first.
    pub after_id: Option<i64>,
    /// A search (`crate::search`), AND-ed with the rest.
    pub search: Option<crate::search::Expr>,
    /// Hide the episodes a suppression active at this time (UTC µs) matches
    /// (`store::workflow`); `None` lists them all.
    pub unsuppressed_at: Option<i64>,
    /// Listed after this one: `(raised_at, id)` of the last alert of the previous page
    /// (keyset pagination, newest first).
    pub before: Option<(i64, i64)>,
}

/// An incident: the alert episodes on one attacker or victim close in time, across detectors
/// (`detect::incident`; kept by the store as alerts are written, see `crate::incident`). Its
/// JSON is what `netvigil incidents --json` prints (docs/alerts.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    /// Row id.
    pub id: i64,
    /// One line: the lead family with its attacker and victim, the other families, how many
    /// episodes.
    pub title: String,
    /// OPEN, INVESTIGATING, RESOLVED or FALSE_POSITIVE.
    pub status: String,
    /// The highest severity of its episodes, 1 (lowest) to 5.
    pub severity: u8,
    /// The analyst's priority, 1 (highest) to 5; 3 until set.
    pub priority: i64,
    /// Who works on it.
    pub assignee: Option<String>,
    /// First evidence of its episodes, UTC µs.
    pub first_seen: i64,
    /// Last evidence of its episodes, UTC µs.
    pub last_seen: i64,
    /// The lead attacker (the address most of its episodes name as attacker).
    #[schema(value_type = Option<String>)]
    pub src: Option<IpAddr>,
    /// The lead victim.
    #[schema(value_type = Option<String>)]
    pub dst: Option<IpAddr>,
    /// Its episodes (alerts).
    pub episodes: u64,
    /// Flows of its episodes.
    pub flows: u64,
    /// Families of its episodes, the lead episode's first.
    pub families: Vec<String>,
}

/// Which incidents a listing returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentFilter {
    /// Incidents whose span overlaps this range.
    pub time: Option<TimeRange>,
    /// Severity at least.
    pub min_severity: Option<u8>,
    /// An address any of its episodes names (attacker or victim).
    pub host: Option<IpAddr>,
    /// With an episode of this kind (model class or rule), exactly.
    pub kind: Option<String>,
    /// With an episode of this family.
    pub family: Option<String>,
    /// Status, exactly (`OPEN`, …).
    pub status: Option<String>,
    /// This incident only.
    pub id: Option<i64>,
    /// Only incidents made after this one (id greater), oldest first.
    pub after_id: Option<i64>,
    /// Listed after this one: `(updated_at, id)` of the last incident of the previous page
    /// (keyset pagination, most recently active first).
    pub before: Option<(i64, i64)>,
}

/// What retention removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Remove data whose time is before this.
    pub before: Option<Timestamp>,
    /// SQLite: remove the oldest days until the used pages fit in this many bytes.
    pub max_bytes: Option<u64>,
}

/// What a retention run removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Flows removed.
    pub flows: u64,
    /// Windows removed.
    pub windows: u64,
    /// Alerts removed.
    pub alerts: u64,
    /// Whole day partitions dropped (PostgreSQL).
    pub partitions: Vec<String>,
    /// Everything before this is gone.
    pub cutoff: Option<Timestamp>,
}
