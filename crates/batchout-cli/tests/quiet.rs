//! `-q` / `--quiet`: only errors, and what the user asked for. Reports of
//! what was done (`saved …`), warnings and progress are left out; listings,
//! names, `get -o -`'s bytes, `--json` documents and errors are not.

mod support;

use std::fs;

use predicates::prelude::*;
use support::Env;

/// Runs `batchout ARGS`, expecting success, and gives (stdout, stderr).
fn ok(env: &Env, args: &[&str]) -> (String, String) {
    let out = env.cmd(args).assert().success();
    let output = out.get_output();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn save_with_quiet_prints_nothing_and_still_saves() {
    let env = Env::new();
    env.write("a.txt", "alpha");
    env.write("out/b.txt", "beta");
    let (stdout, stderr) = ok(&env, &["save", "--job", "j", "a.txt"]);
    assert!(
        stdout.starts_with("saved job-j/$JobOutput/a.txt"),
        "{stdout}"
    );
    assert_eq!(stderr, "");

    for quiet in ["-q", "--quiet"] {
        let (stdout, stderr) = ok(
            &env,
            &[
                "save",
                quiet,
                "--job",
                "j",
                "--kind",
                "Q",
                "a.txt",
                "out/b.txt",
            ],
        );
        assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""), "{quiet}");
    }
    // Before the command's name as after it: the flag is global.
    let (stdout, stderr) = ok(
        &env,
        &["-q", "save-text", "--job", "j", "--as", "t.txt", "hi"],
    );
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    assert_eq!(
        env.stored(),
        [
            "job-j/$JobOutput/a.txt",
            "job-j/$JobOutput/t.txt",
            "job-j/$Q/a.txt",
            "job-j/$Q/out/b.txt",
        ]
    );
}

#[test]
fn a_failing_command_with_quiet_still_prints_its_error_and_fails() {
    let env = Env::new();
    // A failure: something asked for is missing.
    env.cmd(&["-q", "save", "--job", "j", "missing.txt"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "error: cannot save missing.txt: no such file",
        ));
    env.cmd(&["get", "-q", "--job", "j", "nothing.txt"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("error: "));
    // A usage error.
    env.cmd(&["-q", "ls", "--job", "bad id"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid job id"));
    // `run` passes on its command's failure; the command's own output is its
    // own, and is not silenced.
    env.cmd(&[
        "-q",
        "run",
        "--job",
        "j",
        "--task",
        "t",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ])
    .assert()
    .code(3)
    .stdout("out\n")
    .stderr("err\n");
}

#[test]
fn warnings_are_left_out_with_quiet() {
    let env = Env::new();
    env.write("a.txt", "alpha");
    // save: a pattern that matches nothing.
    let save = ["save", "--job", "j", "--pattern", "nothing*", "a.txt"];
    let (_, stderr) = ok(&env, &save);
    assert_eq!(stderr, "warning: pattern \"nothing*\" matched no file\n");
    let mut quiet = save.to_vec();
    quiet.push("-q");
    assert_eq!(ok(&env, &quiet), (String::new(), String::new()));

    // run: a rule that matches nothing, warned about and kept in the manifest.
    let run = [
        "run", "--job", "j", "--task", "t", "--output", "nothing*", "--", "echo", "ran",
    ];
    let (stdout, stderr) = ok(&env, &run);
    assert_eq!(stdout, "ran\n");
    assert!(
        stderr.contains("warning: TaskOutput pattern \"nothing*\" matched no file"),
        "{stderr}"
    );
    let mut quiet = vec!["--quiet"];
    quiet.extend(run);
    let (stdout, stderr) = ok(&env, &quiet);
    assert_eq!((stdout.as_str(), stderr.as_str()), ("ran\n", ""));
    let manifest = fs::read_to_string(env.store().join("job-j/t/$TaskLog/batchout-manifest.json"))
        .expect("the manifest");
    assert!(manifest.contains("matched no file"), "{manifest}");

    // output-files: a pattern the service would expand; the JSON is still
    // printed, as it is the product.
    let output_files = [
        "output-files",
        "--job",
        "j",
        "--task",
        "t",
        "--rule",
        "$HOME/*.txt",
        "--container-url",
        "https://acct.blob.core.windows.net/job-j?sp=w&sig=abc",
    ];
    let (stdout, stderr) = ok(&env, &output_files);
    assert!(stderr.starts_with("warning: pattern"), "{stderr}");
    let mut quiet = output_files.to_vec();
    quiet.push("-q");
    let (stdout_quiet, stderr) = ok(&env, &quiet);
    assert_eq!(stderr, "");
    assert_eq!(stdout_quiet, stdout);
}

#[test]
fn what_was_asked_for_is_printed_with_quiet() {
    let env = Env::new();
    env.write("a.txt", "alpha");
    ok(&env, &["save", "--job", "j", "--task", "t", "a.txt"]);
    // Listings and names.
    let (listing, _) = ok(&env, &["-q", "ls", "--job", "j", "--task", "t"]);
    assert!(listing.ends_with("$TaskOutput/a.txt\n"), "{listing}");
    assert_eq!(ok(&env, &["-q", "tasks", "--job", "j"]).0, "t\n");
    assert!(ok(&env, &["-q", "jobs"]).0.starts_with("j "));
    assert_eq!(ok(&env, &["-q", "container-name", "j"]).0, "job-j\n");
    assert_eq!(
        ok(
            &env,
            &[
                "-q", "path", "--job", "j", "--kind", "TaskLog", "--task", "t"
            ]
        )
        .0,
        "t/$TaskLog/\n"
    );
    // The bytes of `get -o -`.
    let (bytes, stderr) = ok(
        &env,
        &["-q", "get", "--job", "j", "--task", "t", "a.txt", "-o", "-"],
    );
    assert_eq!((bytes.as_str(), stderr.as_str()), ("alpha", ""));
    // JSON, asked for by name.
    let out = env
        .cmd(&["-q", "--json", "save", "--job", "j", "a.txt"])
        .assert()
        .success();
    let saved: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(saved[0]["blob"], "$JobOutput/a.txt");
}

#[test]
fn reports_of_what_was_done_are_left_out_with_quiet() {
    let env = Env::new();
    env.write("a.txt", "alpha");
    for args in [
        &["prepare", "--job", "j"][..],
        &["save", "--job", "j", "a.txt"],
        &["get", "--job", "j", "a.txt", "-o", "got.txt"],
        &["download", "--job", "j", "--dest", "down"],
        &["rm", "--job", "j", "a.txt"],
        &["rm", "--job", "j", "--all"],
    ] {
        let mut quiet = args.to_vec();
        quiet.push("-q");
        let (stdout, stderr) = ok(&env, &quiet);
        assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""), "{args:?}");
    }
    assert_eq!(
        fs::read_to_string(env.path().join("got.txt")).expect("got"),
        "alpha"
    );
    assert_eq!(
        fs::read_to_string(env.path().join("down/$JobOutput/a.txt")).expect("downloaded"),
        "alpha"
    );
}

#[test]
fn quiet_and_verbose_together_are_a_usage_error() {
    let env = Env::new();
    for args in [
        &["-q", "-v", "ls", "--job", "j"][..],
        &["ls", "--job", "j", "--quiet", "-vv"],
        &["-v", "save", "-q", "--job", "j", "a.txt"],
    ] {
        env.cmd(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(
                "'--quiet' cannot be used with '--verbose",
            ));
    }
}
