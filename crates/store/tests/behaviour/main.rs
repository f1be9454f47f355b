//! One behaviour suite, run against both backends: SQLite in a temporary directory and
//! PostgreSQL on 127.0.0.1:5432 for real (a fresh schema per test, with the session's time
//! zone set to Asia/Kolkata, UTC+05:30, so any time-zone slip shows). Flows come from real
//! captures metered here; every expected value is computed from those records in memory.
//!
//! By role: [`writer`] (ingest), [`queries`] (the dashboard's reads), [`maintenance`]
//! (retention, archiving), [`opening`] (schema versions), [`incidents`], [`accounts`] (the API
//! server's users, tokens, sessions and audit log); then [`parity`], the same captures
//! through both backends at once, every read compared, and [`postgres_only`], what only
//! PostgreSQL has (partitions, reconnecting, session time zones).

mod accounts;
mod contract;
mod devices;
mod incidents;
mod maintenance;
mod opening;
mod parity;
mod plans;
mod postgres_only;
mod queries;
mod sharing;
mod synthetic;
mod workflow;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use flow::columns;
use flow::window::report::WindowReport;
use flow::{EndReason, FlowRecord, HomeNet, Meter, MeterConfig, Profile, Window, WindowConfig};
use packet::{FileSource, PacketSource};
use store::*;

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NETVIGIL_DATA") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A capture metered with 60 s windows: flows in emission order and windows.
fn meter(name: &str) -> (Vec<FlowRecord>, Vec<WindowReport>) {
    let path = data_dir().join("nfstream/pcaps").join(name);
    let mut m = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default())
        .with_windows(WindowConfig::default());
    let mut src = FileSource::open(&path, 0).unwrap_or_else(|e| panic!("{e}"));
    let (mut flows, mut windows) = (Vec::new(), Vec::<Window>::new());
    while let Ok(n) = src.fill_batch(64) {
        if n == 0 {
            break;
        }
        m.packet_batch(&src, n, &mut flows, |_, _| {});
    }
    while m.finish(EndReason::Eof, usize::MAX, &mut flows) {}
    m.drain_windows(&mut windows);
    (flows, windows.iter().map(Window::report).collect())
}

/// Where a test's database lives.
enum Backend {
    Sqlite(PathBuf),
    /// A schema of its own; the store's sessions are named after it (`application_name`),
    /// so that a test finds them in `pg_stat_activity`.
    Postgres {
        schema: String,
    },
}

