//! `herald send-test CHANNEL`: sends a fixed test message through a channel's real destination,
//! from the terminal and without a running herald, and prints what the destination answered.
//! "Does the Teams channel work?" gets an answer before a quote is ordered.

use std::io::Write;
use std::process::ExitCode;

use jiff::Timestamp;

use crate::channels::{self, Outgoing};
use crate::config::channel::ChannelSpec;
use crate::event::sample;
use crate::render::Renderer;
use crate::render::context::TemplateContext;
use crate::render::message::MessageTemplate;
use crate::render::recipients::Recipients;
use crate::text::escape_controls;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The channel to send through, as named in the rules file.
    #[arg(value_name = "CHANNEL")]
    pub channel: String,
    #[command(flatten)]
    pub rules: super::RulesArg,
}

/// What the test message says; `{{rule.name}}` names the channel.
const TEXT: &str = "Test message from herald: this channel ({{rule.name}}) works. Sent by `herald send-test` at {{received_at}}; no CRM event caused it.";
const SUBJECT: &str = "herald test message for {{rule.name}}";

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = args
        .rules
        .source()
        .load()
        .map_err(|problems| anyhow::anyhow!("{problems}\nfix these first (herald check)"))?;
    let Some(spec) = config.channels.get(&args.channel) else {
        let names: Vec<&str> = config.channels.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no channel `{}` in {}; its channels: {}",
            args.channel,
            args.rules.rules.display(),
            names.join(", ")
        );
    };
    let outgoing = test_message(&args.channel, spec)?;
    let client = crate::http::client()?;
    let destination = channels::build(spec, &client)?;
    let kind = spec.kind().as_str();
    let answer = destination.send(&outgoing).await;
    let said = |detail: &str| config.redactor.redact(detail);
    for note in outgoing.recipients.iter().flat_map(|r| r.notes_text()) {
        writeln!(out, "note: {}", escape_controls(&note))?;
    }
    match answer {
        Ok(done) => {
            let status = done.status.map_or("-".to_string(), |s| s.to_string());
            let detail = said(&done.detail);
            writeln!(
                out,
                "sent to {} ({kind}): {status} {}",
                args.channel,
                escape_controls(&detail)
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let status = e.status().map_or("-".to_string(), |s| s.to_string());
            let reason = said(&e.to_string());
            writeln!(
                out,
                "failed to send to {} ({kind}): {status} {}",
                args.channel,
                escape_controls(&reason)
            )?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The test message, made for the channel's kind the way an inline `text:` is, with the
/// channel's own recipients for email.
fn test_message(name: &str, spec: &ChannelSpec) -> anyhow::Result<Outgoing> {
    let mut renderer = Renderer::new();
    let any = |_: &str| true;
    let template = MessageTemplate::inline(&mut renderer, spec.kind(), TEXT, Some(SUBJECT), &any)
        .map_err(|p| anyhow::anyhow!("the test message does not compile: {p:?}"))?;
    let event = sample::event("test");
    let ctx = TemplateContext::new(&event, name, Timestamp::now());
    let rendered = template.render(&renderer, &ctx)?;
    let recipients = match spec.email() {
        Some(email) => {
            let r = Recipients::compile(
                &mut renderer,
                &email.to,
                &email.cc,
                email.allowed_domains.clone(),
                &any,
            )
            .map_err(|p| anyhow::anyhow!("the channel's recipients do not compile: {p:?}"))?;
            Some(Box::new(r.resolve(&renderer, &ctx)))
        }
        None => None,
    };
    Ok(Outgoing {
        message: rendered.message,
        event_id: format!("send-test-{}", Timestamp::now().as_millisecond()),
        rule: "send-test".to_string(),
        recipients,
        conversation: None,
    })
}
