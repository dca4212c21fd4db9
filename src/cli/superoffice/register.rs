//! `herald superoffice register`: the webhook as the rules need it, idempotently.

use std::io::Write;
use std::process::ExitCode;

use crate::subscription::client::Client;
use crate::subscription::events::needed;
use crate::subscription::plan::{Plan, Wanted, plan};
use crate::subscription::{Webhook, state_events, state_webhook_name};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: crate::cli::RulesArg,
    /// Where SuperOffice posts: herald's public address, ending in /webhook.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// The webhook's name in SuperOffice (default: `superoffice: webhook_name:`, or herald).
    #[arg(long)]
    pub name: Option<String>,
    /// Where SuperOffice emails when the webhook fails.
    #[arg(long, value_name = "ADDRESS")]
    pub errors_email: Option<String>,
    /// Where SuperOffice posts the first webhook's state changes (default: --url).
    #[arg(long, value_name = "URL")]
    pub state_url: Option<String>,
    /// Print the requests that would be made, the secret hidden, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let (config, client) = super::connect(&args.rules)?;
    let secret = secret()?;
    let (events, open) = needed(&config);
    for glob in &open {
        writeln!(
            out,
            "note: `{glob}` cannot be expanded (its names are the customer's); list those events by name in the rules to have them sent"
        )?;
    }
    let name = super::name(args.name.clone(), &config);
    let main = Wanted {
        name: name.clone(),
        url: args.url.clone(),
        events,
        secret: secret.clone(),
        errors_email: args.errors_email.clone(),
    };
    let existing = client.list().await?;
    let defaults = client.defaults().await?;
    let id = apply(&client, plan(&existing, &main, &defaults), &args, out).await?;
    let state = Wanted {
        name: state_webhook_name(&name),
        url: args.state_url.clone().unwrap_or_else(|| args.url.clone()),
        events: state_events(id),
        secret,
        errors_email: args.errors_email.clone(),
    };
    if id == 0 {
        writeln!(
            out,
            "webhook `{}`: would be created with the events webhook{{ID}}.errors, .started, .stopped once `{name}` has its id",
            state.name
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    apply(&client, plan(&existing, &state, &defaults), &args, out).await?;
    Ok(ExitCode::SUCCESS)
}

/// The first webhook secret herald checks signatures with.
fn secret() -> anyhow::Result<String> {
    std::env::var("HERALD_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("HERALD_WEBHOOK_SECRET is not set: SuperOffice signs with it, and `herald serve` checks the signature with it; set the same value for both"))
}

/// Makes the plan so (or prints it, with --dry-run); the webhook's id (0 when it would be new).
async fn apply(
    client: &Client,
    plan: Plan,
    args: &Args,
    out: &mut dyn Write,
) -> anyhow::Result<i64> {
    match plan {
        Plan::UpToDate(w) => {
            let (n, state) = (w.events.len(), &w.state);
            writeln!(
                out,
                "webhook `{}` (id {}): up to date ({n} events, {state}): nothing to change",
                w.name, w.webhook_id
            )?;
            Ok(w.webhook_id)
        }
        plan if args.dry_run => dry_run(plan, out),
        Plan::Create(w) => {
            let saved = client.create(&w).await?;
            let events = saved.events.join(", ");
            writeln!(
                out,
                "webhook `{}` (id {}): created, {}, {} events: {events}",
                saved.name,
                saved.webhook_id,
                saved.state,
                saved.events.len()
            )?;
            Ok(saved.webhook_id)
        }
        Plan::Update { webhook, changes } => {
            client.update(&webhook).await?;
            writeln!(
                out,
                "webhook `{}` (id {}): updated: {}",
                webhook.name,
                webhook.webhook_id,
                changes.join("; ")
            )?;
            Ok(webhook.webhook_id)
        }
    }
}

/// What a change would send.
fn dry_run(plan: Plan, out: &mut dyn Write) -> anyhow::Result<i64> {
    match plan {
        Plan::Create(w) => {
            show(out, "POST v1/Webhook", &w)?;
            Ok(0)
        }
        Plan::Update { webhook, changes } => {
            writeln!(
                out,
                "webhook `{}` (id {}): would change {}",
                webhook.name,
                webhook.webhook_id,
                changes.join("; ")
            )?;
            show(
                out,
                &format!("PUT v1/Webhook/{}", webhook.webhook_id),
                &webhook,
            )?;
            Ok(webhook.webhook_id)
        }
        Plan::UpToDate(w) => Ok(w.webhook_id),
    }
}

fn show(out: &mut dyn Write, request: &str, w: &Webhook) -> anyhow::Result<()> {
    let body = serde_json::to_string_pretty(&w.redacted())?;
    writeln!(out, "would {request}\n{body}")?;
    Ok(())
}
