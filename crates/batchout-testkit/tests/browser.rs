//! Proves the WebDriver client against a real headless Chromium: a page with a
//! strict CSP and an external script, a click that changes it, a wait, a
//! script, a screenshot, and no process left behind.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use batchout_testkit::browser::Browser;
use serde_json::json;

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Smoke</title>
<script src="/app.js" defer></script>
<style>body { font: 16px sans-serif; background: linear-gradient(#fff, #9cf); }</style>
</head><body>
<h1 id="title">Waiting</h1>
<input id="name" data-role="who">
<button id="go">Go</button>
<ul><li>one</li><li>two</li></ul>
</body></html>"#;

/// Changes the heading a moment after the click, so that waiting is needed.
const SCRIPT: &str = r#"
document.getElementById('go').addEventListener('click', () => {
  setTimeout(() => {
    const name = document.getElementById('name').value;
    document.getElementById('title').textContent = 'Hello, ' + name;
  }, 200);
});
"#;

/// Serves the page and its script on a loopback port, with the same kind of
/// CSP as the viewer's (no inline script), on a thread that lives as long as
/// the test process.
fn serve() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the page server");
    let addr = listener.local_addr().expect("the page server's address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream);
        }
    });
    format!("http://{addr}/")
}

fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let (status, kind, body) = match path {
        "/" => ("200 OK", "text/html; charset=utf-8", PAGE),
        "/app.js" => ("200 OK", "text/javascript", SCRIPT),
        _ => ("404 Not Found", "text/plain", "not found"),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Content-Security-Policy: default-src 'self'; style-src 'self' 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&needle))
        .collect()
}

#[test]
fn a_click_changes_the_page_and_the_browser_leaves_nothing_behind() {
    let started = Instant::now();
    let Some(browser) = Browser::start_or_skip() else {
        return;
    };
    eprintln!("session started in {:?}", started.elapsed());
    let url = serve();
    browser.goto(&url);
    assert_eq!(browser.url(), url);
    assert_eq!(browser.find("#title").text(), "Waiting");
    let items: Vec<String> = browser
        .find_all("ul li")
        .iter()
        .map(|li| li.text())
        .collect();
    assert_eq!(items, ["one", "two"]);
    assert!(browser.find_all("table").is_empty());
    assert!(
        browser
            .page_source()
            .contains("<button id=\"go\">Go</button>")
    );

    let input = browser.find("body").find("#name");
    assert_eq!(input.attr("data-role").as_deref(), Some("who"));
    assert_eq!(input.attr("title"), None);
    input.send_keys("Ada");
    browser.find("#go").click();
    let changed = browser.wait_until(
        "the heading to greet",
        Duration::from_secs(10),
        "return document.getElementById('title').textContent.startsWith('Hello')",
    );
    assert_eq!(changed, json!(true));
    assert_eq!(browser.find("#title").text(), "Hello, Ada");

    let sum = browser.execute(
        "return arguments[0] + arguments[1];",
        vec![json!(2), json!(40)],
    );
    assert_eq!(sum, json!(42));
    let tag = browser.execute(
        "return arguments[0].tagName;",
        vec![browser.find("#go").as_arg()],
    );
    assert_eq!(tag, json!("BUTTON"));
    let width = browser.execute("return window.innerWidth;", vec![]);
    assert_eq!(width, json!(1280));

    browser.execute(
        "setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p class=late>late</p>'), 300);",
        vec![],
    );
    assert_eq!(
        browser.wait_for("p.late", Duration::from_secs(10)).text(),
        "late"
    );

    // Quietly: the only test in this binary, so no other panic goes unseen.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let missing = catch_unwind(AssertUnwindSafe(|| browser.find("#absent").text()));
    std::panic::set_hook(hook);
    let message = *missing
        .expect_err("finding a missing element panics")
        .downcast::<String>()
        .expect("a formatted panic message");
    assert!(
        message.contains("#absent") && message.contains(&url),
        "{message}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("page.png");
    browser.screenshot(&png);
    let bytes = std::fs::read(&png).expect("read the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 4 * 1024, "a {}-byte screenshot", bytes.len());

    // The profile, and the home folder where the crash handler keeps its
    // database, are both in the browser's temporary folder.
    let profile = browser.user_data_dir();
    let dir = profile.parent().expect("the profile is in a folder");
    assert!(!processes_mentioning(dir).is_empty(), "Chromium runs");
    drop(browser);
    assert_eq!(processes_mentioning(dir), Vec::<String>::new());
    assert!(!dir.exists(), "the temporary folder is removed");
}
