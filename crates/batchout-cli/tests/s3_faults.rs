//! The network at its worst between the real binary and SeaweedFS, a real S3
//! server: the fault-injection proxy in between (it relays the `Host`
//! header as the client sent it, so the Signature Version 4 made for the
//! proxy's address is the one the server checks). 503 `SlowDown` answers
//! retried with backoff, answers dropped after the server applied the
//! request, a download's body cut half-way and resumed, request bodies
//! corrupted on the way and refused by the server's CRC-64/NVME check. Every
//! case ends with the stored bytes read straight from the server (not
//! through the proxy) and compared with the file.

mod support;

use std::fs;

use assert_cmd::Command;
use batchout_testkit::seaweed::BUCKET;
use batchout_testkit::{Fault, FaultProxy, Matcher, Rules, SeaweedFs};
use predicates::prelude::*;
use support::{Env, job};

/// The AWS variables a test sets or clears, so none is inherited.
const AWS: [&str; 12] = [
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
];

/// `batchout ARGS` on `s3://BUCKET/s3-faults` reached at `endpoint` (the
/// proxy's, or the server's own), with SeaweedFS's identity.
fn on_s3(env: &Env, server: &SeaweedFs, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = env.cmd_on(&format!("s3://{BUCKET}/s3-faults"), args);
    for name in AWS {
        cmd.env_remove(name);
    }
    cmd.env("HOME", env.path());
    for (name, value) in server.env() {
        cmd.env(name, value);
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint);
    cmd
}

/// The proxy in front of the shared SeaweedFS, and the endpoint to give.
fn proxied() -> Option<(&'static SeaweedFs, FaultProxy, String)> {
    let server = SeaweedFs::shared()?;
    let proxy = FaultProxy::start(server.addr());
    let endpoint = proxy.endpoint_for(&server.endpoint());
    Some((server, proxy, endpoint))
}

/// Pseudo-random bytes, different for each `seed`.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The stored output `name` of task `t`, read straight from the server.
fn stored(env: &Env, server: &SeaweedFs, job: &str, name: &str) -> Vec<u8> {
    let out = on_s3(
        env,
        server,
        &server.endpoint(),
        &["get", "--job", job, "--task", "t", name, "-o", "-"],
    )
    .assert()
    .success();
    out.get_output().stdout.clone()
}

#[test]
fn slow_down_answers_are_retried_with_backoff() {
    let Some((server, proxy, endpoint)) = proxied() else {
        return;
    };
    let env = Env::new();
    let job = job("s3-slowdown");
    let small = data(10_000, 1);
    // Larger than one request: a multipart upload, whose parts meet them too.
    let big = data(40 * 1024 * 1024 + 3, 2);
    fs::write(env.path().join("small.bin"), &small).expect("write");
    fs::write(env.path().join("big.bin"), &big).expect("write");
    proxy.set_rules(Rules {
        fail_fraction: 0.5,
        fail_status: 503,
        fail_code: Some("SlowDown"),
        seed: 0x5EED_0001,
        fault_budget: Some(6),
        ..Rules::default()
    });
    on_s3(
        &env,
        server,
        &endpoint,
        &["save", "--job", &job, "--task", "t", "small.bin", "big.bin"],
    )
    .env("BATCHOUT_RETRIES", "8")
    .assert()
    .success();
    let stats = proxy.stats();
    assert_eq!(stats.injected_failures, 6, "{stats:?}");
    proxy.clear_rules();
    assert!(stored(&env, server, &job, "small.bin") == small);
    assert!(stored(&env, server, &job, "big.bin") == big);

    // A storm that outlasts the retries is reported as such, not hidden.
    proxy.set_rules(Rules {
        fail_fraction: 1.0,
        fail_code: Some("SlowDown"),
        ..Rules::default()
    });
    on_s3(
        &env,
        server,
        &endpoint,
        &["save", "--job", &job, "--task", "t", "small.bin"],
    )
    .env("BATCHOUT_RETRIES", "2")
    .assert()
    .failure()
    .stderr(predicate::str::contains("SlowDown"))
    .stderr(predicate::str::contains("gave up after"));
}

#[test]
fn a_cut_download_is_resumed_and_verified() {
    let Some((server, proxy, endpoint)) = proxied() else {
        return;
    };
    let env = Env::new();
    let job = job("s3-cut");
    let big = data(24 * 1024 * 1024 + 11, 3);
    fs::write(env.path().join("big.bin"), &big).expect("write");
    on_s3(
        &env,
        server,
        &server.endpoint(),
        &["save", "--job", &job, "--task", "t", "big.bin"],
    )
    .assert()
    .success();
    proxy.set_rules(Rules {
        cut_body_fraction: 1.0,
        only_if: Some(Matcher::method("GET").target_contains("big.bin")),
        fault_budget: Some(2),
        ..Rules::default()
    });
    on_s3(
        &env,
        server,
        &endpoint,
        &[
            "get", "--job", &job, "--task", "t", "big.bin", "-o", "back.bin",
        ],
    )
    .assert()
    .success();
    let stats = proxy.stats();
    assert_eq!(stats.cut_bodies, 2, "{stats:?}");
    assert!(
        proxy
            .log()
            .iter()
            .filter(|r| r.fault == Some(Fault::CutBody))
            .all(|r| r.method == "GET")
    );
    assert!(
        fs::read(env.path().join("back.bin")).expect("read") == big,
        "the download, resumed twice, is the file"
    );
}

