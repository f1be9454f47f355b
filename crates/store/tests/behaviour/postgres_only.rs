//! What only PostgreSQL has: the day partitions, connecting (and what an unreachable server
//! or a bad URL says), sessions in other time zones, reconnecting when a session ends under
//! a write, and what a write says when it cannot.

use std::time::{Duration, Instant};

use packet::Timestamp;
use store::pg::{partition_name, PgStore};
use store::*;

use super::synthetic::{self, row_of, stored_row};
use super::{admin, new_capture, pg_url, terminate, Backend, KOLKATA};

/// The store's first back-off before reconnecting.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The test's store, its session in UTC+05:30.
fn store(db: &Backend) -> PgStore {
    PgStore::connect(&db.url(KOLKATA)).unwrap_or_else(|e| panic!("{e}"))
}

fn count_all(s: &mut dyn Store) -> u64 {
    s.scan_flows(TimeRange::ALL, &mut |_| Ok(())).unwrap()
}

#[test]
fn connects_and_migrates_twice() {
    let db = Backend::postgres("connects_and_migrates_twice");
    let schema = db.schema();
    let s = store(&db);
    assert_eq!(s.target(), format!("127.0.0.1:5432/test/{schema}"));
    drop(s);
    let mut s = store(&db);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM schema_version"), 1);
    // Today and the next two days are there ahead.
    let today = day_of(Timestamp::now().0);
    for d in today..=today + 2 {
        let n = db.query_i64(&format!(
            "SELECT COUNT(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename = '{}'",
            partition_name(d)
        ));
        assert_eq!(n, 1, "{}", partition_name(d));
    }
    // audit_log is append-only.
    s.begin_capture(&new_capture("a")).unwrap();
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM audit_log"), 1);
    let mut c = admin();
    c.batch_execute(&format!("SET search_path TO {schema}"))
        .unwrap();
    for stmt in [
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = c.batch_execute(stmt).unwrap_err();
        let message = e.as_db_error().map(|d| d.message()).unwrap_or_default();
        assert!(message.contains("append-only"), "{stmt}: {e}");
    }
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM audit_log"), 1);
}

#[test]
fn concurrent_connects_migrate_once_and_concurrent_writers_add_up() {
    let db = Backend::postgres("concurrent_connects_migrate_once");
    let url = db.url("");
    let stores: Vec<PgStore> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| sc.spawn(|| PgStore::connect(&url).unwrap_or_else(|e| panic!("{e}"))))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM schema_version"), 1);
    // Four writers, the same buckets and hosts, new days for each batch.
    let t0 = 1_500_000_000_000_000;
    std::thread::scope(|sc| {
        for mut s in stores {
            sc.spawn(move || {
                let cap = s.begin_capture(&new_capture("c")).unwrap();
                for b in 0..10 {
                    let batch = synthetic::flows(b * 500, 500, t0 + b as i64 * DAY_US / 3, 100_003);
                    s.insert_flows(cap, &batch, &[]).unwrap();
                }
            });
        }
    });
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM flows"), 20_000);
    assert_eq!(
        db.query_i64("SELECT SUM(flows)::int8 FROM protocols_1m"),
        20_000
    );
    assert_eq!(
        db.query_i64("SELECT SUM(flows)::int8 FROM talkers_1h"),
        40_000
    );
}

#[test]
fn unreachable_servers_and_bad_urls_fail_to_open_without_the_password() {
    let e = PgStore::connect("postgres://nv:s3cret@127.0.0.1:1/db?schema=x&connect_timeout=2")
        .err()
        .expect("port 1 answered");
    let StoreError::Open { target, message } = &e else {
        panic!("{e}")
    };
    assert_eq!(target, "127.0.0.1:1/db/x");
    assert!(
        !message.contains('\n') && !e.to_string().contains("s3cret"),
        "{e}"
    );
    let e = PgStore::connect("postgres://nv:s3cret@127.0.0.1/db?bogus=1")
        .err()
        .expect("a bad parameter was accepted");
    assert!(
        matches!(e, StoreError::Open { .. }) && !e.to_string().contains("s3cret"),
        "{e}"
    );
}

