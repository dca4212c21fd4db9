//! `herald replay`: queue deliveries again, after the cause of their failure was fixed.
//! Works while `herald serve` runs on the same database: it picks them up within a second.

use std::process::ExitCode;

use crate::store::{self, Replay};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "dead"])))]
pub struct Args {
    #[command(flatten)]
    pub db: super::DbArg,
    /// Delivery ids (see `herald deliveries`).
    #[arg(value_name = "DELIVERY_ID")]
    pub ids: Vec<i64>,
    /// Every dead delivery.
    #[arg(long, conflicts_with = "ids")]
    pub dead: bool,
    /// With --dead: only those of this channel.
    #[arg(long, requires = "dead", value_name = "NAME")]
    pub channel: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = store::open(&args.db.db, store::Mode::Inspect).await?;
    let now = store::now_ms();
    let which = if args.dead {
        Replay::Dead {
            channel: args.channel.clone(),
        }
    } else {
        Replay::Ids(args.ids.clone())
    };
    let n = store.replay(which, now).await?;
    println!(
        "queued {n} deliver{} again",
        if n == 1 { "y" } else { "ies" }
    );
    if !args.dead && (n as usize) < args.ids.len() {
        eprintln!(
            "herald replay: {} of the ids do not exist",
            args.ids.len() - n as usize
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
