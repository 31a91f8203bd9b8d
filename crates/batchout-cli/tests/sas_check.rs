//! `batchout sas --check` and `--check-url` on Azurite: with the URL alone,
//! a probe is saved, appended to, read back, listed and deleted; each step
//! that the SAS does not permit names the letter it lacks, the check exits
//! 1, and no signature is ever printed but the URL `sas` makes.

mod support;

use std::time::Duration;

use batchout::{ContainerName, JobId};
use batchout_testkit::Azurite;
use futures::TryStreamExt;
use serde_json::Value;
use support::{Env, job, stdout};

/// `batchout sas` for `job` on Azurite with these permissions and expiry.
fn sas(env: &Env, azurite: &Azurite, job: &str, permissions: &str, expiry: &str) -> String {
    stdout(&mut env.cmd_on(
        &azurite.blob_endpoint(),
        &[
            "sas",
            "--job",
            job,
            "--permissions",
            permissions,
            "--expiry",
            expiry,
        ],
    ))
    .trim()
    .to_owned()
}

/// A prepared job on Azurite.
fn prepared(env: &Env, azurite: &Azurite, name: &str) -> String {
    let job = job(name);
    env.cmd_on(&azurite.blob_endpoint(), &["prepare", "--job", &job])
        .assert()
        .success();
    job
}

/// What a run printed: its exit code, stdout and stderr.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).expect("JSON on stdout")
    }
}

/// `batchout sas --check-url - ARGS` with `url` on standard input: no store,
/// no key, no variable.
fn check_url(env: &Env, url: &str, args: &[&str]) -> Ran {
    let mut all = vec!["sas", "--check-url", "-"];
    all.extend(args);
    let out = env
        .cmd(&all)
        .write_stdin(format!("{url}\n"))
        .output()
        .expect("runs");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `batchout sas --job JOB --check ARGS` with the account key.
fn made_and_checked(env: &Env, azurite: &Azurite, job: &str, args: &[&str]) -> Ran {
    let mut all = vec!["sas", "--job", job, "--check"];
    all.extend(args);
    let out = env
        .cmd_on(&azurite.blob_endpoint(), &all)
        .output()
        .expect("runs");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every blob in the job's container, as the account key sees it.
fn blobs(azurite: &Azurite, job: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let store = batchout::open(&azurite.blob_endpoint()).expect("the store");
        let container = ContainerName::for_job(&JobId::new(job).expect("valid"));
        store
            .list(&container, "")
            .map_ok(|meta| meta.name)
            .try_collect()
            .await
            .expect("listed")
    })
}

/// The step `name` of a check's JSON.
fn step<'a>(check: &'a Value, name: &str) -> &'a Value {
    check["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {check}"))
}

/// The signature of a SAS URL.
fn signature(url: &str) -> String {
    url.split("sig=").nth(1).expect("signed").to_owned()
}

