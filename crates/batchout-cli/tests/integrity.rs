//! Integrity end to end, with the `batchout` binary on Azurite: the CRC-64 a
//! save records (as the official Python SDK sees it), and the SHA-256 with
//! `BATCHOUT_SHA256=1`; `get` and `download` refusing a blob rewritten under
//! stale metadata (and `--no-verify` fetching it), blobs of earlier versions
//! (SHA-256 only) still checked, a file modified during its upload never
//! stored, cut downloads resumed, and the run manifest carrying the uploaded
//! checksums.

mod support;

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use batchout_testkit::{Azurite, FaultProxy, Matcher, PythonSdk, Rules};
use predicates::prelude::*;
use sha2::{Digest, Sha256};
use support::{Env, crc64nvme, files_below, job};

/// The shared Azurite, and the Python SDK signed in to it; `None` (the test
/// is skipped) where either is missing.
fn azurite_and_sdk() -> Option<(&'static Azurite, PythonSdk)> {
    let azurite = Azurite::shared()?;
    let sdk = PythonSdk::find()?.with_connection_string(azurite.connection_string());
    Some((azurite, sdk))
}

/// `batchout` on `store`.
fn on(env: &Env, store: &str, args: &[&str]) -> Command {
    env.cmd_on(store, args)
}

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_blob_rewritten_under_stale_metadata_is_refused_unless_no_verify() {
    let Some((azurite, sdk)) = azurite_and_sdk() else {
        return;
    };
    let store = azurite.blob_endpoint();
    let env = Env::new();
    let job = job("stale");
    let container = format!("job-{job}");
    let blob = "t1/$TaskOutput/result.txt";
    env.write("result.txt", "the real result\n");
    on(
        &env,
        &store,
        &["save", "--job", &job, "--task", "t1", "result.txt"],
    )
    .assert()
    .success();

    // What batchout recorded, as Microsoft's SDK reads it: the CRC-64 only.
    let metadata = sdk.run_json(&["metadata", &container, blob]);
    assert_eq!(
        metadata["crc64nvme"].as_str(),
        Some(&*crc64nvme(b"the real result\n")),
        "{metadata}"
    );
    assert_eq!(metadata.get("sha256"), None, "{metadata}");

    // Another writer replaces the content but keeps the old metadata.
    env.write("tampered.txt", "something else entirely\n");
    let tampered = env.path().join("tampered.txt");
    sdk.run_json(&[
        "upload-block",
        &container,
        blob,
        tampered.to_str().expect("UTF-8"),
        "--keep-metadata",
    ]);
    let get = ["get", "--job", &job, "--task", "t1", "result.txt"];
    fs::create_dir(env.path().join("out")).expect("mkdir");
    let target = env.path().join("out/result.txt");
    let target_arg = target.to_str().expect("UTF-8");
    on(&env, &store, &[&get[..], &["-o", target_arg]].concat())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(crc64nvme(b"the real result\n")))
        .stderr(predicate::str::contains(crc64nvme(
            b"something else entirely\n",
        )))
        .stderr(predicate::str::contains("CRC-64/NVME"))
        .stderr(predicate::str::contains("--no-verify fetches it anyway"));
    assert!(
        files_below(&env.path().join("out")).is_empty(),
        "nothing written, no temporary file left"
    );
    on(&env, &store, &["download", "--job", &job, "--dest", "all"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "corrupt or was changed by another writer",
        ));
    assert!(files_below(&env.path().join("all")).is_empty());

    on(
        &env,
        &store,
        &[&get[..], &["-o", target_arg, "--no-verify"]].concat(),
    )
    .assert()
    .success();
    assert_eq!(
        fs::read_to_string(&target).expect("read"),
        "something else entirely\n"
    );
    on(
        &env,
        &store,
        &["download", "--job", &job, "--dest", "all", "--no-verify"],
    )
    .assert()
    .success();
    assert_eq!(
        files_below(&env.path().join("all")),
        ["t1/$TaskOutput/result.txt"]
    );
}

