//! herald: signed SuperOffice CRM webhooks in; templated email, Slack, Teams and webhook
//! messages out, by rules in a YAML file.
//!
//! The modules in the order an event travels through them:
//!
//! - [`ingress`]: `POST /webhook` on a server with limits; the signature check on raw bytes;
//!   every refusal becomes a response in one place.
//! - [`event`]: the SuperOffice wire format and the [`event::Event`] type.
//! - [`config`]: the configuration's vocabulary: the positioned YAML tree, diagnostics,
//!   `${VAR}`, channel, retry and SuperOffice settings, the names a template can use.
//! - [`rules`]: the rules file, loaded through one [`rules::Source`] and checked whole into a
//!   [`rules::RuleSet`]; conditions and matching.
//! - [`live`]: the configuration in force and what was built from it, swapped whole on reload.
//! - [`store`]: events, deliveries and attempts, durably; one trait per user (pipeline,
//!   messages, history, housekeeping), the SQL both backends share written once.
//! - [`delivery`]: the dispatcher that claims, prepares, sends and records; the one retry
//!   loop and its pure policy.
//! - [`enrich`]: SuperOffice REST API data for messages about events that carry only ids,
//!   and the people they concern (owner, contact person, who made the change) with addresses.
//! - [`render`]: templates and per-destination escaping; email recipients made from event
//!   data; Slack mentions.
//! - [`channels`]: the destinations behind one trait, each classifying its own failures.
//! - [`simulate`]: what the rules would do with an event, sending nothing; [`ruletest`]:
//!   test files of such cases (`herald test`, `serve --test-on-reload`).
//! - [`subscription`]: herald's webhook in SuperOffice (register, status, the watchdog).
//! - [`http`]: the HTTP client and the one classifier of HTTP answers.
//! - [`ops`]: reload, admin access, throttled logging.
//! - [`metrics`]: Prometheus metrics.
//! - [`cli`]: the subcommands.
//!
//! [`secret`] keeps secrets out of logs and output throughout; [`text`] bounds what is read
//! from files and escapes what reaches a terminal.

pub mod channels;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod enrich;
pub mod event;
pub mod http;
pub mod ingress;
pub mod live;
pub mod metrics;
pub mod ops;
pub mod render;
pub mod rules;
pub mod ruletest;
pub mod secret;
pub mod simulate;
pub mod store;
pub mod subscription;
pub mod text;

/// Installs rustls' one crypto provider (ring) for the process. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
