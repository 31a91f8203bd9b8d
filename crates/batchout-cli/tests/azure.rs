//! The `batchout` binary against Azurite: the foundation's round trip with a key
//! and with nothing but the SAS URL `batchout sas` prints, over HTTPS with the
//! server's certificate verified, interop with the official Python SDK both
//! ways, errors that name their fix, secrets that never show, and a 1 GiB file
//! through bounded memory.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use batchout_testkit::{Azurite, PythonSdk};
use predicates::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{Env, collect, job, stdout};

/// `batchout` on the Azurite account, signed with its key.
fn on_azurite(env: &Env, azurite: &Azurite, args: &[&str]) -> Command {
    env.cmd_on(&azurite.blob_endpoint(), args)
}

#[test]
fn round_trip_with_the_account_key() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("key");
    env.write("out/result.txt", "42\n");
    on_azurite(&env, azurite, &["prepare", "--job", &job])
        .assert()
        .success()
        .stdout(predicate::str::contains("created container"));
    on_azurite(
        &env,
        azurite,
        &[
            "save",
            "--job",
            &job,
            "--task",
            "t1",
            "--kind",
            "TaskOutput",
            "out/result.txt",
        ],
    )
    .assert()
    .success();
    on_azurite(
        &env,
        azurite,
        &[
            "save-text",
            "--job",
            &job,
            "--kind",
            "JobOutput",
            "--as",
            "summary.txt",
            "done",
        ],
    )
    .assert()
    .success();
    let listed = stdout(&mut on_azurite(
        &env,
        azurite,
        &["ls", "--job", &job, "--task", "t1", "--kind", "TaskOutput"],
    ));
    assert!(listed.ends_with("  out/result.txt\n"), "{listed}");
    assert_eq!(
        stdout(&mut on_azurite(&env, azurite, &["tasks", "--job", &job])),
        "t1\n"
    );
    assert_eq!(
        stdout(&mut on_azurite(
            &env,
            azurite,
            &[
                "get",
                "--job",
                &job,
                "--task",
                "t1",
                "out/result.txt",
                "-o",
                "-"
            ]
        )),
        "42\n"
    );
    on_azurite(&env, azurite, &["download", "--job", &job, "--dest", "all"])
        .assert()
        .success();
    let mut files = Vec::new();
    collect(&env.path().join("all"), &env.path().join("all"), &mut files);
    files.sort();
    assert_eq!(
        files,
        ["$JobOutput/summary.txt", "t1/$TaskOutput/out/result.txt"]
    );
}

