//! `batchout track` as a task would use it: the real binary runs a command that
//! writes a log for seconds, while a second client watches the stored copy grow,
//! on the local store, on Azurite and on SeaweedFS (S3); a `kill -9` of
//! batchout mid-run is recovered by the next `track` without a byte lost or
//! duplicated, on S3 also past 5 MiB, where each flush sends only the new
//! bytes (counted by the fault proxy, which relays them); exit codes.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use batchout_testkit::seaweed::BUCKET;
use batchout_testkit::{Azurite, FaultProxy, SeaweedFs};
use predicates::prelude::*;
use serde_json::Value;
use support::{Env, job};

/// Where a scenario stores: the default local store, or Azurite.
#[derive(Clone, Copy)]
enum On<'a> {
    Local,
    Azurite(&'a Azurite),
    /// SeaweedFS, reached at this endpoint (its own, or a proxy's).
    S3(&'a SeaweedFs, &'a str),
}

/// The AWS variables a test sets or clears, so none is inherited.
const AWS: [&str; 8] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
];

impl On<'_> {
    /// `batchout ARGS` as a plain process, for running in the background.
    fn process(self, env: &Env, args: &[&str]) -> std::process::Command {
        let mut cmd = env.process(args);
        match self {
            On::Local => {}
            On::Azurite(azurite) => {
                cmd.env("BATCHOUT_STORE", azurite.blob_endpoint());
            }
            On::S3(server, endpoint) => {
                for name in AWS {
                    cmd.env_remove(name);
                }
                cmd.env("HOME", env.path());
                cmd.envs(server.env());
                cmd.env("AWS_ENDPOINT_URL", endpoint);
                cmd.env("BATCHOUT_STORE", format!("s3://{BUCKET}/cli-track"));
            }
        }
        cmd
    }

    /// The stored `t1/$TaskLog/NAME` of `job`, as a second client sees it;
    /// `None` while it does not exist.
    fn stored(self, env: &Env, job: &str, name: &str) -> Option<Vec<u8>> {
        let out = self
            .process(
                env,
                &[
                    "get", "--job", job, "--task", "t1", "--kind", "TaskLog", name, "-o", "-",
                ],
            )
            .output()
            .expect("batchout get runs");
        out.status.success().then_some(out.stdout)
    }
}

