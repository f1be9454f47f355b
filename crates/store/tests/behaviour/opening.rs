//! Opening a database written by another version: a newer one is refused, versions 2, 3 and
//! 4 are migrated in place.
use store::*;

use super::{alert, alerts_about, count_flows, ingest, meter, new_capture, row, Backend};

/// Turns a current (version 5) database into what version 4 wrote: flows without the HTTP
/// request's target and User-Agent and the Community ID, alerts without the episode columns.
/// (`flows_v` and `alerts_v` read them; opening makes them again.)
/// The SQL names of flow columns.
fn sql_names(cols: &[flow::columns::Column]) -> Vec<String> {
    cols.iter().map(|&c| schema::sql_name(c)).collect()
}

/// `DROP COLUMN` of each of `cols` from `table`: SQLite's statements (one per column) and
/// PostgreSQL's `ALTER TABLE` (all in one).
fn drop_columns(table: &str, cols: &[impl AsRef<str>]) -> (String, String) {
    let sqlite = cols
        .iter()
        .map(|c| format!("ALTER TABLE {table} DROP COLUMN {};", c.as_ref()))
        .collect();
    let pg = cols
        .iter()
        .map(|c| format!("DROP COLUMN {}", c.as_ref()))
        .collect::<Vec<_>>()
        .join(", ");
    (sqlite, format!("ALTER TABLE {table} {pg};"))
}

/// Takes a current database back to version `version` (7, 8 or 9) by dropping the flow columns
/// `names` added after it. (The views read them; opening makes them again.)
fn drop_flow_columns(b: &Backend, version: i64, names: &[String]) {
    let (sqlite_drops, pg_drops) = drop_columns("flows", names);
    let version_row = format!(
        "DELETE FROM schema_version; INSERT INTO schema_version VALUES ({version}, 0, '0.1.0');"
    );
    b.exec(
        &format!(
            "DROP VIEW IF EXISTS flows_v; DROP VIEW IF EXISTS flow_features_v; {sqlite_drops} \
             {version_row}"
        ),
        &format!(
            "DROP VIEW IF EXISTS flows_v, flow_features_v; {pg_drops} {}",
            version_row.replace(", 0,", ", now(),")
        ),
    );
    assert_eq!(
        b.query_i64("SELECT MAX(version) FROM schema_version"),
        version
    );
}

/// Takes a current database back to version 10: no inventory tables, alerts without their
/// devices, talker rollups without their geography.
/// Takes a current database back to version 13: no saved searches or notification channels.
fn to_version_13(b: &Backend) {
    let common =
        "DROP TABLE saved_queries; DROP TABLE notify_channels; DELETE FROM schema_version;";
    b.exec(
        &format!("{common} INSERT INTO schema_version VALUES (13, 0, '0.1.0');"),
        &format!("{common} INSERT INTO schema_version VALUES (13, now(), '0.1.0');"),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 13);
}

/// Takes a current database back to version 12: no verdicts, comments or suppressions.
fn to_version_12(b: &Backend) {
    to_version_13(b);
    let workflow: Vec<&str> = schema::ALERT_WORKFLOW_COLUMNS.iter().map(|c| c.0).collect();
    let (sqlite_alerts, pg_alerts) = drop_columns("alerts", &workflow);
    let common = "DROP VIEW IF EXISTS alerts_v; DROP TABLE comments; DROP TABLE suppressions; \
                  DELETE FROM schema_version;";
    b.exec(
        &format!("{common} {sqlite_alerts} INSERT INTO schema_version VALUES (12, 0, '0.1.0');"),
        &format!("{common} {pg_alerts} INSERT INTO schema_version VALUES (12, now(), '0.1.0');"),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 12);
}

/// Takes a current database back to version 11: no accounts, audit entries without their
/// before and after.
fn to_version_11(b: &Backend) {
    to_version_12(b);
    let (sqlite_audit, pg_audit) = drop_columns("audit_log", &schema::AUDIT_CHANGE_COLUMNS);
    let common = "DROP TABLE users; DROP TABLE api_tokens; DROP TABLE sessions; \
                  DROP INDEX audit_log_logged; DROP INDEX audit_log_object; \
                  DELETE FROM schema_version;";
    b.exec(
        &format!("{common} {sqlite_audit} INSERT INTO schema_version VALUES (11, 0, '0.1.0');"),
        &format!("{common} {pg_audit} INSERT INTO schema_version VALUES (11, now(), '0.1.0');"),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 11);
}

