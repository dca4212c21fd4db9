//! `herald events`: recent events, the rules they matched, their deliveries' states.

use std::process::ExitCode;

use crate::store::{self, EventFilter};
use crate::text::escape_controls as esc;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: super::DbArg,
    /// How many events, newest first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: u32,
    /// Only events of this type, such as quote.ordered.
    #[arg(long, value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = store::open(&args.db.db, store::Mode::Inspect).await?;
    let filter = EventFilter {
        limit: args.limit,
        event_type: args.event_type,
        ..EventFilter::default()
    };
    let events = store.events(filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(ExitCode::SUCCESS);
    }
    if events.is_empty() {
        println!("no events");
    }
    for e in events {
        let rules = if e.matched_rules.is_empty() {
            "(no rule matched)".to_string()
        } else {
            e.matched_rules.join(", ")
        };
        println!(
            "{}  {:<16} {}  rules: {}",
            crate::text::show_time(e.received_at),
            esc(&e.event_type),
            esc(&e.event_id),
            esc(&rules)
        );
        for d in e.deliveries {
            println!(
                "    #{:<6} {:<9} {:<20} rule {}, {} attempt{}",
                d.id,
                d.status,
                esc(&d.channel),
                esc(&d.rule),
                d.attempts,
                if d.attempts == 1 { "" } else { "s" }
            );
            if let Some(standing) = super::deliveries::standing(&d) {
                println!("            {standing}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
