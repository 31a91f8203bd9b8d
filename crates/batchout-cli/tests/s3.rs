//! The `batchout` binary on S3: `--store s3://BUCKET/PREFIX` with the
//! standard AWS variables, against SeaweedFS (a real server, which checks
//! signatures and checksums) started by the test harness on loopback. Every
//! command's round trip, large files in parts, boto3 reading what batchout
//! writes at the convention keys and the reverse, a wrong secret refused at
//! once with what to do and never shown, and keys that climb (stored by
//! boto3 on moto, since SeaweedFS refuses them) kept out of a download's
//! destination.

mod support;

use std::fs;

use assert_cmd::Command;
use batchout_testkit::seaweed::{BUCKET, SECRET_KEY};
use batchout_testkit::{AwsMetadata, Boto3, MotoS3, SeaweedFs};
use predicates::prelude::*;
use serde_json::Value;
use support::server::Server;
use support::{Env, files_below, job, stdout};

/// The AWS variables a test sets or clears, so none is inherited.
const AWS: [&str; 22] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "BATCHOUT_S3_ADDRESSING",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_CA_BUNDLE",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_SSO",
];

/// `batchout ARGS` on `s3://BUCKET/PREFIX` of the server whose variables
/// are `aws`, with no other AWS variable and no `~/.aws`.
fn on_s3(env: &Env, aws: &[(&'static str, String)], prefix: &str, args: &[&str]) -> Command {
    let mut cmd = env.cmd_on(&format!("s3://{BUCKET}/{prefix}"), args);
    for name in AWS {
        cmd.env_remove(name);
    }
    cmd.env("HOME", env.path());
    for (name, value) in aws {
        cmd.env(name, value);
    }
    cmd
}

/// Pseudo-random bytes.
fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn every_command_round_trips_on_s3() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let aws = server.env();
    let env = Env::new();
    let job = job("s3");
    let prefix = format!("cli-{job}");
    let run = |args: &[&str]| on_s3(&env, &aws, &prefix, args);
    run(&["prepare", "--job", &job])
        .assert()
        .success()
        .stdout(predicate::str::contains("created container"));
    run(&["prepare", "--job", &job]).assert().success();
    env.write("out/result.txt", "42\n");
    // Larger than one request (32 MiB): a multipart upload of 8 MiB parts.
    let big = data(33 * 1024 * 1024 + 77);
    fs::write(env.path().join("big.bin"), &big).expect("write");
    run(&[
        "save",
        "--job",
        &job,
        "--task",
        "t1",
        "out/result.txt",
        "big.bin",
    ])
    .assert()
    .success();
    run(&[
        "save-text",
        "--job",
        &job,
        "--kind",
        "JobOutput",
        "--as",
        "summary.txt",
        "done",
    ])
    .assert()
    .success();
    let listed = stdout(&mut run(&["ls", "--job", &job, "--task", "t1"]));
    assert!(
        listed.contains("  $TaskOutput/big.bin\n")
            && listed.contains("  $TaskOutput/out/result.txt\n"),
        "{listed}"
    );
    assert_eq!(stdout(&mut run(&["tasks", "--job", &job])), "t1\n");
    let jobs: Value = serde_json::from_str(&stdout(&mut run(&["jobs", "--json"]))).expect("JSON");
    let this = jobs
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["job"] == job.as_str())
        .unwrap_or_else(|| panic!("the job is listed: {jobs}"));
    assert_eq!(this["tasks"].as_u64(), Some(1), "{this}");
    assert_eq!(
        stdout(&mut run(&[
            "get",
            "--job",
            &job,
            "--task",
            "t1",
            "out/result.txt",
            "-o",
            "-"
        ])),
        "42\n"
    );
    run(&["download", "--job", &job, "--dest", "all"])
        .assert()
        .success();
    assert_eq!(
        files_below(&env.path().join("all")),
        [
            "$JobOutput/summary.txt",
            "t1/$TaskOutput/big.bin",
            "t1/$TaskOutput/out/result.txt"
        ]
    );
    let back = fs::read(env.path().join("all/t1/$TaskOutput/big.bin")).expect("read");
    assert!(back == big, "the large file comes back intact");
    run(&["rm", "--job", &job, "--task", "t1", "big.bin"])
        .assert()
        .success();
    let listed = stdout(&mut run(&["ls", "--job", &job, "--task", "t1"]));
    assert!(!listed.contains("big.bin"), "{listed}");
    run(&["rm", "--job", &job, "--task", "t1", "big.bin"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no TaskOutput output"));
    run(&["rm", "--job", &job, "--task", "t1", "--all"])
        .assert()
        .success();
    // No SAS on S3: `sas` says what a task should use instead.
    run(&["sas", "--job", &job]).assert().failure().stderr(
        predicate::str::contains("cannot presign")
            .and(predicate::str::contains("instance profile")),
    );
    let listed = stdout(&mut run(&["ls", "--job", &job, "--task", "t1"]));
    assert!(!listed.contains("result.txt"), "{listed}");
}

#[test]
fn boto3_reads_what_batchout_writes_at_the_convention_keys_and_the_reverse() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let Some(sdk) = Boto3::find(server.env()) else {
        return;
    };
    let aws = server.env();
    let env = Env::new();
    let job = job("interop");
    let container = format!("job-{job}");
    let prefix = format!("interop/{job}");
    let run = |args: &[&str]| on_s3(&env, &aws, &prefix, args);
    env.write("log.txt", "from batchout\n");
    run(&[
        "save", "--job", &job, "--task", "t1", "--kind", "TaskLog", "log.txt",
    ])
    .assert()
    .success();

    // batchout → boto3, at PREFIX/<container>/<task>/$<kind>/<path>.
    let key = format!("{prefix}/{container}/t1/$TaskLog/log.txt");
    let listed = sdk.run_json(&["list", BUCKET, &format!("{prefix}/{container}/")]);
    let keys: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        [
            format!("{prefix}/{container}/.batchout-container"),
            key.clone()
        ]
    );
    let out = env.path().join("by-boto3.txt");
    let got = sdk.run_json(&["download", BUCKET, &key, out.to_str().expect("UTF-8")]);
    assert_eq!(fs::read_to_string(&out).expect("read"), "from batchout\n");
    let head = sdk.run_json(&["head", BUCKET, &key]);
    assert_eq!(head["content_type"], "text/plain", "{head}");
    assert!(
        got["crc64nvme"].is_string(),
        "the CRC-64/NVME is S3's own: {got}"
    );

    // boto3 → batchout: one small object, one in parts (boto3's own
    // multipart, above 8 MiB), each with its CRC-64/NVME.
    let small = env.write("small.txt", "from boto3\n");
    let big = env.path().join("big.bin");
    let content = data(9 * 1024 * 1024 + 5);
    fs::write(&big, &content).expect("write");
    for (path, name) in [(&small, "small.txt"), (&big, "big.bin")] {
        let key = format!("{prefix}/{container}/t2/$TaskOutput/{name}");
        sdk.run_json(&["upload", BUCKET, &key, path.to_str().expect("UTF-8")]);
    }
    assert_eq!(stdout(&mut run(&["tasks", "--job", &job])), "t1\nt2\n");
    assert_eq!(
        stdout(&mut run(&[
            "get",
            "--job",
            &job,
            "--task",
            "t2",
            "small.txt",
            "-o",
            "-"
        ])),
        "from boto3\n"
    );
    run(&["download", "--job", &job, "--task", "t2", "--dest", "got"])
        .assert()
        .success();
    let back = fs::read(env.path().join("got/$TaskOutput/big.bin")).expect("read");
    assert!(back == content, "boto3's multipart object, read back whole");
}

