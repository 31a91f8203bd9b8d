//! `serve`: the viewer's API over HTTP, read-only, on loopback unless a
//! token guards it.

use std::net::SocketAddr;

use batchout_viewer::ViewerOptions;
use serde::Serialize;

use crate::config::Context;
use crate::exit::UsageError;
use crate::print::Printer;

/// The variable that gives the token when `--token` does not.
pub const TOKEN_ENV: &str = "BATCHOUT_SERVE_TOKEN";

#[derive(Serialize)]
struct ServeJson {
    url: String,
    store: String,
    token: bool,
}

/// Serves the viewer of the store on `listen` until SIGINT or SIGTERM.
pub async fn serve(
    context: &Context,
    listen: &str,
    token: Option<String>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let addr: SocketAddr = listen.parse().map_err(|e| {
        UsageError::new(format!(
            "--listen {listen:?} is not an address and port ({e}); write it as 127.0.0.1:8080"
        ))
    })?;
    let token = token
        .or_else(|| std::env::var(TOKEN_ENV).ok())
        .filter(|t| !t.trim().is_empty());
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(UsageError::new(format!(
            "listening on {addr}, beyond this machine, needs a token: set {TOKEN_ENV} (or --token), or listen on 127.0.0.1"
        ))
        .into());
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr}: {e}; choose another port with --listen")
    })?;
    let bound = listener.local_addr()?;
    let url = format!("http://{bound}/");
    printer.note(format!(
        "serving {} on {url} (read-only{}); Ctrl-C stops",
        context.store,
        if token.is_some() {
            ", token required"
        } else {
            ""
        }
    ))?;
    printer.value(&ServeJson {
        url,
        store: context.store.to_string(),
        token: token.is_some(),
    })?;
    let mut options = ViewerOptions::default();
    options.token = token;
    batchout_viewer::serve(listener, context.store.clone(), options, stopped()).await?;
    Ok(())
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
