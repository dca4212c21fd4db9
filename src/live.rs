//! The configuration in force, and what was built from it: one holder that ingress, the
//! dispatcher and the reloader all read. A reload replaces it whole and atomically: events that
//! arrive afterwards are matched, and deliveries rendered and sent, with the new one; what was
//! already in flight finishes with the snapshot it started with.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::watch;

use crate::channels::{self, BuildError, Destination};
use crate::enrich::Enricher;
use crate::enrich::api::Api;
use crate::metrics::CacheLabels;
use crate::rules::RuleSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// One consistent snapshot: the rules and templates, a sender per channel, the SuperOffice
/// client.
pub struct Runtime {
    pub config: Arc<RuleSet>,
    pub destinations: BTreeMap<String, Arc<dyn Destination>>,
    pub enricher: Option<Arc<Enricher>>,
}

impl Runtime {
    /// Builds the senders and the SuperOffice client a configuration describes.
    pub fn build(config: Arc<RuleSet>, cache_counts: &CacheCounts) -> Result<Runtime, BuildError> {
        let client = crate::http::client()?;
        let destinations = config
            .channels
            .iter()
            .map(|(name, spec)| Ok((name.clone(), channels::build(spec, &client)?)))
            .collect::<Result<_, BuildError>>()?;
        let enricher = config.superoffice.clone().map(|so| {
            let api = Api::new(so, client).counting_into(cache_counts.clone());
            Arc::new(Enricher::new(api, config.redactor.clone()))
        });
        Ok(Runtime {
            config,
            destinations,
            enricher,
        })
    }
}

pub struct Live {
    current: RwLock<Arc<Runtime>>,
    changed: watch::Sender<u64>,
    cache_counts: CacheCounts,
}

/// Where the SuperOffice API cache of every snapshot counts its hits, misses and evictions.
pub type CacheCounts = Family<CacheLabels, Counter>;

impl Live {
    pub fn new(config: Arc<RuleSet>, cache_counts: CacheCounts) -> Result<Live, BuildError> {
        Ok(Live {
            current: RwLock::new(Arc::new(Runtime::build(config, &cache_counts)?)),
            changed: watch::Sender::new(0),
            cache_counts,
        })
    }

    /// The snapshot in force.
    pub fn get(&self) -> Arc<Runtime> {
        self.current.read().clone()
    }

    pub fn config(&self) -> Arc<RuleSet> {
        self.get().config.clone()
    }

    /// Puts a new configuration in force, atomically, and tells whoever subscribed.
    pub fn swap(&self, config: Arc<RuleSet>) -> Result<(), BuildError> {
        let runtime = Arc::new(Runtime::build(config, &self.cache_counts)?);
        *self.current.write() = runtime;
        self.changed.send_modify(|generation| *generation += 1);
        Ok(())
    }

    /// Changes as they are put in force.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
