//! A pool's worth of tasks at once: 32 `batchout run` processes, each a task
//! with its own id, logs and outputs, all writing to the one container the
//! conventions give their job, on Azurite. Every output must be there, with
//! the content its task wrote.

mod support;

use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::Instant;

use batchout_testkit::Azurite;
use serde_json::Value;
use support::{Env, files_below};

const TASKS: usize = 32;
const OUTPUTS: usize = 4;
const OUTPUT_SIZE: usize = 256 * 1024;
const LOG_LINES: usize = 20;

/// The task's command: a few log lines on stdout and stderr, and its outputs.
fn script() -> String {
    format!(
        "i=0; while [ $i -lt {LOG_LINES} ]; do echo \"$AZ_BATCH_TASK_ID: step $i\"; i=$((i+1)); done; \
         echo \"$AZ_BATCH_TASK_ID: a warning\" >&2; \
         mkdir -p out; for n in $(seq 1 {OUTPUTS}); do head -c {OUTPUT_SIZE} /dev/urandom > out/r$n.bin; done; \
         echo \"$AZ_BATCH_TASK_ID: done\""
    )
}

#[test]
fn thirty_two_tasks_write_to_one_job_container_at_once() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = format!("load-{}", std::process::id());
    let store = azurite.blob_endpoint();
    env.cmd(&["prepare", "--job", &job])
        .env("BATCHOUT_STORE", &store)
        .assert()
        .success();

    let binary = assert_cmd::cargo::cargo_bin("batchout");
    let script = script();
    let started = Instant::now();
    let children: Vec<_> = (0..TASKS)
        .map(|n| {
            let task = format!("task-{n:02}");
            let dir = env.path().join("nodes").join(&task);
            fs::create_dir_all(&dir).expect("mkdir");
            let child = std::process::Command::new(&binary)
                .current_dir(&dir)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("BATCHOUT_STORE", &store)
                .env("AZ_BATCH_JOB_ID", &job)
                .env("AZ_BATCH_TASK_ID", &task)
                .args([
                    "run",
                    "--interval",
                    "1s",
                    "--output",
                    "out/*.bin",
                    "--",
                    "sh",
                    "-c",
                    &script,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            (task, dir, child)
        })
        .collect();
    let mut tasks = Vec::new();
    for (task, dir, child) in children {
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{task} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        tasks.push((task, dir));
    }
    let elapsed = started.elapsed();

    // Everything the pool stored, fetched by a client and checked against what
    // each task left on its node.
    env.cmd(&["download", "--job", &job, "--dest", "all"])
        .env("BATCHOUT_STORE", &store)
        .assert()
        .success();
    let all = env.path().join("all");
    let mut files = 0usize;
    let mut bytes = 0u64;
    for (task, dir) in &tasks {
        let got = all.join(task);
        let mut expected: Vec<String> = (1..=OUTPUTS)
            .map(|n| format!("$TaskOutput/r{n}.bin"))
            .collect();
        expected.extend(
            [
                "$TaskLog/batchout-manifest.json",
                "$TaskLog/stderr.txt",
                "$TaskLog/stdout.txt",
            ]
            .map(str::to_owned),
        );
        expected.sort();
        assert_eq!(files_below(&got), expected, "{task}'s outputs");
        for n in 1..=OUTPUTS {
            let local = fs::read(dir.join(format!("out/r{n}.bin"))).expect("local output");
            let stored = fs::read(got.join(format!("$TaskOutput/r{n}.bin"))).expect("stored");
            assert_eq!(local.len(), OUTPUT_SIZE);
            assert!(local == stored, "{task} r{n}.bin differs");
            bytes += stored.len() as u64;
        }
        for log in ["stdout.txt", "stderr.txt"] {
            let local = fs::read(dir.join(log)).expect("local log");
            let stored = fs::read(got.join("$TaskLog").join(log)).expect("stored log");
            assert!(local == stored, "{task} {log} differs");
            bytes += stored.len() as u64;
        }
        let stdout = fs::read_to_string(got.join("$TaskLog/stdout.txt")).expect("log");
        assert_eq!(stdout.lines().count(), LOG_LINES + 1, "{task}: {stdout}");
        assert!(
            stdout.lines().all(|l| l.starts_with(&format!("{task}: "))),
            "{task}'s log holds only its own lines"
        );
        let manifest: Value = serde_json::from_slice(
            &fs::read(got.join("$TaskLog/batchout-manifest.json")).expect("manifest"),
        )
        .expect("JSON");
        assert_eq!(manifest["exit_code"], 0, "{task}: {manifest}");
        files += expected.len();
    }

    let seconds = elapsed.as_secs_f64();
    let _ = writeln!(
        std::io::stderr(),
        "load: {TASKS} concurrent `batchout run` tasks stored {files} files ({:.1} MB) into one job container in {elapsed:.2?}: {:.0} files/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        files as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}
