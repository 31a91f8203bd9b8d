//! The progress bar on standard error: files and bytes done of a transfer, as
//! the library's [`Progress`] counts them, with the rate and time left.
//!
//! It is drawn only when it is wanted (no `--json`, `--no-progress` or
//! `BATCHOUT_PROGRESS=0`; see [`crate::config::progress_wanted`]) *and* standard
//! error is a terminal; otherwise nothing at all is written, so scripts and CI
//! logs stay clean. A small ticker thread reads [`Progress::snapshot`] a few
//! times a second and redraws; the bar appears once the transfer has planned a
//! file, and is cleared when the [`Meter`] is finished or dropped (an error
//! included), before the command prints its own lines. Log lines written
//! meanwhile go through [`LogWriter`], which lifts the bar out of their way.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use batchout::{Outputs, Progress};
use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);

/// How the bar looks: `saving [=====>    ] 3/10 files  12.0 MiB/40.0 MiB
/// 5.1 MiB/s  ETA 5s`. The bar takes the width the rest leaves, so the line
/// fits the terminal and never wraps.
const TEMPLATE: &str = "{prefix} [{wide_bar}] {msg}  {binary_bytes}/{binary_total_bytes}  {binary_bytes_per_sec}  ETA {left}";

/// The bar on screen, if any, for [`LogWriter`].
static ON_SCREEN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A transfer's progress, shown on standard error while it runs.
pub struct Meter {
    shown: Option<Shown>,
}

/// A bar being drawn, and the thread that draws it.
struct Shown {
    progress: Progress,
    expected: Arc<Expected>,
    bar: ProgressBar,
    stop: mpsc::Sender<()>,
    ticker: JoinHandle<()>,
}

/// Totals known before the transfer plans them (`save FILE…`).
#[derive(Default)]
struct Expected {
    files: AtomicU64,
    bytes: AtomicU64,
}

impl Meter {
    /// Starts a meter labelled `label` ("saving", "downloading"…): a bar when
    /// `wanted` and standard error is a terminal, else nothing.
    pub fn start(wanted: bool, label: &'static str) -> Self {
        let stderr = std::io::stderr();
        if !wanted || !stderr.is_terminal() || dumb_terminal() {
            return Self { shown: None };
        }
        // Hidden until there is something to show: setting its style or
        // prefix would draw it.
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template(TEMPLATE)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("left", time_left)
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label);
        let progress = Progress::new();
        let expected = Arc::new(Expected::default());
        let (stop, stopped) = mpsc::channel::<()>();
        let ticker = {
            let mut ticker = Ticker {
                bar: bar.clone(),
                progress: progress.clone(),
                expected: expected.clone(),
                shown: None,
            };
            std::thread::Builder::new()
                .name("progress".into())
                .spawn(move || {
                    // Until the meter is finished: its sender is dropped then.
                    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                        ticker.tick();
                    }
                })
        };
        let ticker = match ticker {
            Ok(ticker) => ticker,
            Err(e) => {
                tracing::debug!(error = %e, "cannot start the progress bar's thread; none shown");
                return Self { shown: None };
            }
        };
        Self {
            shown: Some(Shown {
                progress,
                expected,
                bar,
                stop,
                ticker,
            }),
        }
    }

    /// `outputs`, counting what they move into this meter when it is shown.
    pub fn attach(&self, outputs: Outputs) -> Outputs {
        match &self.shown {
            Some(shown) => outputs.progress(shown.progress.clone()),
            None => outputs,
        }
    }

    /// The counts to give a transfer, when the meter is shown.
    pub fn progress(&self) -> Option<Progress> {
        self.shown.as_ref().map(|shown| shown.progress.clone())
    }

    /// Shows at least `files` files and `bytes` bytes in all, before the
    /// transfer has planned them (it plans files as it starts them).
    pub fn expect(&self, files: u64, bytes: u64) {
        if let Some(shown) = &self.shown {
            shown.expected.files.store(files, Ordering::Relaxed);
            shown.expected.bytes.store(bytes, Ordering::Relaxed);
        }
    }

    /// Stops drawing and clears the bar, so the command's own lines follow on
    /// a clean line. Dropping the meter does the same.
    pub fn finish(self) {
        drop(self);
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let Some(shown) = self.shown.take() else {
            return;
        };
        drop(shown.stop);
        if shown.ticker.join().is_err() {
            tracing::debug!("the progress bar's thread panicked");
        }
        if let Ok(mut on_screen) = ON_SCREEN.lock() {
            *on_screen = None;
        }
        // A bar never shown stays hidden: nothing at all is written.
        if !shown.bar.is_hidden() {
            shown.bar.finish_and_clear();
        }
    }
}

/// What the ticker thread redraws the bar from.
struct Ticker {
    bar: ProgressBar,
    progress: Progress,
    expected: Arc<Expected>,
    /// The length and message last set, once the bar is on screen.
    shown: Option<(u64, String)>,
}

impl Ticker {
    /// Redraws the bar from the counts; nothing is drawn before a file is
    /// planned. Each setting draws the bar, so only what changed is set, and
    /// the position last (which also refreshes the rate and time left).
    fn tick(&mut self) {
        let now = self.progress.snapshot();
        let files = now
            .files_total
            .max(self.expected.files.load(Ordering::Relaxed));
        if files == 0 {
            return;
        }
        let bytes = now
            .bytes_total
            .max(self.expected.bytes.load(Ordering::Relaxed))
            .max(now.bytes_done);
        let message = format!("{}/{files} files", now.files_done.min(files));
        let (length, shown) = self.shown.get_or_insert_with(|| (u64::MAX, String::new()));
        if *length != bytes {
            self.bar.set_length(bytes);
            *length = bytes;
        }
        if *shown != message {
            self.bar.set_message(message.clone());
            *shown = message;
        }
        if self.bar.is_hidden() {
            // Set up while hidden, shown from the next draw on.
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            // Only a bar on screen is lifted for log lines: lifting draws it.
            if let Ok(mut on_screen) = ON_SCREEN.lock() {
                *on_screen = Some(self.bar.clone());
            }
        }
        self.bar.set_position(now.bytes_done);
    }
}

/// The time left at the rate so far; `-` until a byte has moved, when there
/// is no rate to tell by.
fn time_left(state: &ProgressState, out: &mut dyn std::fmt::Write) {
    // Nowhere to report a failure to format into the bar's own buffer.
    let _ = if state.pos() == 0 {
        out.write_str("-")
    } else {
        write!(out, "{:#}", HumanDuration(state.eta()))
    };
}

/// A terminal that cannot move its cursor back (`TERM=dumb`, as in an editor's
/// shell buffer) would show every redraw.
fn dumb_terminal() -> bool {
    std::env::var_os("TERM").is_some_and(|term| term == "dumb")
}

/// Writes log lines to standard error without tearing a progress bar: while
/// one is on screen it is lifted for the line and drawn again below it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine(Vec::new())
    }
}

/// One log event, gathered and written whole when dropped.
#[derive(Debug)]
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let write = || {
            // Nowhere to report a failure to write a log line.
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        // Held while writing, so that a meter finishing meanwhile waits and
        // the bar is not drawn again after it was cleared.
        let on_screen = ON_SCREEN.lock();
        match on_screen.as_deref() {
            Ok(Some(bar)) => bar.suspend(write),
            _ => write(),
        }
    }
}