#[test]
fn download_verifies_every_output_and_resumes_cut_bodies() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("resume");
    let mut expected = Vec::new();
    for i in 0..4u32 {
        let content: Vec<u8> = (0..(1_500_000 + i * 1000))
            .map(|n| (n.wrapping_mul(2_654_435_761).wrapping_add(i) >> 11) as u8)
            .collect();
        let name = format!("big-{i}.bin");
        fs::write(env.path().join(&name), &content).expect("write");
        expected.push((format!("t1/$TaskOutput/{name}"), content));
        on(
            &env,
            &azurite.blob_endpoint(),
            &["save", "--job", &job, "--task", "t1", &name],
        )
        .assert()
        .success();
    }
    let proxy = FaultProxy::start(azurite.addr());
    proxy.set_rules(Rules {
        cut_body_fraction: 1.0,
        only_if: Some(Matcher::method("GET").target_contains("big-")),
        fault_budget: Some(6),
        ..Rules::default()
    });
    let through = proxy.endpoint_for(&azurite.blob_endpoint());
    on(
        &env,
        &through,
        &["download", "--job", &job, "--dest", "all"],
    )
    .assert()
    .success();
    assert_eq!(proxy.stats().cut_bodies, 6, "the cuts happened");
    for (name, content) in expected {
        let copy = fs::read(env.path().join("all").join(&name)).expect("downloaded");
        assert!(copy == content, "{name} is byte-identical");
    }
}

#[test]
fn a_file_modified_during_its_upload_is_not_stored() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("modified");
    let path = env.path().join("big.bin");
    {
        let mut file = fs::File::create(&path).expect("create");
        let chunk: Vec<u8> = (0..1024 * 1024).map(|n: u32| (n >> 3) as u8).collect();
        for _ in 0..100 {
            file.write_all(&chunk).expect("write 100 MiB");
        }
    }
    let proxy = FaultProxy::start(azurite.addr());
    proxy.set_rules(Rules {
        delay: Some(Duration::from_millis(300)),
        only_if: Some(Matcher::method("PUT").target_contains("comp=block&")),
        ..Rules::default()
    });
    let through = proxy.endpoint_for(&azurite.blob_endpoint());
    on(&env, &through, &["prepare", "--job", &job])
        .assert()
        .success();
    let mut save = std::process::Command::new(assert_cmd::cargo::cargo_bin("batchout"));
    save.current_dir(env.path())
        .env("BATCHOUT_STORE", &through)
        .env_remove("AZ_BATCH_JOB_ID")
        .env_remove("AZ_BATCH_TASK_ID")
        .args(["save", "--job", &job, "--task", "t1", "big.bin"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    proxy.reset_stats();
    let child = save.spawn().expect("start batchout save");
    // The first Put Block has arrived (each waits 300 ms at the proxy): the
    // upload is under way, with most of the file still to read.
    let started = Instant::now();
    while proxy.stats().requests == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no upload began"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        file.seek(SeekFrom::Start(50 * 1024 * 1024)).expect("seek");
        file.write_all(b"rewritten meanwhile").expect("modify");
    }
    let out = child.wait_with_output().expect("batchout ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("changed while it was being uploaded")
            && stderr.contains("save it again once it is complete"),
        "{stderr}"
    );
    assert!(
        !proxy
            .log()
            .iter()
            .any(|r| r.target.contains("comp=blocklist")),
        "nothing was committed"
    );
    on(
        &env,
        &azurite.blob_endpoint(),
        &["ls", "--job", &job, "--task", "t1"],
    )
    .assert()
    .success()
    .stdout("");
}

