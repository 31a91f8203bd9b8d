//! A small, synchronous WebDriver client that drives a headless Chromium
//! through chromedriver, for end-to-end tests of the viewer's pages.
//!
//! Why hand-written: the test harness is synchronous and std-only, and the
//! WebDriver commands a page test needs are a dozen JSON requests over
//! loopback. Each command is one HTTP/1.1 request on a fresh connection
//! (`Connection: close`) with a `Content-Length` body, which is what
//! chromedriver answers with too, so there is no HTTP client to depend on.
//!
//! Every [`Browser`] has its own chromedriver, on a free loopback port, and its
//! own Chromium profile in a temporary folder, so tests run in parallel without
//! sharing cookies or storage. Dropping it ends the session (which closes
//! Chromium), stops chromedriver and deletes the profile.
//!
//! A failed WebDriver command panics with WebDriver's error and message: this
//! is a test harness, and a panic with the reason is what a test wants.
//!
//! ```no_run
//! use std::time::Duration;
//! use batchout_testkit::browser::Browser;
//!
//! let Some(browser) = Browser::start_or_skip() else { return };
//! browser.goto("http://127.0.0.1:8080/");
//! browser.find("button#refresh").click();
//! browser.wait_until("the list to load", Duration::from_secs(10),
//!     "return document.querySelectorAll('li').length > 0");
//! ```

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key under which WebDriver (W3C) returns and accepts element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The window size a session starts with.
const WINDOW: (u32, u32) = (1280, 900);

/// How long chromedriver may take to listen, and Chromium to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one command may take; above the page-load timeout set below, so
/// that a slow page fails with WebDriver's own `timeout` error.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// How long `goto` waits for a page to load, and a script may run.
const PAGE_LOAD_MS: u64 = 60_000;

/// How often `wait_for` and `wait_until` poll.
const POLL: Duration = Duration::from_millis(50);

/// Chromium's flags. Without the background-networking ones, Chromium on a
/// machine with no outside network stalls on requests that never answer.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
];

/// A headless Chromium session, driven through its own chromedriver.
///
/// Dropping it deletes the session (closing Chromium), stops chromedriver and
/// waits for it, and removes the temporary profile: no process is left behind.
#[derive(Debug)]
pub struct Browser {
    /// The chromedriver process.
    driver: Child,
    /// chromedriver's loopback port.
    port: u16,
    /// The WebDriver session id; empty until the session exists.
    session: String,
    /// Holds the Chromium profile (`profile/`), its home (`home/`) and
    /// chromedriver's log.
    dir: tempfile::TempDir,
}

/// A WebDriver error: the `error` code (such as `no such element`) and message.
#[derive(Debug)]
struct WebDriverError {
    error: String,
    message: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port, and a headless Chromium
    /// session in a fresh profile with a 1280×900 window. Starting takes about
    /// a second.
    ///
    /// chromedriver is `$BATCHOUT_CHROMEDRIVER` if that is set, else
    /// `/usr/bin/chromedriver`, else `chromedriver` on `PATH`; Chromium is
    /// `$BATCHOUT_CHROMIUM` if that is set, else `/usr/bin/chromium`, else
    /// `chromium` on `PATH`. Returns `None` when either is not there: the
    /// caller decides whether that fails the test ([`Browser::start_or_skip`]
    /// is the project's policy).
    ///
    /// # Panics
    ///
    /// If chromedriver or Chromium is there but fails to start; the message
    /// shows chromedriver's log.
    pub fn start() -> Option<Browser> {
        Browser::locate().ok()
    }

