//! The retry policy: a pure function from the attempts made so far to what happens next. The
//! policy's settings are configuration ([`RetryPolicy`], per channel).

use std::time::Duration;

pub use crate::config::retry::RetryPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RetryIn(Duration),
    GiveUp,
}

/// What to do after `attempts` failed attempts (1 after the first), `elapsed` after the first
/// one. `retry_after` is what the destination asked for; `random` is uniform in `[0, 1)`.
pub fn decide(
    policy: &RetryPolicy,
    attempts: u32,
    elapsed: Duration,
    retry_after: Option<Duration>,
    random: f64,
) -> Decision {
    let wait = match retry_after {
        // The destination knows best when it will take messages again.
        Some(asked) => asked.min(policy.max_retry_after),
        None => {
            let base = policy
                .delays
                .get(attempts.saturating_sub(1) as usize)
                .copied()
                .unwrap_or(policy.then);
            let spread = 1.0 + policy.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
            Duration::try_from_secs_f64(base.as_secs_f64() * spread.max(0.0)).unwrap_or(base)
        }
    };
    if elapsed.saturating_add(wait) > policy.give_up_after {
        Decision::GiveUp
    } else {
        Decision::RetryIn(wait)
    }
}

/// After this many failed attempts in a row at one destination, its circuit opens: it rests
/// between attempts, and one delivery at a time tries it, replays included, so a destination
/// that is down gets a trickle of attempts, not one per waiting message. A success closes it.
pub const CIRCUIT_AFTER: u32 = 5;

/// How long an open circuit rests after its `rests`-th rest: 1 s, doubling to a minute.
pub fn circuit_pause(rests: u32) -> Duration {
    Duration::from_secs(1 << rests.min(6)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_table() {
        let s = Duration::from_secs;
        let policy = RetryPolicy {
            delays: vec![s(10), s(60)],
            then: s(600),
            give_up_after: s(3600),
            jitter: 0.5,
            max_retry_after: s(120),
        };
        let cases = [
            // attempts, elapsed, retry_after, random → decision
            (1, s(0), None, 0.5, Decision::RetryIn(s(10))),
            (1, s(0), None, 0.0, Decision::RetryIn(s(5))),
            (1, s(0), None, 1.0, Decision::RetryIn(s(15))),
            (2, s(10), None, 0.5, Decision::RetryIn(s(60))),
            (3, s(70), None, 0.5, Decision::RetryIn(s(600))),
            (9, s(2900), None, 0.5, Decision::RetryIn(s(600))),
            (10, s(3100), None, 0.5, Decision::GiveUp),
            (1, s(0), Some(s(2)), 0.9, Decision::RetryIn(s(2))),
            (1, s(0), Some(s(9999)), 0.5, Decision::RetryIn(s(120))),
            (5, s(3590), Some(s(30)), 0.5, Decision::GiveUp),
            // A hostile destination cannot make the arithmetic overflow.
            (1, Duration::MAX, Some(Duration::MAX), 0.5, Decision::GiveUp),
            (1, s(0), Some(Duration::MAX), 0.5, Decision::RetryIn(s(120))),
        ];
        for (attempts, elapsed, retry_after, random, expected) in cases {
            assert_eq!(
                decide(&policy, attempts, elapsed, retry_after, random),
                expected,
                "{attempts} {elapsed:?} {retry_after:?} {random}"
            );
        }
    }

    #[test]
    fn a_failing_destination_rests_longer_each_time_up_to_a_minute() {
        let cases = [(0, 1), (1, 2), (5, 32), (6, 60), (u32::MAX, 60)];
        for (rests, want) in cases {
            assert_eq!(circuit_pause(rests), Duration::from_secs(want), "{rests}");
        }
    }

    #[test]
    fn the_default_retries_for_about_a_day() {
        let policy = RetryPolicy::default();
        let (mut attempts, mut elapsed) = (1, Duration::ZERO);
        while let Decision::RetryIn(wait) = decide(&policy, attempts, elapsed, None, 0.5) {
            elapsed += wait;
            attempts += 1;
        }
        assert!(elapsed > Duration::from_secs(23 * 3600), "{elapsed:?}");
        assert!((25..=30).contains(&attempts), "{attempts}");
    }
}