#[test]
fn dropped_answers_are_retried_without_harm() {
    let Some((server, proxy, endpoint)) = proxied() else {
        return;
    };
    let env = Env::new();
    let job = job("s3-drop");
    let small = data(70_000, 4);
    let big = data(20 * 1024 * 1024 + 5, 5);
    fs::write(env.path().join("small.bin"), &small).expect("write");
    fs::write(env.path().join("big.bin"), &big).expect("write");
    // Every PUT's answer lost once in three: PutObject and UploadPart are
    // applied by the server, and sent again.
    proxy.set_rules(Rules {
        drop_response_fraction: 0.34,
        only_if: Some(Matcher::method("PUT")),
        seed: 0x5EED_0002,
        ..Rules::default()
    });
    on_s3(
        &env,
        server,
        &endpoint,
        &["save", "--job", &job, "--task", "t", "small.bin", "big.bin"],
    )
    .env("BATCHOUT_RETRIES", "10")
    .assert()
    .success();
    let dropped = proxy.stats().dropped_responses;
    assert!(dropped > 0, "{:?}", proxy.stats());
    proxy.clear_rules();
    assert!(stored(&env, server, &job, "small.bin") == small);
    assert!(stored(&env, server, &job, "big.bin") == big);
}

#[test]
fn a_corrupted_upload_is_refused_by_the_servers_checksum() {
    let Some((server, proxy, endpoint)) = proxied() else {
        return;
    };
    let env = Env::new();
    let job = job("s3-corrupt");
    let small = data(100_000, 6);
    fs::write(env.path().join("small.bin"), &small).expect("write");
    // The first body corrupted: SeaweedFS computes the CRC-64/NVME of what it
    // got, refuses it (400 BadDigest), and the retry stores the right bytes.
    on_s3(
        &env,
        server,
        &server.endpoint(),
        &["prepare", "--job", &job],
    )
    .assert()
    .success();
    proxy.set_rules(Rules {
        corrupt_request_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("small.bin")),
        fault_budget: Some(1),
        ..Rules::default()
    });
    on_s3(
        &env,
        server,
        &endpoint,
        &["save", "--job", &job, "--task", "t", "small.bin"],
    )
    .assert()
    .success();
    let log = proxy.log();
    let corrupted: Vec<_> = log
        .iter()
        .filter(|r| r.fault == Some(Fault::CorruptedRequest))
        .collect();
    assert_eq!(corrupted.len(), 1, "{log:?}");
    assert_eq!(
        corrupted[0].status,
        Some(400),
        "the server refused it: {log:?}"
    );
    assert!(stored(&env, server, &job, "small.bin") == small);

    // Every body corrupted: nothing corrupt is stored, and the user is told.
    let other = data(100_000, 7);
    fs::write(env.path().join("small.bin"), &other).expect("write");
    proxy.set_rules(Rules {
        corrupt_request_fraction: 1.0,
        only_if: Some(Matcher::method("PUT").target_contains("small.bin")),
        ..Rules::default()
    });
    on_s3(
        &env,
        server,
        &endpoint,
        &["save", "--job", &job, "--task", "t", "small.bin"],
    )
    .env("BATCHOUT_RETRIES", "3")
    .assert()
    .failure()
    .stderr(predicate::str::contains("corrupted on the way"));
    proxy.clear_rules();
    assert!(
        stored(&env, server, &job, "small.bin") == small,
        "the object kept its previous, intact content"
    );
}

#[test]
fn files_saved_together_wait_for_one_check_of_the_job_folder() {
    let Some((server, proxy, endpoint)) = proxied() else {
        return;
    };
    let env = Env::new();
    let job = job("s3-one-check");
    for n in 0..24 {
        env.write(&format!("out/f{n:02}.txt"), &format!("file {n}\n"));
    }
    on_s3(&env, server, &endpoint, &["prepare", "--job", &job])
        .assert()
        .success();
    // A fresh process, so nothing is known of the folder yet.
    proxy.reset_stats();
    let files: Vec<String> = (0..24).map(|n| format!("out/f{n:02}.txt")).collect();
    let mut args = vec!["save", "--job", &job, "--task", "t", "--concurrency", "8"];
    args.extend(files.iter().map(String::as_str));
    on_s3(&env, server, &endpoint, &args).assert().success();
    let stats = proxy.stats();
    assert_eq!(stats.by_method.get("PUT"), Some(&24), "{stats:?}");
    assert_eq!(
        stats.by_method.get("GET"),
        Some(&1),
        "one listing checks the job's folder, however many puts start at once: {stats:?}"
    );
}
