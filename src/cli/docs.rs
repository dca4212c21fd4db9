//! `herald completions SHELL` and `herald manpage`: made from the same clap definitions that
//! parse the command line, so they can never describe another version of it.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use super::Cli;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManpageArgs {}

/// The completion script for a shell, on `out`. Install it where the shell looks
/// (`/usr/share/bash-completion/completions/herald`, a directory in zsh's `$fpath` as
/// `_herald`, `~/.config/fish/completions/herald.fish`), or `source` it.
pub fn completions(args: CompletionsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "herald", out);
    Ok(ExitCode::SUCCESS)
}

/// herald(1) in roff, with a section per subcommand, on `out` (`herald manpage | man -l -`).
pub fn manpage(_: ManpageArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("herald {}", sub.get_name());
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        let sub = sub.clone().bin_name(name);
        let page = clap_mangen::Man::new(sub);
        page.render_synopsis_section(out)?;
        page.render_description_section(out)?;
        page.render_options_section(out)?;
    }
    man.render_version_section(out)?;
    Ok(ExitCode::SUCCESS)
}