#[test]
fn the_run_manifest_records_the_hash_of_what_was_uploaded() {
    let Some((azurite, sdk)) = azurite_and_sdk() else {
        return;
    };
    let env = Env::new();
    let job = job("manifest");
    on(
        &env,
        &azurite.blob_endpoint(),
        &[
            "run",
            "--job",
            &job,
            "--task",
            "t1",
            "--output",
            "out.txt",
            "--",
            "sh",
            "-c",
            "printf 'computed\\n' > out.txt",
        ],
    )
    .assert()
    .success();
    let manifest = on(
        &env,
        &azurite.blob_endpoint(),
        &[
            "get",
            "--job",
            &job,
            "--task",
            "t1",
            "--kind",
            "TaskLog",
            "batchout-manifest.json",
            "-o",
            "-",
        ],
    )
    .assert()
    .success();
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest.get_output().stdout).expect("JSON");
    let output = &manifest["outputs"][0];
    assert_eq!(output["blob"], "t1/$TaskOutput/out.txt", "{manifest}");
    assert_eq!(
        output["crc64nvme"].as_str(),
        Some(&*crc64nvme(b"computed\n"))
    );
    assert_eq!(output.get("sha256"), None, "{manifest}");
    let metadata = sdk.run_json(&["metadata", &format!("job-{job}"), "t1/$TaskOutput/out.txt"]);
    assert_eq!(
        metadata["crc64nvme"], output["crc64nvme"],
        "the blob records the same"
    );
}

#[test]
fn with_batchout_sha256_saves_and_the_manifest_record_the_sha256_too() {
    let Some((azurite, sdk)) = azurite_and_sdk() else {
        return;
    };
    let env = Env::new();
    let job = job("sha256");
    env.write("a.txt", "digest me\n");
    let save = ["save", "--job", &job, "--task", "t1", "a.txt"];
    let mut cmd = on(&env, &azurite.blob_endpoint(), &save);
    cmd.env("BATCHOUT_SHA256", "1").assert().success();
    let metadata = sdk.run_json(&["metadata", &format!("job-{job}"), "t1/$TaskOutput/a.txt"]);
    assert_eq!(metadata["sha256"].as_str(), Some(&*sha256(b"digest me\n")));
    assert_eq!(
        metadata["crc64nvme"].as_str(),
        Some(&*crc64nvme(b"digest me\n"))
    );

    let mut run = on(
        &env,
        &azurite.blob_endpoint(),
        &[
            "run", "--job", &job, "--task", "t2", "--output", "a.txt", "--", "true",
        ],
    );
    run.env("BATCHOUT_SHA256", "yes").assert().success();
    let upload_log = fs::read_to_string(env.path().join("fileuploadout.txt")).expect("log");
    assert!(
        upload_log.contains(&format!(
            "crc64nvme {}, sha256 {}",
            crc64nvme(b"digest me\n"),
            sha256(b"digest me\n")
        )),
        "{upload_log}"
    );

    let mut refused = on(&env, &azurite.blob_endpoint(), &save);
    refused
        .env("BATCHOUT_SHA256", "sometimes")
        .assert()
        .failure()
        .stderr(predicate::str::contains("BATCHOUT_SHA256"));
}

#[test]
fn a_blob_of_an_earlier_version_is_checked_by_its_sha256() {
    let Some((azurite, sdk)) = azurite_and_sdk() else {
        return;
    };
    let store = azurite.blob_endpoint();
    let env = Env::new();
    let job = job("legacy");
    let container = format!("job-{job}");
    on(&env, &store, &["prepare", "--job", &job])
        .assert()
        .success();
    env.write("old.txt", "saved by batchout 0.1\n");
    let old = env.path().join("old.txt");
    let old = old.to_str().expect("UTF-8");
    // As earlier versions wrote them: the SHA-256 alone.
    for (blob, recorded) in [
        (
            "t1/$TaskOutput/good.txt",
            sha256(b"saved by batchout 0.1\n"),
        ),
        ("t1/$TaskOutput/bad.txt", sha256(b"something else\n")),
    ] {
        let metadata = format!("sha256={recorded}");
        sdk.run_json(&[
            "upload-block",
            &container,
            blob,
            old,
            "--metadata",
            &metadata,
        ]);
    }
    let get = |name: &str| {
        on(
            &env,
            &store,
            &["get", "--job", &job, "--task", "t1", name, "-o", "-"],
        )
    };
    get("good.txt")
        .assert()
        .success()
        .stdout("saved by batchout 0.1\n");
    get("bad.txt")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("SHA-256"))
        .stderr(predicate::str::contains(sha256(b"something else\n")));
}