fn to_version_10(b: &Backend) {
    to_version_11(b);
    let devices: Vec<&str> = schema::ALERT_DEVICE_COLUMNS.iter().map(|c| c.0).collect();
    let geo: Vec<&str> = schema::TALKER_GEO_COLUMNS.iter().map(|c| c.0).collect();
    let (sqlite_alerts, pg_alerts) = drop_columns("alerts", &devices);
    let (sqlite_1m, pg_1m) = drop_columns("talkers_1m", &geo);
    let (sqlite_1h, pg_1h) = drop_columns("talkers_1h", &geo);
    let common = "DROP VIEW IF EXISTS alerts_v; DROP TABLE devices; DROP TABLE device_events; \
                  DELETE FROM schema_version;";
    b.exec(
        &format!(
            "{common} {sqlite_alerts} {sqlite_1m} {sqlite_1h} \
             INSERT INTO schema_version VALUES (10, 0, '0.1.0');"
        ),
        &format!(
            "{common} {pg_alerts} {pg_1m} {pg_1h} \
             INSERT INTO schema_version VALUES (10, now(), '0.1.0');"
        ),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 10);
}

/// Takes a current database back to version 9: flows without the device columns.
fn to_version_9(b: &Backend) {
    to_version_10(b);
    drop_flow_columns(b, 9, &sql_names(&schema::FLOW_COLUMNS_V10));
}

/// Takes a current database back to version 8: flows without the GeoIP columns either.
fn to_version_8(b: &Backend) {
    to_version_9(b);
    drop_flow_columns(b, 8, &sql_names(&schema::FLOW_COLUMNS_V9));
}

/// Takes a current database back to version 7: flows without their application either.
fn to_version_7(b: &Backend) {
    to_version_8(b);
    drop_flow_columns(b, 7, &sql_names(&schema::FLOW_COLUMNS_V8));
}

/// Takes a current database back to version 6: no live episode columns or their index.
fn to_version_6(b: &Backend) {
    to_version_7(b);
    let live: Vec<&str> = schema::ALERT_LIVE_COLUMNS.iter().map(|c| c.0).collect();
    let (sqlite_drops, pg_drops) = drop_columns("alerts", &live);
    let common =
        "DROP VIEW IF EXISTS alerts_v; DROP INDEX alerts_episode; DELETE FROM schema_version;";
    b.exec(
        &format!("{common} {sqlite_drops} INSERT INTO schema_version VALUES (6, 0, '0.1.0');"),
        &format!("{common} {pg_drops} INSERT INTO schema_version VALUES (6, now(), '0.1.0');"),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 6);
}

/// Takes a current database back to version 5: no incidents, no digest columns.
fn to_version_5(b: &Backend) {
    to_version_6(b);
    let digest: Vec<&str> = schema::INCIDENT_DIGEST_COLUMNS
        .iter()
        .map(|c| c.0)
        .collect();
    let (sqlite_drops, pg_drops) = drop_columns("incidents", &digest);
    let common = "UPDATE alerts SET incident_id = NULL; DELETE FROM incidents; \
                  DROP INDEX alerts_incident; DELETE FROM schema_version;";
    b.exec(
        &format!("{common} {sqlite_drops} INSERT INTO schema_version VALUES (5, 0, '0.1.0');"),
        &format!("{common} {pg_drops} INSERT INTO schema_version VALUES (5, now(), '0.1.0');"),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 5);
}

