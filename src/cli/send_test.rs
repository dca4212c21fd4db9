//! `herald send-test CHANNEL`: sends a fixed test message through a channel's real destination,
//! from the terminal and without a running herald, and prints what the destination answered.
//! "Does the Teams channel work?" gets an answer before a quote is ordered.

use std::io::Write;
use std::process::ExitCode;

use crate::channels::{self, probe::probe};
use crate::text::escape_controls;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The channel to send through, as named in the rules file.
    #[arg(value_name = "CHANNEL")]
    pub channel: String,
    #[command(flatten)]
    pub rules: super::RulesArg,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = args.rules.load()?;
    let Some(spec) = config.channels.get(&args.channel) else {
        let names: Vec<&str> = config.channels.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no channel `{}` in {}; its channels: {}",
            args.channel,
            args.rules.rules.display(),
            names.join(", ")
        );
    };
    let client = crate::http::client()?;
    let destination = channels::build(spec, &client)?;
    let kind = spec.kind().as_str();
    let by = "by `herald send-test`";
    let answer = probe(
        &args.channel,
        spec,
        destination.as_ref(),
        &config.redactor,
        by,
    )
    .await;
    for note in &answer.notes {
        writeln!(out, "note: {}", escape_controls(note))?;
    }
    let (said, code) = match answer.ok {
        true => ("sent to", ExitCode::SUCCESS),
        false => ("failed to send to", ExitCode::FAILURE),
    };
    writeln!(
        out,
        "{said} {} ({kind}): {} {}",
        args.channel,
        answer.status_text(),
        escape_controls(&answer.detail)
    )?;
    Ok(code)
}
