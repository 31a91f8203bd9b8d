//! Jobs made by a job schedule (`{scheduleId}:job-{n}`), end to end: a task
//! that Batch gives such an id in `AZ_BATCH_JOB_ID` saves, tracks and runs;
//! the client lists, downloads and finds the job by its id in `jobs`. On the
//! local store, on Azurite with the account key, and on Azurite with only the
//! SAS URL `batchout sas` prints.

mod support;

use assert_cmd::Command;
use batchout::{ContainerName, JobId};
use batchout_testkit::Azurite;
use serde_json::Value;
use support::{Env, job, stdout};

/// The container the conventions give `id`: its readable prefix and the
/// SHA-1 of the lower-cased id (checked against Python's `hashlib` in the
/// naming crate's own tests).
fn container_of(id: &str) -> String {
    ContainerName::for_job(&JobId::new(id).expect("a schedule's job id")).to_string()
}

/// Runs `args` with `store` as the store (none: the local default) and the
/// task's variables as Batch sets them.
fn as_task(env: &Env, store: Option<&str>, id: &str, args: &[&str]) -> Command {
    let mut cmd = match store {
        Some(store) => env.cmd_on(store, args),
        None => env.cmd(args),
    };
    cmd.env("AZ_BATCH_JOB_ID", id).env("AZ_BATCH_TASK_ID", "t1");
    cmd
}

/// A task of job `id` saves a file, tracks a log and runs a command; then the
/// client (on `client_store`) sees all of it under the job's id.
fn task_then_client(env: &Env, task_store: Option<&str>, client_store: Option<&str>, id: &str) {
    env.write("out/result.txt", "42\n");
    as_task(env, task_store, id, &["save", "out/result.txt"])
        .assert()
        .success();
    as_task(
        env,
        task_store,
        id,
        &[
            "track",
            "--kind",
            "TaskLog",
            "train.log",
            "--",
            "sh",
            "-c",
            "echo epoch 1 > train.log",
        ],
    )
    .assert()
    .success();
    as_task(
        env,
        task_store,
        id,
        &["run", "--output", "out/*.txt", "--", "echo", "ran"],
    )
    .assert()
    .success();

    let client = |args: &[&str]| match client_store {
        Some(store) => env.cmd_on(store, args),
        None => env.cmd(args),
    };
    let container = container_of(id);
    let listed: Value = serde_json::from_slice(
        &client(&["ls", "--job", id, "--task", "t1", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .expect("JSON");
    let mut blobs: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|o| {
            assert_eq!(o["job"], id);
            assert_eq!(o["container"], container.as_str());
            o["blob"].as_str().expect("a blob name")
        })
        .collect();
    blobs.sort_unstable();
    assert_eq!(
        blobs,
        [
            "t1/$TaskLog/batchout-manifest.json",
            "t1/$TaskLog/stderr.txt",
            "t1/$TaskLog/stdout.txt",
            "t1/$TaskLog/train.log",
            "t1/$TaskOutput/out/result.txt",
            // `run`'s rule stores a match below the pattern's fixed folder.
            "t1/$TaskOutput/result.txt",
        ]
    );
    assert_eq!(stdout(&mut client(&["tasks", "--job", id])), "t1\n");
    let dest = env.path().join("fetched");
    client(&[
        "download",
        "--job",
        id,
        "--dest",
        dest.to_str().expect("utf-8"),
    ])
    .assert()
    .success();
    let fetched =
        std::fs::read_to_string(dest.join("t1/$TaskOutput/out/result.txt")).expect("downloaded");
    assert_eq!(fetched, "42\n");
    let log = std::fs::read_to_string(dest.join("t1/$TaskLog/train.log")).expect("the log");
    assert_eq!(log, "epoch 1\n");
    assert_eq!(
        stdout(&mut env.cmd(&["container-name", id])).trim(),
        container
    );
    assert_eq!(
        stdout(&mut as_task(
            env,
            None,
            id,
            &["path", "--kind", "TaskLog", "a.txt"]
        ))
        .trim(),
        "t1/$TaskLog/a.txt"
    );

    let jobs: Value = serde_json::from_slice(
        &client(&["jobs", "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .expect("JSON");
    let this = jobs
        .as_array()
        .expect("a list")
        .iter()
        .find(|j| j["container"] == container.as_str())
        .unwrap_or_else(|| panic!("{container} among the jobs: {jobs}"));
    assert_eq!(this["job"], id, "the id as Batch gave it: {this}");
    assert_eq!(this["outputs"], 6, "{this}");
    assert_eq!(this["tasks"], 1, "{this}");
}

#[test]
fn a_job_schedules_job_on_the_local_store() {
    let env = Env::new();
    let id = "nightly:job-7";
    // No prepare: the first save creates the container and records the id.
    task_then_client(&env, None, None, id);
    let stored = env.stored();
    let expected =
        "job-nightly-job-7-f46938ce4f51991f7a00114787dc2dd004134595/t1/$TaskOutput/out/result.txt"
            .to_owned();
    assert_eq!(
        container_of(id),
        expected.split('/').next().expect("a folder")
    );
    assert!(stored.contains(&expected), "{stored:?}");
    let shown = stdout(&mut env.cmd(&["jobs"]));
    assert!(shown.starts_with("nightly:job-7 "), "{shown}");
}

#[test]
fn a_job_schedules_job_on_azurite_with_the_key_and_with_a_sas_url() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let endpoint = azurite.blob_endpoint();
    for with_sas in [false, true] {
        let env = Env::new();
        let id = format!("{}:job-7", job("nightly"));
        let task_store = if with_sas {
            env.cmd_on(&endpoint, &["prepare", "--job", &id])
                .assert()
                .success();
            let url = stdout(&mut env.cmd_on(&endpoint, &["sas", "--job", &id]));
            Some(url.trim().to_owned())
        } else {
            None
        };
        let task_store = task_store.as_deref().unwrap_or(&endpoint);
        task_then_client(&env, Some(task_store), Some(&endpoint), &id);
        if with_sas {
            // The task's own URL lists its one job.
            let jobs: Value = serde_json::from_slice(
                &env.cmd_on(task_store, &["jobs", "--json"])
                    .assert()
                    .success()
                    .get_output()
                    .stdout,
            )
            .expect("JSON");
            let listed = jobs.as_array().expect("a list");
            assert_eq!(listed.len(), 1, "{jobs}");
            assert_eq!(listed[0]["container"], container_of(&id).as_str());
        }
    }
}
