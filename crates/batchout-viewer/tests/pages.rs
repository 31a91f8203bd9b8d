//! The viewer's pages, called in process: listings that work without a
//! script, stored names that cannot make markup, a deep link into a large
//! log that reads one window of it (counted at the store, on Azurite behind
//! a counting proxy), a followed log that fetches only what it gained, and a
//! task's outputs as one streamed zip, read back by Python's zipfile.

mod common;

use std::sync::Arc;

use axum::http::{StatusCode, header};
use batchout::{JobId, JobOutputs, OutputKind, OutputPath, Store, TaskId};
use batchout_store::{BlobName, Location, PutOptions, PutSource};
use batchout_testkit::{Azurite, FaultProxy};
use batchout_viewer::{ViewerOptions, router};
use bytes::Bytes;
use common::{get, job_id, seg};

fn local_store() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = batchout::open(dir.path().join("store").to_str().expect("utf-8")).expect("opens");
    (dir, store)
}

async fn put(store: &Arc<dyn Store>, job: &JobOutputs, name: &str, body: impl Into<PutSource>) {
    let location = Location::new(
        job.container().clone(),
        BlobName::new(name).expect("a blob name"),
    );
    store
        .put(&location, body.into(), &PutOptions::default())
        .await
        .expect("put");
}

