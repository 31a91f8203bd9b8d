//! The viewer's JSON API and file downloads, called in process (the router
//! with `oneshot`, no socket) on the local directory store and on Azurite:
//! jobs as recorded, tasks a page at a time, kinds, outputs, a log's tail and
//! what it gains, downloads with `Range`, names that the conventions refuse,
//! and the token.

mod common;

use std::sync::Arc;

use axum::http::{StatusCode, header};
use batchout::{JobId, JobOutputs, OutputKind, OutputPath, Store, TaskId};
use batchout_store::{BlobName, Location};
use batchout_testkit::Azurite;
use batchout_viewer::{ViewerOptions, router};
use bytes::Bytes;
use common::{get, job_id, seg};

/// A job with five tasks, a job output, and a task with a log, a result and a
/// preview; returns the job id and the log's location.
async fn plant(store: &Arc<dyn Store>, test: &str) -> (String, Location) {
    let id = job_id(test);
    let job = JobOutputs::new(store.clone(), JobId::new(id.clone()).expect("job id"));
    job.prepare().await.expect("prepare");
    job.save_text(
        OutputKind::JobOutput,
        "merged\n",
        &OutputPath::new("merged.txt").expect("p"),
    )
    .await
    .expect("job output");
    for n in 1..=5 {
        let task = job.task(TaskId::new(format!("t{n}")).expect("task id"));
        task.save_text(
            OutputKind::TaskOutput,
            format!("result {n}\n"),
            &OutputPath::new("result.csv").expect("p"),
        )
        .await
        .expect("task output");
    }
    let t1 = job.task(TaskId::new("t1").expect("task id"));
    t1.save_bytes(
        OutputKind::TaskPreview,
        &b"\x89PNG fake"[..],
        &OutputPath::new("frame.png").expect("p"),
    )
    .await
    .expect("preview");
    let log = Location::new(
        job.container().clone(),
        BlobName::new("t1/$TaskLog/stdout.txt").expect("name"),
    );
    store
        .append(&log, Bytes::from_static(b"line 1\nline 2\n"), 0)
        .await
        .expect("a log");
    (id, log)
}

