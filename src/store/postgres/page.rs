//! Reads for people on PostgreSQL: runs the shared queries ([`crate::store::page_read`]) and reads
//! their cells.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres, Row};

use crate::store::Result;
use crate::store::page::{Dialect, Param, Sql};
use crate::store::page_read::{Cell, Col, Rows};

/// The query with its values bound.
pub(super) fn query(sql: &Sql) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.text.clone()));
    for p in &sql.params {
        q = match p {
            Param::Int(i) => q.bind(*i),
            Param::Text(t) => q.bind(t.clone()),
        };
    }
    q
}

fn cells(r: &PgRow, columns: &[Col]) -> Vec<Cell> {
    columns
        .iter()
        .map(|c| match c {
            Col::Int(name) => Cell::Int(r.try_get(*name).ok().flatten()),
            Col::Text(name) => Cell::Text(r.try_get(*name).ok().flatten()),
        })
        .collect()
}

impl Rows for PgPool {
    const DIALECT: Dialect = Dialect::Postgres;

    async fn fetch(&self, sql: &Sql, columns: &[Col]) -> Result<Vec<Vec<Cell>>> {
        let rows = query(sql).fetch_all(self).await?;
        Ok(rows.iter().map(|r| cells(r, columns)).collect())
    }
}
