//! File system calls off the async runtime, with a deadline. The rules file, its env file and
//! templates can sit on a mount that hangs, or be replaced by a FIFO that no one writes: read
//! on a worker thread, that stops `/webhook` and `/healthz` with it. Read here, it stops one
//! blocking thread, the caller gets an error after the deadline, and locks it held are
//! released. (The stuck thread is abandoned; `main` does not wait for it at exit.)

use std::time::Duration;

/// How long a read of herald's own files may take before it is given up.
pub const FILE_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "the file system did not answer within {} s (a hung mount, or a FIFO in a file's place?)",
    .0.as_secs()
)]
pub struct TimedOut(pub Duration);

/// Runs `f` on a blocking thread; its result, or [`TimedOut`] after `deadline`. A panic in
/// `f` goes on in the caller.
pub async fn run<T, F>(deadline: Duration, f: F) -> Result<T, TimedOut>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::time::timeout(deadline, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(TimedOut(deadline)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_that_hangs_is_given_up_and_one_that_answers_is_not() {
        let hung = run(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(2));
        })
        .await;
        assert!(hung.is_err());
        assert_eq!(run(Duration::from_secs(5), || 7).await.unwrap(), 7);
    }
}
