//! `herald schema rules|tests`: the JSON Schemas of `rules.yaml` and `*.test.yaml`, for editors
//! (the YAML language server), as committed in `schema/`.

use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which file's schema: the rules file, or a test file.
    #[arg(value_enum)]
    pub which: Which,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Which {
    Rules,
    Tests,
}

pub fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let schema = match args.which {
        Which::Rules => crate::config::schema::rules(),
        Which::Tests => crate::config::schema::tests(),
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&schema)?)?;
    Ok(ExitCode::SUCCESS)
}
