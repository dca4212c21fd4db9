//! `LISTEN herald_work`: a hint from another replica that deliveries became due. Lost while the
//! listener reconnects (PostgreSQL does not replay), so the dispatcher's poll stays the
//! backstop.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tracing::warn;

use super::CHANNEL;

/// Listens until the store aborts it, reconnecting after errors.
pub(super) async fn listen(pool: PgPool, wakeups: watch::Sender<u64>) {
    let mut failures = 0u32;
    loop {
        match session(&pool, &wakeups).await {
            Ok(never) => match never {},
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(60) {
                    warn!(error = %e, "lost the PostgreSQL notification listener; polling until it is back");
                }
                // Nothing heard while down may have been missed: look now.
                wakeups.send_modify(|n| *n += 1);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn session(
    pool: &PgPool,
    wakeups: &watch::Sender<u64>,
) -> Result<std::convert::Infallible, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    loop {
        listener.recv().await?;
        wakeups.send_modify(|n| *n += 1);
    }
}

/// Tells every replica to look for due deliveries. After the commit, never inside it: commits
/// that notify serialise on a global lock. Best effort: the poll is the backstop.
pub(super) async fn notify(pool: &PgPool) {
    let _ = sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(pool)
        .await;
}
