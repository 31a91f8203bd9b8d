//! `batchout run` wrapping real commands: logs stored whatever the exit code,
//! outputs by upload condition, the command's exit code passed on, signals
//! forwarded, and a manifest of everything stored.

mod support;

use std::fs;
use std::time::Duration;

use batchout_testkit::Azurite;
use predicates::prelude::*;
use serde_json::Value;
use support::Env;

fn manifest(env: &Env, job: &str, task: &str) -> Value {
    let path = env
        .store()
        .join(format!("job-{job}/{task}/$TaskLog/batchout-manifest.json"));
    serde_json::from_str(&fs::read_to_string(&path).expect("the manifest is stored")).expect("JSON")
}

#[test]
fn a_failing_command_stores_its_logs_and_failure_outputs_but_not_success_ones() {
    let env = Env::new();
    let script = "echo hello; echo oops >&2; mkdir -p out; echo r > out/result.txt; echo d > debug.log; exit 3";
    env.cmd(&[
        "run",
        "--job",
        "j",
        "--task",
        "t",
        "--output",
        "out/*.txt",
        "--output",
        "*.log:TaskLog:failure",
        "--output",
        "out/*.txt:Diagnostics:completion",
        "--output",
        "missing/*.bin::completion",
        "--",
        "sh",
        "-c",
        script,
    ])
    .assert()
    .code(3)
    .stdout(predicate::str::contains("hello"))
    .stderr(predicate::str::contains("oops"))
    .stderr(predicate::str::contains(
        "\"missing/*.bin\" matched no file",
    ));

    let stored = env.stored();
    for expected in [
        "job-j/t/$TaskLog/stdout.txt",
        "job-j/t/$TaskLog/stderr.txt",
        "job-j/t/$TaskLog/debug.log",
        "job-j/t/$Diagnostics/result.txt",
        "job-j/t/$TaskLog/batchout-manifest.json",
    ] {
        assert!(
            stored.contains(&expected.to_owned()),
            "{expected} missing from {stored:?}"
        );
    }
    assert!(
        !stored.iter().any(|s| s.contains("$TaskOutput")),
        "success-only outputs are not stored: {stored:?}"
    );
    let log = |name: &str| {
        fs::read_to_string(env.store().join(format!("job-j/t/$TaskLog/{name}"))).expect("stored")
    };
    assert_eq!(log("stdout.txt"), "hello\n");
    assert_eq!(log("stderr.txt"), "oops\n");

    let m = manifest(&env, "j", "t");
    assert_eq!(m["exit_code"], 3);
    assert_eq!(m["attempt"], 1);
    assert_eq!(m["signal"], Value::Null);
    let outputs = m["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2);
    let debug = outputs
        .iter()
        .find(|o| o["blob"] == "t/$TaskLog/debug.log")
        .expect("debug.log recorded");
    assert_eq!(debug["size"], 2);
    assert_eq!(
        debug["crc64nvme"].as_str(),
        Some(&*support::crc64nvme(b"d\n"))
    );
    assert_eq!(m["logs"].as_array().expect("logs").len(), 2);
    let upload_log = fs::read_to_string(env.path().join("fileuploadout.txt")).expect("upload log");
    assert!(
        upload_log.contains("uploaded") && upload_log.contains("debug.log"),
        "{upload_log}"
    );
}

#[test]
fn a_successful_command_stores_success_outputs_and_keeps_structure() {
    let env = Env::new();
    env.cmd(&[
        "run",
        "--job",
        "j",
        "--task",
        "t",
        "--output",
        "results/**/*.csv",
        "--",
        "sh",
        "-c",
        "mkdir -p results/deep && echo a > results/a.csv && echo b > results/deep/b.csv",
    ])
    .assert()
    .success();
    let stored = env.stored();
    assert!(
        stored.contains(&"job-j/t/$TaskOutput/a.csv".to_owned()),
        "{stored:?}"
    );
    assert!(
        stored.contains(&"job-j/t/$TaskOutput/deep/b.csv".to_owned()),
        "{stored:?}"
    );
    assert_eq!(manifest(&env, "j", "t")["exit_code"], 0);
}

#[test]
fn a_retried_task_records_its_attempt_and_keeps_the_first_logs() {
    let env = Env::new();
    for (i, word) in ["first", "second"].iter().enumerate() {
        env.cmd(&[
            "run",
            "--job",
            "j",
            "--task",
            "t",
            "--",
            "sh",
            "-c",
            &format!("echo {word}"),
        ])
        .assert()
        .success();
        assert_eq!(manifest(&env, "j", "t")["attempt"], i as u64 + 1);
    }
    let log = |name: &str| {
        fs::read_to_string(env.store().join(format!("job-j/t/$TaskLog/{name}"))).expect("stored")
    };
    assert_eq!(
        log("stdout.txt"),
        "first\n",
        "the first attempt's log is never mixed with the second"
    );
    assert_eq!(log("stdout.2.txt"), "second\n");
}

#[test]
fn a_killed_command_exits_128_plus_the_signal() {
    let env = Env::new();
    env.cmd(&[
        "run",
        "--job",
        "j",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "echo before; kill -9 $$",
    ])
    .assert()
    .code(137);
    let m = manifest(&env, "j", "t");
    assert_eq!(m["signal"], 9);
    assert_eq!(m["exit_code"], 137);
    assert_eq!(
        fs::read_to_string(env.store().join("job-j/t/$TaskLog/stdout.txt")).expect("log"),
        "before\n"
    );
}

#[test]
fn signals_sent_to_batchout_reach_the_command() {
    let env = Env::new();
    let mut child = env
        .process(&["run", "--job", "j", "--task", "t", "--", "sh", "-c"])
        .arg("trap 'echo got term; exit 7' TERM; echo ready; while true; do sleep 0.05; done")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = env.path().join("stdout.txt");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&stdout).is_ok_and(|s| s.contains("ready")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(7), "the command's own exit code");
    let log = fs::read_to_string(env.store().join("job-j/t/$TaskLog/stdout.txt")).expect("stored");
    assert_eq!(log, "ready\ngot term\n");
}

