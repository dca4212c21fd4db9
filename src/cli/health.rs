//! `herald health`: asks a running herald whether it is ready; for container health checks,
//! where no curl is at hand.

use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The readiness URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
    pub url: String,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    match client.get(&args.url).send().await {
        Ok(r) => {
            let status = r.status();
            print!("{}", r.text().await.unwrap_or_default());
            Ok(if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => {
            println!("not reachable: {}", e.without_url());
            Ok(ExitCode::FAILURE)
        }
    }
}