async fn the_api_shows_jobs_tasks_kinds_outputs_and_logs(store: Arc<dyn Store>, test: &str) {
    let (id, log) = plant(&store, test).await;
    let app = router(store.clone(), ViewerOptions::default());
    let job = seg(&id);

    // The jobs, with the id as the task gave it.
    let jobs = get(&app, "/api/jobs", &[]).await;
    assert_eq!(jobs.status, StatusCode::OK);
    let jobs = jobs.json();
    let this = jobs
        .as_array()
        .expect("a list")
        .iter()
        .find(|j| j["job"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} among {jobs}"));
    assert_eq!(
        (this["tasks"].as_u64(), this["outputs"].as_u64()),
        (Some(5), Some(8)),
        "{this}"
    );

    // Tasks two at a time, each page from the marker of the one before.
    let mut tasks = Vec::new();
    let mut uri = format!("/api/jobs/{job}?limit=2");
    let mut pages = 0;
    loop {
        let page = get(&app, &uri, &[]).await;
        assert_eq!(
            page.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&page.body)
        );
        let page = page.json();
        if pages == 0 {
            assert_eq!(page["kinds"], serde_json::json!(["JobOutput"]), "{page}");
            // The job's kinds, and one listing of about the page's outputs.
            assert_eq!(page["listings"], 2, "{page}");
        }
        pages += 1;
        for task in page["tasks"].as_array().expect("tasks") {
            let id = task["task"].as_str().expect("id").to_owned();
            // t1 holds a result, a preview and a log; the others a result.
            let (outputs, bytes) = if id == "t1" { (3, 9 + 9 + 14) } else { (1, 9) };
            assert_eq!(
                (task["outputs"].as_u64(), task["bytes"].as_u64()),
                (Some(outputs), Some(bytes)),
                "{task}"
            );
            assert!(task["last_modified"].is_string(), "{task}");
            tasks.push(id);
        }
        match page["next"].as_str() {
            Some(next) => uri = format!("/api/jobs/{job}?limit=2&after={}", seg(next)),
            None => break,
        }
        assert!(pages < 10, "pages never end");
    }
    assert_eq!(tasks, ["t1", "t2", "t3", "t4", "t5"]);

    // Sorted by size, t1 first; filtered by the start of the id.
    let by_size = get(&app, &format!("/api/jobs/{job}?order=size&limit=2"), &[])
        .await
        .json();
    assert_eq!(by_size["tasks"][0]["task"], "t1", "{by_size}");
    assert_eq!(by_size["next"], "2", "{by_size}");
    let filtered = get(&app, &format!("/api/jobs/{job}?prefix=t4"), &[])
        .await
        .json();
    assert_eq!(
        filtered["tasks"].as_array().map(Vec::len),
        Some(1),
        "{filtered}"
    );
    assert_eq!(filtered["tasks"][0]["task"], "t4", "{filtered}");

    let kinds = get(&app, &format!("/api/jobs/{job}/tasks/t1"), &[])
        .await
        .json();
    assert_eq!(
        kinds["kinds"],
        serde_json::json!(["TaskLog", "TaskOutput", "TaskPreview"])
    );
    let logs = get(&app, &format!("/api/jobs/{job}/tasks/t1/TaskLog"), &[])
        .await
        .json();
    assert_eq!(logs["outputs"][0]["path"], "stdout.txt", "{logs}");
    assert_eq!(logs["outputs"][0]["size"], 14, "{logs}");
    let own = get(&app, &format!("/api/jobs/{job}/outputs/JobOutput"), &[])
        .await
        .json();
    assert_eq!(own["outputs"][0]["path"], "merged.txt", "{own}");

    // The log's tail, then only what it gains.
    let text = format!("/api/jobs/{job}/tasks/t1/TaskLog/stdout.txt");
    let tail = get(&app, &format!("{text}?tail=7"), &[]).await.json();
    assert_eq!(
        (
            tail["text"].as_str(),
            tail["start"].as_u64(),
            tail["end"].as_u64()
        ),
        (Some("line 2\n"), Some(7), Some(14))
    );
    let nothing = get(&app, &format!("{text}?from=14"), &[]).await.json();
    assert_eq!(
        (nothing["text"].as_str(), nothing["end"].as_u64()),
        (Some(""), Some(14))
    );
    store
        .append(&log, Bytes::from_static("line 3 é\n".as_bytes()), 14)
        .await
        .expect("append");
    let gained = get(&app, &format!("{text}?from=14"), &[]).await.json();
    assert_eq!(gained["text"], "line 3 é\n", "{gained}");
    assert_eq!(gained["size"].as_u64(), gained["end"].as_u64());
    let beyond = get(&app, &format!("{text}?from=999"), &[]).await;
    assert_eq!(beyond.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Files, whole and in a range, as attachments.
    let file = format!("/files/jobs/{job}/tasks/t1/TaskOutput/result.csv");
    let whole = get(&app, &file, &[]).await;
    assert_eq!(
        (whole.status, &whole.body[..]),
        (StatusCode::OK, &b"result 1\n"[..])
    );
    assert!(
        whole
            .header(header::CONTENT_DISPOSITION)
            .starts_with("attachment; filename=\"result.csv\"")
    );
    assert_eq!(whole.header(header::ACCEPT_RANGES), "bytes");
    let part = get(&app, &file, &[(header::RANGE, "bytes=2-4")]).await;
    assert_eq!(
        (part.status, &part.body[..]),
        (StatusCode::PARTIAL_CONTENT, &b"sul"[..])
    );
    assert_eq!(part.header(header::CONTENT_RANGE), "bytes 2-4/9");
    let end = get(&app, &file, &[(header::RANGE, "bytes=-2")]).await;
    assert_eq!(&end.body[..], b"1\n");
    let outside = get(&app, &file, &[(header::RANGE, "bytes=50-")]).await;
    assert_eq!(outside.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(outside.header(header::CONTENT_RANGE), "bytes */9");
    let own = get(
        &app,
        &format!("/files/jobs/{job}/outputs/JobOutput/merged.txt"),
        &[],
    )
    .await;
    assert_eq!(&own.body[..], b"merged\n");
    // Every answer keeps the browser to what the viewer serves.
    let policy = whole.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert_eq!(whole.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");

    // What is not there, and names the conventions refuse.
    for (uri, status) in [
        (
            format!("/api/jobs/{job}/tasks/t9/TaskLog/stdout.txt"),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/jobs/no-such-job-here".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/files/jobs/{job}/tasks/t1/TaskOutput/absent.csv"),
            StatusCode::NOT_FOUND,
        ),
        ("/api/jobs/a%2Fb".to_owned(), StatusCode::BAD_REQUEST),
        (
            format!("/api/jobs/{job}/tasks/t1/TaskLog/../../x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/files/jobs/{job}/tasks/t1/TaskLog/a%2F..%2F..%2Fx"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/jobs/{job}/tasks/t1/JobOutput"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/jobs/{job}/tasks/t1/Task%24Log"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/api/jobs/{job}/tasks/t%3Cb%3E/TaskLog"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("{text}?from=1&tail=2"), StatusCode::BAD_REQUEST),
    ] {
        let answer = get(&app, &uri, &[]).await;
        assert_eq!(
            answer.status,
            status,
            "{uri}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert!(answer.json()["error"].is_string(), "{uri}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_on_the_local_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = batchout::open(dir.path().join("store").to_str().expect("utf-8")).expect("opens");
    the_api_shows_jobs_tasks_kinds_outputs_and_logs(store, "local").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_on_azurite() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let store = batchout::open(&azurite.blob_endpoint()).expect("opens");
    the_api_shows_jobs_tasks_kinds_outputs_and_logs(store, "azurite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_every_request_must_carry_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = batchout::open(dir.path().join("store").to_str().expect("utf-8")).expect("opens");
    let app = router(store, ViewerOptions::default().with_token("s3cret"));
    for headers in [
        vec![],
        vec![(header::AUTHORIZATION, "Bearer wrong")],
        vec![(header::COOKIE, "batchout_token=s3cre")],
    ] {
        let refused = get(&app, "/api/jobs", &headers).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert!(!String::from_utf8_lossy(&refused.body).contains("s3cret"));
    }
    for headers in [
        vec![(header::AUTHORIZATION, "Bearer s3cret")],
        vec![(header::COOKIE, "theme=dark; batchout_token=s3cret")],
    ] {
        assert_eq!(
            get(&app, "/api/jobs", &headers).await.status,
            StatusCode::OK,
            "{headers:?}"
        );
    }
    // Given once in the URL, it is kept in a cookie the page's scripts cannot read.
    let first = get(&app, "/api/jobs?token=s3cret", &[]).await;
    assert_eq!(first.status, StatusCode::OK);
    let cookie = first.header(header::SET_COOKIE);
    assert!(cookie.starts_with("batchout_token=s3cret;"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // A browser without it is asked for it by a page, whose form gives it once.
    let html = [(header::ACCEPT, "text/html,application/xhtml+xml")];
    let asked = get(&app, "/jobs/j1", &html).await;
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED);
    let form = String::from_utf8_lossy(&asked.body).into_owned();
    assert!(
        form.contains("<form method=\"get\" action=\"/jobs/j1\"")
            && form.contains("name=\"token\""),
        "{form}"
    );
    assert!(
        !form.contains("s3cret") && !form.contains("not the token"),
        "{form}"
    );
    let wrong = get(&app, "/?token=guess", &html).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(String::from_utf8_lossy(&wrong.body).contains("not the token"));
    let page = get(&app, "/?token=s3cret", &html).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header(header::SET_COOKIE)
            .starts_with("batchout_token=s3cret;")
    );
}
