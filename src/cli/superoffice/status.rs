//! `herald superoffice status`: herald's webhooks as SuperOffice has them.

use std::io::Write;
use std::process::ExitCode;

use crate::subscription::events::{difference, needed};
use crate::subscription::{State, Usage, Webhook, state_webhook_name};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: crate::cli::RulesArg,
    /// Also show webhooks posting to this address.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The webhook's name (default: `superoffice: webhook_name:`, or herald).
    #[arg(long)]
    pub name: Option<String>,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let (config, client) = super::connect(&args.rules)?;
    let name = super::name(args.name.clone(), &config);
    let state_name = state_webhook_name(&name);
    let hooks: Vec<Webhook> = client
        .list()
        .await?
        .into_iter()
        .filter(|w| {
            w.name == name || w.name == state_name || Some(&w.target_url) == args.url.as_ref()
        })
        .collect();
    if hooks.is_empty() {
        writeln!(
            out,
            "SuperOffice has no webhook named `{name}`{}: create it with `herald superoffice register --url https://…/webhook`",
            match &args.url {
                Some(u) => format!(" or posting to {u}"),
                None => String::new(),
            }
        )?;
        return Ok(ExitCode::FAILURE);
    }
    let (want, _) = needed(&config);
    let mut healthy = true;
    for hook in &hooks {
        let usage = client.usage(hook.webhook_id).await.unwrap_or_default();
        let want = (hook.name != state_name).then_some(want.as_slice());
        healthy &= show(out, hook, &usage, want)?;
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One webhook, and whether it is well: Active, and (for the main one, with `want`) sending
/// every event the rules use.
fn show(
    out: &mut dyn Write,
    hook: &Webhook,
    usage: &Usage,
    want: Option<&[String]>,
) -> anyhow::Result<bool> {
    let state = hook.state();
    writeln!(
        out,
        "webhook `{}` (id {}): {}",
        hook.name,
        hook.webhook_id,
        state.as_str()
    )?;
    writeln!(out, "  target: {}", hook.target_url)?;
    writeln!(out, "  events: {}", hook.events.join(", "))?;
    writeln!(
        out,
        "  calls: {}, errors: {}, errors in a row: {}",
        usage.total_calls, usage.total_errors, usage.consecutive_errors
    )?;
    if !usage.last_error.is_empty() {
        writeln!(out, "  last error: {}", usage.last_error)?;
    }
    let Some(want) = want else {
        return Ok(state == State::Active);
    };
    let (missing, extra) = difference(want, &hook.events);
    if !missing.is_empty() {
        writeln!(
            out,
            "  missing events the rules use: {} (run `herald superoffice register --url {}`)",
            missing.join(", "),
            hook.target_url
        )?;
    }
    if !extra.is_empty() {
        writeln!(out, "  events no rule uses: {}", extra.join(", "))?;
    }
    Ok(state == State::Active && missing.is_empty())
}
