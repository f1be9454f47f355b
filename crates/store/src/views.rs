//! Views for reading the stored data by hand (`sqlite3`, `psql`): `flows_v` and `alerts_v`,
//! the tables' rows with addresses as text (`10.0.0.1`, `2001:db8::1`: the text netvigil's
//! exports write) and times as ISO 8601 UTC text (`2017-07-07T09:00:00.000000Z`), in both
//! backends; and on PostgreSQL `flow_features_v`, the 80 features as named columns, decoded
//! from the `features` value by the PL/pgSQL function `netvigil_features`. They are
//! (re)created whenever a store is opened for writing and their SQL has changed, so existing
//! databases get them. Plain SQL throughout: they work in a shell with no netvigil loaded.

use flow::columns::Column;
use sha2::{Digest, Sha256};

use crate::schema::{self, DbType, Source};

/// The views, in creation order.
pub const VIEWS: [&str; 3] = ["flows_v", "alerts_v", "flow_features_v"];

/// How a column of a view renders its table column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Render {
    /// As stored.
    Plain,
    /// An address as text.
    Ip,
    /// A time as ISO 8601 UTC text, always with six fraction digits.
    Time,
}

/// How a view renders a column of a type.
fn render_of(ty: DbType) -> Render {
    match ty {
        DbType::Ip => Render::Ip,
        DbType::Time => Render::Time,
        _ => Render::Plain,
    }
}

/// The columns of `alerts_v`: every column of `alerts` ([`schema::ALERT_COLUMNS`], in the
/// order of an alert's JSON), under the table's names.
fn alert_view_columns() -> Vec<(String, Render)> {
    schema::ALERT_COLUMNS
        .iter()
        .map(|(c, ty)| (c.to_string(), render_of(*ty)))
        .collect()
}

/// The columns of `flows_v`: every column of `flows` in table order but the minute key and
/// the encoded features, under the table's names.
fn flow_view_columns() -> Vec<(String, Render)> {
    schema::flow_columns()
        .iter()
        .filter(|c| !matches!(c.source, Source::Minute | Source::Features))
        .map(|c| (c.name.clone(), render_of(c.ty)))
        .collect()
}

/// The SQL names of the features, in `flow::features::FEATURES` order (the order of the
/// encoded vector): the canonical names in snake case (`Flow Bytes/s` → `flow_bytes_s`).
pub fn feature_columns() -> Vec<String> {
    flow::features::ALL
        .iter()
        .map(|&f| schema::sql_name(Column::Feature(f)))
        .collect()
}

// --- SQLite ---------------------------------------------------------------------------

/// The value (0–255) of the byte whose two hex digits start at `at` (1-based) in `h`, an
/// upper-case `hex()` text.
fn sqlite_byte(h: &str, at: usize) -> String {
    format!(
        "((instr('0123456789ABCDEF', substr({h}, {at}, 1)) - 1) * 16 \
         + instr('0123456789ABCDEF', substr({h}, {}, 1)) - 1)",
        at + 1
    )
}

/// Dotted quad of the four bytes whose hex starts at `at` in `h`.
fn sqlite_dotted(h: &str, at: usize) -> String {
    (0..4)
        .map(|k| sqlite_byte(h, at + 2 * k))
        .collect::<Vec<_>>()
        .join(" || '.' || ")
}

/// `:g0:g1:…:g7:` of an IPv6 blob's hex `h` (after the family byte), each group in lower-case
/// hex without leading zeros (`0` when zero): the form zero runs are found in.
fn sqlite_groups(h: &str) -> String {
    let groups: Vec<String> = (0..8)
        .map(|k| {
            format!(
                "coalesce(nullif(ltrim(lower(substr({h}, {}, 4)), '0'), ''), '0')",
                3 + 4 * k
            )
        })
        .collect();
    format!("':' || {} || ':'", groups.join(" || ':' || "))
}

/// The longest run of two or more zero groups of `g` (a [`sqlite_groups`] text), the leftmost
/// of equal ones, replaced by `::` (RFC 5952, as Rust and PostgreSQL write addresses).
fn sqlite_compressed(g: &str) -> String {
    let mut sql = String::from("CASE");
    for n in (2..=8).rev() {
        let pat = format!(":{}", "0:".repeat(n));
        sql.push_str(&format!(
            " WHEN instr({g}, '{pat}') > 0 THEN substr({g}, 1, instr({g}, '{pat}') - 1) \
             || '::' || substr({g}, instr({g}, '{pat}') + {})",
            pat.len()
        ));
    }
    sql.push_str(&format!(" ELSE {g} END"));
    sql
}

