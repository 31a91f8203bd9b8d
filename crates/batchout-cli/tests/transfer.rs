//! How files move: `--concurrency` (files at once), `--block-size` and
//! `--block-concurrency` (the blocks of one large file), and the progress bar,
//! which shows on a terminal and nowhere else.

mod support;

use std::fs;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use batchout_testkit::{Azurite, FaultProxy, Matcher, Rules};
use predicates::prelude::*;
use serde_json::Value;
use support::{Env, files_below, job};

/// Runs `cmd`, expecting exit `code` and every one of `needles` in stderr.
fn refused(mut cmd: Command, code: i32, needles: &[&str]) {
    let mut assert = cmd
        .assert()
        .code(code)
        .stderr(predicate::str::starts_with("error: "));
    for needle in needles {
        assert = assert.stderr(predicate::str::contains(*needle));
    }
}

/// Asserts that `stderr` holds nothing a progress bar would draw.
fn no_bar(stderr: &[u8], what: &str) {
    let text = String::from_utf8_lossy(stderr);
    for trace in ["\r", "\x1b[", "files", "ETA", "[=", "=>"] {
        assert!(
            !text.contains(trace),
            "{what}: {trace:?} on stderr, which is no terminal:\n{text}"
        );
    }
}

/// Runs `cmd`, expecting success and an empty stderr, which is no terminal.
fn quietly(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().expect("batchout runs");
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    no_bar(&out.stderr, what);
    assert!(
        out.stderr.is_empty(),
        "{what}: stderr is not empty:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Thirty files in three folders, each with content of its own; gives their
/// relative paths.
fn plant(env: &Env) -> Vec<String> {
    (0..30)
        .map(|n| {
            let relative = format!("data/d{}/f{n:02}.txt", n % 3);
            env.write(&relative, &format!("file {n}\n").repeat(n + 1));
            relative
        })
        .collect()
}

/// Asserts that every planted file is below `dir` at `under/<path below data>`,
/// byte for byte.
fn same_files(env: &Env, files: &[String], dir: &std::path::Path, strip: &str) {
    let found = files_below(dir);
    assert_eq!(found.len(), files.len(), "{found:?}");
    for file in files {
        let below = file.strip_prefix(strip).expect("below the stripped folder");
        let got = fs::read(dir.join(below)).unwrap_or_else(|e| panic!("{below}: {e}"));
        let want = fs::read(env.path().join(file)).expect("planted");
        assert_eq!(got, want, "{below} differs");
    }
}

#[test]
fn bad_block_and_concurrency_values_are_usage_errors_that_say_what_to_write() {
    let env = Env::new();
    env.write("a.txt", "a\n");
    let save = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["save", "--job", "j", "a.txt"]);
        env.cmd(&args)
    };
    for (flag, value, says) in [
        ("--block-size", "1k", "from 64KiB to 4000MiB"),
        ("--block-size", "8XB", "with KiB, MiB or GiB (8MiB)"),
        ("--block-concurrency", "0", "from 1 to 64"),
        ("--block-concurrency", "65", "from 1 to 64"),
    ] {
        refused(save(&[flag, value]), 2, &[flag, says]);
    }
    refused(
        env.cmd(&["save", "--job", "j", "--concurrency", "0", "a.txt"]),
        2,
        &["--concurrency", "\"0\"", "1 or more"],
    );
    refused(
        env.cmd(&[
            "download",
            "--job",
            "j",
            "--dest",
            "d",
            "--concurrency",
            "many",
        ]),
        2,
        &["--concurrency", "\"many\"", "1 or more"],
    );
    let mut from_env = env.cmd(&["save", "--job", "j", "a.txt"]);
    from_env.env("BATCHOUT_CONCURRENCY", "0");
    refused(from_env, 2, &["BATCHOUT_CONCURRENCY", "1 or more"]);
    let mut from_env = env.cmd(&["save", "--job", "j", "a.txt"]);
    from_env.env("BATCHOUT_THREADS", "0");
    refused(from_env, 2, &["BATCHOUT_THREADS", "from 1 to 256"]);
    // The variable is read when the store is opened, as the retry ones are,
    // and is a usage error all the same.
    let mut from_env = env.cmd(&["save", "--job", "j", "a.txt"]);
    from_env.env("BATCHOUT_BLOCK_SIZE", "huge");
    refused(from_env, 2, &["BATCHOUT_BLOCK_SIZE", "8MiB"]);
    assert!(env.stored().is_empty(), "{:?}", env.stored());

    // A refused `run` runs nothing.
    refused(
        env.cmd(&[
            "run",
            "--job",
            "j",
            "--task",
            "t",
            "--concurrency",
            "0",
            "--",
            "sh",
            "-c",
            "touch ran",
        ]),
        2,
        &["--concurrency", "1 or more"],
    );
    assert!(!env.path().join("ran").exists(), "the command ran");
    assert!(env.stored().is_empty(), "{:?}", env.stored());

    // Good values pass, and a flag wins over its variable.
    let mut good = save(&["--block-size", "16MiB", "--block-concurrency", "8"]);
    good.env("BATCHOUT_BLOCK_CONCURRENCY", "2");
    good.env("BATCHOUT_CONCURRENCY", "2");
    good.args(["--concurrency", "1"]).assert().success();
    assert_eq!(env.stored(), ["job-j/$JobOutput/a.txt"]);
}

