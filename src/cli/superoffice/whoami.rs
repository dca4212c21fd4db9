//! `herald superoffice whoami`: signs in the way `serve` would and says who herald is in
//! SuperOffice, or why it cannot sign in.

use std::io::Write;
use std::process::ExitCode;

use reqwest::Method;

use crate::enrich::api::Api;
use crate::enrich::signin::Status;
use crate::enrich::wire::Principal;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: crate::cli::RulesArg,
}

const PRINCIPAL: &str = "v1/User/currentPrincipal";

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let (config, so) = super::settings(&args.rules)?;
    let redact =
        |e: &dyn std::fmt::Display| anyhow::anyhow!(config.redactor.redact(&e.to_string()));
    let tenant = so.tenant.clone().unwrap_or_else(|| "Default".into());
    let api = Api::new(so, crate::http::client()?);
    let root = api.api_root(&tenant).await.map_err(|e| redact(&e))?;
    let (status, text) = api
        .request(&tenant, Method::GET, PRINCIPAL, None)
        .await
        .map_err(|e| redact(&e))?;
    if status != 200 {
        let e = format!(
            "GET {root}/{PRINCIPAL} answered {status}: {}",
            crate::http::excerpt(&text)
        );
        return Err(redact(&e));
    }
    let principal: Principal = serde_json::from_str(&text).map_err(|e| {
        redact(&format!(
            "GET {root}/{PRINCIPAL}: the answer is not a user: {e}"
        ))
    })?;
    writeln!(out, "tenant:      {tenant}")?;
    writeln!(out, "API:         {root}")?;
    writeln!(out, "signed in:   {}", who(&principal))?;
    writeln!(out, "credential:  {}", credential(&api.signin_status()))?;
    Ok(ExitCode::SUCCESS)
}

/// `Jane Doe (jdoe, associate 5, jane@example.com)`, with what SuperOffice gave.
fn who(p: &Principal) -> String {
    let mut details = Vec::new();
    if !p.associate.is_empty() {
        details.push(p.associate.clone());
    }
    if let Some(id) = p.associate_id {
        details.push(format!("associate {id}"));
    }
    if !p.email.is_empty() {
        details.push(p.email.clone());
    }
    let name = match p.full_name.trim() {
        "" => "(no name)",
        name => name,
    };
    match details.is_empty() {
        true => name.to_string(),
        false => format!("{name} ({})", details.join(", ")),
    }
}

fn credential(status: &Status) -> String {
    match status.expires {
        Some(at) => {
            let left = at.duration_since(jiff::Timestamp::now()).as_secs().max(0);
            format!(
                "{}, renewed by herald; expires {at} (in {}h {:02}m)",
                status.kind,
                left / 3600,
                left % 3600 / 60
            )
        }
        None => format!(
            "{} from the rules file; herald cannot tell when it expires",
            status.kind
        ),
    }
}