fn to_version_4(b: &Backend) {
    to_version_5(b);
    let names = sql_names(&schema::FLOW_COLUMNS_V5);
    let episode: Vec<&str> = schema::ALERT_EPISODE_COLUMNS.iter().map(|c| c.0).collect();
    let sqlite_drops: String = names
        .iter()
        .map(|c| format!("ALTER TABLE flows DROP COLUMN {c};"))
        .chain(
            episode
                .iter()
                .map(|c| format!("ALTER TABLE alerts DROP COLUMN {c};")),
        )
        .collect();
    let pg_drops = names
        .iter()
        .map(|c| format!("DROP COLUMN {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let pg_alert_drops = episode
        .iter()
        .map(|c| format!("DROP COLUMN {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let version = "DELETE FROM schema_version; INSERT INTO schema_version VALUES (4, 0, '0.1.0');";
    b.exec(
        &format!(
            "DROP VIEW IF EXISTS flows_v; DROP VIEW IF EXISTS alerts_v; {sqlite_drops} {version}"
        ),
        &format!(
            "DROP VIEW IF EXISTS flows_v, flow_features_v, alerts_v; ALTER TABLE flows {pg_drops}; \
             ALTER TABLE alerts {pg_alert_drops}; {}",
            version.replace("(4, 0,", "(4, now(),")
        ),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 4);
    assert_eq!(
        flow_table_columns(b),
        (schema::flow_columns().len()
            - names.len()
            - schema::FLOW_COLUMNS_V8.len()
            - schema::FLOW_COLUMNS_V9.len()
            - schema::FLOW_COLUMNS_V10.len()) as i64
    );
}

/// The columns of `flows`.
fn flow_table_columns(b: &Backend) -> i64 {
    b.query_i64(match b {
        Backend::Sqlite(_) => "SELECT COUNT(*) FROM pragma_table_info('flows')",
        Backend::Postgres { .. } => {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'flows'"
        }
    })
}

/// Turns a current (version 5) database into what version 3 wrote: version 4's flows
/// ([`to_version_4`]), alerts without their detector and flow columns, the evidence in
/// `detail`, a model alert's flow (ports, protocol, first packet) inside its evidence as
/// `"flow"`.
fn to_version_3(b: &Backend) {
    to_version_4(b);
    let flow_columns = [
        "flow_src_port",
        "flow_dst_port",
        "flow_protocol",
        "flow_first_seen",
    ];
    let sqlite_drops: String = ["detector"]
        .iter()
        .chain(&flow_columns)
        .map(|c| format!("ALTER TABLE alerts DROP COLUMN {c};"))
        .collect();
    let pg_drops = ["detector"]
        .iter()
        .chain(&flow_columns)
        .map(|c| format!("DROP COLUMN {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let version = "DELETE FROM schema_version; INSERT INTO schema_version VALUES (3, 0, '0.1.0');";
    b.exec(
        &format!(
            "UPDATE alerts SET evidence = json_set(evidence, '$.flow', json_object(
               'src_port', flow_src_port, 'dst_port', flow_dst_port,
               'protocol', flow_protocol, 'first_seen_us', flow_first_seen))
             WHERE flow_id IS NOT NULL;
             {sqlite_drops}
             ALTER TABLE alerts RENAME COLUMN evidence TO detail;
             {version}"
        ),
        &format!(
            "UPDATE alerts SET evidence = jsonb_set(evidence::jsonb, '{{flow}}', jsonb_build_object(
               'src_port', flow_src_port, 'dst_port', flow_dst_port, 'protocol', flow_protocol,
               'first_seen_us', (extract(epoch FROM flow_first_seen) * 1000000)::bigint))::text
             WHERE flow_id IS NOT NULL;
             ALTER TABLE alerts {pg_drops};
             ALTER TABLE alerts RENAME COLUMN evidence TO detail;
             {}",
            version.replace("(3, 0,", "(3, now(),")
        ),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 3);
}

/// The columns of `alerts`.
fn alert_table_columns(b: &Backend) -> i64 {
    b.query_i64(match b {
        Backend::Sqlite(_) => "SELECT COUNT(*) FROM pragma_table_info('alerts')",
        Backend::Postgres { .. } => {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'alerts'"
        }
    })
}

/// Opens a database taken back to an older version: the schema is current again, `alerts` has
/// its `fresh` columns back, and the alerts stored before (`ids`) read back as `alerts`.
fn reopened_with_alerts(b: &Backend, fresh: i64, ids: &[i64], alerts: &[Alert]) -> Box<dyn Store> {
    let mut s = b.open();
    assert_eq!(
        b.query_i64("SELECT MAX(version) FROM schema_version"),
        SCHEMA_VERSION
    );
    assert_eq!(alert_table_columns(b), fresh);
    let mut back = s.alerts(&AlertFilter::default(), 100).unwrap();
    back.sort_by_key(|a| a.id);
    assert_eq!(back.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
    assert_eq!(
        back.into_iter().map(|a| a.alert).collect::<Vec<_>>(),
        alerts
    );
    s
}

pub fn a_version_6_database_is_migrated_in_place_gaining_the_live_episode_columns(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let cap = ingest(s.as_mut(), "webex", &flows, &windows, 50);
    let alerts = alerts_about(cap, &flows[..4], 3);
    let ids = s.insert_alerts(Some(cap), &alerts).unwrap();
    let fresh = alert_table_columns(&b);
    drop(s);
    to_version_6(&b);
    assert_eq!(
        alert_table_columns(&b),
        fresh
            - (schema::ALERT_LIVE_COLUMNS.len()
                + schema::ALERT_DEVICE_COLUMNS.len()
                + schema::ALERT_WORKFLOW_COLUMNS.len()) as i64
    );

    // What version 6 stored reads back unchanged (file runs' alerts carry no episode state).
    let mut s = reopened_with_alerts(&b, fresh, &ids, &alerts);
    // The index a live episode's row is found by is there, and a later snapshot replaces
    // the row.
    assert_eq!(
        b.query_i64(match b {
            Backend::Sqlite(_) => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'alerts_episode'"
            }
            Backend::Postgres { .. } => {
                "SELECT COUNT(*) FROM pg_indexes \
                 WHERE schemaname = current_schema() AND indexname = 'alerts_episode'"
            }
        }),
        1
    );
    let live = Alert {
        episode: Some(EpisodeState {
            id: 1,
            state: EpisodeStage::Open,
            update: 0,
            merged_into: None,
        }),
        ..alerts[0].clone()
    };
    let first = s
        .insert_alerts(Some(cap), std::slice::from_ref(&live))
        .unwrap();
    assert_eq!(s.insert_alerts(Some(cap), &[live]).unwrap(), first);
    assert_eq!(s.alerts(&AlertFilter::default(), 100).unwrap().len(), 5);
}

pub fn a_newer_schema_is_refused(b: Backend) {
    drop(b.open());
    b.exec(
        "INSERT INTO schema_version VALUES (99, 0, 'future')",
        "INSERT INTO schema_version VALUES (99, now(), 'future')",
    );
    match store::open(&b.db()) {
        Err(e @ StoreError::TooNew { .. }) => {
            if let StoreError::TooNew { found, known, .. } = e {
                assert_eq!((found, known), (99, SCHEMA_VERSION));
            }
            let msg = e.to_string();
            assert!(msg.contains("99") && msg.contains("newer"), "{msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

pub fn a_version_2_database_is_migrated_in_place_keeping_its_rows(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let done = ingest(s.as_mut(), "webex", &flows, &windows, 20);
    let alerts = alerts_about(done, &flows[..5], 5);
    let ids = s.insert_alerts(Some(done), &alerts).unwrap();
    let other = NewCapture {
        sha256: Some("ab".repeat(32)),
        ..new_capture("webex")
    };
    let left = s.begin_capture(&other).unwrap();
    s.insert_flows(left, &flows[..20], &[]).unwrap();
    s.insert_flows(left, &flows[20..40], &[]).unwrap();
    drop(s);
    to_version_3(&b);
    // Version 2 is version 3 without the writer columns and the alerts-by-capture index; it
    // counted a capture's flows when its ingest ended only.
    let columns = [
        "writer_host",
        "writer_boot",
        "writer_pid",
        "writer_start",
        "heartbeat",
    ];
    let drops: Vec<String> = columns
        .iter()
        .map(|c| format!("ALTER TABLE captures DROP COLUMN {c};"))
        .collect();
    let rest = "DROP INDEX alerts_capture; \
                UPDATE captures SET flows = 0 WHERE status = 'ingesting'; \
                DELETE FROM schema_version;";
    b.exec(
        &format!(
            "{} {rest} INSERT INTO schema_version VALUES (2, 0, '0.1.0');",
            drops.concat()
        ),
        &format!(
            "{} {rest} INSERT INTO schema_version VALUES (2, now(), '0.1.0');",
            drops.concat()
        ),
    );
    assert_eq!(b.query_i64("SELECT MAX(version) FROM schema_version"), 2);

    let mut s = b.open();
    assert_eq!(
        b.query_i64("SELECT MAX(version) FROM schema_version"),
        SCHEMA_VERSION
    );
    let caps = s.captures().unwrap();
    assert_eq!(
        caps.iter()
            .map(|c| (
                c.id,
                c.status,
                c.flows,
                c.writer.is_none(),
                c.heartbeat.is_none()
            ))
            .collect::<Vec<_>>(),
        vec![
            (left, CaptureStatus::Ingesting, 40, true, true),
            (
                done,
                CaptureStatus::Complete,
                flows.len() as u64,
                true,
                true
            ),
        ]
    );
    assert_eq!(count_flows(s.as_mut()), flows.len() as u64 + 40);
    let back = s.flow(flow_row_id(done, flows[7].id)).unwrap().unwrap();
    // Version 2 identified no application.
    let want = flow::FlowRecord {
        application: flow::app::Application::Unknown,
        ..flows[7].clone()
    };
    assert_eq!(row(&back.record), row(&want));
    // Its alerts read back as they were raised, with what version 5's migration fills in for
    // an alert stored before (a single hit: `Alert::into_hit`).
    let mut back: Vec<(i64, Alert)> = s
        .alerts(&AlertFilter::default(), 100)
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.alert))
        .collect();
    back.sort_by_key(|a| a.0);
    assert_eq!(
        back,
        ids.into_iter()
            .zip(alerts.into_iter().map(Alert::into_hit))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        s.windows(TimeRange::ALL, Some(done)).unwrap().len(),
        windows.len()
    );
    // The ingest left by the old version has no writer to ask: it is taken as interrupted.
    let sha = other.sha256.unwrap();
    let msg = store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "capture {left} was interrupted (written by a netvigil that recorded no writer) \
             after storing 40 flows"
        )),
        "{msg}"
    );
    assert_eq!(
        store::copies_to_replace(s.as_mut(), "webex.pcap", &sha, true).unwrap(),
        vec![left]
    );
    // New captures record their writer; a second open changes nothing.
    let third = s.begin_capture(&new_capture("third")).unwrap();
    drop(s);
    let mut s = b.open();
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM schema_version"), 2);
    let newest = s.captures().unwrap().remove(0);
    assert_eq!(
        (newest.id, newest.writer),
        (third, Some(Writer::this_process()))
    );
}

pub fn a_version_3_database_is_migrated_in_place_keeping_every_alert_field(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let cap = ingest(s.as_mut(), "webex", &flows, &windows, 20);
    let window = flows[0].first.0.div_euclid(MINUTE_US) * MINUTE_US;
    let mut alerts = alerts_about(cap, &flows[..6], 4);
    alerts.push(Alert {
        window: Some(window),
        version: "netvigil-rules/1".into(),
        ..alert(window + MINUTE_US, "198.51.100.7", "port_scan", 3)
    });
    alerts.push(Alert {
        detector: Detector::Baseline,
        kind: "window_anomaly".into(),
        src: None,
        version: "baseline-0123456789ab".into(),
        window: Some(window),
        ..alert(window + MINUTE_US, "198.51.100.7", "port_scan", 2)
    });
    let ids = s.insert_alerts(Some(cap), &alerts).unwrap();
    drop(s);
    let fresh = alert_table_columns(&b);
    assert_eq!(fresh, schema::ALERT_COLUMNS.len() as i64);
    // What version 5's migration fills in for an alert stored before: a single hit's first
    // evidence, family and flows (`Alert::into_hit`), no summary or Community ID.
    let alerts: Vec<Alert> = alerts.into_iter().map(Alert::into_hit).collect();
    // The flows of two alerts were archived: those alerts' flows are read from their
    // evidence, the others' from the stored flows.
    let archived = format!(
        "DELETE FROM flows WHERE id IN ({}, {})",
        flow_row_id(cap, flows[0].id),
        flow_row_id(cap, flows[1].id)
    );
    b.exec(&archived, &archived);
    to_version_3(&b);
    let with_flow = "SELECT COUNT(*) FROM alerts WHERE {} LIKE '%\"flow\"%'";
    assert_eq!(b.query_i64(&with_flow.replace("{}", "detail")), 6);

    let mut s = b.open();
    assert_eq!(
        b.query_i64("SELECT MAX(version) FROM schema_version"),
        SCHEMA_VERSION
    );
    assert_eq!(alert_table_columns(&b), fresh);
    assert_eq!(b.query_i64(&with_flow.replace("{}", "evidence")), 0);
    // Version 6 placed every stored alert into an incident: the model alerts of the same
    // hosts (alerts_about's flows) and the two rule/baseline alerts on 198.51.100.7.
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM alerts WHERE incident_id IS NULL"),
        0
    );
    assert_eq!(
        b.query_i64("SELECT CAST(SUM(episodes) AS BIGINT) FROM incidents"),
        ids.len() as i64
    );
    let mut back: Vec<(i64, Alert, Option<CaptureId>)> = s
        .alerts(&AlertFilter::default(), 100)
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.alert, a.capture))
        .collect();
    back.sort_by_key(|a| a.0);
    let want: Vec<_> = ids
        .into_iter()
        .zip(alerts)
        .map(|(id, a)| (id, a, Some(cap)))
        .collect();
    assert_eq!(back, want);
    // The view shows the new columns.
    assert_eq!(
        b.query_i64(
            "SELECT COUNT(*) FROM alerts_v WHERE detector = 'model' AND flow_src_port IS NOT NULL"
        ),
        6
    );
    // A second open migrates nothing.
    drop(s);
    drop(b.open());
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM schema_version"), 2);
}