#[test]
fn help_names_the_flags_their_variables_and_defaults() {
    let env = Env::new();
    let help = support::stdout(&mut env.cmd(&["save", "--help"]));
    for needle in [
        "--concurrency <N>",
        "BATCHOUT_CONCURRENCY",
        "[default: 8]",
        "--block-size <SIZE>",
        "BATCHOUT_BLOCK_SIZE",
        "[default: 8MiB]",
        "--block-concurrency <N>",
        "BATCHOUT_BLOCK_CONCURRENCY",
        "[default: 4]",
        "--no-progress",
        "BATCHOUT_PROGRESS=0",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
    for command in ["download", "run"] {
        let help = support::stdout(&mut env.cmd(&[command, "--help"]));
        assert!(help.contains("--concurrency <N>"), "{command}:\n{help}");
    }
}

#[test]
fn one_file_at_a_time_and_very_many_at_once_save_and_download_every_file() {
    let env = Env::new();
    let files = plant(&env);
    let mut save_one_by_one = vec!["save", "--job", "j", "--kind", "One", "--concurrency", "1"];
    save_one_by_one.extend(files.iter().map(String::as_str));
    quietly(&mut env.cmd(&save_one_by_one), "save FILE… --concurrency 1");
    quietly(
        &mut env.cmd(&[
            "save",
            "--job",
            "j",
            "--kind",
            "Many",
            "--pattern",
            "data/**",
            "--concurrency",
            "1000",
        ]),
        "save --pattern --concurrency 1000",
    );
    let mut by_env = env.cmd(&[
        "save",
        "--job",
        "j",
        "--kind",
        "Env",
        "--pattern",
        "data/**",
    ]);
    by_env.env("BATCHOUT_CONCURRENCY", "3");
    quietly(&mut by_env, "save --pattern with BATCHOUT_CONCURRENCY=3");
    let mut big = vec![
        "save",
        "--job",
        "j",
        "--kind",
        "Big",
        "--concurrency",
        "1000",
    ];
    big.extend(files.iter().map(String::as_str));
    quietly(&mut env.cmd(&big), "save FILE… --concurrency 1000");

    for (kind, concurrency, strip) in [
        ("One", "1000", ""),
        ("Many", "1", "data/"),
        ("Env", "3", "data/"),
        ("Big", "1", ""),
    ] {
        let dest = env.path().join(format!("got-{kind}"));
        let dest_text = dest.to_str().expect("UTF-8");
        quietly(
            &mut env.cmd(&[
                "download",
                "--job",
                "j",
                "--kind",
                kind,
                "--dest",
                dest_text,
                "--concurrency",
                concurrency,
            ]),
            &format!("download {kind} --concurrency {concurrency}"),
        );
        same_files(&env, &files, &dest, strip);
    }
}

#[test]
fn run_uploads_its_outputs_one_at_a_time_or_many_at_once() {
    let env = Env::new();
    let script = "mkdir -p out && for i in $(seq 1 25); do echo $i > out/$i.txt; done";
    for (task, concurrency) in [("one", "1"), ("many", "1000")] {
        let out = env
            .cmd(&[
                "run",
                "--job",
                "j",
                "--task",
                task,
                "--concurrency",
                concurrency,
                "--output",
                "out/*.txt",
                "--",
                "sh",
                "-c",
                script,
            ])
            .output()
            .expect("batchout runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        no_bar(&out.stderr, "run");
        let manifest = env
            .store()
            .join(format!("job-j/{task}/$TaskLog/batchout-manifest.json"));
        let manifest: Value =
            serde_json::from_str(&fs::read_to_string(manifest).expect("stored")).expect("JSON");
        assert_eq!(manifest["outputs"].as_array().map(Vec::len), Some(25));
        assert_eq!(manifest["errors"], Value::Array(Vec::new()));
        for i in 1..=25 {
            let stored = env
                .store()
                .join(format!("job-j/{task}/$TaskOutput/{i}.txt"));
            assert_eq!(
                fs::read_to_string(stored).expect("stored"),
                format!("{i}\n")
            );
        }
    }
}

/// Requests of one kind that went through the proxy.
fn count(proxy: &FaultProxy, method: &str, needle: &str) -> usize {
    proxy
        .log()
        .iter()
        .filter(|r| r.method == method && r.target.contains(needle))
        .count()
}

#[test]
fn block_flags_and_variables_reach_the_store() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("blocks");
    // Above the 32 MiB of a single Put Blob: blocks.
    let big: Vec<u8> = (0..33 * 1024 * 1024u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(env.path().join("big.bin"), &big).expect("write");
    let small: Vec<u8> = (0..1024 * 1024u32).map(|n| (n % 251) as u8).collect();
    fs::write(env.path().join("small.bin"), &small).expect("write");
    let proxy = FaultProxy::start(azurite.addr());
    let store = proxy.endpoint_for(&azurite.blob_endpoint());
    let on = |args: &[&str]| env.cmd_on(&store, args);

    on(&["prepare", "--job", &job]).assert().success();
    proxy.reset_stats();
    quietly(
        &mut on(&["--block-size", "1MiB", "save", "--job", &job, "big.bin"]),
        "save --block-size 1MiB",
    );
    assert_eq!(count(&proxy, "PUT", "comp=block&"), 33, "1 MiB blocks");
    quietly(
        &mut on(&["save", "--job", &job, "small.bin"]),
        "save small.bin",
    );

    let get = |flags: &[&str], vars: &[(&str, &str)], file: &str, name: &str| {
        let mut args = flags.to_vec();
        args.extend(["get", "--job", &job, file, "-o", name]);
        let mut cmd = on(&args);
        // Parallel ranged reads, as on Azure accounts (the emulator's default
        // is one stream).
        cmd.env("BATCHOUT_PARALLEL_READS", "1");
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let before = count(&proxy, "GET", file);
        quietly(&mut cmd, &format!("get {flags:?} {vars:?}"));
        let got = fs::read(env.path().join(name)).expect("written");
        (count(&proxy, "GET", file) - before, got)
    };
    let (requests, got) = get(&["--block-size", "64KiB"], &[], "small.bin", "a");
    assert_eq!((requests, got == small), (16, true), "64 KiB ranges");
    let (requests, got) = get(&[], &[("BATCHOUT_BLOCK_SIZE", "256KiB")], "small.bin", "b");
    assert_eq!(
        (requests, got == small),
        (4, true),
        "256 KiB from the variable"
    );
    let (requests, got) = get(
        &["--block-size", "128KiB"],
        &[("BATCHOUT_BLOCK_SIZE", "256KiB")],
        "small.bin",
        "c",
    );
    assert_eq!((requests, got == small), (8, true), "the flag wins");
    let (requests, got) = get(
        &["--block-size", "64KiB", "--block-concurrency", "1"],
        &[],
        "small.bin",
        "d",
    );
    assert_eq!((requests, got == small), (1, true), "one streamed read");
    let (requests, got) = get(
        &["--block-size", "64KiB"],
        &[("BATCHOUT_PARALLEL_READS", "0")],
        "small.bin",
        "f",
    );
    assert_eq!(
        (requests, got == small),
        (1, true),
        "one streamed read when parallel reads are off"
    );
    let (requests, got) = get(
        &["--block-size", "4MiB", "--block-concurrency", "16"],
        &[("BATCHOUT_BLOCK_CONCURRENCY", "1")],
        "big.bin",
        "e",
    );
    assert_eq!(
        (requests, got == big),
        (9, true),
        "4 MiB ranges, 16 at once"
    );
}

#[test]
fn files_move_one_at_a_time_or_very_many_at_once_on_azure() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("files-at-once");
    let files = plant(&env);
    let store = azurite.blob_endpoint();
    let on = |args: &[&str]| env.cmd_on(&store, args);
    let mut save = vec!["save", "--job", &job, "--kind", "One", "--concurrency", "1"];
    save.extend(files.iter().map(String::as_str));
    quietly(&mut on(&save), "save --concurrency 1");
    quietly(
        &mut on(&[
            "save",
            "--job",
            &job,
            "--kind",
            "Many",
            "--pattern",
            "data/**",
            "--concurrency",
            "1000",
        ]),
        "save --pattern --concurrency 1000",
    );
    for (kind, concurrency, strip) in [("One", "1000", ""), ("Many", "1", "data/")] {
        let dest = env.path().join(format!("got-{kind}"));
        quietly(
            &mut on(&[
                "download",
                "--job",
                &job,
                "--kind",
                kind,
                "--dest",
                dest.to_str().expect("UTF-8"),
                "--concurrency",
                concurrency,
            ]),
            &format!("download {kind} --concurrency {concurrency}"),
        );
        same_files(&env, &files, &dest, strip);
    }
}

#[test]
fn large_files_move_whole_on_one_async_thread_or_several() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("threads");
    let content: Vec<u8> = (0..3 * 1024 * 1024 + 17u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 15) as u8)
        .collect();
    std::fs::write(env.path().join("big.bin"), &content).expect("write");
    let store = azurite.blob_endpoint();
    for threads in ["1", "3"] {
        let kind = format!("Threads{threads}");
        let got = format!("got-{threads}.bin");
        // Blocks up, and parallel ranges down: many transfers at once.
        for args in [
            vec![
                "--block-size",
                "256KiB",
                "save",
                "--job",
                &job,
                "--kind",
                &kind,
                "big.bin",
            ],
            vec![
                "--block-size",
                "256KiB",
                "get",
                "--job",
                &job,
                "--kind",
                &kind,
                "big.bin",
                "-o",
                &got,
            ],
        ] {
            let mut cmd = env.cmd_on(&store, &args);
            cmd.env("BATCHOUT_THREADS", threads)
                .env("BATCHOUT_PARALLEL_READS", "1");
            quietly(&mut cmd, &format!("{args:?} on {threads} threads"));
        }
        let back = std::fs::read(env.path().join(&got)).expect("downloaded");
        assert!(back == content, "{threads} threads: the bytes differ");
    }
}

