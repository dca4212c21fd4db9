//! `herald check`: validate the rules file and its templates, like `amtool check-config`.

use std::io::Write;
use std::process::ExitCode;

use crate::rules::RuleSet;
use crate::text::escape_controls;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub rules: super::RulesArg,
}

pub fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let file = &args.rules.rules;
    match args.rules.source().load() {
        Ok(config) => {
            summary(&config, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for problem in &problems.items {
                writeln!(out, "{}", escape_controls(&problem.to_string()))?;
            }
            let n = problems.items.len();
            let s = if n == 1 { "" } else { "s" };
            writeln!(out, "{}: {n} problem{s}", file.display())?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Each rule with its events and destinations, the warnings, and the count.
fn summary(config: &RuleSet, out: &mut dyn Write) -> anyhow::Result<()> {
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
        writeln!(out, "{}", escape_controls(&line))?;
    }
    for warning in &config.warnings {
        writeln!(out, "{}", escape_controls(&warning.to_string()))?;
    }
    let warnings = match config.warnings.len() {
        0 => String::new(),
        1 => ", 1 warning".to_string(),
        n => format!(", {n} warnings"),
    };
    writeln!(
        out,
        "{}: OK, {}, {}{warnings}",
        config.file.display(),
        crate::text::count(config.rules.len(), "rule", "rules"),
        crate::text::count(config.channels.len(), "channel", "channels")
    )?;
    Ok(())
}