#[test]
fn round_trip_with_only_the_sas_url() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("sas");
    on_azurite(&env, azurite, &["prepare", "--job", &job])
        .assert()
        .success();
    let url = stdout(&mut on_azurite(&env, azurite, &["sas", "--job", &job]))
        .trim()
        .to_owned();
    assert!(url.contains("sp=racwl") && url.contains("sig="), "{url}");

    // The task: no key anywhere, only the URL.
    env.write("wd/result.txt", "from the task");
    let task = |args: &[&str]| {
        let mut cmd = env.cmd_in(&env.path().join("wd"), args);
        cmd.env("BATCHOUT_STORE", &url)
            .env("AZ_BATCH_JOB_ID", &job)
            .env("AZ_BATCH_TASK_ID", "task-7");
        cmd
    };
    task(&["save", "result.txt"]).assert().success();
    task(&[
        "save-text",
        "--kind",
        "TaskLog",
        "--as",
        "stdout.txt",
        "log line",
    ])
    .assert()
    .success();
    assert_eq!(
        stdout(&mut task(&["get", "result.txt", "-o", "-"])),
        "from the task"
    );
    let listed: Value = serde_json::from_str(&stdout(&mut task(&["ls", "--json"]))).expect("JSON");
    let blobs: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["blob"].as_str().expect("blob"))
        .collect();
    assert_eq!(
        blobs,
        [
            "task-7/$TaskLog/stdout.txt",
            "task-7/$TaskOutput/result.txt"
        ]
    );

    // Another job's container is out of its reach, and it says so.
    task(&["ls", "--job", "another-job"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is limited to container"))
        .stderr(predicate::str::contains("use that job's own SAS URL"));
    // The client, with the key, sees what the task saved.
    assert_eq!(
        stdout(&mut on_azurite(
            &env,
            azurite,
            &[
                "get",
                "--job",
                &job,
                "--task",
                "task-7",
                "--kind",
                "TaskLog",
                "stdout.txt",
                "-o",
                "-"
            ]
        )),
        "log line"
    );
}

/// Over HTTPS, as every Azure account is reached: batchout verifies the
/// server against the certificate authorities it trusts (the system's, here
/// one made for the test and named by `SSL_CERT_FILE`), moves files of one
/// request and of blocks intact, and refuses a server it cannot verify,
/// saying why, without a secret in sight.
#[test]
fn https_endpoints_are_verified_against_the_trusted_authorities() {
    let Some(azurite) = Azurite::start_https() else {
        return;
    };
    let authority = azurite
        .authority()
        .expect("an HTTPS Azurite has an authority");
    let endpoint = azurite.blob_endpoint();
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    let env = Env::new();
    let job = job("https");
    let small = env.write("out/small.txt", "over TLS\n");
    // Above the 32 MiB of one request: Put Block… and Put Block List.
    let large: Vec<u8> = (0..33 * 1024 * 1024_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(env.path().join("out/large.bin"), &large).expect("write");
    let trusted = |args: &[&str]| {
        let mut cmd = env.cmd_on(&endpoint, args);
        cmd.env("SSL_CERT_FILE", authority)
            .env_remove("SSL_CERT_DIR");
        cmd
    };
    trusted(&["prepare", "--job", &job]).assert().success();
    trusted(&[
        "save",
        "--job",
        &job,
        "--task",
        "t",
        "out/small.txt",
        "out/large.bin",
    ])
    .assert()
    .success();
    for (name, want) in [
        ("out/small.txt", fs::read(&small).expect("read")),
        ("out/large.bin", large),
    ] {
        let got = trusted(&["get", "--job", &job, "--task", "t", name, "-o", "-"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert!(
            got == want,
            "{name} came back different ({} bytes)",
            got.len()
        );
    }

    // Trusting other authorities (another Azurite's): the server is refused
    // at once, not retried, with what to do.
    let other = Azurite::start_https().expect("a second HTTPS Azurite");
    let unrelated = other.authority().expect("an authority");
    let started = Instant::now();
    let refused = env
        .cmd_on(&endpoint, &["ls", "--job", &job, "--task", "t"])
        .env("SSL_CERT_FILE", unrelated)
        .env_remove("SSL_CERT_DIR")
        .env("BATCHOUT_LOG", "debug")
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(
        stderr.contains("its TLS certificate failed verification (UnknownIssuer)"),
        "{stderr}"
    );
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");
    assert!(
        !stderr.contains("retrying"),
        "a refused certificate is not retried: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(!stderr.contains(azurite.key()), "{stderr}");

    // Trusting no authority at all (a node without ca-certificates): the
    // error says what to install or set.
    let empty = env.path().join("no-authorities");
    fs::create_dir(&empty).expect("mkdir");
    let refused = env
        .cmd_on(&endpoint, &["ls", "--job", &job, "--task", "t"])
        .env_remove("SSL_CERT_FILE")
        .env("SSL_CERT_DIR", &empty)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(stderr.contains("ca-certificates"), "{stderr}");
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");

    // Plain HTTP (the emulator) needs no authority at all.
    let plain = Azurite::shared().expect("Azurite");
    env.cmd_on(&plain.blob_endpoint(), &["prepare", "--job", &job])
        .env_remove("SSL_CERT_FILE")
        .env("SSL_CERT_DIR", &empty)
        .assert()
        .success();
}

#[test]
fn the_azure_storage_variables_select_the_store() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("connstr");
    env.write("a.txt", "a");
    env.cmd(&["save", "--job", &job, "--task", "t", "a.txt"])
        .env(
            "AZURE_STORAGE_CONNECTION_STRING",
            azurite.connection_string(),
        )
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "job-{job}/t/$TaskOutput/a.txt"
        )));
    assert!(!env.store().exists(), "nothing went to the local default");
}

#[test]
fn interop_with_the_official_python_sdk_both_ways() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let Some(sdk) = PythonSdk::find() else { return };
    let sdk = sdk.with_connection_string(azurite.connection_string());
    let env = Env::new();
    let job = job("interop");
    let container = format!("job-{job}");

    // batchout saves; the SDK lists under the convention prefixes and downloads
    // byte-identical copies.
    let binary: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    fs::write(env.path().join("data.bin"), &binary).expect("write");
    env.write("odd name $+%#é.txt", "odd");
    on_azurite(
        &env,
        azurite,
        &[
            "save",
            "--job",
            &job,
            "--task",
            "t1",
            "data.bin",
            "odd name $+%#é.txt",
        ],
    )
    .assert()
    .success();
    let listed = sdk.run_json(&["list", &container, "t1/$TaskOutput/"]);
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|b| b["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "t1/$TaskOutput/data.bin",
            "t1/$TaskOutput/odd name $+%#é.txt"
        ]
    );
    assert!(
        listed
            .as_array()
            .expect("array")
            .iter()
            .all(|b| b["blob_type"] == "BlockBlob")
    );
    let copy = env.path().join("sdk-copy.bin");
    sdk.run_json(&[
        "download",
        &container,
        "t1/$TaskOutput/data.bin",
        copy.to_str().expect("UTF-8"),
    ]);
    assert!(fs::read(&copy).expect("read") == binary, "byte-identical");

    // The SDK writes at convention paths, a block blob and an append blob;
    // batchout lists and fetches them.
    env.write("sdk.txt", "written by the SDK");
    sdk.run_json(&[
        "upload-block",
        &container,
        "t2/$TaskOutput/sdk.txt",
        env.path().join("sdk.txt").to_str().expect("UTF-8"),
    ]);
    sdk.run_json(&[
        "append",
        &container,
        "t2/$TaskLog/stdout.txt",
        "line 1\n",
        "line 2\n",
    ]);
    assert_eq!(
        stdout(&mut on_azurite(&env, azurite, &["tasks", "--job", &job])),
        "t1\nt2\n"
    );
    let listed = stdout(&mut on_azurite(
        &env,
        azurite,
        &["ls", "--job", &job, "--task", "t2"],
    ));
    assert!(
        listed.contains("$TaskLog/stdout.txt") && listed.contains("$TaskOutput/sdk.txt"),
        "{listed}"
    );
    assert_eq!(
        stdout(&mut on_azurite(
            &env,
            azurite,
            &[
                "get",
                "--job",
                &job,
                "--task",
                "t2",
                "--kind",
                "TaskLog",
                "stdout.txt",
                "-o",
                "-"
            ]
        )),
        "line 1\nline 2\n"
    );

    let blob_type = sdk.run_json(&["blob-type", &container, "t2/$TaskLog/stdout.txt"]);
    assert_eq!(blob_type["blob_type"], "AppendBlob");
}