#[test]
fn a_sas_with_every_permission_passes_every_step_and_leaves_nothing() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = prepared(&env, azurite, "full");
    let url = sas(&env, azurite, &job, "racwdl", "1h");
    let ran = check_url(&env, &url, &["--json"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let check = ran.json();
    assert_eq!(check["passed"], true, "{check}");
    assert_eq!(
        check["container"],
        ContainerName::for_job(&JobId::new(&job).expect("valid")).as_str()
    );
    assert_eq!(check["permissions"], "racwdl");
    for name in ["expiry", "create", "append", "read", "list", "delete"] {
        assert_eq!(step(&check, name)["status"], "passed", "{name}: {check}");
    }
    let probes = check["probes"].as_array().expect("probes");
    assert_eq!(probes.len(), 2, "a saved probe and an appended one");
    for probe in probes {
        assert!(
            probe
                .as_str()
                .expect("a name")
                .starts_with(".batchout-check/"),
            "{probe}"
        );
    }
    assert_eq!(check["left_behind"], serde_json::json!([]));
    assert!(blobs(azurite, &job).is_empty(), "the probes were deleted");

    // In text, on stdout, each step and the verdict.
    let ran = check_url(&env, &url, &[]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    for needle in [
        "passed   create",
        "passed   append",
        "passed   read",
        "passed   list",
        "passed   delete",
        "passed: a task with this URL can save, append, read and list",
    ] {
        assert!(ran.stdout.contains(needle), "{needle}:\n{}", ran.all());
    }
}

#[test]
fn a_read_and_list_sas_fails_at_create_missing_c_or_w() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = prepared(&env, azurite, "rl");
    let ran = made_and_checked(&env, azurite, &job, &["--permissions", "rl"]);
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(
        ran.stderr
            .contains("failed   create  missing c/w: the SAS (granting 'rl') cannot create a blob"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("error: the SAS URL of container")
            && ran
                .stderr
                .contains("failed its check: create (missing c/w)"),
        "{}",
        ran.stderr
    );
    // Read and list are permitted, and said so; nothing was written.
    assert!(ran.stderr.contains("passed   read"), "{}", ran.stderr);
    assert!(ran.stderr.contains("passed   list"), "{}", ran.stderr);
    assert!(blobs(azurite, &job).is_empty());

    let url = sas(&env, azurite, &job, "rl", "1h");
    let ran = check_url(&env, &url, &["--json"]);
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    let check = ran.json();
    assert_eq!(check["passed"], false);
    assert_eq!(step(&check, "create")["status"], "failed");
    assert_eq!(step(&check, "create")["missing"], "c/w");
    assert_eq!(step(&check, "delete")["status"], "skipped");
}

#[test]
fn a_sas_without_delete_says_so_and_its_probes_are_never_taken_for_outputs() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let key = azurite.blob_endpoint();
    let job = prepared(&env, azurite, "racw");
    env.write("a.txt", "a");
    env.cmd_on(&key, &["save", "--job", &job, "--task", "t", "a.txt"])
        .assert()
        .success();

    // Checked where it was made: the key removes what the SAS cannot.
    let ran = made_and_checked(&env, azurite, &job, &["--permissions", "racw", "--json"]);
    assert_eq!(ran.code, Some(1), "list is missing: {}", ran.all());
    let check = ran.json()["check"].clone();
    assert_eq!(step(&check, "list")["missing"], "l");
    let delete = step(&check, "delete");
    assert_eq!(delete["status"], "warning", "{check}");
    assert_eq!(delete["missing"], "d");
    let detail = delete["detail"].as_str().expect("detail");
    assert!(detail.contains("which tasks do not need"), "{detail}");
    assert!(detail.contains("(account key) instead"), "{detail}");
    assert_eq!(check["left_behind"], serde_json::json!([]));
    assert_eq!(blobs(azurite, &job), ["t/$TaskOutput/a.txt"]);

    // Checked with the URL alone (as a task would): the probes stay, and say so.
    let url = sas(&env, azurite, &job, "racw", "1h");
    let ran = check_url(&env, &url, &["--json"]);
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    let check = ran.json();
    let delete = step(&check, "delete");
    assert_eq!(delete["status"], "warning", "{check}");
    let detail = delete["detail"].as_str().expect("detail");
    assert!(detail.contains("cannot delete: that needs 'd'"), "{detail}");
    assert!(
        detail.contains("stay: harmless, under .batchout-check/"),
        "{detail}"
    );
    let left: Vec<&str> = check["left_behind"]
        .as_array()
        .expect("left")
        .iter()
        .map(|p| p.as_str().expect("a name"))
        .collect();
    assert_eq!(left.len(), 2, "{check}");
    let mut stored = blobs(azurite, &job);
    stored.sort();
    let mut expected: Vec<String> = left.iter().map(|p| (*p).to_owned()).collect();
    expected.push("t/$TaskOutput/a.txt".into());
    expected.sort();
    assert_eq!(stored, expected, "the probes are in the container");

    // …and nothing that lists outputs counts them.
    let listed: Value = serde_json::from_str(&stdout(
        &mut env.cmd_on(&key, &["ls", "--job", &job, "--json"]),
    ))
    .expect("JSON");
    let names: Vec<&str> = listed
        .as_array()
        .expect("rows")
        .iter()
        .map(|o| o["blob"].as_str().expect("blob"))
        .collect();
    assert_eq!(names, ["t/$TaskOutput/a.txt"]);
    let tasks = stdout(&mut env.cmd_on(&key, &["tasks", "--job", &job]));
    assert_eq!(tasks, "t\n");
    let jobs: Value =
        serde_json::from_str(&stdout(&mut env.cmd_on(&key, &["jobs", "--json"]))).expect("JSON");
    let this = jobs
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["job"] == job.as_str())
        .expect("the job is listed");
    assert_eq!(
        (this["outputs"].as_u64(), this["tasks"].as_u64()),
        (Some(1), Some(1))
    );
    env.cmd_on(&key, &["download", "--job", &job, "--dest", "d"])
        .assert()
        .success();
    assert_eq!(
        support::files_below(&env.path().join("d")),
        ["t/$TaskOutput/a.txt"]
    );
}

