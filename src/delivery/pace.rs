//! Pacing per destination: a token bucket, and a pause when the destination said 429.
//! Slack takes about one message a second per webhook, Teams about four; a 429 from one
//! destination pauses that destination only.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Pacer {
    /// Messages per second; `None` is unpaced.
    rate: Option<f64>,
    burst: f64,
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl Pacer {
    pub fn new(rate: Option<f64>) -> Pacer {
        let burst = rate.map_or(0.0, |r| r.ceil().max(1.0));
        Pacer {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
            paused_until: None,
        }
    }

    /// Messages per second, `None` when unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// True while a pause a destination asked for lasts.
    pub fn paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|until| now < until)
    }

    /// How many messages may start now.
    pub fn allowance(&mut self, now: Instant) -> u32 {
        if self.paused_until.is_some_and(|until| now < until) {
            return 0;
        }
        self.paused_until = None;
        let Some(rate) = self.rate else {
            return u32::MAX;
        };
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(self.burst);
        self.last = now;
        self.tokens.floor() as u32
    }

    pub fn take(&mut self, n: u32) {
        if self.rate.is_some() {
            self.tokens = (self.tokens - f64::from(n)).max(0.0);
        }
    }

    /// Stops this destination for `wait` from `now` (a 429's `Retry-After`, already capped by
    /// the retry policy). A wait too long for the clock is cut to what it can hold.
    pub fn pause(&mut self, now: Instant, wait: Duration) {
        let until = now
            .checked_add(wait)
            .or_else(|| now.checked_add(Duration::from_secs(86_400)))
            .unwrap_or(now);
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// How long until the next message may start, if it is limited at all.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        if let Some(until) = self.paused_until.filter(|u| now < *u) {
            return Some(until.saturating_duration_since(now));
        }
        let rate = self.rate?;
        (self.tokens < 1.0).then(|| {
            Duration::try_from_secs_f64((1.0 - self.tokens) / rate).unwrap_or(Duration::MAX)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate() {
        let mut p = Pacer::new(Some(2.0));
        let t0 = p.last;
        assert_eq!(p.allowance(t0), 2);
        p.take(2);
        assert_eq!(p.allowance(t0), 0);
        assert_eq!(p.allowance(t0 + Duration::from_millis(500)), 1);
        assert_eq!(
            p.allowance(t0 + Duration::from_secs(10)),
            2,
            "never more than the burst"
        );
    }

    #[test]
    fn a_pause_stops_even_an_unpaced_destination() {
        let mut p = Pacer::new(None);
        let t0 = Instant::now();
        assert_eq!(p.allowance(t0), u32::MAX);
        p.pause(t0, Duration::from_secs(2));
        assert_eq!(p.allowance(t0 + Duration::from_secs(1)), 0);
        assert_eq!(
            p.wait(t0 + Duration::from_secs(1)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(p.allowance(t0 + Duration::from_secs(2)), u32::MAX);
    }
}
