//! moto's S3 in server mode (`moto_server`, from the PyPI package `moto`
//! that `scripts/test` installs into `.venv/`), run as a child process on a
//! free loopback port: a model of S3's own semantics, for the store's
//! conformance suite.
//!
//! SeaweedFS ([`SeaweedFs`](crate::SeaweedFs)) is a real server, with
//! signatures and checksums checked, but it departs from S3 where the suite
//! looks (decision 0016): it lists keys folder by folder rather than in byte
//! order (`t1/a` before `t1-x/y`), and a folder emptied by deletes stays a
//! common prefix until its clean-up, minutes later. moto lists as S3 does;
//! it checks neither signatures nor checksums, which SeaweedFS's tests do.

use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::seaweed::{BUCKET, WATCHDOG, free_port, status_of, tail};

/// How long moto may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto S3 server on `127.0.0.1`, with the bucket
/// [`BUCKET`](crate::seaweed::BUCKET). Dropping it kills the server.
#[derive(Debug)]
pub struct MotoS3 {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl MotoS3 {
    /// Starts moto's server and waits until it answers, with the bucket
    /// made.
    ///
    /// Returns `None`, after a `SKIPPED` warning on stderr, when moto is not
    /// installed (run `scripts/test`, which installs it).
    ///
    /// # Panics
    ///
    /// When moto is missing and `CI=true`, and when it does not answer
    /// within 60 seconds (with the tail of its log in the message).
    pub fn start() -> Option<MotoS3> {
        let server = crate::workspace_root().join(".venv/bin/moto_server");
        if !server.is_file() {
            return crate::not_installed("moto (the moto[server] package in .venv)");
        }
        let dir = tempfile::Builder::new()
            .prefix("batchout-moto-")
            .tempdir()
            .expect("create a temporary folder for moto");
        let log_path = dir.path().join("moto.log");
        let log = File::create(&log_path).expect("create moto's log file");
        let port = free_port();
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("BATCHOUT_SERVER_PARENT", std::process::id().to_string())
            .env("BATCHOUT_SERVER_LOCATION", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share moto's log file"))
            .stderr(log)
            .spawn()
            .expect("run `sh` to start moto");
        let mut moto = MotoS3 { child, port, dir };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if status_of(port, "/").is_some() && create_bucket(port) {
                return Some(moto);
            }
            let exited = matches!(moto.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                crate::seaweed::stop(&mut moto.child, moto.dir.path());
                let why = if exited { "exited" } else { "timed out" };
                panic!(
                    "moto did not start ({why}; port {port}):\n{}",
                    tail(&log_path)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One moto for the whole test process, started by the first caller.
    ///
    /// # Panics
    ///
    /// As [`MotoS3::start`].
    pub fn shared() -> Option<&'static MotoS3> {
        static SHARED: OnceLock<Option<MotoS3>> = OnceLock::new();
        SHARED.get_or_init(MotoS3::start).as_ref()
    }

    /// The S3 endpoint, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS variables that reach this server (any key is taken).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", crate::seaweed::ACCESS_KEY.to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY",
                crate::seaweed::SECRET_KEY.to_owned(),
            ),
            ("AWS_REGION", crate::seaweed::REGION.to_owned()),
        ]
    }

    /// Makes IAM users and roles for tests of how credentials are had
    /// (with boto3, before [`MotoS3::enforce_auth`]), and returns them:
    ///
    /// - `assumer`: a user that may only call `sts:AssumeRole`;
    /// - `node`: a user that may do anything in S3;
    /// - `reader`: a user that may only read and list;
    /// - `writer`: the ARN of a role that may do anything in S3;
    /// - `powerless`: the ARN of a role that may do nothing;
    /// - `session`: temporary credentials of `writer`, as STS gave them to
    ///   `node` (`{"id": …, "secret": …, "token": …}`).
    ///
    /// Users are `{"id": …, "secret": …}`; every role trusts everyone.
    ///
    /// # Panics
    ///
    /// When boto3 is not in `.venv` or the calls fail.
    pub fn make_identities(&self) -> serde_json::Value {
        let python = crate::workspace_root().join(".venv/bin/python");
        let output = Command::new(python)
            .args(["-c", IAM_SETUP])
            .env("MOTO_ENDPOINT", self.endpoint())
            .output()
            .expect("run .venv/bin/python");
        assert!(
            output.status.success(),
            "the IAM set-up failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("the IAM set-up prints JSON")
    }

    /// From now on, checks every request's signature and the permissions
    /// of its credentials as IAM would, after `free` more requests that are
    /// not checked (moto's `INITIAL_NO_AUTH_ACTION_COUNT`, which its
    /// `/moto-api/reset-auth` sets). moto's STS gives credentials that its
    /// S3 then checks, against the policies of the role assumed.
    ///
    /// # Panics
    ///
    /// When moto does not take it.
    pub fn enforce_auth(&self, free: u32) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).expect("reach moto");
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let body = free.to_string();
        let request = format!(
            "POST /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("ask moto");
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "moto answered {answer}");
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("moto.log")
    }
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        crate::seaweed::stop(&mut self.child, self.dir.path());
        if std::thread::panicking() {
            eprintln!("moto's log (end):\n{}", tail(&self.log_path()));
        }
    }
}

/// The boto3 script of [`MotoS3::make_identities`].
const IAM_SETUP: &str = r#"
import json, os
import boto3
iam = boto3.client("iam", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
def policy(action):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})
def user(name, action):
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy(action))
    return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                    "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]}]})
def role(name, action):
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    if action:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy(action))
    return arn
node = user("node", "s3:*")
writer = role("writer", "s3:*")
sts = boto3.client("sts", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1",
                   aws_access_key_id=node["id"], aws_secret_access_key=node["secret"])
assumed = sts.assume_role(RoleArn=writer, RoleSessionName="node")["Credentials"]
session = {"id": assumed["AccessKeyId"], "secret": assumed["SecretAccessKey"],
           "token": assumed["SessionToken"]}
print(json.dumps({"assumer": user("assumer", "sts:AssumeRole"), "node": node, "writer": writer,
                  "reader": user("reader", ["s3:GetObject", "s3:ListBucket"]),
                  "powerless": role("powerless", None), "session": session}))
"#;

/// Makes the bucket with a plain PUT (moto checks no signature); whether
/// it answered 200.
fn create_bucket(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!(
        "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}
