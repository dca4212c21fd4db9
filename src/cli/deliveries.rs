//! `herald deliveries`: deliveries with their attempts, filtered.

use std::process::ExitCode;

use crate::channels::sent::Sent;
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
    /// Print what each attempt of this delivery sent: where to, the headers, the body.
    #[arg(long, value_name = "DELIVERY_ID", conflicts_with_all = ["status", "event", "channel"])]
    pub show_sent: Option<i64>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = store::open(&args.db.db, store::Mode::Inspect).await?;
    let filter = DeliveryFilter {
        id: args.show_sent,
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
    if let Some(id) = args.show_sent {
        return show_sent(id, &rows);
    }
    if rows.is_empty() {
        println!("no deliveries");
    }
    for d in rows {
        println!("{}", heading(&d));
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

/// A delivery's first line: `#7 sent to erp (rule orders, event …)`.
fn heading(d: &DeliveryRow) -> String {
    format!(
        "#{} {} to {} (rule {}, event {})",
        d.id,
        d.status,
        esc(&d.channel),
        esc(&d.rule),
        esc(&d.event_id)
    )
}

/// `--show-sent`: each attempt's request, as kept.
fn show_sent(id: i64, rows: &[DeliveryRow]) -> anyhow::Result<ExitCode> {
    let Some(d) = rows.first() else {
        println!("no delivery #{id}");
        return Ok(ExitCode::FAILURE);
    };
    println!("{}", heading(d));
    for (i, a) in d.attempt_log.iter().enumerate() {
        let when = crate::text::show_time(a.started_at);
        println!("\nattempt {} {} {}", i + 1, when, a.outcome.as_str());
        match a.sent.as_ref().and_then(Sent::from_value) {
            Some(sent) => print_sent(&sent),
            None => println!("    (nothing kept: nothing was sent, or serve --keep-sent was 0)"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_sent(sent: &Sent) {
    println!("    to: {}", esc(&sent.to));
    for (name, value) in &sent.headers {
        println!("    {}: {}", esc(name), esc(value));
    }
    println!();
    for line in sent.pretty_body().lines() {
        println!("    {}", esc(line));
    }
    if let Some(html) = &sent.html {
        println!("\n    (HTML part)");
        for line in html.lines() {
            println!("    {}", esc(line));
        }
    }
    if sent.cut {
        println!("    (cut: only the first part was kept; see serve --keep-sent)");
    }
}
