//! The tables in each SQL dialect ([`Dialect`]): `flows` from [`flow_columns`], the others
//! from [`TABLES`], their indexes, and the migrations from schema versions 2 to 5.

use flow::columns::Column;

use super::{flow_columns, DbType, Source};
use crate::model::FLOW_SEQ_BITS;

/// Column types of one SQL dialect.
#[derive(Clone, Copy, Debug)]
pub struct Dialect {
    /// 64-bit integer.
    pub int: &'static str,
    /// Double.
    pub float: &'static str,
    /// Text.
    pub text: &'static str,
    /// UTC time.
    pub time: &'static str,
    /// IP address.
    pub ip: &'static str,
    /// Bytes.
    pub bytes: &'static str,
    /// An integer primary key the database assigns.
    pub serial_pk: &'static str,
    /// Appended to the rollup tables (SQLite: `WITHOUT ROWID`).
    pub rollup_suffix: &'static str,
    /// The last statements of the migration to version 4, in this dialect's JSON functions:
    /// they fill the flow columns of a model alert whose flow is no longer stored (archived)
    /// from the `"flow"` object version 3 kept in its evidence, then remove that object from
    /// every model alert's evidence (the alert's `flow` holds it now). Evidence that is not
    /// JSON is left as it is.
    pub evidence_v4: &'static [&'static str],
}

