//! `herald check`: validate the rules file and its templates, like `amtool check-config`.

use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: super::RulesArg,
}

pub fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let file = &args.rules.rules;
    match args.rules.source().load() {
        Ok(config) => {
            for rule in &config.rules {
                let destinations: Vec<String> = rule
                    .notify
                    .iter()
                    .map(|a| {
                        let kind = config.channels[&a.channel].kind().as_str();
                        match &a.template_name {
                            Some(t) => format!("{} ({kind}, template {t})", a.channel),
                            None => format!("{} ({kind}, inline text)", a.channel),
                        }
                    })
                    .collect();
                let line = format!(
                    "{}: events {} -> {}{}",
                    rule.name,
                    rule.events.join(", "),
                    destinations.join(", "),
                    if rule.stop { " (stop)" } else { "" }
                );
                writeln!(out, "{}", crate::text::escape_controls(&line))?;
            }
            writeln!(
                out,
                "{}: OK, {} rules, {} channels",
                file.display(),
                config.rules.len(),
                config.channels.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for problem in &problems.items {
                writeln!(
                    out,
                    "{}",
                    crate::text::escape_controls(&problem.to_string())
                )?;
            }
            let n = problems.items.len();
            writeln!(
                out,
                "{}: {n} problem{}",
                file.display(),
                if n == 1 { "" } else { "s" }
            )?;
            Ok(ExitCode::FAILURE)
        }
    }
}