#[test]
fn a_create_and_write_sas_fails_at_read_missing_r() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = prepared(&env, azurite, "cw");
    let url = sas(&env, azurite, &job, "cw", "1h");
    let ran = check_url(&env, &url, &[]);
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(ran.stdout.contains("passed   create"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("passed   append"),
        "'w' permits appends:\n{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("failed   read    missing r: the SAS (granting 'cw') cannot read"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stderr.contains("read (missing r), list (missing l)"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("batchout sas --permissions racwl"),
        "the fix: {}",
        ran.stderr
    );
}

#[test]
fn an_expired_sas_fails_clearly_and_writes_nothing() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = prepared(&env, azurite, "expired");
    let url = sas(&env, azurite, &job, "racwdl", "1s");
    std::thread::sleep(Duration::from_secs(2));
    let ran = check_url(&env, &url, &[]);
    assert_eq!(ran.code, Some(1), "{}", ran.all());
    assert!(
        ran.stdout.contains("failed   expiry  the SAS expired at"),
        "{}",
        ran.stdout
    );
    for later in ["create", "append", "read", "list", "delete"] {
        assert!(
            ran.stdout
                .contains(&format!("skipped  {later:<7} not tried")),
            "{later}:\n{}",
            ran.stdout
        );
    }
    assert!(
        ran.stderr
            .contains("failed its check: expiry (the SAS expired at"),
        "{}",
        ran.stderr
    );
    assert!(blobs(azurite, &job).is_empty());
}

#[test]
fn a_sas_that_expires_before_the_longest_task_is_warned_about() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let key = azurite.blob_endpoint();
    let job = prepared(&env, azurite, "soon");
    // Made: the warning on stderr, the URL still on stdout, exit 0.
    let out = env
        .cmd_on(
            &key,
            &[
                "sas",
                "--job",
                &job,
                "--expiry",
                "1h",
                "--max-task-time",
                "12h",
            ],
        )
        .assert()
        .success();
    let (made, warned) = (
        String::from_utf8_lossy(&out.get_output().stdout).into_owned(),
        String::from_utf8_lossy(&out.get_output().stderr).into_owned(),
    );
    assert!(made.starts_with("http://"), "{made}");
    assert!(
        warned.contains("warning: the SAS expires at")
            && warned.contains("sooner than a task may run (12h)"),
        "{warned}"
    );
    let out = env
        .cmd_on(
            &key,
            &[
                "sas",
                "--job",
                &job,
                "--expiry",
                "7d",
                "--max-task-time",
                "12h",
            ],
        )
        .assert()
        .success();
    assert!(out.get_output().stderr.is_empty(), "a week outlasts 12h");

    // Given: the expiry step warns, and the check still passes.
    let url = made.trim().to_owned();
    let ran = check_url(&env, &url, &["--max-task-time", "12h", "--json"]);
    assert_eq!(ran.code, Some(0), "{}", ran.all());
    let check = ran.json();
    assert_eq!(check["passed"], true);
    let expiry = step(&check, "expiry");
    assert_eq!(expiry["status"], "warning", "{check}");
    assert!(
        expiry["detail"]
            .as_str()
            .expect("detail")
            .contains("sooner than a task may run (12h)"),
        "{expiry}"
    );
    let ran = check_url(&env, &url, &["--max-task-time", "30m", "--json"]);
    assert_eq!(step(&ran.json(), "expiry")["status"], "passed");

    // A bad duration is a usage error.
    let ran = check_url(&env, &url, &["--max-task-time", "12"]);
    assert_eq!(ran.code, Some(2), "{}", ran.all());
    assert!(
        ran.stderr
            .contains("--max-task-time \"12\" is not a duration"),
        "{}",
        ran.stderr
    );
}

