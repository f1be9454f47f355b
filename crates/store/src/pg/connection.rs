//! Connecting: the session's settings, creating or migrating the schema, and reconnecting
//! (with back-off) when the connection is lost under a write.

use std::collections::BTreeSet;

use postgres::{Client, Config, NoTls};

use super::error::{gave_up, is_transient, pg_err, pg_message};
use super::types::PgTime;
use super::url::{redacted, split_schema, target_of};
use super::{
    quote_ident, PgStore, APPLICATION_NAME, DIALECT, FIRST_BACKOFF, LOCK_MIGRATE, RETRIES,
};
use crate::schema;
use crate::{now_us, Result, SchemaAction, StoreError, SCHEMA_VERSION};

/// The schema of a fresh database: `schema_version`, the partitioned `flows` (its indexes are
/// created on every partition), the other tables, and the append-only guard of `audit_log`.
fn schema_ddl() -> String {
    format!(
        "CREATE TABLE schema_version (version BIGINT NOT NULL, applied_at TIMESTAMPTZ NOT NULL, \
           netvigil TEXT NOT NULL);
         CREATE TABLE flows (\n  {},\n  PRIMARY KEY (first_seen, id)\n) PARTITION BY RANGE (first_seen);
         {}
         -- By id alone: flow(id), the idempotency check and replacing a capture (its ids are
         -- one range).
         CREATE INDEX flows_id ON flows (id);
         {}
         -- Minute rollups are appended per batch (see upsert_rollups): no unique key.
         ALTER TABLE talkers_1m DROP CONSTRAINT talkers_1m_pkey;
         CREATE INDEX talkers_1m_key ON talkers_1m (bucket, ip);
         ALTER TABLE ports_1m DROP CONSTRAINT ports_1m_pkey;
         CREATE INDEX ports_1m_key ON ports_1m (bucket);
         ALTER TABLE protocols_1m DROP CONSTRAINT protocols_1m_pkey;
         CREATE INDEX protocols_1m_key ON protocols_1m (bucket);
         CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
         CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
           FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
         CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
           FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();",
        DIALECT.flow_column_defs(),
        schema::FLOW_INDEXES,
        DIALECT.tables(),
    )
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names (see the module's documentation for
    /// `schema=`), creates or migrates the schema (refusing a newer one) and the partitions of
    /// today and the next two days.
    pub fn connect(url: &str) -> Result<PgStore> {
        Self::connect_with(url, false)
    }

    /// Like [`PgStore::connect`], for reading or maintenance: a schema without netvigil's
    /// tables is refused, never created.
    pub fn connect_existing(url: &str) -> Result<PgStore> {
        Self::connect_with(url, true)
    }

    fn connect_with(url: &str, existing: bool) -> Result<PgStore> {
        let (client_url, schema) = split_schema(url).map_err(|message| StoreError::Open {
            target: redacted(url),
            message,
        })?;
        let mut config: Config = client_url.parse().map_err(|e| StoreError::Open {
            target: redacted(url),
            message: pg_message(&e),
        })?;
        if config.get_application_name().is_none() {
            config.application_name(APPLICATION_NAME);
        }
        let target = target_of(&config, &schema);
        let open_err = |message: String| StoreError::Open {
            target: target.clone(),
            message,
        };
        let client = Self::open_client(&config, &schema).map_err(|e| open_err(pg_message(&e)))?;
        let mut s = PgStore {
            client,
            config,
            schema,
            target: target.clone(),
            days: BTreeSet::new(),
        };
        let setup = |s: &mut PgStore| -> Result<()> {
            s.migrate(existing)?;
            s.load_partitions()?;
            let today = crate::day_of(now_us());
            s.ensure_partitions(today..=today + 2)
        };
        setup(&mut s).map_err(|e| match e {
            StoreError::Query { message, .. } => open_err(message),
            other => other,
        })?;
        Ok(s)
    }

    /// A new session, its `search_path` set to the schema.
    fn open_client(config: &Config, schema: &str) -> std::result::Result<Client, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        // The shared flow listing writes `ESCAPE '\'`, a backslash only with standard strings.
        // The dashboard's queries are short: JIT compiling them (80 ms of a 450 ms top-talkers
        // query at 10 M flows) and starting parallel workers (20 ms of 65) cost more than
        // they save.
        client.batch_execute(&format!(
            "SET search_path TO {}; SET standard_conforming_strings = on; SET jit = off; \
             SET max_parallel_workers_per_gather = 0",
            quote_ident(schema)
        ))?;
        Ok(client)
    }

    /// Replaces the session with a new one.
    pub(super) fn reconnect(&mut self) -> Result<()> {
        let client = Self::open_client(&self.config, &self.schema)
            .map_err(|e| pg_err(&self.target, "reconnecting", e))?;
        self.client = client;
        Ok(())
    }

    /// Runs `op`; when it fails because the connection was lost, reconnects and runs it again,
    /// up to [`RETRIES`] times, waiting 200 ms, 400 ms, … first (a deadlock victim is run again
    /// the same way, on the same connection). `op` must be one transaction
    /// that can run twice (a commit may have happened without being confirmed).
    pub(super) fn retrying<T>(&mut self, mut op: impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        if self.client.is_closed() {
            // Known dead before anything was sent: a new session costs nothing.
            let _ = self.reconnect();
        }
        let mut attempt = 0;
        loop {
            let lost = match op(self) {
                Ok(v) => return Ok(v),
                Err(e) if e.connection_lost() && attempt < RETRIES => e,
                Err(e) if is_transient(&e) && attempt < RETRIES => {
                    // Chosen as a deadlock's victim (another writer updated the same rows in
                    // another order): the transaction rolled back, so it can run again.
                    std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt));
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Wait, then reconnect; a reconnection that fails for a lost connection again
            // uses up an attempt too.
            loop {
                std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt));
                attempt += 1;
                match self.reconnect() {
                    Ok(()) => break,
                    Err(e) if e.connection_lost() && attempt < RETRIES => {}
                    Err(e) if e.connection_lost() => return Err(gave_up(lost, &e, RETRIES)),
                    // Refused (the role may no longer log in, the database was dropped): the
                    // operation still failed for its lost connection.
                    Err(e) => return Err(gave_up(lost, &e, 1)),
                }
            }
        }
    }

    /// Creates or migrates the schema in one transaction, under an advisory lock so that two
    /// processes do not migrate at once; refuses a schema newer than this binary's.
    /// With `existing`, a schema without netvigil's tables is refused rather than created.
    fn migrate(&mut self, existing: bool) -> Result<()> {
        let target = self.target.as_str();
        let schema = self.schema.as_str();
        let q = |e| pg_err(target, "creating the schema", e);
        let mut tx = self.client.transaction().map_err(q)?;
        tx.execute(
            &format!("SELECT pg_advisory_xact_lock({LOCK_MIGRATE}, hashtext($1))"),
            &[&schema],
        )
        .map_err(q)?;
        let exists: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&schema],
            )
            .map_err(q)?
            .get(0);
        if !exists && !existing {
            tx.batch_execute(&format!("CREATE SCHEMA {}", quote_ident(schema)))
                .map_err(q)?;
        }
        let has_version: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_tables \
                 WHERE schemaname = $1 AND tablename = 'schema_version')",
                &[&schema],
            )
            .map_err(q)?
            .get(0);
        if existing && !has_version {
            return Err(StoreError::Open {
                target: target.to_string(),
                message: format!(
                    "schema \"{schema}\" {}: not a netvigil database (check the database name \
                     and schema= in the URL)",
                    if exists {
                        "holds no netvigil tables"
                    } else {
                        "does not exist"
                    }
                ),
            });
        }
        let version: i64 = if has_version {
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
                .map_err(|e| pg_err(target, "reading the schema version", e))?
                .get(0)
        } else {
            0
        };
        let action = crate::check_schema(target, version)?;
        if let SchemaAction::Migrate { from } = action {
            for (what, statement) in SchemaAction::migration(from, &DIALECT) {
                tx.batch_execute(&statement)
                    .map_err(|e| pg_err(target, what, e))?;
            }
            crate::incident::place_unplaced(&mut super::incident::PgExec(&mut tx))
                .map_err(|e| pg_err(target, "placing the stored alerts into incidents", e))?;
        }
        if action == SchemaAction::Create {
            tx.batch_execute(&schema_ddl()).map_err(q)?;
        }
        if action != SchemaAction::Use {
            tx.execute(
                "INSERT INTO schema_version VALUES ($1, $2, $3)",
                &[
                    &SCHEMA_VERSION,
                    &PgTime(now_us()),
                    &env!("CARGO_PKG_VERSION"),
                ],
            )
            .map_err(|e| pg_err(target, "recording the schema version", e))?;
        }
        crate::views::create_pg(&mut tx).map_err(|e| pg_err(target, "creating the views", e))?;
        tx.commit().map_err(q)
    }
}