#[test]
fn logs_go_to_the_batch_task_directory() {
    let env = Env::new();
    let task_dir = env.path().join("task");
    let wd = task_dir.join("wd");
    fs::create_dir_all(&wd).expect("mkdir");
    env.cmd_in(
        &wd,
        &[
            "run",
            "--store",
            "../../batchout-data",
            "--",
            "sh",
            "-c",
            "echo out",
        ],
    )
    .env("AZ_BATCH_JOB_ID", "j")
    .env("AZ_BATCH_TASK_ID", "t")
    .env("AZ_BATCH_TASK_DIR", &task_dir)
    .assert()
    .success();
    assert_eq!(
        fs::read_to_string(task_dir.join("stdout.txt")).expect("local log"),
        "out\n"
    );
    assert!(task_dir.join("fileuploadout.txt").is_file());
    assert!(env.store().join("job-j/t/$TaskLog/stdout.txt").is_file());
}

#[test]
fn the_command_runs_even_when_storage_fails_and_the_exit_says_so() {
    let env = Env::new();
    // The store is under a regular file: nothing can be stored.
    fs::write(env.path().join("not-a-dir"), "x").expect("write");
    env.cmd(&[
        "run",
        "--store",
        "not-a-dir/store",
        "--job",
        "j",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "echo did the work",
    ])
    .assert()
    .code(75)
    .stdout(predicate::str::contains("did the work"))
    .stderr(predicate::str::contains("batchout: error:"));
    assert!(
        fs::read_to_string(env.path().join("fileuploaderr.txt"))
            .expect("error log")
            .contains("error:")
    );
}

