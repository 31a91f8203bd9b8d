//! `completions` and `man`: shell completion scripts and man pages, made from
//! the clap definition in [`crate::cli`] when asked for, so that they never
//! drift from the command line they describe. Neither opens a store.

use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use crate::cli::Cli;
use crate::exit::UsageError;
use crate::print::Printer;

/// The command's name, as installed.
const BIN: &str = "batchout";

/// A page, its footer naming the program and its version.
fn man_page(command: clap::Command) -> Man {
    Man::new(command).source(format!("{BIN} {}", env!("CARGO_PKG_VERSION")))
}

/// Prints the completion script of `shell` on standard output.
pub fn completions(shell: Shell) -> anyhow::Result<()> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// Prints a man page: batchout's (whose SUBCOMMANDS section lists every
/// command), or `command`'s; or, with `dir`, writes every page into it, one
/// file each (`batchout.1`, `batchout-save.1`…).
pub fn man(command: Option<&str>, dir: Option<&Path>, printer: &Printer) -> anyhow::Result<()> {
    // Built, so that each command carries the global flags and is named
    // `batchout-save`; `help` is clap's, not a command with a page.
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    if let Some(dir) = dir {
        return write_pages(&top, dir, printer);
    }
    let chosen = match command {
        None => top,
        Some(name) => top.find_subcommand(name).cloned().ok_or_else(|| {
            UsageError::new(format!(
                "batchout has no command {name:?}; give one of {}, or none for batchout's own page",
                commands(&top)
                    .map(clap::Command::get_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
    };
    let mut roff = Vec::new();
    man_page(chosen).render(&mut roff)?;
    let mut out = io::stdout().lock();
    out.write_all(&roff)?;
    out.flush()?;
    Ok(())
}

/// The commands that have a page of their own.
fn commands(top: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    top.get_subcommands().filter(|c| !c.is_hide_set())
}

/// Writes batchout's page and each command's into `dir`.
fn write_pages(top: &clap::Command, dir: &Path, printer: &Printer) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create folder {}: {e}", dir.display()))?;
    let pages = std::iter::once(top).chain(commands(top));
    let mut written = 0;
    for page in pages {
        let man = man_page(page.clone());
        man.generate_to(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: {e}",
                dir.join(man.get_filename()).display()
            )
        })?;
        written += 1;
    }
    printer.note(format!("wrote {written} man pages to {}", dir.display()))?;
    Ok(())
}
