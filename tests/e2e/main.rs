//! End-to-end tests: the real `herald` binary on port 0 against local stand-ins for every
//! outside system (Slack, Teams, webhooks, an SMTP server), all on loopback.

mod support;

mod backlog;
mod browsers;
mod checkpoints;
mod cli;
mod conversations;
mod delivery;
mod durable;
mod enrichment;
mod escaping;
mod hardening;
mod hostile;
mod ingress;
mod lifecycle;
mod noise;
mod operations;
mod own_events;
mod packaging;
mod people;
mod readme;
mod replicas;
mod ruletests;
mod schedule;
mod schema;
mod secrets;
mod sendtest;
mod sent;
mod signin;
mod ui;
mod ui_terms;
mod wording;