pub fn a_version_4_database_is_migrated_in_place_gaining_the_new_flow_columns(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    // Its two HTTP requests, as `tshark -r webex.pcap -Y http.request -T fields
    // -e http.request.uri -e http.user_agent` shows them.
    let mut http: Vec<(&str, &str)> = flows
        .iter()
        .filter_map(|f| {
            Some((
                f.app.http_uri.as_deref()?,
                f.app.http_user_agent.as_deref()?,
            ))
        })
        .collect();
    http.sort();
    let dalvik = "Dalvik/1.6.0 (Linux; U; Android 4.4.2; LG-D855 Build/KVT49L.A1412087656)";
    assert_eq!(
        http,
        [
            ("/json/1.3/applicationOpen", dalvik),
            ("/json/1.3/registerDevice", dalvik)
        ]
    );
    let old = ingest(s.as_mut(), "webex", &flows, &windows, 50);
    drop(s);
    let fresh = flow_table_columns(&b);
    assert_eq!(fresh, schema::flow_columns().len() as i64);
    to_version_4(&b);

    let mut s = b.open();
    assert_eq!(
        b.query_i64("SELECT MAX(version) FROM schema_version"),
        SCHEMA_VERSION
    );
    assert_eq!(flow_table_columns(&b), fresh);
    // Rows stored by version 4 have none of the new values; read back, their Community ID is
    // computed from the record all the same.
    for c in sql_names(&schema::FLOW_COLUMNS_V5) {
        assert_eq!(
            b.query_i64(&format!("SELECT COUNT(*) FROM flows WHERE {c} IS NOT NULL")),
            0,
            "{c}"
        );
    }
    for f in &flows {
        let back = s.flow(flow_row_id(old, f.id)).unwrap().unwrap();
        let mut want = f.clone();
        want.app.http_uri = None;
        want.application = flow::app::Application::Unknown;
        want.app.http_user_agent = None;
        assert_eq!(row(&back.record), row(&want), "flow {}", f.id);
        assert_eq!(back.record.community_id(), f.community_id());
    }
    // Flows stored now carry them, in the table and in its view.
    let new = s
        .begin_capture(&NewCapture {
            sha256: Some("cd".repeat(32)),
            ..new_capture("webex again")
        })
        .unwrap();
    s.insert_flows(new, &flows, &[]).unwrap();
    let count = |sql: &str| b.query_i64(sql) as usize;
    assert_eq!(
        count(&format!(
            "SELECT COUNT(*) FROM flows_v WHERE http_uri LIKE '/json/1.3/%' \
             AND http_user_agent = '{dalvik}'"
        )),
        2
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM flows WHERE community_id IS NOT NULL"),
        flows.iter().filter(|f| f.community_id().is_some()).count()
    );
    for f in &flows {
        let id = flow_row_id(new, f.id);
        let stored = match f.community_id() {
            Some(c) => count(&format!(
                "SELECT COUNT(*) FROM flows_v WHERE id = {id} AND community_id = '{c}'"
            )),
            None => count(&format!(
                "SELECT COUNT(*) FROM flows WHERE id = {id} AND community_id IS NULL"
            )),
        };
        assert_eq!(stored, 1, "flow {}", f.id);
        let back = s.flow(id).unwrap().unwrap();
        assert_eq!(row(&back.record), row(f), "flow {}", f.id);
        assert_eq!(back.record.app, f.app);
    }
    // A second open migrates nothing.
    drop(s);
    drop(b.open());
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM schema_version"), 2);
}

