//! Prometheus metrics (OpenMetrics text at `GET /metrics`), named by Prometheus conventions.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::Counts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub event_type: String,
    /// accepted, duplicate, test, unmatched, unsigned, invalid, busy, over_backlog,
    /// rejected_by_store
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel: String,
    /// sent, retry, failed
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnrichLabels {
    /// retryable, permanent
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// hit, miss, evicted
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PanicLabels {
    /// delivery, dispatcher, fast path, request
    pub place: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub webhook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

/// Registers a new metric and hands it back (metrics are shared handles).
fn add<M: Clone + Default + prometheus_client::registry::Metric>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> M {
    register(registry, name, help, M::default())
}

fn register<M: Clone + prometheus_client::registry::Metric>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

fn attempt_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

pub struct Metrics {
    registry: Registry,
    pub events: Family<EventLabels, Counter>,
    pub rule_matches: Family<RuleLabels, Counter>,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub attempt_seconds: Family<ChannelLabels, Histogram, fn() -> Histogram>,
    pub delivery_states: Family<StateLabels, Gauge>,
    pub reloads: Family<ReloadLabels, Counter>,
    pub enrichment_errors: Family<EnrichLabels, Counter>,
    /// The SuperOffice API client's cache: hits, misses, evictions (kept across reloads).
    pub enrichment_cache: Family<CacheLabels, Counter>,
    /// How many answers the cache holds, set at each scrape.
    pub enrichment_cache_entries: Gauge,
    pub panics: Family<PanicLabels, Counter>,
    pub reload_ok: Gauge,
    /// 1 while SuperOffice's webhook to herald is Active, 0 when it is not (set by the
    /// watchdog; absent until its first look).
    pub superoffice_webhook_active: Family<WebhookLabels, Gauge>,
    pub superoffice_reactivations: Family<WebhookLabels, Counter>,
    /// Per channel, how long its oldest due delivery has waited: the backlog's age.
    pub oldest_due_age: Family<ChannelLabels, Gauge<f64, AtomicU64>>,
    /// Deliveries due and not sent, as `--max-backlog` counts them (set only with it).
    pub backlog_due: Gauge,
    pub reload_success_time: Gauge<f64, AtomicU64>,
    /// Events by outcome since start, for the status page.
    outcomes: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The watchdog's: whether SuperOffice's webhook is Active, and how often it was set back.
type WebhookMetrics = (Family<WebhookLabels, Gauge>, Family<WebhookLabels, Counter>);

/// Enrichment's: failed lookups by kind, the cache's results, and its size.
fn enrichment(
    r: &mut Registry,
) -> (
    Family<EnrichLabels, Counter>,
    Family<CacheLabels, Counter>,
    Gauge,
) {
    (
        add(
            r,
            "enrichment_errors",
            "Failed SuperOffice API lookups by kind",
        ),
        add(
            r,
            "enrichment_cache",
            "SuperOffice API answers asked of the cache, by result (hit, miss, evicted)",
        ),
        add(
            r,
            "enrichment_cache_entries",
            "SuperOffice API answers the cache holds",
        ),
    )
}

/// `herald_build_info{version}`: 1.
fn register_build(registry: &mut Registry) {
    let build = Family::<BuildLabels, Gauge>::default();
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
    registry.register("build_info", "herald's version", build);
}

fn superoffice(r: &mut Registry) -> WebhookMetrics {
    let active = add(
        r,
        "superoffice_webhook_active",
        "1 if SuperOffice's webhook to herald is Active, 0 if SuperOffice stopped it",
    );
    let reactivations = add(
        r,
        "superoffice_webhook_reactivations",
        "Times the watchdog set SuperOffice's webhook back to Active",
    );
    (active, reactivations)
}

/// Whether the last reload succeeded, and when one last did.
fn last_reload(r: &mut Registry) -> (Gauge, Gauge<f64, AtomicU64>) {
    let ok = add(
        r,
        "config_last_reload_successful",
        "1 if the last reload succeeded",
    );
    let at = add(
        r,
        "config_last_reload_success_timestamp_seconds",
        "When the configuration was last loaded successfully",
    );
    (ok, at)
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("herald");
        let r = &mut registry;
        let (active, reactivations) = superoffice(r);
        let (enrichment_errors, enrichment_cache, enrichment_cache_entries) = enrichment(r);
        let (reload_ok, reload_success_time) = last_reload(r);
        let metrics = Metrics {
            events: add(
                r,
                "events_received",
                "Webhook requests by event type and outcome",
            ),
            rule_matches: add(r, "rule_matches", "Events each rule matched"),
            deliveries: add(
                r,
                "delivery_attempts",
                "Delivery attempts by channel and outcome",
            ),
            attempt_seconds: register(
                r,
                "delivery_attempt_duration_seconds",
                "How long delivery attempts took",
                Family::new_with_constructor(attempt_histogram as fn() -> Histogram),
            ),
            delivery_states: add(r, "deliveries", "Deliveries in the store by state"),
            reloads: add(r, "config_reloads", "Configuration reloads by result"),
            enrichment_errors,
            enrichment_cache,
            enrichment_cache_entries,
            panics: add(
                r,
                "panics",
                "Internal errors caught and contained, by where they happened",
            ),
            oldest_due_age: add(
                r,
                "oldest_due_age_seconds",
                "Per channel, how long its oldest due delivery has been waiting to be sent",
            ),
            backlog_due: add(
                r,
                "backlog_due_deliveries",
                "Deliveries due and not yet sent, as --max-backlog counts them (only with it)",
            ),
            superoffice_webhook_active: active,
            superoffice_reactivations: reactivations,
            reload_ok,
            reload_success_time,
            registry: Registry::default(),
            outcomes: Default::default(),
        };
        register_build(&mut registry);
        let metrics = Metrics {
            registry,
            ..metrics
        };
        metrics.zeros();
        metrics
    }

    /// Series whose labels are known from the start, at zero, so that `rate()`, `increase()`
    /// and alerts work from the first scrape (a counter that appears at 1 hides its first
    /// increase).
    fn zeros(&self) {
        for place in ["delivery", "dispatcher", "fast path", "request"] {
            let _ = self.panics.get_or_create(&PanicLabels { place });
        }
        for result in ["success", "failure"] {
            let _ = self.reloads.get_or_create(&ReloadLabels { result });
        }
        for kind in ["retryable", "permanent"] {
            let _ = self.enrichment_errors.get_or_create(&EnrichLabels { kind });
        }
        for result in ["hit", "miss", "evicted"] {
            let _ = self.enrichment_cache.get_or_create(&CacheLabels { result });
        }
    }

    /// The configuration's channels and rules, at zero where nothing happened yet: each
    /// channel's attempts by outcome, each rule's matches. Called with every configuration
    /// loaded; series of channels and rules since removed stay until the process restarts.
    pub fn known(&self, channels: &[&str], rules: &[&str]) {
        for channel in channels {
            for outcome in ["sent", "retry", "failed"] {
                let _ = self.deliveries.get_or_create(&DeliveryLabels {
                    channel: channel.to_string(),
                    outcome,
                });
            }
        }
        for rule in rules {
            let _ = self.rule_matches.get_or_create(&RuleLabels {
                rule: rule.to_string(),
            });
        }
    }

    /// Events by outcome (accepted, duplicate, unmatched, refused…) since this process started.
    pub fn outcomes(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.outcomes.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub fn event(&self, event_type: &str, outcome: &'static str) {
        if let Ok(mut o) = self.outcomes.lock() {
            *o.entry(outcome).or_default() += 1;
        }
        self.events
            .get_or_create(&EventLabels {
                event_type: event_type.to_string(),
                outcome,
            })
            .inc();
    }

    pub fn attempt(&self, channel: &str, outcome: &'static str, seconds: f64) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.to_string(),
                outcome,
            })
            .inc();
        self.attempt_seconds
            .get_or_create(&ChannelLabels {
                channel: channel.to_string(),
            })
            .observe(seconds);
    }

    pub fn panic(&self, place: &'static str) {
        let _ = self.panics.get_or_create(&PanicLabels { place }).inc();
    }

    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                result: if ok { "success" } else { "failure" },
            })
            .inc();
        self.reload_ok.set(i64::from(ok));
        if ok {
            let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
            self.reload_success_time.set(now);
        }
    }

    /// Sets each channel's backlog age from the store's oldest due deliveries (channel, due
    /// since), as of `now`; the configured `channels` with nothing waiting show 0.
    pub fn backlog(&self, channels: &[&str], oldest: &[(String, i64)], now: i64) {
        self.oldest_due_age.clear();
        for channel in channels {
            let labels = ChannelLabels {
                channel: channel.to_string(),
            };
            self.oldest_due_age.get_or_create(&labels).set(0.0);
        }
        for (channel, since) in oldest {
            let labels = ChannelLabels {
                channel: channel.clone(),
            };
            let age = (now - since).max(0) as f64 / 1000.0;
            self.oldest_due_age.get_or_create(&labels).set(age);
        }
    }

    /// The text exposition, with the store's counts as of now.
    pub fn render(&self, counts: Option<&Counts>) -> String {
        if let Some(c) = counts {
            for (state, n) in c.iter() {
                self.delivery_states
                    .get_or_create(&StateLabels {
                        state: state.as_str(),
                    })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
