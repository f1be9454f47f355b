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