/// The columns a version-`v` database lacks (7, 8 or 9): those of the versions after it.
fn columns_after(v: i64) -> usize {
    [
        (8, schema::FLOW_COLUMNS_V8.len()),
        (9, schema::FLOW_COLUMNS_V9.len()),
        (10, schema::FLOW_COLUMNS_V10.len()),
    ]
    .iter()
    .filter(|(to, _)| v < *to)
    .map(|(_, n)| n)
    .sum()
}

/// Stores `flows` of webex.pcap, takes the database back to `version` with `back`, and
/// opens it again: the schema is current, the columns are back, every flow stored before
/// reads back as `before` says version `version` kept it, and every flow stored after reads
/// back whole. Returns the store and the capture stored after.
fn migrated_keeps_and_gains(
    b: &Backend,
    flows: &[flow::FlowRecord],
    version: i64,
    back: fn(&Backend),
    before: impl Fn(&flow::FlowRecord) -> flow::FlowRecord,
) -> (Box<dyn Store>, CaptureId) {
    let mut s = b.open();
    let (_, windows) = meter("webex.pcap");
    let old = ingest(s.as_mut(), "webex", flows, &windows, 50);
    drop(s);
    let fresh = flow_table_columns(b);
    back(b);
    assert_eq!(flow_table_columns(b), fresh - columns_after(version) as i64);

    let mut s = b.open();
    assert_eq!(
        b.query_i64("SELECT MAX(version) FROM schema_version"),
        SCHEMA_VERSION
    );
    assert_eq!(flow_table_columns(b), fresh);
    for f in flows {
        let got = s.flow(flow_row_id(old, f.id)).unwrap().unwrap();
        assert_eq!(row(&got.record), row(&before(f)), "flow {}", f.id);
    }
    let new = s
        .begin_capture(&NewCapture {
            sha256: Some(format!("{version:02}").repeat(32)),
            ..new_capture("webex again")
        })
        .unwrap();
    s.insert_flows(new, flows, &[]).unwrap();
    for f in flows {
        let got = s.flow(flow_row_id(new, f.id)).unwrap().unwrap();
        assert_eq!(row(&got.record), row(f), "flow {}", f.id);
    }
    (s, new)
}

