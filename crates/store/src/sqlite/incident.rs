//! Incident upkeep ([`crate::incident`]) on a SQLite write transaction.

use rusqlite::Connection;

use super::rows::db_value;
use crate::incident::Exec;
use crate::query::Sql;
use crate::schema::{DbType, DbValue};

/// A write transaction (any connection inside one) as [`Exec`].
pub(super) struct SqliteExec<'a>(pub(super) &'a Connection);

impl Exec for SqliteExec<'_> {
    type Error = rusqlite::Error;

    fn rows(
        &mut self,
        sql: &Sql,
        types: &[DbType],
    ) -> rusqlite::Result<Vec<Vec<DbValue<'static>>>> {
        let mut st = self.0.prepare_cached(&sql.text.replace('$', "?"))?;
        let mut rows = st.query(rusqlite::params_from_iter(sql.params.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(types.len());
            for (i, ty) in types.iter().enumerate() {
                row.push(db_value(r.get_ref(i)?, *ty));
            }
            out.push(row);
        }
        Ok(out)
    }

    fn exec(&mut self, sql: &Sql) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(&sql.text.replace('$', "?"))?
            .execute(rusqlite::params_from_iter(sql.params.iter()))?;
        Ok(())
    }
}

impl crate::account::Transact for super::SqliteStore {
    fn transact<T>(
        &mut self,
        context: &str,
        op: impl FnOnce(&mut crate::account::Run<'_>) -> crate::Result<T>,
    ) -> crate::Result<T> {
        // An immediate transaction takes the write lock up front, so a read that turns into a
        // write never fails half-way on a busy database.
        self.run_in("BEGIN IMMEDIATE", context, op)
    }

    fn read<T>(
        &mut self,
        context: &str,
        op: impl FnOnce(&mut crate::account::Run<'_>) -> crate::Result<T>,
    ) -> crate::Result<T> {
        // A deferred transaction only reads: it never waits for an ingest holding the write
        // lock (WAL readers see the last commit).
        self.run_in("BEGIN DEFERRED", context, op)
    }
}

impl super::SqliteStore {
    /// Runs `op` in a transaction opened by `begin`.
    fn run_in<T>(
        &mut self,
        begin: &str,
        context: &str,
        op: impl FnOnce(&mut crate::account::Run<'_>) -> crate::Result<T>,
    ) -> crate::Result<T> {
        self.conn
            .execute_batch(begin)
            .map_err(|e| self.write_err(context, e))?;
        let done = {
            let conn = &self.conn;
            let me = &*self;
            op(&mut |sql: &Sql, types: &[DbType]| {
                SqliteExec(conn)
                    .rows(sql, types)
                    .map_err(|e| me.write_err(context, e))
            })
        };
        let end = match &done {
            Ok(_) if self.file.moved() => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(self.failure(
                    context,
                    "the database file was removed, moved or replaced while in use",
                    true,
                ));
            }
            Ok(_) => self.conn.execute_batch("COMMIT"),
            Err(_) => self.conn.execute_batch("ROLLBACK"),
        };
        end.map_err(|e| self.write_err(context, e))?;
        done
    }
}