    /// [`Browser::start`], with the project's policy when the browser is not
    /// installed: panics with how to install it, unless
    /// `BATCHOUT_SKIP_BROWSER=1`, when it prints that the test is skipped and
    /// returns `None`.
    ///
    /// # Panics
    ///
    /// When chromedriver or Chromium is missing and `BATCHOUT_SKIP_BROWSER` is
    /// not `1`, and as [`Browser::start`] does.
    pub fn start_or_skip() -> Option<Browser> {
        let missing = match Browser::locate() {
            Ok(browser) => return Some(browser),
            Err(missing) => missing,
        };
        let hint = "install them with `apt-get install chromium chromium-driver`, \
                    or point BATCHOUT_CHROMEDRIVER and BATCHOUT_CHROMIUM at them";
        if std::env::var("BATCHOUT_SKIP_BROWSER").is_ok_and(|skip| skip == "1") {
            // Straight to stderr: `eprintln!` is captured by the test harness.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (BATCHOUT_SKIP_BROWSER=1): browser tests need chromedriver \
                 and chromium, and {missing}; {hint}"
            );
            return None;
        }
        panic!(
            "browser tests need chromedriver and chromium, and {missing}: {hint}; \
             or set BATCHOUT_SKIP_BROWSER=1 to skip them"
        );
    }

    /// Finds both programs and starts them, or says which is missing.
    fn locate() -> Result<Browser, String> {
        let driver = find_program("BATCHOUT_CHROMEDRIVER", "chromedriver")?;
        let chromium = find_program("BATCHOUT_CHROMIUM", "chromium")?;
        Ok(Browser::spawn(&driver, &chromium))
    }

    fn spawn(driver: &Path, chromium: &Path) -> Browser {
        let dir = tempfile::Builder::new()
            .prefix("batchout-browser-")
            .tempdir()
            .expect("create a temporary folder for Chromium's profile");
        let profile = dir.path().join("profile");
        fs::create_dir(&profile).expect("create Chromium's profile folder");
        let log = File::create(dir.path().join("chromedriver.log"))
            .expect("create chromedriver's log file");
        // Chromium keeps crash reports and caches under the home folder, not
        // the profile: give it one inside the temporary folder too.
        let home = dir.path().join("home");
        fs::create_dir(&home).expect("create Chromium's home folder");
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--enable-chrome-logs")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        // From here on, Drop stops chromedriver whatever happens.
        let mut browser = Browser {
            driver: child,
            port,
            session: String::new(),
            dir,
        };
        browser.wait_ready();

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "implicit": 0, "pageLoad": PAGE_LOAD_MS, "script": PAGE_LOAD_MS },
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let created = browser
            .request("POST", "/session", Some(&capabilities), START_TIMEOUT)
            .unwrap_or_else(|e| {
                panic!(
                    "start a Chromium session ({}): {e}\nchromedriver's log:\n{}",
                    chromium.display(),
                    browser.log_tail()
                )
            });
        browser.session = created["sessionId"]
            .as_str()
            .expect("a new session has a sessionId")
            .to_owned();
        browser.set_window_size(WINDOW.0, WINDOW.1);
        browser
    }

    /// Waits until chromedriver answers `/status` with `ready`.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status = self.request("GET", "/status", None, Duration::from_secs(2));
            if status.is_ok_and(|s| s["ready"] == true) {
                return;
            }
            if let Ok(Some(exit)) = self.driver.try_wait() {
                panic!(
                    "chromedriver exited ({exit}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "chromedriver was not ready on port {} after {START_TIMEOUT:?}:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Where this session's Chromium keeps its profile; removed on drop.
    pub fn user_data_dir(&self) -> PathBuf {
        self.dir.path().join("profile")
    }

    /// Opens `url` and waits for the page to load (up to 60 s).
    ///
    /// # Panics
    ///
    /// If the page does not load, as every method does when WebDriver fails.
    pub fn goto(&self, url: &str) {
        self.session_cmd("POST", "/url", json!({ "url": url }));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        string(self.session_cmd("GET", "/url", Value::Null), "the URL")
    }

    /// The first element that matches the CSS selector.
    ///
    /// # Panics
    ///
    /// If none does, with the selector and the page's URL.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.find_from("", css)
            .unwrap_or_else(|| panic!("no element matches {css:?} on {}", self.url()))
    }

    /// Every element that matches the CSS selector, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.session_cmd("POST", "/elements", by_css(css));
        found
            .as_array()
            .expect("find elements returns an array")
            .iter()
            .map(|reference| Element::new(self, reference, css))
            .collect()
    }

    /// Polls until an element matches the CSS selector, and returns the first.
    ///
    /// # Panics
    ///
    /// If none does within `timeout`, with the selector and the page's URL.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(element) = self.find_from("", css) {
                return element;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element matched {css:?} within {timeout:?} on {}",
                    self.url()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `script`, the body of a JavaScript function, until it returns a
    /// truthy value (not `null`, `undefined`, `false`, `0` or `""`), and
    /// returns that value. A script that throws counts as not yet, so
    /// `return document.querySelector('h1').textContent == 'Done'` may run
    /// before the heading exists.
    ///
    /// # Panics
    ///
    /// If the script is not truthy within `timeout`: the message names `what`
    /// was awaited, and the last value or JavaScript error.
    pub fn wait_until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_session_cmd("POST", "/execute/sync", script_body(script, &[]))
            {
                Ok(value) if truthy(&value) => return value,
                Ok(value) => value.to_string(),
                Err(e) if e.error == "javascript error" => e.to_string(),
                Err(e) => panic!("WebDriver, waiting for {what}: {e}"),
            };
            if Instant::now() > deadline {
                panic!(
                    "timed out after {timeout:?} waiting for {what} on {}; the script last gave {last}",
                    self.url()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `script`, the body of a JavaScript function, with `args` as
    /// `arguments`, and returns what it returns ([`Element::as_arg`] passes an
    /// element).
    ///
    /// # Panics
    ///
    /// If the script throws, with the JavaScript error.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.session_cmd("POST", "/execute/sync", script_body(script, &args))
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let encoded = string(
            self.session_cmd("GET", "/screenshot", Value::Null),
            "a screenshot",
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("WebDriver's screenshot is base64");
        fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Resizes the window (the outer size, which in headless Chromium is the
    /// viewport's).
    pub fn set_window_size(&self, width: u32, height: u32) {
        let rect = json!({ "width": width, "height": height });
        self.session_cmd("POST", "/window/rect", rect);
    }

    /// The page's current DOM, serialised as HTML.
    pub fn page_source(&self) -> String {
        string(
            self.session_cmd("GET", "/source", Value::Null),
            "the source",
        )
    }

    /// Finds under `parent` (an element path, or "" for the document); `None`
    /// when nothing matches.
    fn find_from(&self, parent: &str, css: &str) -> Option<Element<'_>> {
        match self.try_session_cmd("POST", &format!("{parent}/element"), by_css(css)) {
            Ok(reference) => Some(Element::new(self, &reference, css)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("WebDriver, finding {css:?}: {e}"),
        }
    }

    /// A command on this session; panics on a WebDriver error.
    fn session_cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_session_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn try_session_cmd(
        &self,
        method: &str,
        path: &str,
        body: Value,
    ) -> Result<Value, WebDriverError> {
        let path = format!("/session/{}{path}", self.session);
        let body = (method == "POST").then_some(&body);
        self.request(method, &path, body, COMMAND_TIMEOUT)
    }

    /// One HTTP/1.1 request to chromedriver, on a fresh connection; returns
    /// the response's `value`.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, WebDriverError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        exchange(addr, method, path, body, timeout)
            .map_err(|e| WebDriverError {
                error: "http".into(),
                message: format!("{method} {path} to chromedriver on {addr}: {e}"),
            })
            .and_then(|(status, response)| {
                let value = response.get("value").cloned().unwrap_or(Value::Null);
                if let Some(error) = value.get("error").and_then(Value::as_str) {
                    let message = value["message"].as_str().unwrap_or_default();
                    return Err(WebDriverError {
                        error: error.to_owned(),
                        message: message.to_owned(),
                    });
                }
                if !(200..300).contains(&status) {
                    return Err(WebDriverError {
                        error: format!("HTTP {status}"),
                        message: response.to_string(),
                    });
                }
                Ok(value)
            })
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.dir.path().join("chromedriver.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"));
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Browser {
    /// Ends the session (chromedriver closes Chromium), asks chromedriver to
    /// shut down, and kills it if it has not within a few seconds; then waits
    /// for Chromium's last processes (its crash handler outlives the browser
    /// by a moment) before the temporary folder is removed.
    fn drop(&mut self) {
        let quick = Duration::from_secs(20);
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.request("DELETE", &path, None, quick);
        }
        let _ = self.request("GET", "/shutdown", None, quick);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !matches!(self.driver.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while processes_using(self.dir.path()) > 0 && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }
}

/// How many running processes name `dir` in their command line (Linux; none
/// elsewhere).
fn processes_using(dir: &Path) -> usize {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| fs::read(entry.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        .count()
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// An element of the page a [`Browser`] shows.
#[derive(Debug, Clone)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
    /// The selector it was found by, for messages.
    css: String,
}

impl<'a> Element<'a> {
    fn new(browser: &'a Browser, reference: &Value, css: &str) -> Element<'a> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("WebDriver returned no element reference: {reference}"));
        Element {
            browser,
            id: id.to_owned(),
            css: css.to_owned(),
        }
    }

    /// Clicks it, in its centre, after scrolling it into view.
    ///
    /// # Panics
    ///
    /// If it cannot be clicked (hidden, covered, or no longer in the page).
    pub fn click(&self) {
        self.cmd("POST", "/click", json!({}));
    }

    /// Its rendered text, as a user sees it (hidden text excluded).
    pub fn text(&self) -> String {
        string(self.cmd("GET", "/text", Value::Null), "an element's text")
    }

    /// Its attribute `name`, or `None` when it has none.
    pub fn attr(&self, name: &str) -> Option<String> {
        let path = format!("/attribute/{}", percent_encode(name));
        match self.cmd("GET", &path, Value::Null) {
            Value::Null => None,
            Value::String(value) => Some(value),
            other => Some(other.to_string()),
        }
    }

    /// Types `text` into it, as keystrokes.
    pub fn send_keys(&self, text: &str) {
        self.cmd("POST", "/value", json!({ "text": text }));
    }

    /// The first element under it that matches the CSS selector.
    ///
    /// # Panics
    ///
    /// If none does, with both selectors and the page's URL.
    pub fn find(&self, css: &str) -> Element<'a> {
        self.browser
            .find_from(&format!("/element/{}", self.id), css)
            .unwrap_or_else(|| {
                panic!(
                    "no element matches {css:?} under {:?} on {}",
                    self.css,
                    self.browser.url()
                )
            })
    }

    /// It as an argument for [`Browser::execute`], where the script sees the
    /// DOM element.
    pub fn as_arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/element/{}{path}", self.id);
        self.browser
            .try_session_cmd(method, &path, body)
            .unwrap_or_else(|e| panic!("WebDriver, on element {:?}: {e}", self.css))
    }
}

/// A program from the variable `var` if set, else `/usr/bin/{name}`, else
/// `name` on `PATH`; or where it was looked for.
fn find_program(var: &str, name: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(format!("{var}={} does not exist", path.display())),
        };
    }
    let usr_bin = Path::new("/usr/bin").join(name);
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    match usr_bin.is_file() {
        true => Ok(usr_bin),
        false => on_path.ok_or_else(|| format!("{name} is neither in /usr/bin nor on PATH")),
    }
}

