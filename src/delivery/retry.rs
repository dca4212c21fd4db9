//! The retry policy: a pure function from the attempts made so far to what happens next.

use std::time::Duration;

/// How long to wait between attempts. `delays[i]` follows attempt `i + 1`; once they run
/// out, the delivery gives up.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub delays: Vec<Duration>,
    /// Each delay is spread by up to this fraction either way, so that many deliveries that
    /// failed together do not retry together.
    pub jitter: f64,
    /// The longest `Retry-After` herald honours; a longer one is cut to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts over about two minutes: enough for a blip, short enough for a queue in
    /// memory. Durable delivery stretches this to hours.
    fn default() -> Self {
        RetryPolicy {
            delays: [1, 5, 30, 90].map(Duration::from_secs).to_vec(),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryIn(Duration),
    GiveUp,
}

/// What to do after `attempts` failed attempts (1 after the first). `retry_after` is what
/// the destination asked for; `random` is uniform in `[0, 1)`.
pub fn decide(
    policy: &RetryPolicy,
    attempts: u32,
    retry_after: Option<Duration>,
    random: f64,
) -> Decision {
    let Some(base) = policy.delays.get(attempts.saturating_sub(1) as usize) else {
        return Decision::GiveUp;
    };
    // The destination knows best when it will take messages again.
    if let Some(asked) = retry_after {
        return Decision::RetryIn(asked.min(policy.max_retry_after));
    }
    let spread = 1.0 + policy.jitter * (2.0 * random - 1.0);
    Decision::RetryIn(base.mul_f64(spread.max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_table() {
        let policy = RetryPolicy {
            delays: vec![Duration::from_secs(10), Duration::from_secs(60)],
            jitter: 0.5,
            max_retry_after: Duration::from_secs(120),
        };
        let s = Duration::from_secs;
        let cases = [
            (1, None, 0.5, Decision::RetryIn(s(10))),
            (1, None, 0.0, Decision::RetryIn(s(5))),
            (1, None, 1.0, Decision::RetryIn(s(15))),
            (2, None, 0.5, Decision::RetryIn(s(60))),
            (3, None, 0.5, Decision::GiveUp),
            (1, Some(s(2)), 0.9, Decision::RetryIn(s(2))),
            (1, Some(s(9999)), 0.5, Decision::RetryIn(s(120))),
            (3, Some(s(2)), 0.5, Decision::GiveUp),
        ];
        for (attempts, retry_after, random, expected) in cases {
            assert_eq!(
                decide(&policy, attempts, retry_after, random),
                expected,
                "{attempts} {retry_after:?} {random}"
            );
        }
    }
}