/// The address text of an address blob whose hex is `h`, with `z` its compressed groups
/// ([`sqlite_compressed`]): the enclosing colons go, unless they are part of a `::`.
fn sqlite_ip_text(h: &str, z: &str) -> String {
    let lead = format!("(CASE WHEN substr({z}, 1, 2) = '::' THEN {z} ELSE substr({z}, 2) END)");
    format!(
        "CASE substr({h}, 1, 2) \
           WHEN '04' THEN {v4} \
           WHEN '06' THEN CASE WHEN substr({h}, 3, 24) = '00000000000000000000FFFF' \
             THEN '::ffff:' || {mapped} \
             ELSE CASE WHEN substr({lead}, -2) = '::' THEN {lead} \
               ELSE substr({lead}, 1, length({lead}) - 1) END END \
         END",
        v4 = sqlite_dotted(h, 3),
        mapped = sqlite_dotted(h, 27),
    )
}

/// ISO 8601 UTC text of a µs time column (NULL stays NULL); whole seconds are floored, so
/// times before 1970 are right too.
fn sqlite_time_text(c: &str) -> String {
    let frac = format!("(({c} % 1000000) + 1000000) % 1000000");
    format!(
        "strftime('%Y-%m-%dT%H:%M:%S', ({c} - {frac}) / 1000000, 'unixepoch') \
         || '.' || printf('%06d', {frac}) || 'Z'"
    )
}

/// `CREATE VIEW name AS …` over `table`, rendering `columns`. Addresses are worked out in
/// three nested selects (hex, groups, compressed groups), so each step is written once.
fn sqlite_view(name: &str, table: &str, columns: &[(String, Render)]) -> String {
    let ips: Vec<&str> = columns
        .iter()
        .filter(|c| c.1 == Render::Ip)
        .map(|c| c.0.as_str())
        .collect();
    let extra = |f: &dyn Fn(&str) -> String| -> String {
        ips.iter().map(|ip| format!(", {}", f(ip))).collect()
    };
    let hex = extra(&|ip| format!("hex({ip}) AS nv_{ip}_h"));
    let groups = extra(&|ip| format!("{} AS nv_{ip}_g", sqlite_groups(&format!("nv_{ip}_h"))));
    let zeros = extra(&|ip| format!("{} AS nv_{ip}_z", sqlite_compressed(&format!("nv_{ip}_g"))));
    let select: Vec<String> = columns
        .iter()
        .map(|(c, r)| match r {
            Render::Plain => c.clone(),
            Render::Time => format!("{} AS {c}", sqlite_time_text(c)),
            Render::Ip => format!(
                "{} AS {c}",
                sqlite_ip_text(&format!("nv_{c}_h"), &format!("nv_{c}_z"))
            ),
        })
        .collect();
    format!(
        "CREATE VIEW {name} AS SELECT {} FROM (SELECT *{zeros} FROM (SELECT *{groups} FROM \
         (SELECT *{hex} FROM {table})))",
        select.join(", ")
    )
}

/// The SQLite views: (name, `CREATE VIEW` statement).
pub fn sqlite_views() -> Vec<(&'static str, String)> {
    let alerts = alert_view_columns();
    vec![
        (
            VIEWS[0],
            sqlite_view(VIEWS[0], "flows", &flow_view_columns()),
        ),
        (VIEWS[1], sqlite_view(VIEWS[1], "alerts", &alerts)),
    ]
}

/// Creates the SQLite views, or replaces those whose SQL differs from this binary's (SQLite
/// keeps a view's text as written); views already current are left alone, so opening a
/// database writes nothing for them.
pub fn create_sqlite(tx: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::OptionalExtension;
    for (name, sql) in sqlite_views() {
        let stored: Option<String> = tx
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        if stored.as_deref() == Some(sql.as_str()) {
            continue;
        }
        tx.execute_batch(&format!("DROP VIEW IF EXISTS {name}; {sql};"))?;
    }
    Ok(())
}

// --- PostgreSQL -----------------------------------------------------------------------

/// Decodes a `features` value (`schema::encode_features`) into its 80 doubles, exactly:
/// integral values from their zig-zag varint, the others from their IEEE 754 bits (sign,
/// exponent and mantissa; a product by a power of two is exact). Runs once per row of
/// `flow_features_v`.
const PG_DECODER: &str = r#"
CREATE OR REPLACE FUNCTION netvigil_features(b bytea) RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $nv$
DECLARE
  pos int := 1;
  n bigint := -1;
  k bigint := 0;
  v bigint;
  shift int;
  c int;
  bits bigint;
  e int;
  m bigint;
  x float8;
  r float8[] := '{}';
