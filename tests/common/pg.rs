//! A PostgreSQL database of a test's own, created at `HERALD_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped when the test ends, even by a
//! panic. Tests that need PostgreSQL fail, never skip, when it cannot be reached.

use sqlx::Connection;

pub fn admin_url() -> String {
    std::env::var("HERALD_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of this test's own, dropped when the test ends (even by a panic).
pub struct PgDb {
    name: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        let name = format!("herald_t_{:016x}", fastrand::u64(..));
        let mut admin = sqlx::PgConnection::connect(&admin_url())
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {} is needed: {e}", admin_url()));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        PgDb { name }
    }

    pub fn url(&self) -> String {
        let mut url: url::Url = admin_url().parse().unwrap();
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}
