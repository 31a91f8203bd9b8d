//! The viewer end to end, in headless Chromium: `batchout serve` on the
//! local store, the jobs page, a job, a task, its saved logs while
//! `batchout run` is still writing them (new lines appear without a
//! reload), a preview image, and a shared link into the middle of a 200 MB
//! log that shows that place having fetched a window of it, not the file.
//! Each page's screenshot is written to
//! `target/tmp/screenshots/` (the README's images come from there).

mod support;

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use batchout_testkit::browser::Browser;
use support::Env;
use support::server::Server;

const JOB: &str = "render-nightly";
/// Fixed-width lines: line N starts at byte 14 × (N − 1).
const LINE: u64 = 14;
/// 200 MB of log.
const BIG_LINES: u64 = 200_000_000 / LINE;

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    dir
}

/// A PNG of `width` × `height`, a gradient, written by hand: stored
/// (uncompressed) deflate blocks, so no image crate is needed.
fn gradient_png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in bytes {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).expect("small").to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            let r = u8::try_from(x * 255 / width).expect("a byte");
            let g = u8::try_from(y * 255 / height).expect("a byte");
            raw.extend_from_slice(&[r, g, 200]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    for (i, block) in raw.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= raw.len();
        zlib.push(u8::from(last));
        let len = u16::try_from(block.len()).expect("a block");
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A finished task with a result, a preview image and a 200 MB log.
fn plant_finished_task(env: &Env) {
    std::fs::write(env.path().join("frame-0001.png"), gradient_png(320, 180)).expect("png");
    env.write(
        "result.csv",
        "frame,seconds,samples\n1,12.5,4096\n2,11.9,4096\n",
    );
    for (kind, file) in [
        ("TaskPreview", "frame-0001.png"),
        ("TaskOutput", "result.csv"),
    ] {
        env.cmd(&[
            "save",
            "--job",
            JOB,
            "--task",
            "frame-0001",
            "--kind",
            kind,
            file,
        ])
        .assert()
        .success();
    }
    let big = env.path().join("render.log");
    let mut out = BufWriter::new(std::fs::File::create(&big).expect("the big log"));
    let mut line = *b"line 00000000\n";
    for _ in 1..=BIG_LINES {
        // The next number, counted in place: quicker than formatting 14
        // million of them in a debug build.
        for digit in line[5..13].iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                break;
            }
        }
        out.write_all(&line).expect("written");
    }
    out.flush().expect("flushed");
    env.cmd(&[
        "save",
        "--job",
        JOB,
        "--task",
        "frame-0001",
        "--kind",
        "TaskLog",
        "render.log",
    ])
    .assert()
    .success();
    std::fs::remove_file(big).expect("removed");
}

#[test]
fn the_viewer_in_a_browser() {
    let Some(browser) = Browser::start_or_skip() else {
        return;
    };
    let env = Env::new();
    plant_finished_task(&env);
    // A task still running, its log flushed every second.
    let mut running = env
        .process(&[
            "run", "--job", JOB, "--task", "frame-0002", "--interval", "1s", "--",
            "sh", "-c",
            "for i in $(seq 1 60); do printf '\\033[32mINFO\\033[0m tick %d\\n' $i; sleep 0.25; done",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("batchout run starts");
    let server = Server::start(&env, None);
    let shots = screenshots();
    let wait = Duration::from_secs(20);

    // The jobs page, then the job.
    browser.goto(&format!("{}/", server.url));
    browser.wait_for("#jobs", wait);
    browser.screenshot(&shots.join("jobs.png"));
    browser
        .find(&format!("#jobs a[href='/jobs/{JOB}']"))
        .click();
    browser.wait_for("#tasks", wait);
    // The running task shows once its first logs are flushed (each second).
    for _ in 0..40 {
        if !browser
            .find_all("#tasks a[href$='/tasks/frame-0002']")
            .is_empty()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        browser.goto(&format!("{}/jobs/{JOB}", server.url));
    }
    browser.screenshot(&shots.join("job.png"));

    // The running task, its saved logs, its stdout followed live.
    browser.find("#tasks a[href$='/tasks/frame-0002']").click();
    browser.wait_for("#kinds", wait);
    browser.find("#kinds a[href$='/TaskLog']").click();
    browser.wait_for("#outputs", wait);
    browser.screenshot(&shots.join("task.png"));
    browser.find("#outputs a[href$='/stdout.txt']").click();
    browser.wait_for("#lines", wait);
    browser.execute("window.notReloaded = true; return true;", vec![]);
    let seen = |script: &str| browser.execute(script, vec![]);
    let count = "return document.querySelectorAll('#lines .ln:not(.partial)').length;";
    let before = seen(count).as_u64().unwrap_or(0);
    browser.wait_until(
        "new lines appear while the task runs",
        Duration::from_secs(10),
        &format!("return document.querySelectorAll('#lines .ln:not(.partial)').length > {before};"),
    );
    assert_eq!(
        seen("return window.notReloaded === true;"),
        serde_json::json!(true)
    );
    // Colours from the log are shown as colours.
    assert_eq!(
        seen("const s = document.querySelector('#lines .tx span.f2'); return s && s.textContent;"),
        serde_json::json!("INFO")
    );
    browser.screenshot(&shots.join("log.png"));

    // The finished task's preview, shown inline.
    browser.goto(&format!(
        "{}/jobs/{JOB}/tasks/frame-0001/TaskPreview",
        server.url
    ));
    browser.wait_for("#outputs img.thumb", wait);
    browser.find("#outputs a[href$='/frame-0001.png']").click();
    browser.wait_until(
        "the image is shown",
        wait,
        "const i = document.getElementById('image'); return i && i.complete && i.naturalWidth === 320;",
    );
    browser.screenshot(&shots.join("preview.png"));

    // A shared link into the middle of the 200 MB log, by byte offset.
    let line = BIG_LINES / 2 + 7;
    let offset = (line - 1) * LINE;
    browser.goto(&format!(
        "{}/jobs/{JOB}/tasks/frame-0001/TaskLog/render.log?at={offset}#b{offset}",
        server.url
    ));
    let target = browser.wait_for(&format!("#b{offset}"), wait);
    assert!(
        target.text().contains(&format!("line {line:08}")),
        "{}",
        target.text()
    );
    browser.wait_until(
        "the linked line is on screen",
        Duration::from_secs(5),
        &format!(
            "const r = document.getElementById('b{offset}').getBoundingClientRect(); \
             return r.top >= 0 && r.bottom <= innerHeight;"
        ),
    );
    let fetched = browser.execute(
        "return performance.getEntries().reduce((n, e) => n + (e.transferSize || 0), 0);",
        vec![],
    );
    let fetched = fetched.as_u64().unwrap_or(u64::MAX);
    assert!(
        fetched < 2 * 1024 * 1024,
        "the page fetched {fetched} bytes of a 200 MB log"
    );
    // Search within the loaded lines.
    browser
        .find("#search")
        .send_keys(&format!("{:08}", line + 3));
    browser.wait_until(
        "search marks the line",
        wait,
        "return document.querySelectorAll('#lines .ln.hit').length === 1;",
    );
    browser.screenshot(&shots.join("deep-link.png"));

    let status = running.wait().expect("batchout run ends");
    assert!(status.success(), "{status:?}");
    for name in ["jobs", "job", "task", "log", "preview", "deep-link"] {
        let png = std::fs::read(shots.join(format!("{name}.png"))).expect("a screenshot");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "{name}.png"
        );
    }
    drop(server);
}