BEGIN
  IF length(b) = 0 OR get_byte(b, 0) <> 1 THEN
    RAISE EXCEPTION 'netvigil_features: not a netvigil feature vector (format byte %)',
      CASE WHEN length(b) = 0 THEN NULL ELSE get_byte(b, 0) END;
  END IF;
  WHILE n < 0 OR k < n LOOP
    v := 0;
    shift := 0;
    LOOP
      c := get_byte(b, pos);
      pos := pos + 1;
      v := v | ((c & 127)::bigint << shift);
      EXIT WHEN c < 128;
      shift := shift + 7;
    END LOOP;
    IF n < 0 THEN
      n := v;
      CONTINUE;
    END IF;
    k := k + 1;
    IF v = 1 THEN
      bits := 0;
      FOR j IN 0 .. 7 LOOP
        bits := bits | (get_byte(b, pos + j)::bigint << (8 * j));
      END LOOP;
      pos := pos + 8;
      e := ((bits >> 52) & 2047)::int;
      m := bits & 4503599627370495;
      IF e = 2047 THEN
        x := CASE WHEN m = 0 THEN 'Infinity'::float8 ELSE 'NaN'::float8 END;
      ELSIF e = 0 THEN
        x := (m::float8 / 4503599627370496) * (2::float8 ^ -1022);
      ELSE
        x := (1 + m::float8 / 4503599627370496) * (2::float8 ^ (e - 1023));
      END IF;
      IF bits < 0 THEN
        x := -x;
      END IF;
    ELSIF v & 1 = 0 THEN
      v := v >> 1;
      x := ((v >> 1) # -(v & 1))::float8;
    ELSE
      RAISE EXCEPTION 'netvigil_features: bad tag % of feature %', v, k;
    END IF;
    r := r || x;
  END LOOP;
  IF pos <> length(b) THEN
    RAISE EXCEPTION 'netvigil_features: % bytes after the features', length(b) - pos;
  END IF;
  RETURN r;
END
$nv$"#;

/// An address as text, exactly as netvigil writes it: `host()`, except for the deprecated
/// IPv4-compatible form (`::a.b.c.d`, which PostgreSQL prints dotted and Rust in hex groups).
fn pg_ip_text(c: &str) -> String {
    format!(
        "CASE WHEN family({c}) = 6 AND {c} <<= '::/96'::inet AND NOT {c} <<= '::/112'::inet \
         THEN '::' || to_hex(({c} - '::'::inet) >> 16) || ':' || to_hex(({c} - '::'::inet) & 65535) \
         ELSE host({c}) END"
    )
}

fn pg_time_text(c: &str) -> String {
    format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

fn pg_select(table_alias: &str, columns: &[(String, Render)]) -> String {
    columns
        .iter()
        .map(|(c, r)| {
            let q = format!("{table_alias}.{c}");
            match r {
                Render::Plain => q,
                Render::Ip => format!("{} AS {c}", pg_ip_text(&q)),
                Render::Time => format!("{} AS {c}", pg_time_text(&q)),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The PostgreSQL statements (drop the views, (re)create the decoder, create the views and
/// mark `flows_v` with the digest of their SQL), and that mark.
pub fn pg_statements() -> (String, String) {
    let alerts = alert_view_columns();
    let flows = flow_view_columns();
    // The features view: the flow's identity, the features, the score.
    const IDENTITY: [&str; 8] = [
        "id",
        "capture_id",
        "first_seen",
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "protocol",
    ];
    let ident: Vec<(String, Render)> = flows
        .iter()
        .filter(|(c, _)| IDENTITY.contains(&c.as_str()))
        .cloned()
        .collect();
    let features: String = feature_columns()
        .iter()
        .enumerate()
        .map(|(i, c)| format!(", d.v[{}] AS {c}", i + 1))
        .collect();
    let body = format!(
        "{PG_DECODER};
CREATE VIEW flows_v AS SELECT {} FROM flows f;
CREATE VIEW alerts_v AS SELECT {} FROM alerts a;
CREATE VIEW flow_features_v AS SELECT {}{features}, f.label, f.p_attack, f.confidence \
FROM flows f CROSS JOIN LATERAL netvigil_features(f.features) AS d(v);",
        pg_select("f", &flows),
        pg_select("a", &alerts),
        pg_select("f", &ident),
    );
    let digest = Sha256::digest(body.as_bytes());
    let marker = format!(
        "netvigil views {}",
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let sql = format!(
        "DROP VIEW IF EXISTS {};\n{body}\nCOMMENT ON VIEW flows_v IS '{marker}';",
        VIEWS.join(", ")
    );
    (sql, marker)
}

/// Creates the PostgreSQL views (and their decoder) in the session's schema, unless those
/// there were made from this binary's SQL (the comment on `flows_v` holds its digest) and
/// are all there (a migration drops the views that read what it changes).
pub fn create_pg(tx: &mut impl postgres::GenericClient) -> Result<(), postgres::Error> {
    let (sql, marker) = pg_statements();
    let current: Option<String> = tx
        .query_opt(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relname = 'flows_v'",
            &[],
        )?
        .and_then(|r| r.get(0));
    let present: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM pg_views WHERE schemaname = current_schema() \
             AND viewname = ANY($1)",
            &[&VIEWS.to_vec()],
        )?
        .get(0);
    if current.as_deref() == Some(marker.as_str()) && present == VIEWS.len() as i64 {
        return Ok(());
    }
    tx.batch_execute(&sql)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::sqlite::ip_blob;

    /// Addresses whose text is easy to get wrong: zero runs at either end, in the middle, of
    /// equal length (the leftmost goes), a lone zero group (kept), IPv4-mapped (dotted) and
    /// IPv4-compatible (hex groups, as Rust writes it).
    const ADDRESSES: &[&str] = &[
        "0.0.0.0",
        "10.1.2.3",
        "255.255.255.255",
        "192.168.0.10",
        "::",
        "::1",
        "1::",
        "2001:db8::1",
        "1:0:0:1::1",
        "1::2:0:0:3:4",
        "1:0:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8",
        "fe80::1:0:0:0",
        "::ffff:1.2.3.4",
        "::ffff:0.0.0.0",
        "::102:304",
        "::100",
        "2a00:1450:4007:80c::200e",
        "abcd:ef01:2345:6789:abcd:ef01:2345:6789",
    ];

    /// Times around the epoch and a fraction-free one.
    const TIMES: &[(i64, &str)] = &[
        (0, "1970-01-01T00:00:00.000000Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (-1_000_000, "1969-12-31T23:59:59.000000Z"),
        (1_499_385_600_000_000, "2017-07-07T00:00:00.000000Z"),
        (1_499_410_800_123_456, "2017-07-07T07:00:00.123456Z"),
    ];

    #[test]
    fn sqlite_renders_addresses_and_times_as_netvigil_writes_them() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (id INTEGER, a BLOB, at INTEGER)")
            .unwrap();
        let cols = [
            ("id".to_string(), Render::Plain),
            ("a".to_string(), Render::Ip),
            ("at".to_string(), Render::Time),
        ];
        c.execute_batch(&sqlite_view("t_v", "t", &cols)).unwrap();
        for (i, a) in ADDRESSES.iter().enumerate() {
            let ip: IpAddr = a.parse().unwrap();
            // The list is written as Rust writes each address.
            assert_eq!(ip.to_string(), *a);
            c.execute(
                "INSERT INTO t VALUES (?1, ?2, NULL)",
                rusqlite::params![i as i64, ip_blob(ip)],
            )
            .unwrap();
        }
        for (i, (t, _)) in TIMES.iter().enumerate() {
            c.execute(
                "INSERT INTO t VALUES (?1, NULL, ?2)",
                rusqlite::params![1000 + i as i64, t],
            )
            .unwrap();
        }
        let mut st = c.prepare("SELECT id, a, at FROM t_v ORDER BY id").unwrap();
        let rows: Vec<(i64, Option<String>, Option<String>)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut want: Vec<(i64, Option<String>, Option<String>)> = ADDRESSES
            .iter()
            .enumerate()
            .map(|(i, a)| (i as i64, Some(a.to_string()), None))
            .collect();
        want.extend(
            TIMES
                .iter()
                .enumerate()
                .map(|(i, (_, s))| (1000 + i as i64, None, Some(s.to_string()))),
        );
        assert_eq!(rows, want);
    }

    #[test]
    fn feature_columns_are_unique_and_clash_with_no_flow_view_column() {
        let mut names = feature_columns();
        assert_eq!(names.len(), flow::N_FEATURES);
        assert_eq!(names[0], "flow_duration");
        names.extend(flow_view_columns().into_iter().map(|c| c.0));
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    /// A fresh schema on the test server (`NETVIGIL_PG_TEST_URL`, default the local one),
    /// given the store's views by opening a store on it; dropped at the end.
    struct PgSchema {
        admin: postgres::Client,
        name: String,
    }

    impl PgSchema {
        fn new(test: &str) -> PgSchema {
            let base = std::env::var("NETVIGIL_PG_TEST_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
            let mut admin = base
                .parse::<postgres::Config>()
                .unwrap()
                .connect(postgres::NoTls)
                .unwrap_or_else(|e| panic!("no PostgreSQL at {base} ({e}): run scripts/setup.sh"));
            let name = format!("nv_views_{test}_{}", std::process::id());
            admin
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            drop(
                crate::pg::PgStore::connect(&format!("{base}{sep}schema={name}"))
                    .unwrap_or_else(|e| panic!("{e}")),
            );
            admin
                .batch_execute(&format!(
                    "SET search_path TO {name}; SET TimeZone = 'Asia/Kolkata'"
                ))
                .unwrap();
            PgSchema { admin, name }
        }
    }

    impl Drop for PgSchema {
        fn drop(&mut self) {
            let _ = self
                .admin
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }

    #[test]
    fn postgres_decodes_stored_features_exactly() {
        let mut db = PgSchema::new("features");
        let odd = [
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            2.2e-308,
            -1.5,
            0.1,
            1e300,
            (1u64 << 52) as f64,
            1.0 - (1u64 << 52) as f64,
            123_456_789.0,
            -7.0,
            1234.5678,
        ];
        let mut vectors = vec![[0.0; flow::N_FEATURES], [1.0; flow::N_FEATURES]];
        let mut f = [0.0; flow::N_FEATURES];
        for (i, x) in f.iter_mut().enumerate() {
            *x = odd[i % odd.len()];
        }
        vectors.push(f);
        // Every feature gets each odd value somewhere.
        let mut g = [0.0; flow::N_FEATURES];
        for (i, x) in g.iter_mut().enumerate() {
            *x = odd[(i + 7) % odd.len()] * if i % 3 == 0 { -1.0 } else { 1.0 };
        }
        vectors.push(g);
        for v in &vectors {
            let b = schema::encode_features(v);
            let back: Vec<f64> = db
                .admin
                .query_one("SELECT netvigil_features($1)", &[&b])
                .unwrap()
                .get(0);
            assert_eq!(back.len(), flow::N_FEATURES);
            for (k, (a, b)) in v.iter().zip(&back).enumerate() {
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "feature {k}: stored {a:e}, decoded {b:e}"
                );
            }
        }
        let bad = db
            .admin
            .query_one("SELECT netvigil_features('\\x09'::bytea)", &[])
            .unwrap_err();
        let msg = bad.as_db_error().map(|d| d.message().to_string());
        assert_eq!(
            msg.as_deref(),
            Some("netvigil_features: not a netvigil feature vector (format byte 9)")
        );
    }

    #[test]
    fn postgres_renders_addresses_and_times_as_netvigil_writes_them() {
        let mut db = PgSchema::new("render");
        for a in ADDRESSES {
            let ip: IpAddr = a.parse().unwrap();
            let text: String = db
                .admin
                .query_one(
                    &format!("SELECT {} FROM (SELECT $1::inet AS a) x", pg_ip_text("x.a")),
                    &[&ip],
                )
                .unwrap()
                .get(0);
            assert_eq!(text, *a);
        }
        for (_, s) in TIMES {
            let text: String = db
                .admin
                .query_one(
                    &format!(
                        "SELECT {} FROM (SELECT $1::text::timestamptz AS t) x",
                        pg_time_text("x.t")
                    ),
                    &[s],
                )
                .unwrap()
                .get(0);
            assert_eq!(text, *s);
        }
    }

    #[test]
    fn sqlite_views_are_created_once_and_replaced_when_their_sql_changes() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let flows = format!(
            "CREATE TABLE flows ({});",
            crate::sqlite::DIALECT.flow_column_defs()
        );
        c.execute_batch(&format!("{flows}{}", crate::sqlite::DIALECT.tables()))
            .unwrap();
        let cookie = |c: &rusqlite::Connection| -> i64 {
            c.query_row("PRAGMA schema_version", [], |r| r.get(0))
                .unwrap()
        };
        create_sqlite(&c).unwrap();
        let after_create = cookie(&c);
        create_sqlite(&c).unwrap();
        assert_eq!(cookie(&c), after_create, "current views were rewritten");
        // An older definition is replaced.
        c.execute_batch("DROP VIEW flows_v; CREATE VIEW flows_v AS SELECT id FROM flows")
            .unwrap();
        create_sqlite(&c).unwrap();
        let sql: String = c
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'flows_v'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(sql, sqlite_views()[0].1);
    }
}
