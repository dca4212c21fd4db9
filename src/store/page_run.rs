//! Running the status page's shared SQL ([`super::page`]) on either backend's sqlx pool: binding
//! its values and reading the cells [`super::page_read`] asks for. The backends differ only in
//! their [`Dialect`].

use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::Result;
use super::page::{Dialect, Param, Sql};
use super::page_read::{Cell, Col, Rows};

/// A database the shared SQL runs on, and how it spells it.
pub trait Backend: Database {
    const DIALECT: Dialect;
}

impl Backend for sqlx::Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
}

impl Backend for sqlx::Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
}

/// The query with its values bound.
pub fn query<DB>(sql: &Sql) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.text.clone()));
    for p in &sql.params {
        q = match p {
            Param::Int(i) => q.bind(*i),
            Param::Text(t) => q.bind(t.clone()),
        };
    }
    q
}

fn cells<R>(r: &R, columns: &[Col]) -> Vec<Cell>
where
    R: Row,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: sqlx::ColumnIndex<R>,
{
    columns
        .iter()
        .map(|c| match c {
            Col::Int(name) => Cell::Int(r.try_get(*name).ok().flatten()),
            Col::Text(name) => Cell::Text(r.try_get(*name).ok().flatten()),
        })
        .collect()
}

impl<DB> Rows for Pool<DB>
where
    DB: Backend,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'r> Option<i64>: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB> + Type<DB>,
    for<'n> &'n str: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
{
    const DIALECT: Dialect = DB::DIALECT;

    async fn fetch(&self, sql: &Sql, columns: &[Col]) -> Result<Vec<Vec<Cell>>> {
        let rows = query::<DB>(sql).fetch_all(self).await?;
        Ok(rows.iter().map(|r| cells(r, columns)).collect())
    }
}