#[test]
fn urls_that_cannot_be_checked_are_usage_errors() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = prepared(&env, azurite, "usage");
    let url = sas(&env, azurite, &job, "racwl", "1h");
    let cases: [(Ran, &str); 4] = [
        (
            check_url(&env, &url, &["--job", "another-job"]),
            "not job another-job's container job-another-job; give that job's own SAS URL",
        ),
        (
            check_url(&env, url.split('?').next().expect("a URL"), &[]),
            "carries no SAS",
        ),
        (
            check_url(&env, &azurite.blob_endpoint(), &[]),
            "carries no SAS",
        ),
        (check_url(&env, "/some/dir", &[]), "invalid SAS URL"),
    ];
    for (ran, needle) in cases {
        assert_eq!(ran.code, Some(2), "{needle}: {}", ran.all());
        assert!(ran.stderr.contains(needle), "{needle}: {}", ran.stderr);
    }
    // The job of a task (AZ_BATCH_JOB_ID) is held to its URL too.
    let out = env
        .cmd(&["sas", "--check-url", "-"])
        .env("AZ_BATCH_JOB_ID", &job)
        .write_stdin(url.clone())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.cmd(&["sas", "--check-url", "-", "--check"])
        .write_stdin(url)
        .assert()
        .code(2);
}

#[test]
fn no_signature_reaches_any_output_but_the_url_sas_makes() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = prepared(&env, azurite, "secret");
    let mut runs = Vec::new();
    let mut signatures = Vec::new();
    for permissions in ["racwdl", "racwl", "rl", "cw"] {
        let url = sas(&env, azurite, &job, permissions, "1h");
        signatures.push(signature(&url));
        runs.push(check_url(&env, &url, &[]));
        runs.push(check_url(&env, &url, &["--json", "-vv"]));
        let forged = url.replace(&signature(&url), "Zm9yZ2VkIHNpZ25hdHVyZQ%3D%3D");
        runs.push(check_url(&env, &forged, &["--json"]));
    }
    for ran in &runs {
        for sig in &signatures {
            assert!(
                !ran.all().contains(sig.as_str()),
                "a signature leaked:\n{}",
                ran.all()
            );
        }
        assert!(
            !ran.all().contains("Zm9yZ2VkIHNpZ25hdHVyZQ"),
            "{}",
            ran.all()
        );
    }
    let forged = runs.last().expect("runs");
    assert_eq!(
        forged.code,
        Some(1),
        "a forged signature fails: {}",
        forged.all()
    );

    // Made and checked: the URL is the product, on stdout once; the report
    // on stderr has no signature.
    for args in [&[][..], &["--json"][..]] {
        let ran = made_and_checked(&env, azurite, &job, args);
        assert_eq!(ran.code, Some(0), "{}", ran.all());
        let url = if args.is_empty() {
            ran.stdout.lines().next().expect("the URL").to_owned()
        } else {
            ran.json()["url"].as_str().expect("url").to_owned()
        };
        let sig = signature(&url);
        assert_eq!(
            ran.stdout.matches(sig.as_str()).count(),
            1,
            "{}",
            ran.stdout
        );
        assert!(!ran.stderr.contains(sig.as_str()), "{}", ran.stderr);
    }
}
