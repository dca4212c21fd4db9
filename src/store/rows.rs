//! Running SQL written once ([`super::sql`]) on either backend's sqlx pool: binding its values,
//! reading the columns asked for by name, and transactions. This is the one place that knows
//! sqlx's generic traits; everything above it is written against [`Rows`] and [`Conn`]. The
//! backends differ only in their [`Dialect`] and how a transaction begins.

use futures_util::future::BoxFuture;
use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Transaction, Type};

use super::Result;
use super::sql::{Cell, Col, Dialect, Param, Record, Sql};

/// A database the shared SQL runs on, and how it spells it.
pub trait Backend: Database {
    const DIALECT: Dialect;
    /// SQLite takes the write lock when a transaction begins, so that its reads count.
    const BEGIN: &'static str;

    /// How many rows a statement changed (each driver has its own result type).
    fn changed(done: &Self::QueryResult) -> u64;
}

impl Backend for sqlx::Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";

    fn changed(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }
}

impl Backend for sqlx::Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
    const BEGIN: &'static str = "BEGIN";

    fn changed(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }
}

/// What the shared reads and writes need of a database.
pub trait Rows: Sync {
    const DIALECT: Dialect;

    /// Runs `sql` and reads `columns` of each row.
    fn fetch(&self, sql: &Sql, columns: &[Col])
    -> impl Future<Output = Result<Vec<Record>>> + Send;

    /// Runs `sql`; how many rows it changed.
    fn execute(&self, sql: &Sql) -> impl Future<Output = Result<u64>> + Send;

    /// A transaction.
    fn begin(&self) -> impl Future<Output = Result<Box<dyn Conn>>> + Send;
}

/// A transaction: statements run in it, then [`Conn::commit`]; dropped, it rolls back.
pub trait Conn: Send {
    fn fetch<'a>(
        &'a mut self,
        sql: &'a Sql,
        columns: &'a [Col],
    ) -> BoxFuture<'a, Result<Vec<Record>>>;
    fn execute<'a>(&'a mut self, sql: &'a Sql) -> BoxFuture<'a, Result<u64>>;
    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<()>>;
}

/// The query with its values bound.
pub fn query<DB>(sql: &Sql) -> sqlx::query::Query<'static, DB, DB::Arguments>
where
    DB: Database,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
{
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.text.clone()));
    for p in &sql.params {
        q = match p {
            Param::Int(i) => q.bind(Some(*i)),
            Param::Text(t) => q.bind(Some(t.clone())),
            Param::MaybeInt(i) => q.bind(*i),
            Param::MaybeText(t) => q.bind(t.clone()),
        };
    }
    q
}

/// The cells of `columns`, by name; a column missing or of another type is an error.
fn record<R>(r: &R, columns: &[Col]) -> Result<Record>
where
    R: Row,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: sqlx::ColumnIndex<R>,
{
    let mut cells = Vec::with_capacity(columns.len());
    for c in columns {
        let cell = match c {
            Col::Int(name) => Cell::Int(r.try_get(*name)?),
            Col::Text(name) => Cell::Text(r.try_get(*name)?),
        };
        cells.push((c.name(), cell));
    }
    Ok(Record(cells))
}

fn records<R>(rows: &[R], columns: &[Col]) -> Result<Vec<Record>>
where
    R: Row,
    for<'r> Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: sqlx::ColumnIndex<R>,
{
    rows.iter().map(|r| record(r, columns)).collect()
}

impl<DB> Rows for Pool<DB>
where
    DB: Backend,
    for<'t> Option<i64>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'n> &'n str: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    const DIALECT: Dialect = DB::DIALECT;

    async fn fetch(&self, sql: &Sql, columns: &[Col]) -> Result<Vec<Record>> {
        let rows = query::<DB>(sql).fetch_all(self).await?;
        records(&rows, columns)
    }

    async fn execute(&self, sql: &Sql) -> Result<u64> {
        Ok(DB::changed(&query::<DB>(sql).execute(self).await?))
    }

    async fn begin(&self) -> Result<Box<dyn Conn>> {
        Ok(Box::new(self.begin_with(DB::BEGIN).await?))
    }
}

impl<DB> Conn for Transaction<'static, DB>
where
    DB: Backend,
    for<'t> Option<i64>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Decode<'t, DB> + Type<DB>,
    for<'n> &'n str: sqlx::ColumnIndex<DB::Row>,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn fetch<'a>(
        &'a mut self,
        sql: &'a Sql,
        columns: &'a [Col],
    ) -> BoxFuture<'a, Result<Vec<Record>>> {
        Box::pin(async move {
            let rows = query::<DB>(sql).fetch_all(&mut **self).await?;
            records(&rows, columns)
        })
    }

    fn execute<'a>(&'a mut self, sql: &'a Sql) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let done = query::<DB>(sql).execute(&mut **self).await?;
            Ok(DB::changed(&done))
        })
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<()>> {
        Box::pin(async move { Ok((*self).commit().await?) })
    }
}