/// `track` of `log.txt` as `TaskLog` of task t1, every second, around `script`.
fn track(on: On<'_>, env: &Env, job: &str, script: &str, json: bool) -> Child {
    let mut args = vec![
        "track",
        "--job",
        job,
        "--task",
        "t1",
        "--kind",
        "TaskLog",
        "--interval",
        "1s",
    ];
    if json {
        args.push("--json");
    }
    args.extend(["log.txt", "--", "sh", "-c", script]);
    on.process(env, &args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("batchout track starts")
}

/// 10,000 numbered lines, in 50 bursts a tenth of a second apart (~5 s).
const WRITER: &str = "for b in $(seq 0 49); do \
     seq -f 'line %05g of the tracked log' $((b * 200)) $((b * 200 + 199)) >> log.txt; \
     sleep 0.1; \
     done";

fn the_stored_copy_grows_during_the_run_and_ends_equal(on: On<'_>) {
    let env = Env::new();
    let job = job("grow");
    let started = Instant::now();
    let mut child = track(on, &env, &job, WRITER, false);
    let mut seen: Vec<Vec<u8>> = Vec::new();
    while child.try_wait().expect("poll").is_none() {
        if let Some(now) = on.stored(&env, &job, "log.txt")
            && !now.is_empty()
            && seen.last().is_none_or(|last| now.len() > last.len())
            && child.try_wait().expect("poll").is_none()
        {
            seen.push(now);
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let file = fs::read(env.path().join("log.txt")).expect("the log");
    assert_eq!(file.iter().filter(|&&b| b == b'\n').count(), 10_000);
    assert!(
        seen.len() >= 3,
        "only {} growing sizes seen while the command ran",
        seen.len()
    );
    for copy in &seen {
        assert!(
            file.starts_with(copy),
            "a copy seen mid-run is a prefix of the file"
        );
    }
    assert!(
        on.stored(&env, &job, "log.txt") == Some(file),
        "the stored copy is the file"
    );
    let sizes: Vec<usize> = seen.iter().map(Vec::len).collect();
    eprintln!(
        "sizes seen during the run: {sizes:?}, in {:?}",
        started.elapsed()
    );
}

fn a_killed_tracker_is_continued_by_the_next(on: On<'_>) {
    let env = Env::new();
    let job = job("kill");
    // The writer outlives batchout: it is not killed with it.
    let script = "for b in $(seq 0 29); do \
         seq -f 'line %05g of the tracked log' $((b * 100)) $((b * 100 + 99)) >> log.txt; \
         sleep 0.1; \
         done; echo done >> log.txt";
    let mut child = track(on, &env, &job, script, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while on
        .stored(&env, &job, "log.txt")
        .is_none_or(|b| b.is_empty())
    {
        assert!(Instant::now() < deadline, "nothing stored in time");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let log = env.path().join("log.txt");
    while !fs::read_to_string(&log).is_ok_and(|s| s.ends_with("done\n")) {
        assert!(
            Instant::now() < deadline + Duration::from_secs(10),
            "the writer never ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let stored_before = on.stored(&env, &job, "log.txt").expect("stored").len();
    let length = fs::metadata(&log).expect("the log").len() as usize;
    assert!(
        stored_before < length,
        "batchout was killed before storing it all"
    );

    let out = track(on, &env, &job, "true", true)
        .wait_with_output()
        .expect("the second track runs");
    assert!(out.status.success(), "{:?}", out.status);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["resumed_from"], stored_before as u64, "{report}");
    assert_eq!(report["rotations"], 0, "{report}");
    let file = fs::read(&log).expect("the log");
    assert_eq!(
        report["bytes"],
        (file.len() - stored_before) as u64,
        "only what was missing was sent: {report}"
    );
    assert!(
        on.stored(&env, &job, "log.txt") == Some(file),
        "the blob is the file"
    );
}

#[test]
fn the_stored_copy_grows_during_the_run_on_the_local_store() {
    the_stored_copy_grows_during_the_run_and_ends_equal(On::Local);
}

#[test]
fn the_stored_copy_grows_during_the_run_on_azurite() {
    if let Some(azurite) = Azurite::shared() {
        the_stored_copy_grows_during_the_run_and_ends_equal(On::Azurite(azurite));
    }
}

#[test]
fn the_stored_copy_grows_during_the_run_on_s3() {
    if let Some(server) = SeaweedFs::shared() {
        let endpoint = server.endpoint();
        the_stored_copy_grows_during_the_run_and_ends_equal(On::S3(server, &endpoint));
    }
}

#[test]
fn a_kill_9_mid_run_is_recovered_on_s3() {
    if let Some(server) = SeaweedFs::shared() {
        let endpoint = server.endpoint();
        a_killed_tracker_is_continued_by_the_next(On::S3(server, &endpoint));
    }
}

/// On S3, a log that grows to about 12 MiB in bursts, tracked every second
/// through the fault proxy (which only counts): past 5 MiB each flush is a
/// multipart upload that copies the stored object server-side and sends the
/// new bytes alone. batchout is killed past 5 MiB, and the next `track`
/// continues the same object exactly.
#[test]
fn a_log_past_5_mib_sends_its_new_bytes_and_survives_a_kill_9_on_s3() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let proxy = FaultProxy::start(server.addr());
    let endpoint = proxy.endpoint_for(&server.endpoint());
    let on = On::S3(server, &endpoint);
    let env = Env::new();
    let job = job("s3-big");
    // 24 bursts of 700 KB, a quarter of a second apart: ~16 MB in ~6 s.
    let script = "for b in $(seq 1 24); do \
         head -c 524288 /dev/urandom | base64 >> log.txt; \
         sleep 0.25; \
         done; echo done >> log.txt";
    let mut child = track(on, &env, &job, script, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let direct = server.endpoint();
    let watch = On::S3(server, &direct);
    while watch
        .stored(&env, &job, "log.txt")
        .is_none_or(|b| b.len() < 8 * 1024 * 1024)
    {
        assert!(Instant::now() < deadline, "not 8 MiB stored in time");
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let log = env.path().join("log.txt");
    while !fs::read_to_string(&log).is_ok_and(|s| s.ends_with("done\n")) {
        assert!(Instant::now() < deadline, "the writer never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stored_before = watch.stored(&env, &job, "log.txt").expect("stored").len();
    let out = track(on, &env, &job, "true", true)
        .wait_with_output()
        .expect("the second track runs");
    assert!(out.status.success(), "{:?}", out.status);
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["resumed_from"], stored_before as u64, "{report}");
    assert_eq!(report["rotations"], 0, "{report}");
    let file = fs::read(&log).expect("the log");
    assert!(
        watch.stored(&env, &job, "log.txt") == Some(file.clone()),
        "the object is the file"
    );

    let requests = proxy.log();
    let sent: u64 = requests.iter().filter_map(|r| r.body_len).sum();
    let copies = requests
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains("uploads"))
        .count();
    let biggest = requests
        .iter()
        .filter_map(|r| r.body_len)
        .max()
        .unwrap_or(0);
    eprintln!(
        "tracked {} B: {} requests, {sent} B sent, {copies} appends by copy, the largest body {biggest} B",
        file.len(),
        requests.len()
    );
    assert!(copies >= 2, "appends by copy past 5 MiB: {copies}");
    // Whole re-uploads at each flush would send the log several times over;
    // below 5 MiB it is (at most 5 MiB a flush), past it only what is new.
    assert!(
        sent < 2 * file.len() as u64,
        "{sent} B sent for a log of {} B",
        file.len()
    );
}

#[test]
fn a_kill_9_mid_run_is_recovered_on_the_local_store() {
    a_killed_tracker_is_continued_by_the_next(On::Local);
}

#[test]
fn a_kill_9_mid_run_is_recovered_on_azurite() {
    if let Some(azurite) = Azurite::shared() {
        a_killed_tracker_is_continued_by_the_next(On::Azurite(azurite));
    }
}

fn track_args(script: &str) -> Vec<&str> {
    vec![
        "track", "--job", "j", "--task", "t1", "--kind", "TaskLog", "log.txt", "--", "sh", "-c",
        script,
    ]
}

#[test]
fn the_exit_code_is_the_commands_own() {
    let env = Env::new();
    env.cmd(&track_args("echo one >> log.txt; exit 3"))
        .assert()
        .code(3);
    env.cmd(&track_args("echo two >> log.txt; kill -9 $$"))
        .assert()
        .code(128 + 9);
    let stored = env.store().join("job-j/t1/$TaskLog/log.txt");
    assert_eq!(fs::read_to_string(stored).expect("stored"), "one\ntwo\n");
    env.cmd(&[
        "track",
        "--job",
        "j",
        "log.txt",
        "--",
        "no-such-command-here",
    ])
    .assert()
    .code(127)
    .stderr(predicate::str::contains("cannot run no-such-command-here"));
}

#[test]
fn a_command_that_succeeded_but_could_not_be_stored_exits_75() {
    let env = Env::new();
    // A file where the job's container folder would go: every write fails.
    fs::create_dir_all(env.store()).expect("store");
    fs::write(env.store().join("job-j"), "in the way").expect("blocker");
    env.cmd(&track_args("echo hello >> log.txt"))
        .assert()
        .code(75)
        .stderr(predicate::str::contains("cannot store what log.txt gained"))
        .stderr(predicate::str::contains("not a folder is in the way"));
    // A failing command keeps its own code.
    env.cmd(&track_args("echo hello >> log.txt; exit 4"))
        .assert()
        .code(4);
    assert_eq!(
        fs::read_to_string(env.path().join("log.txt")).expect("log"),
        "hello\nhello\n"
    );
}

#[test]
fn bad_arguments_are_usage_errors_and_run_nothing() {
    let env = Env::new();
    let marker = env.path().join("ran");
    let script = format!("touch {}", marker.display());
    let with = |extra: &[&str]| {
        let mut args = vec!["track", "--job", "j", "--task", "t1"];
        args.extend(extra);
        args.extend(["log.txt", "--", "sh", "-c", script.as_str()]);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    for (extra, message) in [
        (&["--interval", "500ms"][..], "minimum of 1s"),
        (&["--interval", "soon"][..], "is not a duration"),
        (&["--kind", "JobOutput"][..], "job kind"),
        (&["--as", "../x.txt"][..], ".."),
    ] {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.cmd(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    assert!(!Path::new(&marker).exists(), "the command never ran");
}

#[test]
fn a_destination_can_be_given() {
    let env = Env::new();
    env.cmd(&[
        "track",
        "--job",
        "j",
        "--task",
        "t1",
        "--kind",
        "TaskLog",
        "--as",
        "logs/main.log",
        "out/log.txt",
        "--",
        "sh",
        "-c",
        "mkdir -p out; echo hi > out/log.txt",
    ])
    .assert()
    .success()
    .stdout("");
    let stored = env.store().join("job-j/t1/$TaskLog/logs/main.log");
    assert_eq!(fs::read_to_string(stored).expect("stored"), "hi\n");
}