#[test]
fn usage_errors_are_reported_before_anything_runs() {
    let env = Env::new();
    env.cmd(&["run", "--job", "j", "--", "sh", "-c", "touch ran"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("run needs a task"));
    env.cmd(&[
        "run",
        "--job",
        "j",
        "--task",
        "t",
        "--output",
        "x:success",
        "--",
        "sh",
        "-c",
        "touch ran",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains(
        "is an upload condition, not a kind",
    ));
    let short = &["run", "--job", "j", "--task", "t", "--interval", "500ms"];
    env.cmd(&[&short[..], &["--", "sh", "-c", "touch ran"]].concat())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("minimum of 1s"));
    assert!(!env.path().join("ran").exists(), "the command did not run");
}

#[test]
fn a_command_that_cannot_start_exits_as_a_shell_does() {
    let env = Env::new();
    let run = |program: &str| {
        let mut cmd = env.cmd(&["run", "--job", "j", "--task", "t", "--", program]);
        cmd.assert()
    };
    run("/no/such/program")
        .code(127)
        .stderr(predicate::str::contains("cannot start /no/such/program"));
    let not_executable = env.write("plain.txt", "not a program\n");
    run(not_executable.to_str().expect("utf-8"))
        .code(126)
        .stderr(predicate::str::contains("plain.txt"));
}

#[test]
fn run_on_azurite() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = format!("run-{}", std::process::id());
    env.cmd(&[
        "run",
        "--job",
        &job,
        "--task",
        "t",
        "--output",
        "*.txt:TaskOutput:completion",
        "--",
        "sh",
        "-c",
        "echo log; echo r > r.txt; exit 1",
    ])
    .env("BATCHOUT_STORE", azurite.blob_endpoint())
    .assert()
    .code(1);
    let listed = env
        .cmd(&["ls", "--job", &job, "--task", "t"])
        .env("BATCHOUT_STORE", azurite.blob_endpoint())
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&listed.get_output().stdout).into_owned();
    for name in [
        "$TaskLog/stdout.txt",
        "$TaskLog/stderr.txt",
        "$TaskLog/batchout-manifest.json",
        "$TaskOutput/r.txt",
    ] {
        assert!(listed.contains(name), "{name} missing from:\n{listed}");
    }
    env.cmd(&[
        "get",
        "--job",
        &job,
        "--task",
        "t",
        "--kind",
        "TaskLog",
        "stdout.txt",
        "-o",
        "-",
    ])
    .env("BATCHOUT_STORE", azurite.blob_endpoint())
    .assert()
    .success()
    .stdout("log\n");
}

/// `run` of a command that prints 10,000 lines over about 5 s, flushing every
/// second: a second client sees the stored `stdout.txt` grow while it runs, and
/// at the end it equals the local `stdout.txt` byte for byte.
fn printed_lines_are_stored_live(store: Option<&Azurite>) {
    let env = Env::new();
    let job = support::job("live");
    let printer = "for b in $(seq 0 49); do seq -f 'printed line %05g' $((b * 200)) $((b * 200 + 199)); sleep 0.1; done";
    let batchout = |args: &[&str]| {
        let mut cmd = env.process(args);
        if let Some(azurite) = store {
            cmd.env("BATCHOUT_STORE", azurite.blob_endpoint());
        }
        cmd
    };
    let mut child = batchout(&[
        "run",
        "--job",
        &job,
        "--task",
        "t",
        "--interval",
        "1s",
        "--",
        "sh",
        "-c",
        printer,
    ])
    .stdout(std::process::Stdio::null())
    .spawn()
    .expect("batchout run starts");
    let stored = || {
        let get = [
            "get",
            "--job",
            &job,
            "--task",
            "t",
            "--kind",
            "TaskLog",
            "stdout.txt",
            "-o",
            "-",
        ];
        let out = batchout(&get).output().expect("batchout get runs");
        out.status.success().then_some(out.stdout)
    };
    let mut sizes = Vec::new();
    while child.try_wait().expect("poll").is_none() {
        if let Some(now) = stored()
            && now.len() > sizes.last().copied().unwrap_or(0)
            && child.try_wait().expect("poll").is_none()
        {
            sizes.push(now.len());
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(child.wait().expect("wait").success());
    let local = fs::read(env.path().join("stdout.txt")).expect("the local log");
    assert_eq!(local.iter().filter(|&&b| b == b'\n').count(), 10_000);
    assert!(
        sizes.len() >= 3,
        "the stored copy grew only {} times while running: {sizes:?}",
        sizes.len()
    );
    assert!(
        stored() == Some(local),
        "the stored stdout.txt is the local one, byte for byte"
    );
}

#[test]
fn printed_lines_are_stored_live_on_the_local_store() {
    printed_lines_are_stored_live(None);
}

#[test]
fn printed_lines_are_stored_live_on_azurite() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    printed_lines_are_stored_live(Some(azurite));
}
