//! `herald deliveries`: deliveries with their attempts, filtered.

use std::process::ExitCode;

use crate::store::{self, DeliveryFilter, DeliveryRow, DeliveryStatus};
use crate::text::escape_controls as esc;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: super::DbArg,
    /// Only deliveries in this state.
    #[arg(long, value_parser = ["pending", "retrying", "held", "digest", "sent", "dead", "skipped"])]
    pub status: Option<String>,
    /// Only deliveries of this event.
    #[arg(long, value_name = "EVENT_ID")]
    pub event: Option<String>,
    /// Only deliveries to this channel.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// How many, newest first.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = store::open(&args.db.db, store::Mode::Inspect).await?;
    let filter = DeliveryFilter {
        status: args.status.as_deref().map(str::parse).transpose()?,
        event_id: args.event,
        channel: args.channel,
        limit: args.limit,
        before: None,
    };
    let rows = store.deliveries(filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no deliveries");
    }
    for d in rows {
        println!(
            "#{} {} to {} (rule {}, event {})",
            d.id,
            d.status,
            esc(&d.channel),
            esc(&d.rule),
            esc(&d.event_id)
        );
        if let Some(standing) = standing(&d) {
            println!("    {standing}");
        } else if d.status.is_open() {
            println!(
                "    next attempt {}",
                crate::text::show_time(d.next_attempt_at)
            );
        }
        if let (Some(e), DeliveryStatus::Dead | DeliveryStatus::Skipped) = (&d.last_error, d.status)
        {
            println!("    reason: {}", esc(e));
        }
        for (i, a) in d.attempt_log.iter().enumerate() {
            let status = a
                .status_code
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into());
            println!(
                "    attempt {} {} {:>6}ms {:<6} {:>3} {}",
                i + 1,
                crate::text::show_time(a.started_at),
                a.duration_ms,
                a.outcome.as_str(),
                status,
                esc(&a.detail)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a delivery stands with noise control, in words: held until when, in which digest, or
/// the digest it sends.
pub(super) fn standing(d: &DeliveryRow) -> Option<String> {
    let show = crate::text::show_time;
    match (d.status, d.digest_id, d.digest_of) {
        (DeliveryStatus::Held, _, _) => Some(format!(
            "held until {} (active_hours)",
            show(d.next_attempt_at)
        )),
        (DeliveryStatus::Digest, Some(n), _) => Some(format!("in digest {n}")),
        (status, _, Some(n)) if status.is_open() => {
            Some(format!("sends digest {n}, due {}", show(d.next_attempt_at)))
        }
        (_, _, Some(n)) => Some(format!("sends digest {n}")),
        (_, Some(n), _) => Some(format!("digest {n}")),
        _ => None,
    }
}
