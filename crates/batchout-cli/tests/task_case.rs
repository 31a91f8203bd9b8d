//! Task ids are case-insensitive in Batch, blob names are not: `ls`, `get`
//! and `download` with `--task Frame7` find outputs stored under `frame7`,
//! and say so on stderr; outputs under two spellings are both shown and
//! flagged. On the local store and on Azurite.

mod support;

use assert_cmd::Command;
use batchout_testkit::{Azurite, FaultProxy, Rules};
use serde_json::Value;
use support::{Env, files_below, job};

/// `batchout ARGS` on `store`, or on the local default store.
fn on(env: &Env, store: Option<&str>, args: &[&str]) -> Command {
    match store {
        Some(store) => env.cmd_on(store, args),
        None => env.cmd(args),
    }
}

/// Runs, expecting success; gives stdout and stderr.
fn ok(mut cmd: Command) -> (String, String) {
    let out = cmd.assert().success();
    let output = out.get_output();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn save(env: &Env, store: Option<&str>, job: &str, task: &str, args: &[&str]) {
    let mut all = vec!["save", "--job", job, "--task", task];
    all.extend(args);
    on(env, store, &all).assert().success();
}

/// Outputs saved under `frame7` are found by `Frame7` and `FRAME7`.
fn another_spelling_is_found(store: Option<&str>) {
    let env = Env::new();
    let job = job("case");
    env.write("a.txt", "alpha");
    save(&env, store, &job, "frame7", &["a.txt"]);
    let said = "warning: no outputs under task Frame7; found them under frame7 (Batch task ids are case-insensitive)";

    let (listed, warned) = ok(on(&env, store, &["ls", "--job", &job, "--task", "Frame7"]));
    assert!(listed.ends_with("$TaskOutput/a.txt\n"), "{listed}");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(warned.contains(said), "{warned}");

    let (json, _) = ok(on(
        &env,
        store,
        &["ls", "--job", &job, "--task", "Frame7", "--json"],
    ));
    let rows: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(rows[0]["task"], "frame7", "the stored spelling: {rows}");
    assert_eq!(rows[0]["asked_task"], "Frame7", "{rows}");
    assert_eq!(rows[0]["blob"], "frame7/$TaskOutput/a.txt");

    let (got, warned) = ok(on(
        &env,
        store,
        &["get", "--job", &job, "--task", "FRAME7", "a.txt", "-o", "-"],
    ));
    assert_eq!(got, "alpha");
    assert!(
        warned.contains("no outputs under task FRAME7; found TaskOutput a.txt under frame7"),
        "{warned}"
    );

    let (_, warned) = ok(on(
        &env,
        store,
        &["download", "--job", &job, "--task", "Frame7", "--dest", "d"],
    ));
    assert!(warned.contains(said), "{warned}");
    assert_eq!(files_below(&env.path().join("d")), ["$TaskOutput/a.txt"]);

    // The exact spelling, as ever, says nothing.
    let (listed, warned) = ok(on(&env, store, &["ls", "--job", &job, "--task", "frame7"]));
    assert!(listed.ends_with("$TaskOutput/a.txt\n"), "{listed}");
    assert!(warned.is_empty(), "{warned}");

    // A task with no outputs under any spelling is as before.
    let (listed, warned) = ok(on(&env, store, &["ls", "--job", &job, "--task", "frame8"]));
    assert!(listed.is_empty() && warned.is_empty(), "{listed}{warned}");
    on(
        &env,
        store,
        &["get", "--job", &job, "--task", "frame8", "a.txt"],
    )
    .assert()
    .code(1)
    .stderr(predicates::str::contains(
        "no TaskOutput output \"a.txt\" of task frame8",
    ));

    // Job ids need no such search: every spelling names one container.
    let (listed, warned) = ok(on(
        &env,
        store,
        &["ls", "--job", &job.to_uppercase(), "--task", "frame7"],
    ));
    assert!(listed.ends_with("$TaskOutput/a.txt\n") && warned.is_empty());
}

/// Outputs under `frame7` and `Frame7`: both shown and flagged.
fn two_spellings_are_both_shown_and_flagged(store: Option<&str>) {
    let env = Env::new();
    let job = job("twice");
    env.write("a.txt", "lower");
    save(&env, store, &job, "frame7", &["a.txt"]);
    env.write("a.txt", "upper");
    env.write("b.log", "log");
    save(&env, store, &job, "Frame7", &["a.txt"]);
    save(&env, store, &job, "Frame7", &["--kind", "TaskLog", "b.log"]);
    let both = "found them under 2 spellings of it, Frame7 and frame7";

    let (listed, warned) = ok(on(&env, store, &["ls", "--job", &job, "--task", "FRAME7"]));
    let names: Vec<&str> = listed
        .lines()
        .map(|l| l.rsplit("  ").next().expect("a name"))
        .collect();
    assert_eq!(
        names,
        [
            "Frame7/$TaskLog/b.log",
            "Frame7/$TaskOutput/a.txt",
            "frame7/$TaskOutput/a.txt"
        ],
        "whole names, so the spellings show"
    );
    assert!(warned.contains("no outputs under task FRAME7"), "{warned}");
    assert!(warned.contains(both), "{warned}");

    let (json, _) = ok(on(
        &env,
        store,
        &["ls", "--job", &job, "--task", "FRAME7", "--json"],
    ));
    let rows: Value = serde_json::from_str(&json).expect("JSON");
    let tasks: Vec<(&str, &str)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["task"].as_str().expect("task"),
                r["asked_task"].as_str().expect("asked"),
            )
        })
        .collect();
    assert_eq!(
        tasks,
        [
            ("Frame7", "FRAME7"),
            ("Frame7", "FRAME7"),
            ("frame7", "FRAME7")
        ]
    );

    // A file under both spellings is ambiguous; one under one is fetched.
    on(
        &env,
        store,
        &["get", "--job", &job, "--task", "FRAME7", "a.txt", "-o", "-"],
    )
    .assert()
    .code(1)
    .stderr(predicates::str::contains(
        "TaskOutput a.txt is under 2 spellings of it, Frame7 and frame7",
    ))
    .stderr(predicates::str::contains("fetch one by its exact spelling"));
    let (got, warned) = ok(on(
        &env,
        store,
        &[
            "get", "--job", &job, "--task", "FRAME7", "--kind", "TaskLog", "b.log", "-o", "-",
        ],
    ));
    assert_eq!(got, "log");
    assert!(
        warned.contains("found TaskLog b.log under Frame7")
            && warned.contains("the task's outputs are under 2 spellings, Frame7 and frame7"),
        "{warned}"
    );

    // Downloaded apart, each under its stored id.
    let (_, warned) = ok(on(
        &env,
        store,
        &[
            "download", "--job", &job, "--task", "frame7X", "--dest", "none",
        ],
    ));
    assert!(warned.is_empty(), "another task: {warned}");
    let (_, warned) = ok(on(
        &env,
        store,
        &["download", "--job", &job, "--task", "FRAME7", "--dest", "d"],
    ));
    assert!(warned.contains(both), "{warned}");
    assert_eq!(
        files_below(&env.path().join("d")),
        [
            "Frame7/$TaskLog/b.log",
            "Frame7/$TaskOutput/a.txt",
            "frame7/$TaskOutput/a.txt"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(env.path().join("d/frame7/$TaskOutput/a.txt")).expect("read"),
        "lower"
    );

    // An exact spelling is taken as it is, without looking for others.
    let (listed, warned) = ok(on(&env, store, &["ls", "--job", &job, "--task", "frame7"]));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(warned.is_empty(), "{warned}");

    // `tasks` shows both, and flags them.
    let (listed, warned) = ok(on(&env, store, &["tasks", "--job", &job]));
    assert_eq!(listed, "Frame7\nframe7\n");
    assert!(
        warned.contains("warning: tasks Frame7 and frame7 differ only in case"),
        "{warned}"
    );
}

