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
