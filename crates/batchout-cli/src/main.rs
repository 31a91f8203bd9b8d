//! The `batchout` command. A tiny `main`: parse, run, print the error chain, and
//! map it to an exit code (see [`exit`]).

mod cli;
mod commands;
mod config;
mod exit;
mod print;
mod progress;
mod runtime;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse_checked();
    init_logging(cli.verbose, cli.quiet);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let from_env = std::env::var(runtime::THREADS_ENV).ok();
    let local = batchout::configured_is_local(cli.store.as_deref());
    let threads = match runtime::threads(from_env.as_deref(), cores, local) {
        Ok(threads) => threads,
        Err(reason) => {
            eprintln!("error: {}: {reason}", runtime::THREADS_ENV);
            return ExitCode::from(exit::USAGE);
        }
    };
    let runtime = match runtime::build(threads) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) if exit::is_broken_pipe(&e) => ExitCode::from(exit::SUCCESS),
        Err(e) => {
            eprintln!("error: {}", exit::describe(&e));
            ExitCode::from(exit::code_for(&e))
        }
    }
}

/// Logs on stderr: batchout's own crates at the level `-v`/`-vv` asks for, the
/// HTTP stack (which may print request URLs, and so SAS tokens) no lower than
/// info. `BATCHOUT_LOG` replaces the whole filter, though even then the HTTP
/// stack's debug and trace logs stay off unless it names them. `-q` logs
/// errors only, whatever `BATCHOUT_LOG` says.
fn init_logging(verbose: u8, quiet: bool) {
    let filter = if quiet {
        tracing_subscriber::EnvFilter::new("error")
    } else {
        log_filter(verbose, std::env::var("BATCHOUT_LOG").ok().as_deref())
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Crates below batchout whose debug logs may carry a request's URL.
const HTTP_STACK: [&str; 6] = ["reqwest", "hyper", "hyper_util", "h2", "rustls", "tower"];

fn log_filter(verbose: u8, from_env: Option<&str>) -> tracing_subscriber::EnvFilter {
    let ours = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let mut directives = match from_env.map(str::trim).filter(|v| !v.is_empty()) {
        Some(given) => given.to_owned(),
        None => format!("warn,batchout={ours},batchout_store={ours},batchout_naming={ours}",),
    };
    for krate in HTTP_STACK {
        let named = directives
            .split(',')
            .any(|d| d.trim().split(['=', '[', ':']).next() == Some(krate));
        if !named {
            directives.push_str(&format!(",{krate}=info"));
        }
    }
    tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("warning: BATCHOUT_LOG is not a valid filter ({e}); using -v/-vv levels");
        tracing_subscriber::EnvFilter::new(format!(
            "warn,batchout={ours},batchout_store={ours},batchout_naming={ours}"
        ))
    })
}