#[test]
fn another_spelling_of_a_task_id_is_found_on_the_local_store() {
    another_spelling_is_found(None);
}

#[test]
fn another_spelling_of_a_task_id_is_found_on_azurite() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    another_spelling_is_found(Some(&azurite.blob_endpoint()));
}

#[test]
fn two_spellings_of_a_task_id_are_both_shown_and_flagged_on_the_local_store() {
    two_spellings_are_both_shown_and_flagged(None);
}

#[test]
fn two_spellings_of_a_task_id_are_both_shown_and_flagged_on_azurite() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    two_spellings_are_both_shown_and_flagged(Some(&azurite.blob_endpoint()));
}

/// The search costs a delimited listing of the container only when the
/// exact spelling holds nothing.
#[test]
fn the_search_lists_the_container_only_when_the_exact_spelling_holds_nothing() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let env = Env::new();
    let job = job("cost");
    env.write("a.txt", "a");
    let key = azurite.blob_endpoint();
    save(&env, Some(&key), &job, "frame7", &["a.txt"]);
    let proxy = FaultProxy::start(azurite.addr());
    proxy.set_rules(Rules::default());
    let proxied = proxy.endpoint_for(&key);
    let delimited = |proxy: &FaultProxy| {
        proxy
            .log()
            .iter()
            .filter(|r| r.target.contains("delimiter="))
            .count()
    };

    for args in [
        vec!["ls", "--job", &job, "--task", "frame7"],
        vec!["get", "--job", &job, "--task", "frame7", "a.txt", "-o", "-"],
        vec![
            "download", "--job", &job, "--task", "frame7", "--dest", "d1",
        ],
    ] {
        proxy.reset_stats();
        ok(env.cmd_on(&proxied, &args));
        assert_eq!(delimited(&proxy), 0, "{args:?}: {:?}", proxy.log());
    }
    for args in [
        vec!["ls", "--job", &job, "--task", "Frame7"],
        vec!["get", "--job", &job, "--task", "Frame7", "a.txt", "-o", "-"],
        vec![
            "download", "--job", &job, "--task", "Frame7", "--dest", "d2",
        ],
    ] {
        proxy.reset_stats();
        ok(env.cmd_on(&proxied, &args));
        assert_eq!(delimited(&proxy), 1, "{args:?}: {:?}", proxy.log());
    }
}