/// The test server (trust authentication; `scripts/setup.sh` starts it);
/// `NETVIGIL_PG_TEST_URL` overrides it.
fn pg_url() -> String {
    std::env::var("NETVIGIL_PG_TEST_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// The session time zone of the suite's PostgreSQL stores, half an hour off UTC.
const KOLKATA: &str = "options=-c%20TimeZone%3DAsia%2FKolkata";

impl Backend {
    fn sqlite(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("nv-store-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Backend::Sqlite(dir.join("netvigil.db"))
    }

    fn postgres(test: &str) -> Self {
        // PostgreSQL names are at most 63 bytes.
        let schema = format!("nvb_{}_{}", &test[..test.len().min(40)], std::process::id());
        admin()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
        Backend::Postgres { schema }
    }

    fn db(&self) -> String {
        match self {
            Backend::Sqlite(p) => p.display().to_string(),
            Backend::Postgres { .. } => self.url(KOLKATA),
        }
    }

    /// The PostgreSQL schema.
    fn schema(&self) -> &str {
        match self {
            Backend::Postgres { schema } => schema,
            Backend::Sqlite(_) => panic!("not PostgreSQL"),
        }
    }

    /// The PostgreSQL store's URL with other client parameters (`k=v&…`).
    fn url(&self, params: &str) -> String {
        let schema = self.schema();
        let base = pg_url();
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}schema={schema}&application_name={schema}&{params}")
    }

    fn open(&self) -> Box<dyn Store> {
        store::open(&self.db()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs raw SQL beside the store (fault injection, version tampering).
    fn exec(&self, sqlite: &str, postgres: &str) {
        match self {
            Backend::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .execute_batch(sqlite)
                .unwrap(),
            Backend::Postgres { schema } => admin()
                .batch_execute(&format!("SET search_path TO {schema}; {postgres}"))
                .unwrap(),
        }
    }

    /// Reads one integer beside the store (SQL both backends understand).
    fn query_i64(&self, sql: &str) -> i64 {
        match self {
            Backend::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
            Backend::Postgres { schema } => {
                let mut c = admin();
                c.batch_execute(&format!("SET search_path TO {schema}"))
                    .unwrap();
                c.query_one(sql, &[]).unwrap().get(0)
            }
        }
    }

    /// Takes the database away from the stores open on it: PostgreSQL ends their sessions
    /// (`pg_terminate_backend`); SQLite's file, with its WAL, is removed. Returns how many
    /// sessions ended (SQLite: 1).
    fn lose_database(&self) -> usize {
        match self {
            Backend::Sqlite(p) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut f = p.clone().into_os_string();
                    f.push(suffix);
                    let _ = std::fs::remove_file(f);
                }
                1
            }
            Backend::Postgres { schema } => terminate(schema),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Sqlite(p) => {
                if let Some(d) = p.parent() {
                    let _ = std::fs::remove_dir_all(d);
                }
            }
            Backend::Postgres { schema } => {
                if let Ok(mut c) = postgres::Client::connect(&pg_url(), postgres::NoTls) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }
}

/// A session on the test server beside the stores.
fn admin() -> postgres::Client {
    let url = pg_url();
    postgres::Client::connect(&url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("no PostgreSQL at {url} ({e}): run scripts/setup.sh"))
}

/// Ends the sessions named `application_name` (waiting for each to go); returns how many.
fn terminate(application_name: &str) -> usize {
    admin()
        .query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE application_name = $1",
            &[&application_name],
        )
        .unwrap()
        .iter()
        .filter(|r| r.get::<_, bool>(0))
        .count()
}

/// Each behaviour as one test per backend.
macro_rules! both {
    ($($role:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() {
                super::$role::$name(super::Backend::sqlite(stringify!($name)));
            })*
        }
        mod postgres_backend {
            $(#[test] fn $name() {
                super::$role::$name(super::Backend::postgres(stringify!($name)));
            })*
        }
    };
}

both!(
    queries::flows_read_back_exactly_as_metered,
    queries::rollups_equal_sums_over_the_raw_flows,
    queries::traffic_health_sums_the_windows,
    queries::filters_and_keyset_pages_match_the_records,
    writer::a_replaced_capture_leaves_one_copy_and_matching_rollups,
    maintenance::retention_removes_old_data_all_or_nothing,
    queries::alerts_give_attack_rate_attackers_and_history,
    opening::a_newer_schema_is_refused,
    writer::a_batch_written_twice_is_stored_once,
    maintenance::days_scan_and_drop_for_the_archive,
    maintenance::training_export_keeps_the_confidence_band_and_takes_the_analysts_verdicts,
    writer::a_stored_copy_tells_whether_its_writer_still_runs,
    writer::forcing_replaces_every_copy_with_its_alerts_and_rollup_shares,
    maintenance::retention_removes_alerts_with_their_flows_and_recounts_their_minutes,
    opening::a_version_2_database_is_migrated_in_place_keeping_its_rows,
    opening::a_version_3_database_is_migrated_in_place_keeping_every_alert_field,
    opening::a_version_4_database_is_migrated_in_place_gaining_the_new_flow_columns,
    queries::a_stored_alert_with_bad_evidence_is_an_error_naming_it,
    writer::a_lost_database_fails_the_writers_next_call_as_connection_lost,
    incidents::episodes_on_one_host_are_one_incident_across_batches_and_bridges_merge,
    incidents::retention_shrinks_incidents_to_their_remaining_episodes_and_removes_empty_ones,
    incidents::a_live_episode_is_one_row_its_snapshots_replace,
    opening::a_version_6_database_is_migrated_in_place_gaining_the_live_episode_columns,
    opening::a_version_7_database_is_migrated_in_place_gaining_the_application_column,
    opening::a_version_8_database_is_migrated_in_place_gaining_the_geoip_columns,
    opening::a_version_9_database_is_migrated_in_place_gaining_the_device_columns,
    opening::a_version_10_database_is_migrated_in_place_gaining_the_inventory,
    devices::the_inventory_is_stored_per_capture_listed_merged_and_filtered,
    queries::top_talkers_say_where_each_address_is,
    opening::a_version_11_database_is_migrated_in_place_gaining_accounts,
    accounts::users_tokens_and_sessions_authenticate_and_every_change_is_audited,
    accounts::the_audit_log_is_append_only,
    opening::a_version_12_database_is_migrated_in_place_gaining_the_workflow,
    workflow::episodes_are_worked_with_verdicts_and_every_step_is_audited,
    workflow::incidents_are_made_merged_and_changed,
    workflow::a_suppression_hides_exactly_what_its_preview_counted,
    plans::listings_filters_and_searches_use_the_indexes_on_a_million_flows,
    accounts::a_token_check_does_not_wait_for_a_writer_holding_the_database,
    sharing::saved_searches_are_private_until_shared_and_changed_only_by_their_owner,
    sharing::a_channel_starts_after_what_is_stored_and_its_progress_never_goes_back,
    opening::a_version_13_database_is_migrated_in_place_gaining_saved_searches_and_channels,
);

fn new_capture(name: &str) -> NewCapture {
    NewCapture {
        name: name.into(),
        sha256: Some(format!(
            "{:064x}",
            name.len() * 7919 + name.as_bytes()[0] as usize
        )),
        size: 1000,
        interface: None,
        sensor: "test".into(),
    }
}

/// Stores a capture's flows in batches of `batch`, its windows, and completes it.
fn ingest(
    s: &mut dyn Store,
    name: &str,
    flows: &[FlowRecord],
    windows: &[WindowReport],
    batch: usize,
) -> CaptureId {
    let cap = s.begin_capture(&new_capture(name)).unwrap();
    for chunk in flows.chunks(batch) {
        s.insert_flows(cap, chunk, &[]).unwrap();
    }
    s.insert_windows(cap, windows).unwrap();
    let totals = CaptureTotals {
        flows: flows.len() as u64,
        ..CaptureTotals::default()
    };
    s.finish_capture(cap, &totals, CaptureStatus::Complete, &[])
        .unwrap();
    cap
}

/// Every column's value, as the exporters see it.
fn row(r: &FlowRecord) -> Vec<columns::Value<'_>> {
    columns::all().map(|c| c.value(r)).collect()
}

