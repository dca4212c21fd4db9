//! `herald simulate`: the real matcher and the delivery's own prepare step (enrich, deferred
//! conditions, render) on a saved event; nothing is sent.

mod show;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use jiff::Timestamp;

use crate::enrich::Enricher;
use crate::enrich::api::Api;
use crate::event::Event;
use crate::simulate::{Ctx, simulate};
use crate::store::{self, Store};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A saved event (JSON), as SuperOffice sends it.
    #[arg(value_name = "EVENT.json")]
    pub event: PathBuf,
    #[command(flatten)]
    pub rules: super::RulesArg,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The database to read conversations' earlier steps from (read only); by default
    /// herald.db here, if there is one.
    #[arg(long, env = "HERALD_DB", hide_env_values = true, value_name = "URL")]
    pub db: Option<String>,
    /// Read SuperOffice API answers from this folder instead of the network
    /// (DIR/Agents/Quote/GetQuoteEntity/ID.json, DIR/Sale/ID.json...): try rules offline.
    #[arg(long, value_name = "DIR")]
    pub api_responses: Option<PathBuf>,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = match args.rules.source().load() {
        Ok(c) => c,
        Err(problems) => {
            writeln!(out, "{problems}")?;
            writeln!(
                out,
                "{}: fix these first (herald check)",
                args.rules.rules.display()
            )?;
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(dir) = &args.api_responses {
        if !dir.is_dir() {
            eprintln!(
                "herald: --api-responses {}: no such folder of saved SuperOffice answers",
                dir.display()
            );
            return Ok(ExitCode::from(2));
        }
        if config.superoffice.is_none() {
            eprintln!(
                "herald: warning: the answers in {} are unused: {} has no `superoffice:` section, so nothing is enriched",
                dir.display(),
                args.rules.rules.display()
            );
        }
    }
    let bytes = std::fs::read(&args.event)
        .with_context(|| format!("cannot read {}", args.event.display()))?;
    let event = Event::parse(&bytes)
        .with_context(|| format!("{} is not a webhook event", args.event.display()))?;
    let enricher = match config.superoffice.clone() {
        Some(so) => {
            let api = match &args.api_responses {
                Some(dir) => Api::from_files(so, dir.clone()),
                None => Api::new(so, crate::http::client()?),
            };
            Some(Enricher::new(api, config.redactor.clone()))
        }
        None => None,
    };
    let store = open_store(args.db.as_deref()).await;
    let ctx = Ctx {
        enricher: enricher.as_ref(),
        store: store.as_deref(),
        now: Timestamp::now(),
    };
    let report = simulate(&config, &event, ctx).await;
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        show::human(&report)
    };
    write!(out, "{}", config.redactor.redact(&text))?;
    Ok(ExitCode::SUCCESS)
}

/// The database to read conversations from: `--db`, or `herald.db` here if there is one.
async fn open_store(db: Option<&str>) -> Option<Arc<dyn Store>> {
    let url = match db {
        Some(url) => url.to_string(),
        None if std::path::Path::new("herald.db").exists() => "sqlite://herald.db".into(),
        None => return None,
    };
    store::open(&url, store::Mode::Inspect).await.ok()
}
