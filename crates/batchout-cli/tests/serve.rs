//! `batchout serve`: the viewer's API on a real socket, on loopback by
//! default; beyond loopback only with a token; every request with the token
//! once one is set; stopped cleanly by SIGTERM.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use predicates::prelude::*;
use support::Env;

/// A running `batchout serve` and the URL it printed.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(env: &Env, token: Option<&str>) -> Self {
        let mut cmd = env.process(&["serve", "--listen", "127.0.0.1:0"]);
        if let Some(token) = token {
            cmd.env("BATCHOUT_SERVE_TOKEN", token);
        }
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
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("a URL in {line:?}"));
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        Self { child, addr }
    }

    /// `GET path` with `headers`: the status and the body.
    fn get(&self, path: &str, headers: &str) -> (u16, String) {
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
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let status = self.child.wait().expect("waits");
        assert_eq!(status.code(), Some(0), "a clean stop: {status:?}");
    }
}

#[test]
fn serve_answers_on_loopback_and_needs_a_token_beyond_it() {
    let env = Env::new();
    env.write("out/a.txt", "42\n");
    env.cmd(&[
        "save",
        "--job",
        "nightly:job-7",
        "--task",
        "t1",
        "out/a.txt",
    ])
    .assert()
    .success();

    env.cmd(&["serve", "--listen", "0.0.0.0:0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs a token"));
    env.cmd(&["serve", "--listen", "here"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("127.0.0.1:8080"));

    let open = Server::start(&env, None);
    let (status, body) = open.get("/api/jobs", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"job\":\"nightly:job-7\""), "{body}");
    let (status, body) = open.get(
        "/files/jobs/nightly:job-7/tasks/t1/TaskOutput/out/a.txt",
        "",
    );
    assert_eq!((status, body.as_str()), (200, "42\n"));
    open.stop();

    let guarded = Server::start(&env, Some("s3cret"));
    assert_eq!(guarded.get("/api/jobs", "").0, 401);
    let (status, _) = guarded.get("/api/jobs", "Authorization: Bearer s3cret\r\n");
    assert_eq!(status, 200);
    guarded.stop();
}
