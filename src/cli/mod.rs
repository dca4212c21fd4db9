//! The command line: one file per subcommand, sharing the rules loader with the service.

pub mod check;
pub mod send;
pub mod serve;
pub mod simulate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Signed SuperOffice webhooks in; email, Slack, Teams and webhook notifications out, by rules in YAML.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: receive webhooks, match rules, deliver messages.
    Serve(serve::Args),
    /// Check the rules file and every template it uses; print every problem at once.
    Check(check::Args),
    /// Show what the rules would do with a saved event, sending nothing.
    Simulate(simulate::Args),
    /// Post an event file to a running herald, signed the way SuperOffice signs.
    Send(send::Args),
}

/// The `--rules` option every command that reads the rules file shares.
#[derive(Debug, clap::Args)]
pub struct RulesArg {
    /// The rules file. Templates are read from `templates/` beside it.
    #[arg(
        long,
        env = "HERALD_RULES",
        default_value = "rules.yaml",
        value_name = "FILE"
    )]
    pub rules: PathBuf,
}