/// A version-7 database gains the application column: what it stored reads back with no
/// application (NULL), what is stored after carries it, in the table and in its view.
pub fn a_version_7_database_is_migrated_in_place_gaining_the_application_column(b: Backend) {
    let (flows, _) = meter("webex.pcap");
    // webex.pcap's flows as `tests/app_ndpi.rs` checks them against nDPI: TLS, HTTP, DNS.
    let tls = flows
        .iter()
        .filter(|f| f.application == flow::app::Application::Tls)
        .count();
    assert!(tls > 10, "{tls} TLS flows");
    migrated_keeps_and_gains(&b, &flows, 7, to_version_7, |f| flow::FlowRecord {
        application: flow::app::Application::Unknown,
        ..f.clone()
    });
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM flows_v WHERE application = 'TLS'") as usize,
        tls
    );
}

/// A version-8 database gains the GeoIP columns: what it stored reads back without them
/// (NULL), what is stored after carries them.
pub fn a_version_8_database_is_migrated_in_place_gaining_the_geoip_columns(b: Backend) {
    let (mut flows, _) = meter("webex.pcap");
    let cisco = flow::geo::Geo {
        country: flow::geo::Country::new("NL"),
        asn: Some(13445),
        as_name: Some("Cisco WebEx LLC".into()),
    };
    for f in flows
        .iter_mut()
        .filter(|f| f.dst.to_string() == "62.109.224.120")
    {
        f.geo[1] = cisco.clone();
    }
    let n = flows.iter().filter(|f| f.geo[1].asn.is_some()).count();
    assert!(n >= 5, "{n}");
    migrated_keeps_and_gains(&b, &flows, 8, to_version_8, |f| flow::FlowRecord {
        geo: Default::default(),
        ..f.clone()
    });
    assert_eq!(
        b.query_i64(
            "SELECT COUNT(*) FROM flows_v WHERE dst_country = 'NL' AND dst_asn = 13445 \
             AND dst_as_name = 'Cisco WebEx LLC'"
        ) as usize,
        n
    );
}