#[test]
fn a_wrong_secret_is_refused_at_once_with_what_to_do_and_never_shown() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let env = Env::new();
    let wrong = "wrong-secret-do-not-print";
    let mut aws = server.env();
    aws.retain(|(name, _)| *name != "AWS_SECRET_ACCESS_KEY");
    aws.push(("AWS_SECRET_ACCESS_KEY", wrong.to_owned()));
    env.write("f.txt", "x");
    let started = std::time::Instant::now();
    let out = on_s3(
        &env,
        &aws,
        "denied",
        &["save", "--job", "j", "--task", "t", "f.txt"],
    )
    .env("BATCHOUT_LOG", "trace")
    .assert()
    .code(1)
    .stderr(predicate::str::contains("SignatureDoesNotMatch"))
    .stderr(predicate::str::contains("check AWS_SECRET_ACCESS_KEY"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "refused at once, not retried"
    );
    let output = out.get_output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!text.contains(wrong), "the secret was printed:\n{text}");

    // Nor does a trace of a success show the real one.
    let out = on_s3(&env, &server.env(), "denied", &["ls", "--job", "j"])
        .env("BATCHOUT_LOG", "trace")
        .assert();
    let output = out.get_output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !text.contains(SECRET_KEY),
        "the secret was printed:\n{text}"
    );
}