#[test]
fn times_round_trip_exactly_in_any_session_time_zone() {
    let db = Backend::postgres("times_round_trip_exactly");
    let sao_paulo = "options=-c%20TimeZone%3DAmerica/Sao_Paulo";
    let mut s = PgStore::connect(&db.url(sao_paulo)).unwrap_or_else(|e| panic!("{e}"));
    // What those options do to a session.
    let base = pg_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut c =
        postgres::Client::connect(&format!("{base}{sep}{sao_paulo}"), postgres::NoTls).unwrap();
    let tz: String = c.query_one("SHOW TimeZone", &[]).unwrap().get(0);
    assert_eq!(tz, "America/Sao_Paulo");
    let cap = s.begin_capture(&new_capture("tz")).unwrap();
    // 2017-07-05 19:55:50.312099 UTC and odd µs around a UTC midnight.
    let mut batch = vec![
        synthetic::flow(0, 1_499_284_550_312_099, 1, 2, 80, 6),
        synthetic::flow(1, 17_351 * DAY_US - 1, 1, 2, 80, 6),
        synthetic::flow(2, 17_351 * DAY_US + 3, 1, 2, 80, 6),
    ];
    batch[1].last = Timestamp(17_351 * DAY_US + 999_999_999);
    let score = Score {
        label: "DDoS".into(),
        p_attack: 0.1 + 0.2,
        confidence: 1.0 / 3.0,
        model: "m1".into(),
    };
    s.insert_flows(cap, &batch, &[Some(score.clone()), None])
        .unwrap();
    for (i, r) in batch.iter().enumerate() {
        let got = s.flow(flow_row_id(cap, r.id)).unwrap().expect("stored");
        assert_eq!(got.record.first, r.first);
        assert_eq!(got.record.last, r.last);
        let sc = (i == 0).then_some(&score);
        assert_eq!(stored_row(&got), row_of(cap, r, sc));
    }
    // One partition per UTC day.
    let days = s.flow_days().unwrap();
    assert_eq!(days, vec![(17_350, 1), (17_351, 1), (17_352, 1)]);
}

#[test]
fn a_batch_survives_a_terminated_backend() {
    let db = Backend::postgres("a_batch_survives_a_terminated_backend");
    let mut s = store(&db);
    let cap = s.begin_capture(&new_capture("r")).unwrap();
    let t0 = 1_700_000_000_000_000;
    s.insert_flows(cap, &synthetic::flows(0, 500, t0, 1_000_003), &[])
        .unwrap();
    assert_eq!(terminate(db.schema()), 1);
    s.insert_flows(cap, &synthetic::flows(500, 700, t0, 1_000_003), &[])
        .unwrap();
    assert_eq!(count_all(&mut s), 1200);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM flows"), 1200);
    let flows_in_rollups = db.query_i64("SELECT SUM(flows)::int8 FROM protocols_1m");
    assert_eq!(flows_in_rollups, 1200);
    // Reads reconnect too.
    assert_eq!(terminate(db.schema()), 1);
    assert_eq!(s.captures().unwrap().len(), 1);
    // An error that is not a lost connection comes back at once, naming the capture.
    let mut bad = synthetic::flows(5000, 1, t0, 1);
    bad[0].app.tls_sni = Some("nul\0byte".into());
    let started = Instant::now();
    let e = s.insert_flows(cap, &bad, &[]).unwrap_err();
    assert!(started.elapsed() < FIRST_BACKOFF, "{e}");
    assert!(!e.connection_lost(), "{e}");
    assert!(e.to_string().contains(&format!("capture {cap}")), "{e}");
    assert_eq!(count_all(&mut s), 1200);
}

#[test]
fn writing_a_batch_twice_is_a_no_op() {
    let db = Backend::postgres("writing_a_batch_twice_is_a_no_op");
    let mut s = store(&db);
    let cap = s.begin_capture(&new_capture("t")).unwrap();
    let batch = synthetic::flows(0, 300, 1_600_000_000_000_000, 7_000_001);
    s.insert_flows(cap, &batch, &[]).unwrap();
    let talkers = s.top_talkers(TimeRange::ALL, 1000).unwrap();
    s.insert_flows(cap, &batch, &[]).unwrap();
    assert_eq!(count_all(&mut s), 300);
    assert_eq!(s.top_talkers(TimeRange::ALL, 1000).unwrap(), talkers);
    assert_eq!(
        db.query_i64("SELECT SUM(flows)::int8 FROM talkers_1h"),
        300 * 2
    );
}