/// Every request for a `.bin` blob waits `ms` at the proxy: transfers last
/// long enough for a bar to be drawn several times, and the rest is quick.
fn slow(proxy: &FaultProxy, ms: u64) {
    proxy.set_rules(Rules {
        delay: Some(Duration::from_millis(ms)),
        only_if: Some(Matcher::target(".bin")),
        ..Rules::default()
    });
}

/// What the terminal showed while `args` ran under one, which must succeed.
fn on_terminal(env: &Env, store: &str, args: &[&str], vars: &[(&str, &str)]) -> Option<String> {
    let mut cmd = env.terminal(args)?;
    cmd.env("BATCHOUT_STORE", store);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("script runs");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{args:?} failed:\n{shown}");
    Some(shown)
}

/// Asserts that `shown` has the bar labelled `label`, with files and bytes,
/// cleared before the command's own line `then`.
fn bar_then(shown: &str, label: &str, files: &str, then: &str) {
    let bar = shown
        .find(&format!("{label} ["))
        .unwrap_or_else(|| panic!("no {label:?} bar:\n{shown:?}"));
    let last = shown.rfind("ETA").expect("a rate and time left");
    let line = shown
        .find(then)
        .unwrap_or_else(|| panic!("no {then:?}:\n{shown:?}"));
    assert!(bar < last && last < line, "the bar comes first:\n{shown:?}");
    let drawn = &shown[bar..line];
    assert!(drawn.contains(files), "no {files:?}:\n{shown:?}");
    assert!(
        drawn.contains(" B/") || drawn.contains("iB/"),
        "no byte count:\n{shown:?}"
    );
    assert!(drawn.contains("/s"), "no rate:\n{shown:?}");
    assert!(
        shown[last..line].contains("\x1b[2K"),
        "the bar is cleared before {then:?}:\n{shown:?}"
    );
}

