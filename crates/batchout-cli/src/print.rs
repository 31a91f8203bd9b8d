//! Printing results: text for people, JSON for scripts. Writes go through
//! [`Printer`] so a closed pipe surfaces as an error `main` can ignore, instead of
//! a panic.
//!
//! What a command prints is one of three things, and `-q` tells them apart:
//! its product, which the user asked for (a listing, a name, a URL, a JSON
//! document: [`Printer::line`], [`Printer::value`]), always printed; a report
//! of what it did (`saved …`: [`Printer::note`]) and a warning
//! ([`Printer::warn`]), both left out with `-q`. Errors are `main`'s to print.

use std::io::{self, Write};
use std::time::SystemTime;

use batchout::{Output, Scope};
use serde::Serialize;

/// Writes lines or JSON to standard output, and warnings to standard error.
pub struct Printer {
    json: bool,
    quiet: bool,
}

impl Printer {
    /// A printer in text or JSON mode; `quiet` (`-q`) leaves out notes and
    /// warnings.
    pub fn new(json: bool, quiet: bool) -> Self {
        Self { json, quiet }
    }

    /// Whether JSON is wanted.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Prints one line of a command's product, a listing's or a name
    /// (text mode only; printed with `-q` too).
    pub fn line(&self, text: impl AsRef<str>) -> io::Result<()> {
        if self.json {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        writeln!(out, "{}", text.as_ref())
    }

    /// Prints a report of what was done (`saved …`, `wrote …`): text mode
    /// only, and not with `-q`.
    pub fn note(&self, text: impl AsRef<str>) -> io::Result<()> {
        if self.quiet {
            return Ok(());
        }
        self.line(text)
    }

    /// Prints reports of what was done (text mode only, not with `-q`) in as
    /// few writes as they fit in: a save of thousands of files prints them
    /// once it is done, and a write each was a system call each.
    pub fn notes(&self, lines: impl IntoIterator<Item = String>) -> io::Result<()> {
        if self.json || self.quiet {
            return Ok(());
        }
        let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        for line in lines {
            writeln!(out, "{line}")?;
        }
        out.flush()
    }

    /// Prints a warning on standard error, the line as given (`warning: …`),
    /// in text and JSON mode alike, but not with `-q`. A standard error that
    /// cannot be written to loses the warning, and nothing else.
    pub fn warn(&self, line: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{}", line.as_ref());
        }
    }

    /// Prints a JSON document (JSON mode only; printed with `-q` too).
    pub fn value(&self, value: &impl Serialize) -> io::Result<()> {
        if !self.json {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
        writeln!(out)
    }
}

/// One output as JSON.
#[derive(Debug, Serialize)]
pub struct OutputJson {
    /// The job id.
    pub job: String,
    /// The task id; null for job outputs.
    pub task: Option<String>,
    /// The kind.
    pub kind: String,
    /// The file path within the kind.
    pub path: String,
    /// The container.
    pub container: String,
    /// The whole blob name.
    pub blob: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modified, RFC 3339, where known.
    pub last_modified: Option<String>,
    /// Content type, where known.
    pub content_type: Option<String>,
}

impl OutputJson {
    /// The JSON form of an output of `job`.
    pub fn new(job: &str, output: &Output) -> Self {
        Self {
            job: job.to_owned(),
            task: match output.scope() {
                Scope::Job => None,
                Scope::Task(task) => Some(task.to_string()),
            },
            kind: output.kind().to_string(),
            path: output.file_path().to_string(),
            container: output.location().container.to_string(),
            blob: output.blob_name().to_owned(),
            size: output.size(),
            last_modified: output.last_modified().map(rfc3339),
            content_type: output.content_type().map(str::to_owned),
        }
    }
}

/// A time as RFC 3339, to the second, in UTC.
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A count of things for people: `1 output`, `2 outputs`, `0 outputs`.
pub fn count(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
