//! Pacing a destination for everyone who sends to it: at most one message per `spacing`
//! milliseconds, kept as the time the next one may start (a row per destination, updated in
//! the same transaction that claims). A pure function, so both backends compute it alike.

use super::Millis;

/// How many of `want` deliveries may start at `now` on a destination whose next message is
/// allowed at `next_allowed`, paced `spacing` apart (`None`: unpaced). One at a time when paced,
/// so that N instances together still send one message per `spacing`.
pub fn allowance(next_allowed: Millis, now: Millis, spacing: Option<Millis>, want: u32) -> u32 {
    match spacing {
        None => want,
        Some(_) if next_allowed > now => 0,
        Some(_) => want.min(1),
    }
}

/// When the next message may start once `taken` started at `now`.
pub fn after(next_allowed: Millis, now: Millis, spacing: Option<Millis>, taken: u32) -> Millis {
    match spacing {
        Some(s) if taken > 0 => next_allowed
            .max(now)
            .saturating_add(s.saturating_mul(Millis::from(taken))),
        _ => next_allowed,
    }
}

/// A pace of `rate` messages per second as the spacing between two of them.
pub fn spacing(rate: Option<f64>) -> Option<Millis> {
    rate.map(|r| (1000.0 / r).round().max(1.0) as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_destination_takes_one_at_a_time_at_its_spacing() {
        let s = Some(500);
        let cases = [
            // next_allowed, now, spacing, want -> allowed, next
            (0, 1000, s, 10, 1, 1500),
            (1500, 1000, s, 10, 0, 1500),
            (1500, 1500, s, 10, 1, 2000),
            (0, 1000, None, 10, 10, 0),
            (0, 1000, s, 0, 0, 0),
        ];
        for (next, now, spacing, want, allowed, after_next) in cases {
            let n = allowance(next, now, spacing, want);
            assert_eq!(n, allowed, "{next} {now} {want}");
            assert_eq!(
                after(next, now, spacing, n),
                after_next,
                "{next} {now} {want}"
            );
        }
        assert_eq!(spacing(Some(2.0)), Some(500));
        assert_eq!(spacing(Some(1.0 / 60.0)), Some(60_000));
    }
}