/// Three tasks; t1 ran under `batchout run` (its manifest says exit 3 after
/// 90 s); t2 holds an output whose name is markup.
async fn plant(store: &Arc<dyn Store>, id: String) -> (String, JobOutputs) {
    let job = JobOutputs::new(store.clone(), JobId::new(id.clone()).expect("job id"));
    job.prepare().await.expect("prepare");
    for n in 1..=3 {
        let task = job.task(TaskId::new(format!("t{n}")).expect("task id"));
        task.save_text(
            OutputKind::TaskOutput,
            format!("result {n}\n"),
            &OutputPath::new("result.csv").expect("p"),
        )
        .await
        .expect("task output");
    }
    let manifest = serde_json::json!({
        "job": id, "task": "t1", "attempt": 1, "command": ["sh"], "exit_code": 3,
        "signal": null, "started": "2026-12-07T10:00:00.000Z", "ended": "2026-12-07T10:01:30.000Z",
        "logs": [], "outputs": [], "warnings": [], "errors": []
    });
    put(
        store,
        &job,
        "t1/$TaskLog/batchout-manifest.json",
        manifest.to_string(),
    )
    .await;
    put(
        store,
        &job,
        "t2/$TaskOutput/<img src=x onerror=alert(1)>.txt",
        "hostile\n",
    )
    .await;
    let long = format!("t2/$TaskOutput/{}end.txt", "long-name/".repeat(60));
    put(store, &job, &long, "long\n").await;
    (id, job)
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_are_whole_pages_without_a_script_and_names_stay_text() {
    let (_dir, store) = local_store();
    let (id, _job) = plant(&store, job_id("pages")).await;
    let app = router(store, ViewerOptions::default().with_page(2));
    let job = seg(&id);

    let jobs = get(&app, "/", &[]).await;
    assert_eq!(jobs.status, StatusCode::OK);
    assert!(jobs.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert!(
        jobs.header(header::CONTENT_SECURITY_POLICY)
            .contains("script-src 'self'")
    );
    let listed = jobs.text();
    assert!(
        listed.contains(&format!("href=\"/jobs/{}\"", id.replace(':', "%3A"))),
        "{listed}"
    );

    // Two tasks a page: t1 (with its run's exit code and duration), t2, then
    // a link to the next page, which holds t3.
    let first = get(&app, &format!("/jobs/{job}"), &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let first = first.text();
    assert!(first.contains("<span class=\"failed\">3</span>"), "{first}");
    assert!(first.contains(">1m 30s<"), "{first}");
    assert!(
        first.contains(">t2</a>") && !first.contains(">t3</a>"),
        "{first}"
    );
    let next = first
        .split("id=\"next-page\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("a next page link in {first}"))
        .replace("&amp;", "&");
    let second = get(&app, &next, &[]).await.text();
    assert!(
        second.contains(">t3</a>") && !second.contains(">t1</a>"),
        "{second}"
    );
    // The only script a page names is the viewer's own file.
    assert_eq!(first.matches("<script").count(), 1, "{first}");

    // A task's tabs; the name that is markup shows as text.
    let task = get(&app, &format!("/jobs/{job}/tasks/t2"), &[]).await;
    assert_eq!(task.status, StatusCode::OK);
    let task = task.text();
    for tab in [
        "Saved output files",
        "Saved logs",
        "Previews",
        "Intermediate",
    ] {
        assert!(task.contains(tab), "{tab} in {task}");
    }
    assert!(
        task.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
        "{task}"
    );
    assert!(!task.contains("<img src=x"), "{task}");
    assert!(
        task.contains("/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt"),
        "{task}"
    );

    // A very long name breaks where it must, in a cell that wraps.
    assert!(task.contains(&"long-name/".repeat(60)), "{task}");

    // A missing job, a name the conventions refuse: pages that say so.
    let missing = get(&app, "/jobs/no-such-job", &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text().contains("<h1>404"), "{}", missing.text());
    let refused = get(&app, &format!("/jobs/{job}/tasks/a%2Fb"), &[]).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
}

/// `n` numbered lines of 14 bytes each: `line 00000001\n`, ….
fn numbered_lines(from: u64, n: u64) -> Vec<u8> {
    (from..from + n)
        .flat_map(|i| format!("line {i:08}\n").into_bytes())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_into_a_large_log_reads_one_window_and_following_reads_only_the_gain() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let proxy = FaultProxy::start(azurite.addr());
    let store = batchout::open(&proxy.endpoint_for(&azurite.blob_endpoint())).expect("opens");
    let id = job_id("deep");
    let job = JobOutputs::new(store.clone(), JobId::new(id.clone()).expect("job id"));
    job.prepare().await.expect("prepare");
    // 20 MB of log: 1,500,000 lines.
    let lines = 1_500_000;
    put(&store, &job, "t/$TaskLog/big.log", numbered_lines(1, lines)).await;
    let app = router(store.clone(), ViewerOptions::default());
    let page = format!("/jobs/{}/tasks/t/TaskLog/big.log", seg(&id));

    // Line 700,001 starts at byte 9,800,000; a link there shows it first,
    // anchored by its offset, with one request to the store.
    proxy.reset_stats();
    let deep = get(&app, &format!("{page}?at=9800000"), &[]).await;
    assert_eq!(deep.status, StatusCode::OK, "{}", deep.text());
    assert_eq!(proxy.stats().requests, 1, "{:?}", proxy.log());
    let shown = deep.text();
    let target = |page: &str| {
        page.split("<div class=\"ln")
            .find(|line| line.starts_with(" target"))
            .unwrap_or_else(|| panic!("a target line in {page}"))
            .to_owned()
    };
    let first = target(&shown);
    assert!(first.contains("id=\"b9800000\""), "{first}");
    assert!(first.contains("line 00700001"), "{first}");
    // A few lines before it, for context; nothing from the file's start.
    assert!(shown.contains("line 00700000"));
    assert!(!shown.contains("line 00000001"));
    // One window of it (2,000 lines at most, their markup around them).
    assert!(shown.len() < 512 * 1024, "{} bytes", shown.len());

    // A link into the middle of a line marks that line.
    let inside = get(&app, &format!("{page}?at=9800005"), &[]).await.text();
    assert!(target(&inside).contains("line 00700001"));

    // The log grows; following from its end reads what it gained, once.
    let log = Location::new(
        job.container().clone(),
        BlobName::new("t/$TaskLog/follow.log").expect("name"),
    );
    store
        .append(&log, Bytes::from(numbered_lines(1, 3)), 0)
        .await
        .expect("a log");
    let lines_url = format!("/lines/jobs/{}/tasks/t/TaskLog/follow.log", seg(&id));
    let start = get(&app, &format!("{lines_url}?at=0"), &[]).await.json();
    assert_eq!(
        (start["end"].as_u64(), start["next_line"].as_u64()),
        (Some(42), Some(4)),
        "{start}"
    );
    store
        .append(&log, Bytes::from_static(b"line 00000004\nline 0000"), 42)
        .await
        .expect("appended");
    proxy.reset_stats();
    let gained = get(&app, &format!("{lines_url}?from=42&line=4"), &[])
        .await
        .json();
    assert_eq!(proxy.stats().requests, 1, "{:?}", proxy.log());
    let html = gained["html"].as_str().expect("html");
    assert!(
        html.contains("line 00000004") && !html.contains("line 00000003"),
        "{html}"
    );
    // The line still being written is shown, and read again next time.
    assert!(html.contains("ln partial"), "{html}");
    assert_eq!(gained["end"].as_u64(), Some(56), "{gained}");
    assert_eq!(gained["next_line"].as_u64(), Some(5), "{gained}");
    assert!(html.contains(">4</a>") && html.contains(">5</a>"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_downloads_as_one_zip_that_python_reads() {
    let (dir, store) = local_store();
    let (id, job) = plant(&store, job_id("zip")).await;
    let t1 = job.task(TaskId::new("t1").expect("task"));
    t1.save_bytes(
        OutputKind::TaskPreview,
        &b"\x89PNG not really"[..],
        &OutputPath::new("plots/frame.png").expect("p"),
    )
    .await
    .expect("preview");
    let app = router(store, ViewerOptions::default());
    let zip = get(&app, &format!("/zip/jobs/{}/tasks/t1", seg(&id)), &[]).await;
    assert_eq!(zip.status, StatusCode::OK, "{}", zip.text());
    assert_eq!(zip.header(header::CONTENT_TYPE), "application/zip");
    assert!(
        zip.header(header::CONTENT_DISPOSITION)
            .starts_with("attachment; filename=")
    );
    let path = dir.path().join("t1.zip");
    std::fs::write(&path, &zip.body).expect("written");
    let listed = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None\n\
             print(json.dumps({n: z.read(n).decode('latin-1') for n in z.namelist()}))",
        ])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let files: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(files["TaskOutput/result.csv"], "result 1\n", "{files}");
    assert_eq!(
        files["TaskPreview/plots/frame.png"], "\u{89}PNG not really",
        "{files}"
    );
    assert!(
        files["TaskLog/batchout-manifest.json"]
            .as_str()
            .is_some_and(|m| m.contains("\"exit_code\":3")),
        "{files}"
    );
    assert_eq!(files.as_object().map(|o| o.len()), Some(3), "{files}");

    // A task with nothing stored has no archive to give.
    let none = get(&app, &format!("/zip/jobs/{}/tasks/t9", seg(&id)), &[]).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST, "{}", none.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_of_the_one_job_a_container_sas_url_reaches() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let keyed = batchout::open(&azurite.blob_endpoint()).expect("opens");
    // A plain id: a container SAS cannot read the container's metadata, so
    // the id of a hashed container name (a job schedule's) is not known.
    let (id, job) = plant(&keyed, format!("sas-{}", std::process::id())).await;
    let url = job
        .access_url("rl", std::time::Duration::from_secs(600))
        .await
        .expect("a SAS URL");
    let store = batchout::open(url.expose()).expect("opens the SAS URL");
    let app = router(store, ViewerOptions::default());
    let jobs = get(&app, "/", &[]).await;
    assert_eq!(jobs.status, StatusCode::OK, "{}", jobs.text());
    assert!(
        jobs.text().contains(&format!(">{id}</a>")),
        "{}",
        jobs.text()
    );
    let page = get(&app, &format!("/jobs/{}", seg(&id)), &[]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let page = page.text();
    assert!(
        page.contains(">t3</a>") && page.contains("<span class=\"failed\">3</span>"),
        "{page}"
    );
    // The SAS never reaches a page.
    let signature = url
        .expose()
        .split("sig=")
        .nth(1)
        .unwrap_or("?")
        .split('&')
        .next()
        .unwrap_or("?")
        .to_owned();
    assert!(!jobs.text().contains(&signature) && !page.contains(&signature));
}
