//! Azurite's blob service, run as a child process on a free loopback port,
//! over plain HTTP or, with a certificate authority made for it, over HTTPS.
//!
//! Node runs Azurite's own `main.js` directly (not the `azurite-blob` wrapper,
//! whose PID is not node's), behind a short preamble ([`WATCHDOG`]) that ends it
//! when the test process is gone: Azurite ignores SIGTERM/SIGINT (it closes its
//! server but the process lives on), and the instance behind [`Azurite::shared`]
//! sits in a static, which is never dropped.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The emulator's one account.
const ACCOUNT: &str = "devstoreaccount1";

/// The emulator's well-known, public key for [`ACCOUNT`], as in Azurite's source
/// (`EMULATOR_ACCOUNT_KEY_STR`). Not a secret.
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The seed Azurite derives user delegation keys with
/// (`USERDELEGATIONKEY_SIGNING_SEED`, public, in its source).
const USER_DELEGATION_SEED: &[u8] = b"azurite-user-delegation-signing-seed-v1";

/// How long Azurite may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Tries to start Azurite when the port picked turns out to be taken.
const ATTEMPTS: usize = 3;

/// Run by `node -e` with argv `[node, main.js, flags…]`, exactly what main.js sees
/// when run as `node main.js flags…`. Every 250 ms it checks that node's parent is
/// still the test process; once the test process has exited (node is then
/// reparented), it removes Azurite's folder and exits.
const WATCHDOG: &str = r#"
const parent = Number(process.env.BATCHOUT_AZURITE_PARENT);
const location = process.env.BATCHOUT_AZURITE_LOCATION;
setInterval(() => {
  if (process.ppid !== parent) {
    try { require("fs").rmSync(location, { recursive: true, force: true }); } catch {}
    process.exit(0);
  }
}, 250);
require(process.argv[1]);
"#;

/// A running Azurite blob service on `127.0.0.1`, with its data in a fresh
/// temporary folder. Dropping it kills the emulator and removes the folder.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    port: u16,
    dir: TempDir,
    /// The certificate authority of an Azurite that speaks HTTPS, PEM.
    authority: Option<PathBuf>,
}

impl Azurite {
    /// Starts a fresh Azurite blob service and waits until it answers HTTP.
    ///
    /// Returns `None`, after a `SKIPPED` warning on stderr, when Azurite is not
    /// installed (run `scripts/test`, which installs it).
    ///
    /// # Panics
    ///
    /// When Azurite is missing and `CI=true`, and when it does not answer within
    /// 30 seconds (with the tail of its log in the message).
    pub fn start() -> Option<Azurite> {
        Self::start_with(false, false)
    }

    /// Starts a fresh Azurite blob service that speaks HTTPS only, with a
    /// certificate for `127.0.0.1` signed by a certificate authority made for
    /// it ([`Azurite::authority`]), which nothing trusts unless told to.
    ///
    /// # Panics
    ///
    /// As [`Azurite::start`].
    pub fn start_https() -> Option<Azurite> {
        Self::start_with(true, false)
    }

    /// As [`Azurite::start_https`], also taking Entra ID bearer tokens
    /// (`--oauth basic`): a token's audience, issuer and lifetime are
    /// checked, its signature and the identity's roles are not. Tokens come
    /// from a [`TokenService`](crate::TokenService).
    ///
    /// # Panics
    ///
    /// As [`Azurite::start`].
    pub fn start_https_oauth() -> Option<Azurite> {
        Self::start_with(true, true)
    }

    fn start_with(https: bool, oauth: bool) -> Option<Azurite> {
        let main_js = crate::workspace_root().join("node_modules/azurite/dist/src/blob/main.js");
        if !main_js.is_file() {
            return crate::not_installed("Azurite");
        }
        for attempt in 1..=ATTEMPTS {
            match Self::spawn(&main_js, https, oauth) {
                Ok(azurite) => return Some(azurite),
                Err(log) if attempt < ATTEMPTS && log.contains("EADDRINUSE") => continue,
                Err(log) => panic!("Azurite did not start; the end of its log:\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// One Azurite for the whole test process, started by the first caller.
    ///
    /// The tests of one binary run in parallel threads and share it, so each
    /// should use its own containers. It stops within a second of the test
    /// process's exit, however that process ends.
    ///
    /// # Panics
    ///
    /// As [`Azurite::start`].
    pub fn shared() -> Option<&'static Azurite> {
        static SHARED: OnceLock<Option<Azurite>> = OnceLock::new();
        SHARED.get_or_init(Azurite::start).as_ref()
    }

    /// The loopback port the blob service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account's blob endpoint, `http://127.0.0.1:<port>/devstoreaccount1`
    /// (`https://` for [`Azurite::start_https`]).
    pub fn blob_endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}/{ACCOUNT}", self.scheme(), self.port)
    }

    /// The PEM file of the certificate authority that signed the certificate
    /// of an Azurite started by [`Azurite::start_https`] (`None` for plain
    /// HTTP): what a client must trust, e.g. through `SSL_CERT_FILE`.
    pub fn authority(&self) -> Option<&Path> {
        self.authority.as_deref()
    }

    fn scheme(&self) -> &'static str {
        if self.authority.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The emulator's account name, `devstoreaccount1`.
    pub fn account(&self) -> &'static str {
        ACCOUNT
    }

