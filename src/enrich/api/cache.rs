//! The API client's answers, kept for `cache_ttl` and at most `cache_size` of them: past the
//! limit the oldest goes (an entry was only replaced when the same thing was asked again, so
//! the map grew with every distinct id until a reload). A call under way is one shared cell:
//! everyone asking the same waits for the same answer. Hits, misses and evictions are counted
//! for `/metrics`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::OnceCell;

use super::{Answer, Call};
use crate::metrics::CacheLabels;

type Key = (String, Call);
type Cell = Arc<OnceCell<Answer>>;

pub(super) struct Cache {
    entries: Mutex<HashMap<Key, (Instant, Cell)>>,
    ttl: Duration,
    limit: usize,
    counts: Family<CacheLabels, Counter>,
}

impl Cache {
    pub(super) fn new(ttl: Duration, limit: usize, counts: Family<CacheLabels, Counter>) -> Cache {
        Cache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            limit: limit.max(1),
            counts,
        }
    }

    /// The cell for `key`: the one kept while it is fresh, else a new one (making room).
    pub(super) fn cell(&self, key: &Key) -> Cell {
        let mut entries = self.entries.lock();
        if let Some((at, cell)) = entries.get(key)
            && at.elapsed() < self.ttl
        {
            self.count("hit");
            return cell.clone();
        }
        self.count("miss");
        entries.remove(key);
        if entries.len() >= self.limit {
            self.make_room(&mut entries);
        }
        let cell = Cell::default();
        entries.insert(key.clone(), (Instant::now(), cell.clone()));
        cell
    }

    /// Forgets a failed answer, if `cell` is still the one kept for `key`.
    pub(super) fn forget(&self, key: &Key, cell: &Cell) {
        let mut entries = self.entries.lock();
        if entries.get(key).is_some_and(|(_, c)| Arc::ptr_eq(c, cell)) {
            entries.remove(key);
        }
    }

    /// How many answers are kept.
    pub(super) fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Drops what has expired, then the oldest until there is room for one more.
    fn make_room(&self, entries: &mut HashMap<Key, (Instant, Cell)>) {
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        while entries.len() >= self.limit {
            let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            entries.remove(&oldest);
            self.count("evicted");
        }
    }

    fn count(&self, result: &'static str) {
        self.counts.get_or_create(&CacheLabels { result }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(id: i64) -> Key {
        ("root".into(), Call::Get { entity: "Sale", id })
    }

    #[test]
    fn many_distinct_ids_keep_the_cache_at_its_limit() {
        let counts = Family::<CacheLabels, Counter>::default();
        let cache = Cache::new(Duration::from_secs(300), 10, counts.clone());
        for id in 0..50 {
            cache.cell(&sale(id));
        }
        assert_eq!(cache.len(), 10);
        let count = |result| counts.get_or_create(&CacheLabels { result }).get();
        assert_eq!((count("miss"), count("evicted")), (50, 40));
        // The newest are kept; asking again is a hit.
        cache.cell(&sale(49));
        assert_eq!(count("hit"), 1);
    }

    #[test]
    fn expired_answers_make_room_before_fresh_ones_are_evicted() {
        let counts = Family::<CacheLabels, Counter>::default();
        let cache = Cache::new(Duration::ZERO, 3, counts.clone());
        for id in 0..5 {
            cache.cell(&sale(id));
        }
        assert!(cache.len() <= 3);
        assert_eq!(
            counts
                .get_or_create(&CacheLabels { result: "evicted" })
                .get(),
            0
        );
    }
}
