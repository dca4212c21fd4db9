//! `herald send`: post an event file the way SuperOffice does, for trying a setup.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::ingress::signature::sign;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The event file (JSON), posted byte for byte.
    #[arg(value_name = "EVENT.json")]
    pub event: PathBuf,
    /// Where herald listens.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhook")]
    pub url: String,
    /// The webhook secret to sign with (the first of a comma-separated list). Without one the
    /// event is sent unsigned.
    #[arg(long, env = "HERALD_WEBHOOK_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&args.event)
        .with_context(|| format!("cannot read {}", args.event.display()))?;
    // Headers as SuperOffice sends them; the event name and id come from the body when it has them.
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut request = client
        .post(&args.url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header(
            "User-Agent",
            concat!("NetServer-Webhook/herald-send-", env!("CARGO_PKG_VERSION")),
        )
        .header("X-SuperOffice-Event", field("Event"))
        .header("X-SuperOffice-EventId", field("EventId"))
        .header("X-SuperOffice-Retry", "0");
    if field("Event") == "test" {
        request = request.header("X-Hook-Test", "true");
    }
    let secret = args
        .secret
        .as_deref()
        .and_then(|s| s.split(',').map(str::trim).find(|s| !s.is_empty()));
    match secret {
        Some(secret) => request = request.header("X-SuperOffice-Signature", sign(secret, &body)),
        None => eprintln!(
            "herald send: no secret (HERALD_WEBHOOK_SECRET or --secret): sending unsigned"
        ),
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {}", args.url, e.without_url()))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("HTTP {status}");
    print!("{text}");
    if !text.ends_with('\n') && !text.is_empty() {
        println!();
    }
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