#[test]
fn every_failure_names_its_fix() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("errors");
    env.write("a.txt", "a");
    on_azurite(&env, azurite, &["prepare", "--job", &job])
        .assert()
        .success();
    let sas = |permissions: &str, expiry: &str| {
        stdout(&mut on_azurite(
            &env,
            azurite,
            &[
                "sas",
                "--job",
                &job,
                "--permissions",
                permissions,
                "--expiry",
                expiry,
            ],
        ))
        .trim()
        .to_owned()
    };
    let read_list = sas("rl", "1h");
    let expiring = sas("racwl", "1s");
    std::thread::sleep(Duration::from_secs(2));
    let with_store = |store: &str, args: &[&str]| {
        let mut cmd = env.cmd(args);
        cmd.env("BATCHOUT_STORE", store);
        cmd
    };
    let cases: Vec<(Command, &str)> = vec![
        (
            with_store(&read_list, &["save", "--job", &job, "--task", "t", "a.txt"]),
            "write needs 'w'",
        ),
        (
            with_store(&expiring, &["ls", "--job", &job]),
            "the SAS expired at",
        ),
        (
            {
                let mut cmd = on_azurite(&env, azurite, &["ls", "--job", &job]);
                cmd.env("AZURE_STORAGE_KEY", "d3Jvbmcga2V5");
                cmd
            },
            "the account key was refused",
        ),
        (
            on_azurite(&env, azurite, &["ls", "--job", "no-such-job"]),
            "no outputs exist for job no-such-job",
        ),
        (
            with_store(
                "http://127.0.0.1:9/devstoreaccount1",
                &["ls", "--job", &job],
            ),
            "cannot reach",
        ),
    ];
    let mut messages = Vec::new();
    for (mut cmd, expected) in cases {
        let out = cmd
            .assert()
            .code(1)
            .stderr(predicate::str::contains(expected));
        messages.push(String::from_utf8_lossy(&out.get_output().stderr).into_owned());
    }
    messages.dedup();
    assert_eq!(messages.len(), 5, "each failure has its own message");
}

