//! `herald superoffice`: herald's webhook in SuperOffice, made from the rules (`register`) and
//! looked at (`status`), with the credentials of the rules file's `superoffice:` section.

mod register;
mod status;
mod whoami;

use std::io::Write;
use std::process::ExitCode;

use crate::config::superoffice::SuperOfficeSpec;
use crate::rules::RuleSet;
use crate::subscription::client::Client;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create or update herald's webhook in SuperOffice so that it sends exactly the events
    /// the rules use, signed with HERALD_WEBHOOK_SECRET, and is Active; and a second webhook
    /// that tells herald when SuperOffice stops the first.
    Register(register::Args),
    /// Show herald's webhooks in SuperOffice: state, events against what the rules need,
    /// errors in a row, last error. Exit 1 when one is not Active or lacks events.
    Status(status::Args),
    /// Sign in as `serve` would and show the tenant, the API root in use, the user herald is
    /// signed in as, and when the credential expires. Exit 1 with SuperOffice's reason when
    /// signing in fails: the first command to run after writing `superoffice:`.
    Whoami(whoami::Args),
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Register(a) => register::run(a, out).await,
        Command::Status(a) => status::run(a, out).await,
        Command::Whoami(a) => whoami::run(a, out).await,
    }
}

/// The rules, and a client for the webhooks of their `superoffice:` section.
fn connect(rules: &super::RulesArg) -> anyhow::Result<(RuleSet, Client)> {
    let (config, so) = settings(rules)?;
    let client = Client::new(&so, crate::http::client()?)?;
    Ok((config, client))
}

/// The rules, and their `superoffice:` section (an error without one).
fn settings(rules: &super::RulesArg) -> anyhow::Result<(RuleSet, SuperOfficeSpec)> {
    let config = rules.load()?;
    let Some(so) = &config.superoffice else {
        anyhow::bail!(
            "{} has no `superoffice:` section: herald needs its API address and credentials to manage the webhook (README, \"Enrichment\")",
            rules.rules.display()
        );
    };
    let so = so.clone();
    Ok((config, so))
}

/// The webhook's name: `--name`, or `superoffice: webhook_name:`, or `herald`.
fn name(given: Option<String>, config: &RuleSet) -> String {
    given
        .or_else(|| config.superoffice.as_ref().map(|s| s.watch.name.clone()))
        .unwrap_or_else(|| "herald".into())
}
