//! Reads for people on SQLite: runs the shared queries ([`crate::store::page_read`]) and reads
//! their cells.

use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite, SqlitePool};

use crate::store::Result;
use crate::store::page::{Dialect, Param, Sql};
use crate::store::page_read::{Cell, Col, Rows};

/// The query with its values bound.
pub(super) fn query(sql: &Sql) -> sqlx::query::Query<'static, Sqlite, SqliteArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.text.clone()));
    for p in &sql.params {
        q = match p {
            Param::Int(i) => q.bind(*i),
            Param::Text(t) => q.bind(t.clone()),
        };
    }
    q
}

fn cells(r: &SqliteRow, columns: &[Col]) -> Vec<Cell> {
    columns
        .iter()
        .map(|c| match c {
            Col::Int(name) => Cell::Int(r.try_get(*name).ok().flatten()),
            Col::Text(name) => Cell::Text(r.try_get(*name).ok().flatten()),
        })
        .collect()
}

impl Rows for SqlitePool {
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn fetch(&self, sql: &Sql, columns: &[Col]) -> Result<Vec<Vec<Cell>>> {
        let rows = query(sql).fetch_all(self).await?;
        Ok(rows.iter().map(|r| cells(r, columns)).collect())
    }
}