    /// The emulator's well-known account key (public, the same for everyone).
    pub fn key(&self) -> &'static str {
        KEY
    }

    /// The loopback address the blob service listens on, e.g. for
    /// [`FaultProxy::start`](crate::FaultProxy::start).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// A connection string for the account, as the Azure SDKs take it.
    pub fn connection_string(&self) -> String {
        self.connection_string_for(&self.blob_endpoint())
    }

    /// A connection string for the account reached at another blob endpoint,
    /// e.g. a [`FaultProxy`](crate::FaultProxy)'s
    /// ([`FaultProxy::endpoint_for`](crate::FaultProxy::endpoint_for)).
    pub fn connection_string_for(&self, blob_endpoint: &str) -> String {
        format!(
            "DefaultEndpointsProtocol={};AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={blob_endpoint};",
            self.scheme()
        )
    }

    /// The user delegation key an Azurite gives for these fields, base64:
    /// Azurite 3.37 derives it (`getUserDelegationKeyValue`) as HMAC-SHA256
    /// of the object id, tenant, start, expiry, `b` and version, a line
    /// each, with a seed of its source, and derives it again to check a
    /// user delegation SAS. So a test knows the key a batchout process was
    /// given, from the URL it made (`skoid`, `sktid`, `skt`, `ske`, `skv`),
    /// and can look for it where it must not be.
    pub fn user_delegation_key(
        object_id: &str,
        tenant_id: &str,
        start: &str,
        expiry: &str,
        version: &str,
    ) -> String {
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let text = [object_id, tenant_id, start, expiry, "b", version].join("\n");
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(USER_DELEGATION_SEED)
            .expect("HMAC takes keys of any length");
        mac.update(text.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Spawns node on a free port and waits until it answers; on failure returns
    /// the tail of its log.
    fn spawn(main_js: &Path, https: bool, oauth: bool) -> Result<Azurite, String> {
        let dir = tempfile::Builder::new()
            .prefix("batchout-azurite-")
            .tempdir()
            .expect("create a temporary folder for Azurite");
        let data = dir.path().join("data");
        let log_path = dir.path().join("azurite.log");
        let log = File::create(&log_path).expect("create Azurite's log file");
        let port = free_port();
        let mut command = Command::new("node");
        command
            .arg("-e")
            .arg(WATCHDOG)
            .arg("--")
            .arg(main_js)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(&data);
        let authority = https.then(|| {
            let files = tls::write_certificates(dir.path());
            command
                .arg("--cert")
                .arg(&files.certificate)
                .arg("--key")
                .arg(&files.key);
            files.authority
        });
        if oauth {
            command.args(["--oauth", "basic"]);
        }
        let child = command
            // No telemetry (the machine reaches no such service); and accept
            // API versions newer than this Azurite knows, as the pinned Python SDK
            // sends one (2026-10-06 against Azurite 3.37.0's 2026-06-06).
            .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck"])
            .env("BATCHOUT_AZURITE_PARENT", std::process::id().to_string())
            .env("BATCHOUT_AZURITE_LOCATION", dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("share Azurite's log file"))
            .stderr(log)
            .spawn()
            .expect("run `node` (Node.js must be installed to run Azurite)");
        let mut azurite = Azurite {
            child,
            port,
            dir,
            authority,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            // Azurite listens once it is ready; over HTTPS, that is the sign.
            let ready = if https {
                listens(port)
            } else {
                answers_http(port)
            };
            if ready {
                return Ok(azurite);
            }
            let exited = matches!(azurite.child.try_wait(), Ok(Some(_)));
            if exited || Instant::now() > deadline {
                let _ = azurite.child.kill();
                let _ = azurite.child.wait();
                let why = if exited { "exited" } else { "timed out" };
                return Err(format!("({why}; port {port})\n{}", tail(&log_path)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Azurite's log: `<its folder>/azurite.log`.
    fn log_path(&self) -> PathBuf {
        self.dir.path().join("azurite.log")
    }
}

impl Drop for Azurite {
    /// Azurite ignores SIGTERM, so this kills it (SIGKILL) and reaps it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("Azurite's log (end):\n{}", tail(&self.log_path()));
        }
    }
}

/// A loopback port that was free a moment ago (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// Whether something accepts connections on the loopback port.
fn listens(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// Whether a GET of the account's container list gets any HTTP status back.
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET /{ACCOUNT}?comp=list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status = Vec::new();
    let _ = stream.take(12).read_to_end(&mut status);
    status.starts_with(b"HTTP/1.")
}

/// The last 40 lines of a log file.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Certificates for a server that speaks HTTPS (Azurite, SeaweedFS).
pub(crate) mod tls {
    use std::path::{Path, PathBuf};

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };

    /// The PEM files written.
    pub(crate) struct Files {
        /// The certificate authority's certificate.
        pub(crate) authority: PathBuf,
        /// The server's certificate, for `127.0.0.1` and `localhost`.
        pub(crate) certificate: PathBuf,
        /// The server's private key.
        pub(crate) key: PathBuf,
    }

    /// Makes a certificate authority and a server certificate signed by it,
    /// and writes them into `dir`.
    pub(crate) fn write_certificates(dir: &Path) -> Files {
        let mut ca = CertificateParams::new(Vec::new()).expect("no names to refuse");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own, so that another test authority is another
        // issuer, not the same one with a wrong signature.
        let unique = format!(
            "batchout test authority {} {}",
            std::process::id(),
            dir.display()
        );
        ca.distinguished_name.push(DnType::CommonName, unique);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("generate the authority's key");
        let ca_certificate = ca.self_signed(&ca_key).expect("sign the authority");
        let issuer = Issuer::new(ca, ca_key);

        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let mut server = CertificateParams::new(names).expect("valid names");
        server
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        server.use_authority_key_identifier_extension = true;
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().expect("generate the server's key");
        let server_certificate = server
            .signed_by(&server_key, &issuer)
            .expect("sign the server's certificate");

        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write a test certificate");
            path
        };
        Files {
            authority: write("authority.pem", ca_certificate.pem()),
            certificate: write("server.pem", server_certificate.pem()),
            key: write("server-key.pem", server_key.serialize_pem()),
        }
    }
}
