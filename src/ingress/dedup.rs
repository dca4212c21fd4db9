//! Recently seen EventIds. SuperOffice retries with the same EventId and signatures do not
//! stop replays, so each EventId is delivered once within the window.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Dedup {
    window: Duration,
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    seen: HashSet<String>,
    order: VecDeque<(Instant, String)>,
}

impl Dedup {
    /// Remembers ids for `window`, and at most `max` of them (the oldest go first).
    pub fn new(window: Duration, max: usize) -> Self {
        Dedup {
            window,
            max: max.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Claims an id: true if it was not seen within the window. Checking and recording are one
    /// step, so two concurrent copies of an event cannot both pass.
    pub fn claim(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("dedup lock");
        while let Some((at, _)) = inner.order.front() {
            if now.duration_since(*at) < self.window && inner.order.len() < self.max {
                break;
            }
            let (_, old) = inner.order.pop_front().expect("front exists");
            inner.seen.remove(&old);
        }
        if !inner.seen.insert(id.to_string()) {
            return false;
        }
        inner.order.push_back((now, id.to_string()));
        true
    }

    /// Gives an id back after its event could not be queued, so SuperOffice's retry is taken.
    pub fn release(&self, id: &str) {
        let mut inner = self.inner.lock().expect("dedup lock");
        if inner.seen.remove(id) {
            inner.order.retain(|(_, s)| s != id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_claimed_once_until_released() {
        let d = Dedup::new(Duration::from_secs(60), 10);
        assert!(d.claim("a"));
        assert!(!d.claim("a"));
        d.release("a");
        assert!(d.claim("a"));
    }

    #[test]
    fn the_oldest_ids_go_when_full() {
        let d = Dedup::new(Duration::from_secs(60), 2);
        assert!(d.claim("a"));
        assert!(d.claim("b"));
        assert!(d.claim("c"));
        assert!(d.claim("a"), "a was pushed out by c");
    }
}