fn talkers(flows: &[&FlowRecord]) -> HashMap<IpAddr, TalkerRow> {
    let mut m: HashMap<IpAddr, TalkerRow> = HashMap::new();
    for f in flows {
        for (ip, d) in [(f.src, 0), (f.dst, 1)] {
            if d == 1 && f.dst == f.src {
                continue;
            }
            let t = m.entry(ip).or_insert(TalkerRow {
                ip,
                bytes_sent: 0,
                bytes_received: 0,
                packets_sent: 0,
                packets_received: 0,
                flows: 0,
                country: None,
                asn: None,
                as_name: None,
            });
            let g = &f.geo[d];
            if t.country.is_none() && t.asn.is_none() && !g.is_empty() {
                t.country = g.country.map(|c| c.as_str().to_string());
                t.asn = g.asn;
                t.as_name = g.as_name.as_deref().map(str::to_string);
            }
            t.bytes_sent += f.wire_bytes[d];
            t.bytes_received += f.wire_bytes[1 - d];
            t.packets_sent += f.packets[d];
            t.packets_received += f.packets[1 - d];
            t.flows += 1;
        }
    }
    m
}

fn count_flows(s: &mut dyn Store) -> u64 {
    s.flow_days().unwrap().iter().map(|d| d.1).sum()
}

fn alert(t: i64, src: &str, kind: &str, severity: u8) -> Alert {
    Alert {
        time: t,
        detector: Detector::Rule,
        kind: kind.into(),
        src: Some(src.parse().unwrap()),
        dst: Some("192.0.2.1".parse().unwrap()),
        severity,
        confidence: 0.97,
        version: "rules-1".into(),
        flow: None,
        window: None,
        evidence: serde_json::json!({"syn": 120, "rate_per_s": 2.5}),
        ..Alert::default()
    }
}

/// What an alert about flow `f` of capture `cap` says of it.
fn flow_ref(cap: CaptureId, f: &FlowRecord) -> FlowRef {
    FlowRef {
        id: flow_row_id(cap, f.id),
        src_port: f.sport,
        dst_port: f.dport,
        protocol: f.proto,
        first_seen_us: f.first.0,
    }
}

/// One model alert about each of `flows` of capture `cap`, raised at its last packet by its
/// source, of the severity `severity` gives it.
fn alerts_about(cap: CaptureId, flows: &[FlowRecord], severity: u8) -> Vec<Alert> {
    flows
        .iter()
        .map(|f| Alert {
            time: f.last.0,
            detector: Detector::Model,
            kind: ["PortScan", "DDoS"][(f.id % 2) as usize].into(),
            src: Some(f.src),
            dst: Some(f.dst),
            severity: severity.min(1 + (f.id % 5) as u8),
            confidence: 0.9,
            version: "model-1".into(),
            flow: Some(flow_ref(cap, f)),
            window: None,
            evidence: serde_json::json!({
                "p_attack": 0.9,
                "contributions": [{"feature": "Flow Duration", "value": f.features[0]}],
            }),
            ..Alert::default()
        })
        .collect()
}

/// The alert rollup's answers: alerts per minute, and per source (alerts, highest severity).
type AlertSums = (Vec<(i64, u64)>, HashMap<IpAddr, (u64, u8)>);

/// What the alert rollup should say about `alerts`.
fn alert_sums(alerts: &[Alert]) -> AlertSums {
    let mut rate: BTreeMap<i64, u64> = BTreeMap::new();
    let mut by_src: HashMap<IpAddr, (u64, u8)> = HashMap::new();
    for a in alerts {
        *rate
            .entry(a.time.div_euclid(MINUTE_US) * MINUTE_US)
            .or_default() += 1;
        let e = by_src.entry(a.src.unwrap()).or_default();
        e.0 += 1;
        e.1 = e.1.max(a.severity);
    }
    (rate.into_iter().collect(), by_src)
}

/// The alert rollup as stored: per minute, and per source.
fn stored_alert_sums(s: &mut dyn Store) -> AlertSums {
    let rate = s.attack_rate(TimeRange::ALL).unwrap();
    let top = s.top_attackers(TimeRange::ALL, 100_000).unwrap();
    (
        rate.iter().map(|m| (m.minute.0, m.count)).collect(),
        top.iter()
            .map(|a| (a.ip, (a.alerts, a.max_severity)))
            .collect(),
    )
}