/// A loopback port that was free a moment ago (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// Sends one request and reads the response: its status and JSON body.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;

    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(invalid("connection closed before the response's head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>().map_err(|_| invalid(line))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("chunked responses are not supported"));
        }
    }
    let mut body = buf.split_off(head_end);
    match length {
        Some(length) => {
            if body.len() < length {
                let missing = (length - body.len()) as u64;
                (&mut stream).take(missing).read_to_end(&mut body)?;
            }
            if body.len() < length {
                return Err(invalid("connection closed inside the body"));
            }
            body.truncate(length);
        }
        None => {
            stream.read_to_end(&mut body)?;
        }
    }
    if body.is_empty() {
        return Ok((status, Value::Null));
    }
    let json = serde_json::from_slice(&body)
        .map_err(|e| invalid(&format!("HTTP {status}, body is not JSON: {e}")))?;
    Ok((status, json))
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

fn by_css(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

fn script_body(script: &str, args: &[Value]) -> Value {
    json!({ "script": script, "args": args })
}

/// JavaScript's truthiness, for what a script returned.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn string(value: Value, what: &str) -> String {
    match value {
        Value::String(s) => s,
        other => panic!("WebDriver returned {other} for {what}, not a string"),
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters, for a path segment.
fn percent_encode(segment: &str) -> String {
    let mut out = String::new();
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn truthiness_follows_javascript() {
        for falsy in [json!(null), json!(false), json!(0), json!(0.0), json!("")] {
            assert!(!super::truthy(&falsy), "{falsy}");
        }
        for truthy in [json!(true), json!(1), json!("0"), json!([]), json!({})] {
            assert!(super::truthy(&truthy), "{truthy}");
        }
    }

    #[test]
    fn attribute_names_are_percent_encoded() {
        assert_eq!(super::percent_encode("data-x_y.z"), "data-x_y.z");
        assert_eq!(super::percent_encode("a b/c"), "a%20b%2Fc");
    }
}