/// Asserts that `shown` has no bar at all.
fn no_bar_shown(shown: &str, what: &str) {
    for trace in ["files", "ETA", "\x1b[2K"] {
        assert!(
            !shown.contains(trace),
            "{what}: {trace:?} shown:\n{shown:?}"
        );
    }
}

#[test]
fn a_progress_bar_shows_on_a_terminal_and_nowhere_else() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("progress");
    for n in 1..=4 {
        let bytes: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8 ^ n).collect();
        fs::write(env.path().join(format!("f{n}.bin")), bytes).expect("write");
    }
    env.write("text.txt", &"abc\n".repeat(64 * 1024));
    let proxy = FaultProxy::start(azurite.addr());
    let store = proxy.endpoint_for(&azurite.blob_endpoint());
    env.cmd_on(&store, &["prepare", "--job", &job])
        .assert()
        .success();
    env.cmd_on(
        &store,
        &["save", "--job", &job, "--kind", "Text", "text.txt"],
    )
    .assert()
    .success();
    slow(&proxy, 250);
    let save = [
        "save",
        "--job",
        &job,
        "--concurrency",
        "1",
        "f1.bin",
        "f2.bin",
        "f3.bin",
        "f4.bin",
    ];

    // Not a terminal: nothing but the command's own lines.
    let out = quietly(&mut env.cmd_on(&store, &save), "save, no terminal");
    assert!(!out.stdout.contains(&b'\r'), "no carriage return on stdout");
    let Some(shown) = on_terminal(&env, &store, &save, &[]) else {
        return;
    };
    bar_then(&shown, "saving", "/4 files", "saved job-");

    let download = [
        "download",
        "--job",
        &job,
        "--kind",
        "JobOutput",
        "--dest",
        "got",
        "--concurrency",
        "1",
    ];
    quietly(&mut env.cmd_on(&store, &download), "download, no terminal");
    let shown = on_terminal(&env, &store, &download, &[]).expect("script is there");
    bar_then(&shown, "downloading", " files", "downloaded 4 outputs");

    let get = [
        "--block-size",
        "64KiB",
        "--block-concurrency",
        "1",
        "get",
        "--job",
        &job,
        "f1.bin",
        "-o",
        "one.bin",
    ];
    quietly(&mut env.cmd_on(&store, &get), "get, no terminal");
    // A read lasts long enough for the bar in 16 ranges, 2 at a time (one
    // streamed read would be held back by the proxy before it is planned).
    let get = [
        "--block-size",
        "64KiB",
        "--block-concurrency",
        "2",
        "get",
        "--job",
        &job,
        "f2.bin",
        "-o",
        "two.bin",
    ];
    let shown = on_terminal(&env, &store, &get, &[("BATCHOUT_PARALLEL_READS", "1")])
        .expect("script is there");
    bar_then(&shown, "fetching", "/1 files", "wrote 1.0 MiB to two.bin");
    // The output on the terminal itself is never mixed with a bar.
    let to_terminal = [
        "--block-size",
        "64KiB",
        "--block-concurrency",
        "2",
        "get",
        "--job",
        &job,
        "--kind",
        "Text",
        "text.txt",
        "-o",
        "-",
    ];
    let shown = on_terminal(&env, &store, &to_terminal, &[]).expect("script is there");
    no_bar_shown(&shown, "get -o - on a terminal");
    assert!(shown.contains("abc"), "the output is shown");

    // Turned off by a flag, a variable, or --json.
    let mut quiet = vec!["--no-progress"];
    quiet.extend(save);
    let shown = on_terminal(&env, &store, &quiet, &[]).expect("script is there");
    no_bar_shown(&shown, "--no-progress");
    assert!(shown.contains("saved job-"), "{shown:?}");
    let shown =
        on_terminal(&env, &store, &save, &[("BATCHOUT_PROGRESS", "0")]).expect("script is there");
    no_bar_shown(&shown, "BATCHOUT_PROGRESS=0");
    let mut silenced = vec!["-q"];
    silenced.extend(save);
    let shown = on_terminal(&env, &store, &silenced, &[]).expect("script is there");
    assert_eq!(shown, "", "-q shows nothing at all");
    let mut json = save.to_vec();
    json.push("--json");
    let shown = on_terminal(&env, &store, &json, &[]).expect("script is there");
    no_bar_shown(&shown, "--json");
    assert!(shown.contains("\"blob\""), "{shown:?}");

    // `run`: the bar is drawn for the outputs, after the command's own lines.
    let run = [
        "run",
        "--job",
        &job,
        "--task",
        "t",
        "--concurrency",
        "1",
        "--output",
        "f*.bin",
        "--",
        "sh",
        "-c",
        "echo the command ran",
    ];
    let out = env.cmd_on(&store, &run).output().expect("batchout runs");
    assert!(out.status.success());
    no_bar(&out.stderr, "run, no terminal");
    let shown = on_terminal(&env, &store, &run, &[]).expect("script is there");
    let ran = shown.find("the command ran").expect("the command's output");
    let bar = shown
        .find("saving outputs [")
        .unwrap_or_else(|| panic!("{shown:?}"));
    assert!(
        ran < bar,
        "the bar follows the command's output:\n{shown:?}"
    );
    assert!(shown[bar..].contains("/4 files"), "{shown:?}");
    let last = shown.rfind("ETA").expect("a time left");
    assert!(
        shown[last..].contains("\x1b[2K") && !shown[last..].contains("files"),
        "cleared at the end:\n{shown:?}"
    );
}