#[test]
fn secrets_never_appear_in_output_logs_or_json() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("secrets");
    env.write("a.txt", "a");
    on_azurite(&env, azurite, &["prepare", "--job", &job])
        .assert()
        .success();
    let url = stdout(&mut on_azurite(
        &env,
        azurite,
        &["sas", "--job", &job, "--permissions", "rl"],
    ))
    .trim()
    .to_owned();
    let signature = url.split("sig=").nth(1).expect("signed").to_owned();
    let key = azurite.key();
    let with_sas = |args: &[&str]| {
        let mut cmd = env.cmd(args);
        cmd.env("BATCHOUT_STORE", &url);
        cmd
    };
    let runs = vec![
        with_sas(&["-vv", "ls", "--job", &job, "--json"]),
        with_sas(&["-vv", "save", "--job", &job, "--task", "t", "a.txt"]),
        with_sas(&["-vv", "ls", "--job", "other"]),
        on_azurite(
            &env,
            azurite,
            &[
                "-vv", "save", "--job", &job, "--task", "t", "a.txt", "--json",
            ],
        ),
        on_azurite(&env, azurite, &["-vv", "ls", "--job", &job, "--json"]),
        {
            let mut cmd = env.cmd(&["-vv", "ls", "--job", &job]);
            cmd.env(
                "BATCHOUT_STORE",
                url.replace(&azurite.port().to_string(), "9"),
            );
            cmd
        },
    ];
    for mut cmd in runs {
        let out = cmd.output().expect("runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains(&signature),
            "the SAS signature leaked:\n{all}"
        );
        assert!(!all.contains(key), "the account key leaked:\n{all}");
        assert!(
            !all.contains(&key[..20]),
            "part of the account key leaked:\n{all}"
        );
    }
}

/// Peak resident memory of a running process, sampled until it exits.
fn run_sampling_rss(mut cmd: std::process::Command) -> (std::process::ExitStatus, u64, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        if let Ok(status) = fs::read_to_string(&status_file)
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            if !status.success() {
                let mut err = String::new();
                child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("{cmd:?} failed: {err}");
            }
            return (status, peak_kib * 1024, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sha256_of(path: &Path) -> Vec<u8> {
    let mut file = fs::File::open(path).expect("open");
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    hasher.finalize().to_vec()
}

#[test]
fn a_1_gib_file_goes_up_and_down_intact_in_bounded_memory() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("big");
    let path = env.path().join("big.bin");
    {
        // 1 GiB: a fixed pseudo-random MiB, each copy stamped with its index so
        // that no two blocks are alike.
        let mut file = std::io::BufWriter::new(fs::File::create(&path).expect("create"));
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut chunk = vec![0u8; 1 << 20];
        for word in chunk.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        for index in 0..1024u64 {
            chunk[..8].copy_from_slice(&index.to_le_bytes());
            file.write_all(&chunk).expect("write");
        }
        file.flush().expect("flush");
    }
    let run = |args: &[&str]| {
        let mut cmd = env.process(args);
        cmd.env("BATCHOUT_STORE", azurite.blob_endpoint());
        run_sampling_rss(cmd)
    };
    let (_, up_rss, up_time) = run(&["save", "--job", &job, "--task", "t", "big.bin"]);
    let (_, down_rss, down_time) = run(&[
        "get", "--job", &job, "--task", "t", "big.bin", "-o", "back.bin",
    ]);
    assert_eq!(
        sha256_of(&path),
        sha256_of(&env.path().join("back.bin")),
        "the copy is intact"
    );
    eprintln!(
        "1 GiB: up {up_time:?}, peak RSS {} MiB; down {down_time:?}, peak RSS {} MiB",
        up_rss >> 20,
        down_rss >> 20
    );
    assert!(up_rss < 96 << 20, "upload peak RSS {} MiB", up_rss >> 20);
    assert!(
        down_rss < 96 << 20,
        "download peak RSS {} MiB",
        down_rss >> 20
    );
}