#[test]
fn keys_that_climb_never_leave_the_download_destination() {
    let Some(server) = MotoS3::shared() else {
        return;
    };
    let Some(sdk) = Boto3::find(server.env()) else {
        return;
    };
    let aws = server.env();
    let env = Env::new();
    let job = job("climb");
    let container = format!("job-{job}");
    let run = |args: &[&str]| on_s3(&env, &aws, "hostile", args);
    env.write("ok.txt", "ok");
    run(&["save", "--job", &job, "--task", "t", "ok.txt"])
        .assert()
        .success();
    // What another tool can store: S3 keeps `..` segments as they are.
    let planted = env.write("planted.txt", "planted");
    for name in [
        "../../evil.txt",
        "..\\..\\evil2.txt",
        "a/../../../evil3.txt",
    ] {
        let key = format!("hostile/{container}/t/$TaskOutput/{name}");
        sdk.run_json(&["upload", BUCKET, &key, planted.to_str().expect("UTF-8")]);
    }
    let work = env.path().join("work");
    fs::create_dir_all(&work).expect("mkdir");
    let dest = work.join("dest");
    run(&[
        "download",
        "--job",
        &job,
        "--task",
        "t",
        "--dest",
        dest.to_str().expect("UTF-8"),
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("refusing to download"))
    .stderr(predicate::str::contains("../../evil.txt"));
    assert_eq!(files_below(&dest), ["$TaskOutput/ok.txt"]);
    assert_eq!(files_below(&work), ["dest/$TaskOutput/ok.txt"]);
    for evil in ["evil.txt", "evil2.txt", "evil3.txt"] {
        assert!(!env.path().join(evil).exists(), "{evil}");
        assert!(!work.join(evil).exists(), "{evil}");
    }
}

/// `run` tracks the command's logs: below 5 MiB each flush stores the log
/// whole, on the version last written (`If-Match`).
#[test]
fn run_stores_its_logs_and_outputs_on_s3() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let aws = server.env();
    let env = Env::new();
    let job = job("run");
    let run = |args: &[&str]| on_s3(&env, &aws, "run", args);
    let script = "echo hello; echo oops >&2; mkdir -p out; echo r > out/result.txt";
    run(&[
        "run",
        "--job",
        &job,
        "--task",
        "t",
        "--output",
        "out/*.txt",
        "--",
        "sh",
        "-c",
        script,
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("hello"));
    let get = |kind: &str, name: &str| {
        stdout(&mut run(&[
            "get", "--job", &job, "--task", "t", "--kind", kind, name, "-o", "-",
        ]))
    };
    assert_eq!(get("TaskLog", "stdout.txt"), "hello\n");
    assert_eq!(get("TaskLog", "stderr.txt"), "oops\n");
    assert_eq!(get("TaskOutput", "result.txt"), "r\n");
}

#[test]
fn the_viewer_serves_a_job_on_s3() {
    let Some(server) = SeaweedFs::shared() else {
        return;
    };
    let aws = server.env();
    let env = Env::new();
    let job = job("s3-serve");
    env.write("out/result.txt", "42\n");
    on_s3(
        &env,
        &aws,
        "serve",
        &["save", "--job", &job, "--task", "t1", "out/result.txt"],
    )
    .assert()
    .success();
    let mut cmd = env.process(&["serve", "--listen", "127.0.0.1:0"]);
    for name in AWS {
        cmd.env_remove(name);
    }
    cmd.env("HOME", env.path())
        .env("BATCHOUT_STORE", format!("s3://{BUCKET}/serve"));
    for (name, value) in &aws {
        cmd.env(name, value);
    }
    let viewer = Server::spawn(cmd);
    let (status, body) = viewer.get("/api/jobs", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("\"job\":\"{job}\"")), "{body}");
    let (status, page) = viewer.get(&format!("/jobs/{job}"), "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">t1</a>"), "{page}");
    let (status, bytes) = viewer.get(
        &format!("/files/jobs/{job}/tasks/t1/TaskOutput/out/result.txt"),
        "",
    );
    assert_eq!((status, bytes.as_str()), (200, "42\n"));
    viewer.stop();
}

/// On an EC2 instance: no keys anywhere, the instance's role from IMDS
/// (a stand-in handing out a session moto's STS issued, with moto checking
/// every signature and the role's policy). Every command signs with it, and
/// no secret shows, not even in a trace.
#[test]
fn an_instance_role_signs_every_command_and_no_secret_shows() {
    let Some(server) = MotoS3::start() else {
        return;
    };
    let ids = server.make_identities();
    server.enforce_auth(0);
    let text = |a: &str, b: &str| ids[a][b].as_str().expect("a string").to_owned();
    let imds = AwsMetadata::start(&text("session", "id"), &text("session", "secret"));
    imds.set_session_token(&text("session", "token"));
    let aws = vec![
        ("AWS_ENDPOINT_URL", server.endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.imds_endpoint()),
        ("BATCHOUT_LOG", "trace".to_owned()),
    ];
    let env = Env::new();
    let job = job("imds");
    env.write("out/result.txt", "42\n");
    let mut seen = String::new();
    let mut read_back = String::new();
    for args in [
        vec!["prepare", "--job", &job],
        vec![
            "save",
            "--job",
            &job,
            "--task",
            "t1",
            "--kind",
            "TaskOutput",
            "out/result.txt",
        ],
        vec!["ls", "--job", &job, "--task", "t1", "--json"],
        vec![
            "get",
            "--job",
            &job,
            "--task",
            "t1",
            "--kind",
            "TaskOutput",
            "out/result.txt",
            "-o",
            "-",
        ],
    ] {
        let output = on_s3(&env, &aws, "imds", &args)
            .output()
            .expect("run batchout");
        let out = String::from_utf8_lossy(&output.stdout).into_owned();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{args:?}: {err}");
        if args[0] == "get" {
            read_back = out.clone();
        }
        seen.push_str(&out);
        seen.push_str(&err);
    }
    assert_eq!(read_back, "42\n", "the output read back by get");
    assert!(
        seen.contains("signed in to S3 with the instance's role"),
        "{seen}"
    );
    let mut secrets = imds.secrets();
    secrets.push(text("session", "token"));
    for secret in secrets {
        assert!(!seen.contains(&secret), "a secret shows: {secret}");
    }
}
