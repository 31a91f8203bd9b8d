//! A running `batchout serve` on a free loopback port, for the tests that
//! talk to it: over a raw socket (the API) or from a browser (the pages).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use super::Env;

/// A running `batchout serve` and the address it printed; killed when
/// dropped unless [`Server::stop`] stopped it.
pub struct Server {
    child: Option<Child>,
    /// `host:port`.
    pub addr: String,
    /// `http://host:port`, without a trailing `/`.
    pub url: String,
}

impl Server {
    /// Starts `batchout serve --listen 127.0.0.1:0` on `env`'s store, with
    /// `BATCHOUT_SERVE_TOKEN` set to `token` if given.
    pub fn start(env: &Env, token: Option<&str>) -> Self {
        let mut cmd = env.process(&["serve", "--listen", "127.0.0.1:0"]);
        if let Some(token) = token {
            cmd.env("BATCHOUT_SERVE_TOKEN", token);
        }
        Self::spawn(cmd)
    }

    /// Starts `cmd`, a `batchout serve` command line made by the caller
    /// (its store, its variables), and reads the URL it prints.
    pub fn spawn(mut cmd: std::process::Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("batchout serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("the first line");
        let url = line
            .split_whitespace()
            // The listening address comes last, after the store (whose own
            // endpoint may be an http:// URL too).
            .rfind(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("a URL in {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        let addr = url.trim_start_matches("http://").to_owned();
        Self {
            child: Some(child),
            addr,
            url,
        }
    }

    /// `GET path` with `headers` (each ending in `\r\n`): the status and
    /// the body.
    pub fn get(&self, path: &str, headers: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connects");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{headers}Connection: close\r\n\r\n",
            self.addr
        )
        .expect("sends");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("reads");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("a status in {answer:?}"));
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, body.to_owned())
    }

    /// Sends SIGTERM and expects a clean exit.
    pub fn stop(mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = child.wait().expect("waits");
        assert_eq!(status.code(), Some(0), "a clean stop: {status:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