#[test]
fn retention_drops_whole_days_and_deletes_the_rest() {
    let db = Backend::postgres("retention_drops_whole_days");
    let mut s = store(&db);
    let cap = s.begin_capture(&new_capture("r")).unwrap();
    // Three days, one flow every 30 minutes.
    let d0 = 19_000;
    let batch = synthetic::flows(0, 144, d0 * DAY_US, 30 * MINUTE_US);
    s.insert_flows(cap, &batch, &[]).unwrap();
    assert_eq!(
        s.flow_days().unwrap(),
        vec![(d0, 48), (d0 + 1, 48), (d0 + 2, 48)]
    );
    // Half way through the second day, 10:17 → 10:00.
    let cut = (d0 + 1) * DAY_US + 10 * HOUR_US + 17 * MINUTE_US;
    let r = s
        .retain(&RetentionPolicy {
            before: Some(Timestamp(cut)),
            max_bytes: Some(1),
        })
        .unwrap();
    assert_eq!(r.partitions, vec![partition_name(d0)]);
    assert_eq!(r.flows, 48 + 20);
    assert_eq!(r.cutoff, Some(Timestamp((d0 + 1) * DAY_US + 10 * HOUR_US)));
    assert_eq!(s.flow_days().unwrap(), vec![(d0 + 1, 28), (d0 + 2, 48)]);
    assert_eq!(
        s.protocols(TimeRange::ALL)
            .unwrap()
            .iter()
            .map(|p| p.flows)
            .sum::<u64>(),
        76
    );
    // A day dropped by another process: the next batch recreates its partition.
    let dropped = format!("DROP TABLE {}", partition_name(d0 + 2));
    db.exec(&dropped, &dropped);
    s.insert_flows(cap, &synthetic::flows(1000, 2, (d0 + 2) * DAY_US, 1), &[])
        .unwrap();
    assert_eq!(s.flow_days().unwrap(), vec![(d0 + 1, 28), (d0 + 2, 2)]);
    // Archiving: a wrong count changes nothing; the right one drops the partition.
    assert!(s.drop_flow_day(d0 + 1, 27).is_err());
    assert_eq!(s.flow_days().unwrap(), vec![(d0 + 1, 28), (d0 + 2, 2)]);
    assert_eq!(s.drop_flow_day(d0 + 1, 28).unwrap(), 28);
    assert_eq!(s.flow_days().unwrap(), vec![(d0 + 2, 2)]);
    let n = db.query_i64(&format!(
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = '{}' AND tablename = '{}'",
        db.schema(),
        partition_name(d0 + 1)
    ));
    assert_eq!(n, 0);
    assert!(s.size_bytes().unwrap() > 0);
    assert_eq!(
        db.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'archive.drop'"),
        1
    );
}

/// `cargo test -p netvigil-store --test behaviour postgres_only::throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn throughput() {
    let db = Backend::postgres("throughput");
    let mut s = store(&db);
    let cap = s.begin_capture(&new_capture("speed")).unwrap();
    let all = synthetic::flows(0, 100_000, 1_700_000_000_000_000, 36_000);
    let started = Instant::now();
    for b in all.chunks(10_000) {
        s.insert_flows(cap, b, &[]).unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} flows in {secs:.2} s: {:.0} flows/s ({} B)",
        all.len(),
        all.len() as f64 / secs,
        s.size_bytes().unwrap()
    );
}

/// A role of the test's own, which the server can stop letting log in; dropped with what it
/// owns.
struct Role(String);

impl Role {
    /// A role that may log in and create a schema in the test database.
    fn create(name: &str) -> Role {
        admin()
            .batch_execute(&format!(
                "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN; \
                 DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {name}', \
                   current_database()); END $$"
            ))
            .unwrap();
        Role(name.to_string())
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let name = &self.0;
        let _ = admin().batch_execute(&format!(
            "ALTER ROLE {name} NOLOGIN; SELECT pg_terminate_backend(pid, 5000) \
             FROM pg_stat_activity WHERE usename = '{name}'; \
             DROP OWNED BY {name} CASCADE; DROP ROLE {name}"
        ));
    }
}

/// A session that ends under a write and cannot be made again (here the server no longer
/// lets the store's role log in: a password changed, say) fails the write as a lost
/// connection, saying why reconnecting failed, rather than as the write's own error.
#[test]
fn a_write_whose_session_cannot_be_made_again_fails_as_connection_lost() {
    let db = Backend::postgres("session_cannot_be_made_again");
    let role = Role::create(db.schema());
    let mut s =
        PgStore::connect(&db.url(&format!("user={}", role.0))).unwrap_or_else(|e| panic!("{e}"));
    let user: String = admin()
        .query_one(
            "SELECT usename::text FROM pg_stat_activity WHERE application_name = $1",
            &[&db.schema()],
        )
        .unwrap()
        .get(0);
    assert_eq!(user, role.0);
    let cap = s.begin_capture(&new_capture("lost")).unwrap();
    let t0 = 1_700_000_000_000_000;
    s.insert_flows(cap, &synthetic::flows(0, 100, t0, 1_000_003), &[])
        .unwrap();
    admin()
        .batch_execute(&format!("ALTER ROLE {} NOLOGIN", role.0))
        .unwrap();
    assert_eq!(terminate(db.schema()), 1);
    let e = s
        .insert_flows(cap, &synthetic::flows(100, 100, t0, 1_000_003), &[])
        .unwrap_err();
    assert!(e.connection_lost(), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}: writing flows of capture {cap}: ", s.target()))
            && text.contains("; reconnecting failed: ")
            && text.contains("not permitted to log in"),
        "{text}"
    );
    // Writes that are not retried say the same.
    let e = s.begin_capture(&new_capture("again")).unwrap_err();
    assert!(e.connection_lost(), "{e}");
    drop(s);
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM flows"), 100);
}
