//! Any text, as a local path, a destination, a stored path, a job or task id
//! and a kind: whatever the naming rules accept must be safe to use (relative,
//! no climbing, not empty, within Azure's limits, canonical), and nothing may
//! panic.
#![no_main]

use std::path::Component;

use batchout_naming::{
    ContainerName, JobId, MAX_BLOB_NAME_LEN, MAX_ID_LEN, MAX_JOB_ID_LEN, OutputKind, OutputPath,
    Scope, TaskId, blob_name, parse_blob_name,
};
use libfuzzer_sys::fuzz_target;

fn check_safe(path: &OutputPath) {
    let text = path.as_str();
    assert!(!text.is_empty(), "empty");
    assert!(text.chars().count() <= MAX_BLOB_NAME_LEN, "too long");
    assert!(!text.starts_with('/'), "absolute: {text:?}");
    assert!(!text.contains('\\'), "backslash: {text:?}");
    assert!(!text.chars().any(char::is_control), "control: {text:?}");
    assert!(
        path.segments()
            .all(|s| !s.is_empty() && s != "." && s != ".."),
        "segment: {text:?}"
    );
    // Canonical: accepted as it is, and normalised to itself.
    assert_eq!(OutputPath::new(text).as_ref(), Ok(path));
    assert_eq!(OutputPath::from_local(text).as_ref(), Ok(path));
    // Joined to a folder, it stays inside.
    let local = path.to_relative_path_buf();
    assert!(
        local
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    );
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for path in [
        OutputPath::from_local(&text),
        OutputPath::destination(&text),
        OutputPath::new(&text),
    ]
    .into_iter()
    .flatten()
    {
        check_safe(&path);
        let kind = OutputKind::TaskOutput;
        for scope in [Scope::Job, Scope::Task(TaskId::new("t").expect("valid"))] {
            let kind = if scope == Scope::Job {
                OutputKind::JobOutput
            } else {
                kind.clone()
            };
            if let Ok(name) = blob_name(&scope, &kind, &path) {
                assert!(name.chars().count() <= MAX_BLOB_NAME_LEN);
                let parts = parse_blob_name(&name).expect("our own names parse");
                assert_eq!(parts.file_path, path.as_str());
                assert_eq!(parts.scope, scope);
            }
        }
    }
    // Ids, kinds and container names.
    let container = ContainerName::for_raw_job_id(&text);
    assert!(
        ContainerName::parse(container.as_str()).is_ok(),
        "{container}"
    );
    if let Ok(job) = JobId::new(text.as_ref()) {
        assert!(job.as_str().len() <= MAX_JOB_ID_LEN);
        assert_eq!(ContainerName::for_job(&job), container);
        // A job made by a job schedule: one ':' between two Batch ids, and
        // never a plain container name, which cannot hold ':'.
        if let Some((schedule, made)) = job.as_str().split_once(':') {
            assert!(TaskId::new(schedule).is_ok() && TaskId::new(made).is_ok());
            assert!(container.as_str().len() >= "job-x-".len() + 40);
        }
    }
    if let Ok(task) = TaskId::new(text.as_ref()) {
        assert!(task.as_str().len() <= MAX_ID_LEN && !task.as_str().contains(':'));
        assert!(JobId::new(task.as_str()).is_ok(), "a task id is a job id too");
    }
    if let Ok(kind) = OutputKind::new(&text) {
        assert!(!kind.as_str().contains('/') && !kind.as_str().is_empty());
    }
    // A stored name from anywhere: its path is safe only once checked.
    if let Some(parts) = parse_blob_name(&text)
        && let Ok(path) = OutputPath::new(&parts.file_path)
    {
        check_safe(&path);
    }
});