impl Dialect {
    fn of(&self, t: DbType) -> &'static str {
        match t {
            DbType::Int => self.int,
            DbType::Float => self.float,
            DbType::Text => self.text,
            DbType::Time => self.time,
            DbType::Ip => self.ip,
            DbType::Bytes => self.bytes,
        }
    }

    /// `name TYPE [NOT NULL]` of every flow column.
    pub fn flow_column_defs(&self) -> String {
        flow_columns()
            .iter()
            .map(|c| {
                format!(
                    "{} {}{}",
                    c.name,
                    self.of(c.ty),
                    if c.nullable { "" } else { " NOT NULL" }
                )
            })
            .collect::<Vec<_>>()
            .join(",\n  ")
    }

    /// The statements that take a version-2 database to version 3, in this dialect (run in
    /// one transaction with the new version's row): the writer and heartbeat columns of
    /// `captures`, the index of alerts by capture (replacing a capture removes its alerts),
    /// and the flow count of each capture still `ingesting` (version 3 keeps it
    /// current batch by batch; version 2 wrote it at the end only).
    pub fn migrate_to_v3(&self) -> Vec<String> {
        let mut v: Vec<String> = CAPTURE_WRITER_COLUMNS
            .iter()
            .map(|(name, ty)| format!("ALTER TABLE captures ADD COLUMN {name} {}", self.of(*ty)))
            .collect();
        v.push(ALERTS_CAPTURE_INDEX.to_string());
        v.push(format!(
            "UPDATE captures SET flows = (SELECT COUNT(*) FROM flows \
               WHERE flows.id >= captures.id * {seq} AND flows.id < (captures.id + 1) * {seq}) \
             WHERE status = 'ingesting'",
            seq = 1i64 << FLOW_SEQ_BITS
        ));
        v
    }

    /// The statements that take a version-3 database to version 4, in this dialect (run in
    /// one transaction with the new version's row, before the views are made again): the
    /// alert's detector and flow ([`ALERT_FLOW_COLUMNS`]) get columns, `detail` is renamed
    /// `evidence`, the detector of each stored alert is inferred (an alert about a flow is the
    /// model's, one of a `baseline-…` version the baseline's, the others the rules'), and each
    /// model alert's flow columns are filled from its stored flow, or else from its evidence
    /// (see [`Dialect::evidence_v4`]).
    pub fn migrate_to_v4(&self) -> Vec<String> {
        let mut v = vec![
            // It reads `detail`; opening makes it again after the migration.
            "DROP VIEW IF EXISTS alerts_v".to_string(),
            "ALTER TABLE alerts RENAME COLUMN detail TO evidence".to_string(),
            // SQLite adds a NOT NULL column only with a default; every row is set below.
            format!(
                "ALTER TABLE alerts ADD COLUMN detector {} NOT NULL DEFAULT 'rule' {DETECTOR_CHECK}",
                self.text
            ),
        ];
        v.extend(
            ALERT_FLOW_COLUMNS
                .iter()
                .map(|(name, ty)| format!("ALTER TABLE alerts ADD COLUMN {name} {}", self.of(*ty))),
        );
        v.push(
            "UPDATE alerts SET detector = CASE WHEN flow_id IS NOT NULL THEN 'model' \
               WHEN model_version LIKE 'baseline-%' THEN 'baseline' ELSE 'rule' END"
                .to_string(),
        );
        v.push(
            "UPDATE alerts SET flow_src_port = f.src_port, flow_dst_port = f.dst_port, \
               flow_protocol = f.protocol, flow_first_seen = f.first_seen \
             FROM flows f WHERE f.id = alerts.flow_id"
                .to_string(),
        );
        v.extend(self.evidence_v4.iter().map(|s| s.to_string()));
        v
    }

    /// The statements that take a version-4 database's alerts to version 5, in this dialect:
    /// the episode columns ([`ALERT_EPISODE_COLUMNS`]), filled for the alerts stored before
    /// (each a single hit: first seen at its flow or window, or when raised; its family from
    /// its kind as `detect::Family::of_kind` reads it; one flow, the least a hit stands for: the
    /// counts stay in its evidence).
    pub fn migrate_alerts_to_v5(&self) -> Vec<String> {
        let mut v = vec!["DROP VIEW IF EXISTS alerts_v".to_string()];
        v.extend(
            ALERT_EPISODE_COLUMNS
                .iter()
                .map(|(name, ty)| format!("ALTER TABLE alerts ADD COLUMN {name} {}", self.of(*ty))),
        );
        v.push(format!(
            "UPDATE alerts SET first_seen = COALESCE(flow_first_seen, window_start, raised_at), \
               family = {}, flows = 1, summary = ''",
            family_of_kind_sql()
        ));
        v
    }

    /// The statements that take a version-5 database to version 6, in this dialect: the
    /// incident digest columns ([`INCIDENT_DIGEST_COLUMNS`]) and the index of alerts by
    /// incident. The stored alerts are placed into incidents after these (in the same
    /// transaction, `crate::incident::place_unplaced`): version 5 never wrote an incident.
    pub fn migrate_to_v6(&self) -> Vec<String> {
        INCIDENT_DIGEST_COLUMNS
            .iter()
            .map(|(name, def)| format!("ALTER TABLE incidents ADD COLUMN {name} {def}"))
            .chain(["CREATE INDEX alerts_incident ON alerts (incident_id)".to_string()])
            .map(|s| self.types(&s))
            .collect()
    }

    /// The statements that take a version-6 database to version 7, in this dialect: the live
    /// episode columns ([`ALERT_LIVE_COLUMNS`], NULL for what version 6 stored: file runs'
    /// alerts carry no episode state) and the unique index a live episode's row is found by.
    pub fn migrate_to_v7(&self) -> Vec<String> {
        let mut v = vec!["DROP VIEW IF EXISTS alerts_v".to_string()];
        v.extend(
            ALERT_LIVE_COLUMNS
                .iter()
                .map(|(name, ty)| format!("ALTER TABLE alerts ADD COLUMN {name} {}", self.of(*ty))),
        );
        v.push(ALERTS_EPISODE_INDEX.to_string());
        v
    }

    /// `s` with the `{INT}`… placeholders of [`TABLES`] in this dialect.
    fn types(&self, s: &str) -> String {
        s.replace("{INT}", self.int)
            .replace("{TEXT}", self.text)
            .replace("{IP}", self.ip)
    }

    /// The statements that take a version-4 database to version 5, in this dialect (run in
    /// one transaction with the new version's row, before the views are made again): the
    /// columns of [`FLOW_COLUMNS_V5`] are added to `flows` (on PostgreSQL, to every
    /// partition). Rows stored before stay NULL there: version 4 did not keep the HTTP
    /// request's target and User-Agent, and the Community ID of a flow read back is computed
    /// from its record, whatever the column holds.
    pub fn migrate_to_v5(&self) -> Vec<String> {
        flow_columns()
            .iter()
            .filter(|c| matches!(c.source, Source::Column(col) if FLOW_COLUMNS_V5.contains(&col)))
            .map(|c| format!("ALTER TABLE flows ADD COLUMN {} {}", c.name, self.of(c.ty)))
            .collect()
    }

    /// The statements that take a version-7 database to version 8, in this dialect: the
    /// columns of [`FLOW_COLUMNS_V8`] are added to `flows` (on PostgreSQL, to every
    /// partition). Flows stored before stay NULL there (no application identified): version 7
    /// did not identify applications.
    pub fn migrate_to_v8(&self) -> Vec<String> {
        self.add_flow_columns(&FLOW_COLUMNS_V8)
    }

    /// The statements that take a version-8 database to version 9, in this dialect: the
    /// columns of [`FLOW_COLUMNS_V9`] are added to `flows`. Flows stored before stay NULL there:
    /// version 8 did not look addresses up.
    pub fn migrate_to_v9(&self) -> Vec<String> {
        self.add_flow_columns(&FLOW_COLUMNS_V9)
    }

    /// The statements that take a version-9 database to version 10, in this dialect: the
    /// columns of [`FLOW_COLUMNS_V10`] are added to `flows` (NULL for what was stored before).
    pub fn migrate_to_v10(&self) -> Vec<String> {
        self.add_flow_columns(&FLOW_COLUMNS_V10)
    }

    /// The statements that take a version-10 database to version 11, in this dialect: the
    /// device inventory's tables ([`DEVICE_TABLES`]), the device of each end of an alert
    /// ([`ALERT_DEVICE_COLUMNS`]) and where each talker is ([`TALKER_GEO_COLUMNS`]). What was
    /// stored before stays NULL there (version 10 kept no inventory and no rollup geography).
    pub fn migrate_to_v11(&self) -> Vec<String> {
        let mut v = vec!["DROP VIEW IF EXISTS alerts_v".to_string()];
        v.extend(
            ALERT_DEVICE_COLUMNS
                .iter()
                .map(|(name, ty)| format!("ALTER TABLE alerts ADD COLUMN {name} {}", self.of(*ty))),
        );
        for table in ["talkers_1m", "talkers_1h"] {
            v.extend(TALKER_GEO_COLUMNS.iter().map(|(name, ty)| {
                format!("ALTER TABLE {table} ADD COLUMN {name} {}", self.of(*ty))
            }));
        }
        v.extend(self.statements(DEVICE_TABLES));
        v
    }

    /// The statements that take a version-11 database to version 12, in this dialect: the
    /// API server's users, tokens and sessions ([`ACCOUNT_TABLES`], empty), and the before and
    /// after of each audit entry ([`AUDIT_CHANGE_COLUMNS`], NULL for the entries before).
    pub fn migrate_to_v12(&self) -> Vec<String> {
        let mut v: Vec<String> = AUDIT_CHANGE_COLUMNS
            .iter()
            .map(|c| format!("ALTER TABLE audit_log ADD COLUMN {c} {}", self.text))
            .collect();
        v.extend(self.statements(ACCOUNT_TABLES));
        v
    }

    /// The statements that take a version-12 database to version 13, in this dialect: the
    /// analyst's verdict on each alert episode ([`ALERT_WORKFLOW_COLUMNS`], NULL for what was
    /// stored before) and the workflow's comments and suppressions ([`WORKFLOW_TABLES`]).
    pub fn migrate_to_v13(&self) -> Vec<String> {
        let mut v = vec!["DROP VIEW IF EXISTS alerts_v".to_string()];
        v.extend(
            ALERT_WORKFLOW_COLUMNS
                .iter()
                .map(|(name, ty)| format!("ALTER TABLE alerts ADD COLUMN {name} {}", self.of(*ty))),
        );
        v.extend(self.statements(WORKFLOW_TABLES));
        v
    }

    /// The statements that take a version-13 database to version 14, in this dialect: saved
    /// searches ([`SAVED_QUERY_TABLES`]) and notification channels ([`NOTIFY_TABLES`]), empty.
    pub fn migrate_to_v14(&self) -> Vec<String> {
        let mut v = self.statements(SAVED_QUERY_TABLES);
        v.extend(self.statements(NOTIFY_TABLES));
        v
    }

    /// The statements of a block of `CREATE`s, in this dialect.
    fn statements(&self, block: &str) -> Vec<String> {
        self.types(block)
            .replace("{REAL}", self.float)
            .replace("{TIME}", self.time)
            .replace("{SERIAL_PK}", self.serial_pk)
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `ALTER TABLE flows ADD COLUMN` of each of `cols`, nullable (rows stored before have no
    /// value).
    fn add_flow_columns(&self, cols: &[Column]) -> Vec<String> {
        flow_columns()
            .iter()
            .filter(|c| matches!(c.source, Source::Column(col) if cols.contains(&col)))
            .map(|c| format!("ALTER TABLE flows ADD COLUMN {} {}", c.name, self.of(c.ty)))
            .collect()
    }

    /// The tables besides `flows`, in this dialect.
    pub fn tables(&self) -> String {
        let numbers: String = crate::rollup::WINDOW_NUMBER_COLUMNS
            .iter()
            .chain(["external_bytes"].iter())
            .map(|c| format!("  {c} {{INT}} NOT NULL,\n"))
            .collect();
        let flow = ALERT_FLOW_COLUMNS
            .iter()
            .chain(&ALERT_EPISODE_COLUMNS)
            .chain(&ALERT_LIVE_COLUMNS)
            .chain(&ALERT_DEVICE_COLUMNS)
            .chain(&ALERT_WORKFLOW_COLUMNS)
            .map(|(name, ty)| format!(",\n  {name} {}", self.of(*ty)))
            .collect::<String>();
        let writer = CAPTURE_WRITER_COLUMNS
            .iter()
            .map(|(name, ty)| format!("  {name} {}", self.of(*ty)))
            .collect::<Vec<_>>()
            .join(",\n");
        let digest: String = INCIDENT_DIGEST_COLUMNS
            .iter()
            .map(|(name, def)| format!(",\n  {name} {def}"))
            .collect();
        let geo: String = TALKER_GEO_COLUMNS
            .iter()
            .map(|(name, ty)| format!(" {name} {},", self.of(*ty)))
            .collect();
        let tables = format!(
            "{TABLES}{DEVICE_TABLES}{ACCOUNT_TABLES}{WORKFLOW_TABLES}{SAVED_QUERY_TABLES}{NOTIFY_TABLES}"
        );
        tables
            .replace("{TALKER_GEO}", &geo)
            .replace("{INCIDENT_DIGEST}", &digest)
            .replace("{WINDOW_NUMBERS}", &numbers)
            .replace("{CAPTURE_WRITER}", &writer)
            .replace(
                "{AUDIT_CHANGE}",
                &AUDIT_CHANGE_COLUMNS
                    .iter()
                    .map(|c| format!(",\n  {c} {{TEXT}}"))
                    .collect::<String>(),
            )
            .replace("{DETECTOR_CHECK}", DETECTOR_CHECK)
            .replace("{ALERT_FLOW}", &flow)
            .replace("{INT}", self.int)
            .replace("{REAL}", self.float)
            .replace("{TEXT}", self.text)
            .replace("{TIME}", self.time)
            .replace("{IP}", self.ip)
            .replace("{SERIAL_PK}", self.serial_pk)
            .replace("{ROLLUP}", self.rollup_suffix)
    }
}

/// The columns of `captures` that name its writer, so that a capture left `ingesting` tells
/// whether its writer still runs (see `model::Writer`): host name, boot id, pid, the
/// process's start time (clock ticks after boot), and the heartbeat, the time of its last
/// committed batch (set when the ingest begins). Added by schema version 3.
pub const CAPTURE_WRITER_COLUMNS: [(&str, DbType); 5] = [
    ("writer_host", DbType::Text),
    ("writer_boot", DbType::Text),
    ("writer_pid", DbType::Int),
    ("writer_start", DbType::Int),
    ("heartbeat", DbType::Time),
];

/// The columns of `flows` added by schema version 5 (nullable text): the first HTTP
/// request's target and User-Agent, and the Community ID.
pub const FLOW_COLUMNS_V5: [Column; 3] =
    [Column::HttpUri, Column::HttpUserAgent, Column::CommunityId];

/// The flow columns schema version 8 added: the application identified from the payload.
pub const FLOW_COLUMNS_V8: [Column; 1] = [Column::Application];

/// The flow columns schema version 9 added: country and autonomous system of each end.
pub const FLOW_COLUMNS_V9: [Column; 6] = flow::columns::GEO;

/// The flow columns schema version 10 added: the device of each end.
pub const FLOW_COLUMNS_V10: [Column; 2] = flow::columns::DEVICES;

/// The columns of `captures` as a [`crate::Capture`] is read from them, in order.
pub(crate) const CAPTURE_COLUMNS: &str = "id, name, sha256, size, interface, sensor, ingested_at, \
    start_time, end_time, packets, bytes, flows, status, writer_host, writer_boot, writer_pid, \
    writer_start, heartbeat";

/// The columns of `alerts` that hold the flow an alert is about besides its id (`flow_id`):
/// with the alert's addresses, the flow's 5-tuple, and its first packet. Added by schema
/// version 4, after the detector; NULL when the alert is about no flow.
pub const ALERT_FLOW_COLUMNS: [(&str, DbType); 4] = [
    ("flow_src_port", DbType::Int),
    ("flow_dst_port", DbType::Int),
    ("flow_protocol", DbType::Int),
    ("flow_first_seen", DbType::Time),
];

/// The columns of `incidents` that say what it is, from its episodes
/// (`detect::incident::digest`), with their definitions (`{INT}`… placeholders): the lead
/// victim (`src_ip` is the lead attacker), the highest severity, how many episodes and flows,
/// the families (comma-separated, the lead's first). `opened_at` and `updated_at` hold the
/// first and last evidence of its episodes; `title` the digest's title. Added by schema
/// version 6.
pub const INCIDENT_DIGEST_COLUMNS: [(&str, &str); 5] = [
    ("dst_ip", "{IP}"),
    ("severity", "{INT} NOT NULL DEFAULT 1"),
    ("episodes", "{INT} NOT NULL DEFAULT 0"),
    ("flows", "{INT} NOT NULL DEFAULT 0"),
    ("families", "{TEXT} NOT NULL DEFAULT ''"),
];

/// The columns of `alerts` that make an alert an episode (`detect::episode`): its first
/// evidence, family, flow count, the Community ID of its flow and its one-sentence summary.
/// Added by schema version 5.
pub const ALERT_EPISODE_COLUMNS: [(&str, DbType); 5] = [
    ("first_seen", DbType::Time),
    ("family", DbType::Text),
    ("flows", DbType::Int),
    ("community_id", DbType::Text),
    ("summary", DbType::Text),
];

/// The columns of `alerts` that place a live episode's snapshot in its life
/// (`detect::EpisodeState`): its id within the capture, `open` or `closed`, the snapshots
/// before it and the episode it was taken into. NULL for file runs' alerts. A live run's
/// later snapshot replaces the row of the same (capture, episode). Added by schema version 7.
pub const ALERT_LIVE_COLUMNS: [(&str, DbType); 4] = [
    ("episode_id", DbType::Int),
    ("episode_state", DbType::Text),
    ("episode_update", DbType::Int),
    ("episode_merged_into", DbType::Int),
];

/// The columns of `alerts` naming the device (`enrich::device::DeviceKey` as text) of its
/// source and destination, when the inventory knew them. Added by schema version 11.
pub const ALERT_DEVICE_COLUMNS: [(&str, DbType); 2] =
    [("src_device", DbType::Text), ("dst_device", DbType::Text)];

/// The columns of the talker rollups saying where the address is (GeoIP/ASN, as its flows
/// were enriched; NULL for a private address or without the databases). Added by schema
/// version 11.
pub const TALKER_GEO_COLUMNS: [(&str, DbType); 3] = [
    ("country", DbType::Text),
    ("asn", DbType::Int),
    ("as_name", DbType::Text),
];

/// The device inventory, per capture (a capture's run keeps its own inventory; replacing or
/// removing the capture replaces or removes it): `devices` holds each device as the run
/// last saw it (`detail` is its whole JSON, docs/devices.md), `device_events` what changed and
/// when (a new device, a MAC with a new address, an address that moved to another MAC, a new
/// name). Added by schema version 11.
const DEVICE_TABLES: &str = "
CREATE TABLE devices (
  capture_id {INT} NOT NULL,
  device {TEXT} NOT NULL,
  mac {TEXT},
  vendor {TEXT},
  hostname {TEXT},
  ips {TEXT} NOT NULL,
  os {TEXT},
  os_confidence {REAL},
  services {TEXT} NOT NULL,
  flows_in {INT} NOT NULL,
  flows_out {INT} NOT NULL,
  bytes_in {INT} NOT NULL,
  bytes_out {INT} NOT NULL,
  first_seen {TIME} NOT NULL,
  last_seen {TIME} NOT NULL,
  detail {TEXT} NOT NULL,
  PRIMARY KEY (capture_id, device)
);
CREATE INDEX devices_device ON devices (device);
CREATE INDEX devices_last_seen ON devices (last_seen);
CREATE TABLE device_events (
  id {SERIAL_PK},
  capture_id {INT} NOT NULL,
  seen_at {TIME} NOT NULL,
  device {TEXT} NOT NULL,
  kind {TEXT} NOT NULL
    CHECK (kind IN ('new_device', 'new_ip', 'ip_moved', 'hostname_changed')),
  ip {IP},
  detail {TEXT} NOT NULL
);
CREATE INDEX device_events_seen ON device_events (seen_at);
CREATE INDEX device_events_device ON device_events (device, seen_at);
CREATE INDEX device_events_capture ON device_events (capture_id);
";

/// The columns of `alerts` the analyst's workflow adds: the verdict of a resolved episode
/// (`true_positive`, `false_positive`, `benign_expected`; `store::workflow`). Added by schema
/// version 13.
pub const ALERT_WORKFLOW_COLUMNS: [(&str, DbType); 1] = [("verdict", DbType::Text)];

/// The analyst's workflow (`store::workflow`): comments on episodes and incidents (`target`
/// is `episode:ID` or `incident:ID`), and suppressions, which hide the episodes matching all
/// their conditions (an address range on either end, kind, detector, family; NULL: any) from
/// the analyst's listings while active (not removed, not expired). Added by schema version 13.
const WORKFLOW_TABLES: &str = "
CREATE TABLE comments (
  id {SERIAL_PK},
  target {TEXT} NOT NULL,
  at {TIME} NOT NULL,
  author {TEXT} NOT NULL,
  body {TEXT} NOT NULL
);
CREATE INDEX comments_target ON comments (target, id);
CREATE TABLE suppressions (
  id {SERIAL_PK},
  ip_lo {IP},
  ip_hi {IP},
  kind {TEXT},
  detector {TEXT},
  family {TEXT},
  reason {TEXT} NOT NULL,
  created_by {TEXT} NOT NULL,
  created_at {TIME} NOT NULL,
  expires_at {TIME},
  removed_at {TIME}
);
";

/// Searches saved by users (`store::saved`): a name unique per owner, what it searches
/// (`flows` or `episodes`), the query text, and whether every user may read it (`shared`,
/// 0 or 1; a shared query is what a link to it opens). Added by schema version 14.
const SAVED_QUERY_TABLES: &str = "
CREATE TABLE saved_queries (
  id {SERIAL_PK},
  owner {TEXT} NOT NULL,
  name {TEXT} NOT NULL,
  target {TEXT} NOT NULL CHECK (target IN ('flows', 'episodes')),
  query {TEXT} NOT NULL,
  shared {INT} NOT NULL,
  created_at {TIME} NOT NULL,
  updated_at {TIME} NOT NULL,
  UNIQUE (owner, name)
);
";

/// Notification channels (`store::notify`): where new alert episodes and incidents at or
/// above a severity are sent (a webhook URL, or a syslog collector `host:port` over UDP or
/// TCP), and each channel's progress: the newest episode and incident ids it is done with
/// (delivered or given up), counts, and its last error. The backlog of a channel is the
/// store itself, read from those ids on. Added by schema version 14.
const NOTIFY_TABLES: &str = "
CREATE TABLE notify_channels (
  id {SERIAL_PK},
  name {TEXT} NOT NULL UNIQUE,
  kind {TEXT} NOT NULL CHECK (kind IN ('webhook', 'syslog')),
  address {TEXT} NOT NULL,
  min_severity {INT} NOT NULL,
  episodes {INT} NOT NULL,
  incidents {INT} NOT NULL,
  enabled {INT} NOT NULL,
  created_by {TEXT} NOT NULL,
  created_at {TIME} NOT NULL,
  after_alert {INT} NOT NULL,
  after_incident {INT} NOT NULL,
  delivered {INT} NOT NULL,
  failed {INT} NOT NULL,
  last_delivered_at {TIME},
  last_error {TEXT},
  last_error_at {TIME}
);
";

/// The columns of `audit_log` holding what a change did: the thing before and after, as
/// JSON (NULL: it did not exist, or no longer does). Added by schema version 12.
pub const AUDIT_CHANGE_COLUMNS: [&str; 2] = ["before_json", "after_json"];

/// The API server's accounts and its audit log (`crate::account`): users with their role and
/// Argon2id password hash (NULL: token-only), API tokens and login sessions (both stored as
/// the SHA-256 of the secret, never the secret), and the append-only record of every change
/// made through the server or `netvigil user` (who, what, on what, before and after, as
/// JSON, in [`AUDIT_CHANGE_COLUMNS`] of the `audit_log` every version had). Added by schema
/// version 12.
const ACCOUNT_TABLES: &str = "
CREATE TABLE users (
  id {SERIAL_PK},
  name {TEXT} NOT NULL UNIQUE,
  role {TEXT} NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
  password_hash {TEXT},
  created_at {TIME} NOT NULL
);
CREATE TABLE api_tokens (
  id {SERIAL_PK},
  user_id {INT} NOT NULL,
  name {TEXT} NOT NULL,
  token_hash {TEXT} NOT NULL UNIQUE,
  prefix {TEXT} NOT NULL,
  created_at {TIME} NOT NULL,
  last_used {TIME},
  expires_at {TIME}
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE TABLE sessions (
  token_hash {TEXT} PRIMARY KEY,
  user_id {INT} NOT NULL,
  csrf {TEXT} NOT NULL,
  created_at {TIME} NOT NULL,
  expires_at {TIME} NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX audit_log_logged ON audit_log (logged_at);
CREATE INDEX audit_log_object ON audit_log (object, id);
";

/// The index a live episode's stored row is found by, added by schema version 7.
const ALERTS_EPISODE_INDEX: &str = "CREATE UNIQUE INDEX alerts_episode ON alerts \
    (capture_id, episode_id) WHERE episode_id IS NOT NULL";

/// How version 5 names the family of an alert stored before it, by the words of its kind, in
/// `detect::Family::of_kind`'s order (a test checks both agree on every known kind).
pub(crate) const KIND_FAMILY_WORDS: [(&[&str], &str); 11] = [
    (&["web\\_%"], "web_attack"),
    (&["%amplification%", "%reflection%", "%ddos%"], "ddos"),
    (
        &["%flood%", "%slow%", "%dos%", "%goldeneye%", "%hulk%"],
        "dos",
    ),
    (&["%infiltration%scan%"], "scan"),
    (&["%infiltration%"], "infiltration"),
    (&["%scan%"], "scan"),
    (&["%brute%", "%patator%"], "brute_force"),
    (
        &["%sql%", "%xss%", "%traversal%", "%web%", "%http%"],
        "web_attack",
    ),
    (&["%bot%", "%beacon%", "%c2%"], "c2"),
    (&["%exfil%", "%tunnel%"], "exfiltration"),
    (&["%heartbleed%", "%exploit%"], "exploit"),
];

/// An SQL expression naming the family of column `kind` ([`KIND_FAMILY_WORDS`]).
pub(crate) fn family_of_kind_sql() -> String {
    let whens = KIND_FAMILY_WORDS
        .iter()
        .map(|(words, f)| {
            let any = words
                .iter()
                .map(|w| format!("LOWER(kind) LIKE '{w}' ESCAPE '\\'"))
                .collect::<Vec<_>>()
                .join(" OR ");
            format!("WHEN {any} THEN '{f}' ")
        })
        .collect::<String>();
    format!("CASE {whens}ELSE 'anomaly' END")
}

/// The detectors an alert may name (`detect::Detector`).
const DETECTOR_CHECK: &str = "CHECK (detector IN ('model', 'rule', 'baseline'))";

/// The index of alerts by capture, added by schema version 3.
const ALERTS_CAPTURE_INDEX: &str = "CREATE INDEX alerts_capture ON alerts (capture_id)";

/// Every table but `flows` (whose columns come from [`flow_columns`]), with the indexes the
/// dashboard's queries use. Placeholders in braces are the dialect's types.
const TABLES: &str = "
CREATE TABLE captures (
  id {SERIAL_PK},
  name {TEXT} NOT NULL,
  sha256 {TEXT},
  size {INT} NOT NULL,
  interface {TEXT},
  sensor {TEXT} NOT NULL,
  ingested_at {TIME} NOT NULL,
  start_time {TIME},
  end_time {TIME},
  packets {INT} NOT NULL DEFAULT 0,
  bytes {INT} NOT NULL DEFAULT 0,
  flows {INT} NOT NULL DEFAULT 0,
  status {TEXT} NOT NULL CHECK (status IN ('ingesting', 'complete', 'failed')),
{CAPTURE_WRITER}
);
CREATE INDEX captures_sha256 ON captures (sha256);

CREATE TABLE windows (
  capture_id {INT} NOT NULL,
  start_time {TIME} NOT NULL,
{WINDOW_NUMBERS}  report {TEXT} NOT NULL,
  PRIMARY KEY (capture_id, start_time)
);
CREATE INDEX windows_start ON windows (start_time);

CREATE TABLE talkers_1m (
  bucket {TIME} NOT NULL, ip {IP} NOT NULL,
  bytes_sent {INT} NOT NULL, bytes_received {INT} NOT NULL,
  packets_sent {INT} NOT NULL, packets_received {INT} NOT NULL, flows {INT} NOT NULL,
 {TALKER_GEO}
  PRIMARY KEY (bucket, ip)
){ROLLUP};
CREATE TABLE talkers_1h (
  bucket {TIME} NOT NULL, ip {IP} NOT NULL,
  bytes_sent {INT} NOT NULL, bytes_received {INT} NOT NULL,
  packets_sent {INT} NOT NULL, packets_received {INT} NOT NULL, flows {INT} NOT NULL,
 {TALKER_GEO}
  PRIMARY KEY (bucket, ip)
){ROLLUP};
CREATE TABLE ports_1m (
  bucket {TIME} NOT NULL, protocol {INT} NOT NULL, port {INT} NOT NULL,
  flows {INT} NOT NULL, packets {INT} NOT NULL, bytes {INT} NOT NULL,
  PRIMARY KEY (bucket, protocol, port)
){ROLLUP};
CREATE TABLE ports_1h (
  bucket {TIME} NOT NULL, protocol {INT} NOT NULL, port {INT} NOT NULL,
  flows {INT} NOT NULL, packets {INT} NOT NULL, bytes {INT} NOT NULL,
  PRIMARY KEY (bucket, protocol, port)
){ROLLUP};
CREATE TABLE protocols_1m (
  bucket {TIME} NOT NULL, protocol {INT} NOT NULL,
  flows {INT} NOT NULL, packets {INT} NOT NULL, bytes {INT} NOT NULL,
  PRIMARY KEY (bucket, protocol)
){ROLLUP};
CREATE TABLE alerts_1m (
  bucket {TIME} NOT NULL, src_ip {IP} NOT NULL, kind {TEXT} NOT NULL,
  alerts {INT} NOT NULL, max_severity {INT} NOT NULL,
  PRIMARY KEY (bucket, src_ip, kind)
){ROLLUP};

CREATE TABLE incidents (
  id {SERIAL_PK},
  opened_at {TIME} NOT NULL,
  updated_at {TIME} NOT NULL,
  src_ip {IP},
  title {TEXT} NOT NULL,
  status {TEXT} NOT NULL DEFAULT 'OPEN'
    CHECK (status IN ('OPEN', 'INVESTIGATING', 'RESOLVED', 'FALSE_POSITIVE')),
  assignee {TEXT},
  priority {INT} NOT NULL DEFAULT 3{INCIDENT_DIGEST}
);
CREATE INDEX incidents_updated ON incidents (updated_at);

CREATE TABLE alerts (
  id {SERIAL_PK},
  raised_at {TIME} NOT NULL,
  capture_id {INT},
  flow_id {INT},
  window_start {TIME},
  src_ip {IP},
  dst_ip {IP},
  kind {TEXT} NOT NULL,
  severity {INT} NOT NULL CHECK (severity BETWEEN 1 AND 5),
  confidence {REAL} NOT NULL,
  model_version {TEXT} NOT NULL,
  evidence {TEXT} NOT NULL,
  status {TEXT} NOT NULL DEFAULT 'new'
    CHECK (status IN ('new', 'acknowledged', 'dismissed', 'resolved')),
  incident_id {INT} REFERENCES incidents (id),
  detector {TEXT} NOT NULL {DETECTOR_CHECK}{ALERT_FLOW}
);
CREATE INDEX alerts_raised ON alerts (raised_at);
CREATE INDEX alerts_severity ON alerts (severity, raised_at);
CREATE INDEX alerts_src ON alerts (src_ip, raised_at);
CREATE INDEX alerts_capture ON alerts (capture_id);
CREATE INDEX alerts_incident ON alerts (incident_id);
CREATE UNIQUE INDEX alerts_episode ON alerts (capture_id, episode_id) WHERE episode_id IS NOT NULL;

CREATE TABLE audit_log (
  id {SERIAL_PK},
  logged_at {TIME} NOT NULL,
  actor {TEXT} NOT NULL,
  action {TEXT} NOT NULL,
  object {TEXT} NOT NULL,
  detail {TEXT} NOT NULL{AUDIT_CHANGE}
);
";

/// The time index of `flows` (PostgreSQL's primary key `(first_seen, id)` is that index).
pub const FLOW_TIME_INDEX: &str = "CREATE INDEX flows_first_seen ON flows (first_seen, id);";

/// The other indexes of `flows` (on PostgreSQL, of every partition): addresses, destination
/// port, and scored attacks by time. The address and port indexes lead with the minute, so
/// the inserts of one batch (a minute or two of traffic) touch a few hundred pages however
/// large the table grows; keyed by address first, every batch rewrote pages all over the
/// index (the 10 M-flow SQLite run wrote 196 GB of WAL for a 3.4 GB file). Listings walk
/// the minutes newest first instead (`query::FlowWalk`).
pub const FLOW_INDEXES: &str = "
CREATE INDEX flows_src_ip ON flows (minute_us, src_ip, first_seen, id);
CREATE INDEX flows_dst_ip ON flows (minute_us, dst_ip, first_seen, id);
CREATE INDEX flows_dst_port ON flows (minute_us, dst_port, first_seen, id);
CREATE INDEX flows_label ON flows (label, first_seen, id) WHERE label IS NOT NULL;
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_family_of_a_kind_is_the_detectors() {
        let kinds = [
            "DDoS",
            "DoS Hulk",
            "DoS GoldenEye",
            "DoS Slowloris",
            "DoS Slowhttptest",
            "Portscan",
            "Infiltration - Portscan",
            "Infiltration",
            "FTP-Patator",
            "SSH-Patator",
            "Web Attack - Brute Force",
            "Web Attack - XSS",
            "Web Attack - SQL Injection",
            "Botnet",
            "Heartbleed",
            "port_scan_vertical",
            "port_scan_horizontal",
            "syn_flood",
            "udp_flood",
            "icmp_flood",
            "amplification_dns",
            "amplification_synack",
            "brute_force_ssh",
            "brute_force_http",
            "host_anomaly",
            "window_anomaly",
            "web_scanner",
            "web_sql_injection",
            "http_flood",
            "slow_http",
            "dns_tunnel",
            "beaconing",
            "exfiltration",
            "something else",
        ];
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute("CREATE TABLE alerts (kind TEXT)", []).unwrap();
        for k in kinds {
            db.execute("INSERT INTO alerts VALUES (?1)", [k]).unwrap();
        }
        let sql = format!("SELECT kind, {} FROM alerts", family_of_kind_sql());
        let mut st = db.prepare(&sql).unwrap();
        let rows: Vec<(String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), kinds.len());
        for (k, f) in rows {
            assert_eq!(f, detect::Family::of_kind(&k).as_str(), "{k}");
        }
    }
}
