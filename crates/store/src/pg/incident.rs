//! Incident upkeep ([`crate::incident`]) on a PostgreSQL transaction.

use std::net::IpAddr;

use postgres::Transaction;

use super::types::{params_of, PgTime};
use crate::incident::Exec;
use crate::query::Sql;
use crate::schema::{DbType, DbValue};

/// An open transaction as [`Exec`].
pub(super) struct PgExec<'a, 'b>(pub(super) &'a mut Transaction<'b>);

impl Exec for PgExec<'_, '_> {
    type Error = postgres::Error;

    fn rows(
        &mut self,
        sql: &Sql,
        types: &[DbType],
    ) -> Result<Vec<Vec<DbValue<'static>>>, postgres::Error> {
        let rows = self.0.query(sql.text.as_str(), &params_of(&sql.params))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = Vec::with_capacity(types.len());
            for (i, ty) in types.iter().enumerate() {
                let v = match ty {
                    DbType::Int => r.try_get::<_, Option<i64>>(i)?.map(DbValue::Int),
                    DbType::Float => r.try_get::<_, Option<f64>>(i)?.map(DbValue::Float),
                    DbType::Text => r
                        .try_get::<_, Option<String>>(i)?
                        .map(|t| DbValue::Text(t.into())),
                    DbType::Time => r
                        .try_get::<_, Option<PgTime>>(i)?
                        .map(|t| DbValue::Time(t.0)),
                    DbType::Ip => r.try_get::<_, Option<IpAddr>>(i)?.map(DbValue::Ip),
                    DbType::Bytes => r.try_get::<_, Option<Vec<u8>>>(i)?.map(DbValue::Bytes),
                };
                row.push(v.unwrap_or(DbValue::Null));
            }
            out.push(row);
        }
        Ok(out)
    }

    fn exec(&mut self, sql: &Sql) -> Result<(), postgres::Error> {
        self.0.execute(sql.text.as_str(), &params_of(&sql.params))?;
        Ok(())
    }
}

impl crate::account::Transact for super::PgStore {
    fn transact<T>(
        &mut self,
        context: &str,
        op: impl FnOnce(&mut crate::account::Run<'_>) -> crate::Result<T>,
    ) -> crate::Result<T> {
        if self.client.is_closed() {
            let _ = self.reconnect();
        }
        let target = self.target.as_str();
        let q = |e| super::error::pg_err(target, context, e);
        let mut tx = self.client.transaction().map_err(q)?;
        let done =
            op(&mut |sql: &Sql, types: &[DbType]| PgExec(&mut tx).rows(sql, types).map_err(q));
        match done {
            // Dropping the transaction rolls it back.
            Ok(v) => tx.commit().map(|()| v).map_err(q),
            Err(e) => Err(e),
        }
    }
}
