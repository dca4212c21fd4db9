//! herald: signed SuperOffice CRM webhooks in; templated email, Slack, Teams and webhook
//! messages out, by rules in a YAML file.
//!
//! The modules in the order an event travels through them:
//!
//! - [`ingress`]: `POST /webhook`, the signature check on raw bytes, errors to responses.
//! - [`event`]: the SuperOffice wire format and the [`event::Event`] type.
//! - [`rules`]: the rules file, checked whole at load into a [`rules::RuleSet`]; matching.
//! - [`render`]: templates and per-destination escaping.
//! - [`store`]: events, deliveries and attempts, durably, behind one trait.
//! - [`delivery`]: the dispatcher that claims, sends and records; the one retry loop.
//! - [`channels`]: one file per destination kind behind one trait.
//! - [`cli`]: the subcommands.
//!
//! [`secret`] keeps secrets out of logs and output throughout.

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
pub mod secret;
pub mod store;
pub mod text;

/// Installs rustls' one crypto provider (ring) for the process. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