/// A version-9 database gains the device columns: what it stored reads back without them,
/// what is stored after carries them.
pub fn a_version_9_database_is_migrated_in_place_gaining_the_device_columns(b: Backend) {
    let (mut flows, _) = meter("webex.pcap");
    let client: std::sync::Arc<str> = "00:11:22:33:44:55".into();
    for f in flows.iter_mut().filter(|f| f.src.to_string() == "10.8.0.1") {
        f.devices[0] = Some(client.clone());
    }
    let n = flows.iter().filter(|f| f.devices[0].is_some()).count();
    assert!(n >= 5, "{n}");
    migrated_keeps_and_gains(&b, &flows, 9, to_version_9, |f| flow::FlowRecord {
        devices: Default::default(),
        ..f.clone()
    });
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM flows_v WHERE src_device = '00:11:22:33:44:55'") as usize,
        n
    );
}

/// A version-10 database gains the inventory tables, the alerts' device columns and the
/// talkers' geography: its alerts and talkers read back without them, an inventory is stored
/// and listed, and what is ingested after carries them.
pub fn a_version_10_database_is_migrated_in_place_gaining_the_inventory(b: Backend) {
    let mut s = b.open();
    let (mut flows, windows) = meter("webex.pcap");
    let cap = ingest(s.as_mut(), "webex", &flows, &windows, 50);
    let alerts = alerts_about(cap, &flows[..3], 3);
    let ids = s.insert_alerts(Some(cap), &alerts).unwrap();
    let talkers = s.top_talkers(TimeRange::ALL, 1_000).unwrap();
    let fresh = alert_table_columns(&b);
    drop(s);
    to_version_10(&b);
    assert_eq!(
        alert_table_columns(&b),
        fresh - (schema::ALERT_DEVICE_COLUMNS.len() + schema::ALERT_WORKFLOW_COLUMNS.len()) as i64
    );

    let mut s = reopened_with_alerts(&b, fresh, &ids, &alerts);
    assert_eq!(s.top_talkers(TimeRange::ALL, 1_000).unwrap(), talkers);
    assert!(s.devices(&DeviceFilter::default(), 10).unwrap().is_empty());

    // What is stored after carries the new fields.
    let server: std::net::IpAddr = "62.109.224.120".parse().unwrap();
    for f in flows.iter_mut().filter(|f| f.dst == server) {
        f.geo[1].asn = Some(13445);
    }
    let new = s
        .begin_capture(&NewCapture {
            sha256: Some("10".repeat(32)),
            ..new_capture("webex again")
        })
        .unwrap();
    s.insert_flows(new, &flows, &[]).unwrap();
    let with_device = Alert {
        src_device: Some("00:11:22:33:44:55".into()),
        ..alerts[0].clone()
    };
    s.insert_alerts(Some(new), std::slice::from_ref(&with_device))
        .unwrap();
    let about = s
        .alerts(
            &AlertFilter {
                device: Some("00:11:22:33:44:55".into()),
                ..AlertFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(about.len(), 1);
    assert_eq!(about[0].alert, with_device);
    let t = s.talker(server, TimeRange::ALL).unwrap().unwrap();
    assert_eq!(t.asn, Some(13445));
}

pub fn a_version_11_database_is_migrated_in_place_gaining_accounts(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let cap = ingest(s.as_mut(), "webex", &flows, &windows, 50);
    let alerts = alerts_about(cap, &flows[..3], 3);
    let ids = s.insert_alerts(Some(cap), &alerts).unwrap();
    let fresh = alert_table_columns(&b);
    // The ingest's own audit entries (version 11 had them, without before/after).
    let entries = s.audit_log(&AuditFilter::default(), 100).unwrap();
    assert!(!entries.is_empty());
    drop(s);
    to_version_11(&b);

    let mut s = reopened_with_alerts(&b, fresh, &ids, &alerts);
    assert_eq!(s.user_count().unwrap(), 0);
    let kept = s.audit_log(&AuditFilter::default(), 100).unwrap();
    assert_eq!(kept, entries);
    let u = s
        .add_user("netvigil", "admin", Role::Admin, Some("$argon2id$x"))
        .unwrap();
    assert_eq!(
        (u.name.as_str(), u.role, u.has_password),
        ("admin", Role::Admin, true)
    );
    let log = s.audit_log(&AuditFilter::default(), 1).unwrap();
    assert_eq!(log[0].action, "user.add");
    assert_eq!(
        log[0].after.as_ref().map(|a| a["name"].clone()),
        Some("admin".into())
    );
}

pub fn a_version_12_database_is_migrated_in_place_gaining_the_workflow(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let cap = ingest(s.as_mut(), "webex", &flows, &windows, 50);
    let alerts = alerts_about(cap, &flows[..3], 3);
    let ids = s.insert_alerts(Some(cap), &alerts).unwrap();
    let fresh = alert_table_columns(&b);
    s.add_user("root", "ann", Role::Analyst, None).unwrap();
    drop(s);
    to_version_12(&b);
    assert_eq!(
        alert_table_columns(&b),
        fresh - schema::ALERT_WORKFLOW_COLUMNS.len() as i64
    );

    let mut s = reopened_with_alerts(&b, fresh, &ids, &alerts);
    assert_eq!(s.user_count().unwrap(), 1);
    assert!(s
        .alerts(&AlertFilter::default(), 10)
        .unwrap()
        .iter()
        .all(|a| a.verdict.is_none()));
    let r = s
        .act_on_episode(
            "ann",
            ids[0],
            EpisodeAction::Resolve(Verdict::TruePositive),
            Some("confirmed"),
        )
        .unwrap();
    assert_eq!(r.verdict.as_deref(), Some("true_positive"));
    assert!(s.suppressions().unwrap().is_empty());
}

pub fn a_version_13_database_is_migrated_in_place_gaining_saved_searches_and_channels(b: Backend) {
    let mut s = b.open();
    let (flows, windows) = meter("webex.pcap");
    let cap = ingest(s.as_mut(), "webex", &flows, &windows, 50);
    let alerts = alerts_about(cap, &flows[..3], 3);
    let ids = s.insert_alerts(Some(cap), &alerts).unwrap();
    let fresh = alert_table_columns(&b);
    drop(s);
    to_version_13(&b);

    let mut s = reopened_with_alerts(&b, fresh, &ids, &alerts);
    assert!(s.saved_queries("ann").unwrap().is_empty());
    assert!(s.channels().unwrap().is_empty());
    let q = s
        .save_query("ann", "all", "flows", "proto:udp", true)
        .unwrap();
    assert_eq!(s.saved_query("bob", q.id).unwrap(), q);
    // A channel made now starts after the episodes stored before the migration.
    let c = s
        .add_channel(
            "root",
            &NewChannel {
                name: "log".into(),
                kind: "syslog".into(),
                address: "udp://127.0.0.1:514".into(),
                min_severity: 1,
                episodes: true,
                incidents: true,
            },
        )
        .unwrap();
    assert_eq!(c.after_alert, *ids.iter().max().unwrap());
}
