//! A channel's retry settings (`retry:` in `rules.yaml`). What they mean for one failed
//! attempt is decided by the pure function in `delivery::retry`.

use std::time::Duration;

/// When to try again. After attempt `n`, wait `delays[n - 1]`; once the list runs out, wait
/// `then` each time; give up once retrying would pass `give_up_after` from the first attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub delays: Vec<Duration>,
    pub then: Duration,
    pub give_up_after: Duration,
    /// Each delay is spread by up to this fraction either way, so that deliveries that failed
    /// together do not all retry together.
    pub jitter: f64,
    /// The longest `Retry-After` herald honours; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 10 s, 30 s, 2 min, 10 min, 30 min, then hourly, for up to a day: long enough to ride out
    /// an outage of Slack or the mail server, short enough that a message still means something.
    fn default() -> Self {
        RetryPolicy {
            delays: [10, 30, 120, 600, 1800].map(Duration::from_secs).to_vec(),
            then: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}
