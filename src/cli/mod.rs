//! The command line: one file per subcommand, sharing the rules loader with the service.

pub mod check;
pub mod deliveries;
pub mod docs;
pub mod events;
pub mod health;
pub mod replay;
pub mod schema;
pub mod send;
pub mod send_test;
pub mod serve;
pub mod simulate;
pub mod superoffice;
pub mod test;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::rules::Source;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Signed SuperOffice webhooks in; email, Slack, Teams and webhook notifications out, by rules in YAML.",
    propagate_version = true,
    term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log format: `pretty` for people, `json` (one object per line) for log collectors.
    /// Levels come from RUST_LOG.
    #[arg(long, global = true, env = "HERALD_LOG_FORMAT", hide_env_values = true, default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: receive webhooks, match rules, deliver messages.
    Serve(Box<serve::Args>),
    /// Check the rules file and every template it uses; print every problem at once.
    Check(check::Args),
    /// Show what the rules would do with a saved event, sending nothing.
    Simulate(simulate::Args),
    /// Run the test cases kept beside the rules (*.test.yaml): PASS / FAIL per case.
    Test(test::Args),
    /// Post an event file to a running herald, signed the way SuperOffice signs.
    Send(send::Args),
    /// Send a test message through a channel's destination and print its answer.
    SendTest(send_test::Args),
    /// List recent events, the rules they matched and their deliveries' states.
    Events(events::Args),
    /// List deliveries with their attempts.
    Deliveries(deliveries::Args),
    /// Queue deliveries again, after the cause of their failure was fixed.
    Replay(replay::Args),
    /// Ask a running herald whether it is ready (exit 0) or not (exit 1).
    Health(health::Args),
    /// Manage herald's webhook in SuperOffice: register it from the rules, show its state; check
    /// signing in (whoami).
    Superoffice(superoffice::Args),
    /// Print the JSON Schema of the rules file or of a test file, for editors.
    Schema(schema::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print herald's manual page (roff): `herald manpage | man -l -`.
    Manpage(docs::ManpageArgs),
}

/// The `--rules` and `--env-file` options every command that reads the rules file shares:
/// they all load it through one [`Source`].
#[derive(Debug, clap::Args)]
pub struct RulesArg {
    /// The rules file. Templates are read from `templates/` beside it.
    #[arg(
        long,
        env = "HERALD_RULES",
        hide_env_values = true,
        default_value = "rules.yaml",
        value_name = "FILE"
    )]
    pub rules: PathBuf,
    /// A file of KEY=VALUE lines that `${VAR}` in the rules file reads before the environment;
    /// re-read at every reload, so a changed value takes effect without a restart.
    #[arg(
        long,
        env = "HERALD_ENV_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub env_file: Option<PathBuf>,
}

impl RulesArg {
    pub fn source(&self) -> Source {
        Source {
            rules: self.rules.clone(),
            env_file: self.env_file.clone(),
        }
    }

    /// The rules, for a command that needs them whole: every problem, as `check` says them.
    pub fn load(&self) -> anyhow::Result<crate::rules::RuleSet> {
        self.source()
            .load()
            .map_err(|problems| anyhow::anyhow!("{problems}\nfix these first (herald check)"))
    }
}

/// The `--db` option: the service and the history commands share it.
#[derive(Debug, clap::Args)]
pub struct DbArg {
    /// The database: sqlite://FILE (created and migrated at start), or
    /// postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=require] for several replicas.
    #[arg(
        long,
        env = "HERALD_DB",
        hide_env_values = true,
        default_value = "sqlite://herald.db",
        value_name = "URL"
    )]
    pub db: String,
}
