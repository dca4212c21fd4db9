//! The configuration's vocabulary: the positioned YAML tree that every file herald reads is
//! parsed into, problems with their `FILE:LINE:COLUMN`, `${VAR}` interpolation, and the checked
//! settings of channels, retries and the SuperOffice API. Everything here is data; the rules
//! file as a whole, with its templates compiled, is [`crate::rules::RuleSet`].
//!
//! Nothing here imports from the layers that use it.

pub mod channel;
pub mod conversation;
pub mod decode;
pub mod diag;
pub mod interp;
pub mod names;
pub mod noise;
pub mod retry;
pub mod schedule;
pub mod schema;
pub mod superoffice;
pub mod yaml;

pub use diag::{Diagnostic, Diagnostics};
