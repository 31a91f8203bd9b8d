//! The real `batchout` binary on a temporary local store: what a user types, and
//! what a user would check afterwards (files in the store, output, exit codes).

mod support;

use std::fs;

use predicates::prelude::*;
use support::{Env, collect};

const VECTORS: &[(&str, &str)] = &[
    ("job-15", "job-job-15"),
    ("MyTerrificJob", "job-myterrificjob"),
    ("J", "job-j"),
    (
        "my_job-bob",
        "job-my-job-bob-e04620bc2add214df74e158ba60d24273a0e0927",
    ),
    (
        "-my_job-sam--",
        "job-my-job-sam-47f54d840815af2592a12213db05f8a8277a098d",
    ),
    (
        "my-_EVEN_MORE_-terrific-job",
        "job-my-even-more-te-68b05a7d8aa6aa65b9a6892c667a6c406a16ad65",
    ),
    ("---", "job-job-58b63e273b964039d6ef432a415df3f177c818e5"),
    ("-_-", "job-job-6fe16b401f95cfcf3aba78023b0a14ef782813e1"),
    ("-", "job-job-3bc15c8aae3e4124dd409035f32ea2fd6835efc9"),
    ("_", "job-job-53a0acfad59379b3e050338bf9f23cfc172ee787"),
    (
        "myverylongjobnameallinonewordreallystartingtogetreallysillynow",
        "job-myverylongjobna-a8700e4947d0c8c621e53b24246aa0349d830e41",
    ),
];

#[test]
fn container_name_prints_every_dotnet_vector() {
    let env = Env::new();
    env.cmd(&["container-name", "my-_EVEN_MORE_-terrific-job"])
        .assert()
        .success()
        .stdout("job-my-even-more-te-68b05a7d8aa6aa65b9a6892c667a6c406a16ad65\n");
    for (job, container) in VECTORS {
        // `--` so that ids starting with '-' are not read as flags.
        env.cmd(&["container-name", "--", job])
            .assert()
            .success()
            .stdout(format!("{container}\n"));
    }
    let json = env.json(&["container-name", "J", "job-15"]);
    assert_eq!(json[0]["container"], "job-j");
    assert_eq!(json[1]["job"], "job-15");
}

#[test]
fn an_invalid_job_id_is_a_usage_error() {
    let env = Env::new();
    env.cmd(&["container-name", "bad id"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid job id \"bad id\""))
        .stderr(predicate::str::contains("letters, digits"));
    env.cmd(&[
        "save",
        "--job",
        &"x".repeat(65),
        "--task",
        "t",
        "nothing.txt",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("more than 64"));
    assert!(env.stored().is_empty());
}

#[test]
fn save_ls_get_round_trip_on_the_default_store() {
    let env = Env::new();
    env.write("out/result.txt", "42\n");
    env.cmd(&[
        "save",
        "--job",
        "job-1",
        "--task",
        "t1",
        "--kind",
        "TaskOutput",
        "out/result.txt",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "job-job-1/t1/$TaskOutput/out/result.txt",
    ));
    assert_eq!(env.stored(), ["job-job-1/t1/$TaskOutput/out/result.txt"]);

    env.cmd(&[
        "ls",
        "--job",
        "job-1",
        "--task",
        "t1",
        "--kind",
        "TaskOutput",
    ])
    .assert()
    .success()
    .stdout(predicate::str::ends_with("  out/result.txt\n"));

    env.cmd(&[
        "get",
        "--job",
        "job-1",
        "--task",
        "t1",
        "--kind",
        "TaskOutput",
        "out/result.txt",
        "-o",
        "fetched.txt",
    ])
    .assert()
    .success();
    assert_eq!(
        fs::read_to_string(env.path().join("fetched.txt")).expect("fetched"),
        "42\n"
    );

    env.cmd(&[
        "get",
        "--job",
        "job-1",
        "--task",
        "t1",
        "--kind",
        "TaskOutput",
        "out/result.txt",
        "-o",
        "-",
    ])
    .assert()
    .success()
    .stdout("42\n");
}

#[test]
fn save_text_and_job_outputs_land_under_their_kind() {
    let env = Env::new();
    env.cmd(&[
        "save-text",
        "--job",
        "job-1",
        "--kind",
        "JobOutput",
        "--as",
        "summary/merged.txt",
        "all done",
    ])
    .assert()
    .success();
    env.cmd(&[
        "save-text",
        "--job",
        "job-1",
        "--task",
        "t2",
        "--kind",
        "TaskPreview",
        "--as",
        "p.txt",
    ])
    .write_stdin("from stdin")
    .assert()
    .success();
    assert_eq!(
        env.stored(),
        [
            "job-job-1/$JobOutput/summary/merged.txt",
            "job-job-1/t2/$TaskPreview/p.txt"
        ]
    );
    let merged = env.store().join("job-job-1/$JobOutput/summary/merged.txt");
    assert_eq!(fs::read_to_string(merged).expect("stored"), "all done");

    env.cmd(&[
        "get",
        "--job",
        "job-1",
        "--kind",
        "JobOutput",
        "summary/merged.txt",
        "-o",
        "-",
    ])
    .assert()
    .success()
    .stdout("all done");
}

#[test]
fn listing_a_kind_never_lists_a_custom_kind_that_extends_its_name() {
    let env = Env::new();
    env.write("a.log", "real log");
    env.write("b.log", "custom kind");
    env.cmd(&[
        "save", "--job", "j", "--task", "t", "--kind", "TaskLog", "a.log",
    ])
    .assert()
    .success();
    env.cmd(&[
        "save", "--job", "j", "--task", "t", "--kind", "TaskLogs", "b.log",
    ])
    .assert()
    .success();
    let listed = env.json(&["ls", "--job", "j", "--task", "t", "--kind", "TaskLog"]);
    let paths: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["a.log"]);
    let all = env.json(&["ls", "--job", "j", "--task", "t"]);
    assert_eq!(all.as_array().expect("array").len(), 2);
}

#[test]
fn leading_parent_segments_are_dropped_and_climbing_is_refused() {
    let env = Env::new();
    env.write("stdout.txt", "out");
    env.write("a/b.txt", "b");
    let wd = env.path().join("task/wd");
    fs::create_dir_all(&wd).expect("mkdir");
    env.cmd_in(
        &wd,
        &[
            "save",
            "--store",
            "../../batchout-data",
            "--job",
            "j",
            "--task",
            "t",
            "--kind",
            "TaskLog",
            "../../stdout.txt",
        ],
    )
    .assert()
    .success();
    env.cmd_in(
        &wd,
        &[
            "save",
            "--store",
            "../../batchout-data",
            "--job",
            "j",
            "--task",
            "t",
            "../../a/b.txt",
        ],
    )
    .assert()
    .success();
    assert_eq!(
        env.stored(),
        ["job-j/t/$TaskLog/stdout.txt", "job-j/t/$TaskOutput/a/b.txt"]
    );

    env.cmd(&["save", "--job", "j", "--task", "t", "a/../../x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("climbs above"));
    assert_eq!(env.stored().len(), 2, "nothing more was written");
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let env = Env::new();
    env.write("file.txt", "x");
    fs::create_dir_all(env.path().join("folder")).expect("mkdir");
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &[
                "save", "--job", "j", "--task", "t", "--kind", "", "file.txt",
            ],
            2,
            "cannot be empty",
        ),
        (
            &[
                "save", "--job", "j", "--task", "t", "--kind", "a/b", "file.txt",
            ],
            2,
            "cannot contain '/'",
        ),
        (
            &[
                "save", "--job", "j", "--task", "t", "--kind", "$X", "file.txt",
            ],
            2,
            "cannot contain '$'",
        ),
        (
            &["save", "--job", "j", "--task", "bad.task", "file.txt"],
            2,
            "invalid task id",
        ),
        (
            &["save", "--job", "j", "--task", "t", "missing.txt"],
            1,
            "no such file",
        ),
        (
            &["save", "--job", "j", "--task", "t", "folder"],
            1,
            "is a directory",
        ),
        (
            &["save", "--job", "j", "--task", "t", "/etc/hostname"],
            2,
            "absolute",
        ),
        (
            &["save", "--job", "j", "--kind", "TaskLog", "file.txt"],
            2,
            "task kind",
        ),
        (
            &[
                "save",
                "--job",
                "j",
                "--task",
                "t",
                "--kind",
                "JobOutput",
                "file.txt",
            ],
            2,
            "job kind",
        ),
        (&["save", "--task", "t", "file.txt"], 2, "no job id"),
        (&["save", "--job", "j", "--task", "t"], 2, "nothing to save"),
        (
            &[
                "save", "--job", "j", "--task", "t", "--as", "x", "file.txt", "file.txt",
            ],
            2,
            "--as names",
        ),
        (
            &[
                "save", "--job", "j", "--task", "t", "--as", "../x", "file.txt",
            ],
            2,
            "cannot contain '..'",
        ),
        (
            &["save", "--job", "j", "--task", "t", "--pattern", "[a"],
            2,
            "invalid pattern",
        ),
    ];
    for (args, code, message) in cases {
        env.cmd(args)
            .assert()
            .code(*code)
            .stderr(predicate::str::starts_with("error: "))
            .stderr(predicate::str::contains(*message));
        assert!(env.stored().is_empty(), "{args:?} wrote {:?}", env.stored());
    }
}

#[test]
fn ids_come_from_the_batch_environment() {
    let env = Env::new();
    env.write("result.txt", "r");
    env.cmd(&["save", "result.txt"])
        .env("AZ_BATCH_JOB_ID", "envjob")
        .env("AZ_BATCH_TASK_ID", "envtask")
        .assert()
        .success();
    // A job kind inside a task is the job's own output.
    env.cmd(&["save", "--kind", "JobOutput", "result.txt"])
        .env("AZ_BATCH_JOB_ID", "envjob")
        .env("AZ_BATCH_TASK_ID", "envtask")
        .assert()
        .success();
    assert_eq!(
        env.stored(),
        [
            "job-envjob/$JobOutput/result.txt",
            "job-envjob/envtask/$TaskOutput/result.txt"
        ]
    );
}

#[test]
fn tasks_and_json_listings_are_parseable() {
    let env = Env::new();
    env.write("o.txt", "12345");
    for task in ["t2", "t1"] {
        env.cmd(&["save", "--job", "j", "--task", task, "o.txt"])
            .assert()
            .success();
    }
    env.cmd(&["save", "--job", "j", "o.txt"]).assert().success();
    assert_eq!(
        env.json(&["tasks", "--job", "j"]),
        serde_json::json!(["t1", "t2"])
    );
    env.cmd(&["tasks", "--job", "j"])
        .assert()
        .success()
        .stdout("t1\nt2\n");

    let all = env.json(&["ls", "--job", "j"]);
    let blobs: Vec<&str> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|o| o["blob"].as_str().expect("blob"))
        .collect();
    assert_eq!(
        blobs,
        [
            "$JobOutput/o.txt",
            "t1/$TaskOutput/o.txt",
            "t2/$TaskOutput/o.txt"
        ]
    );
    let first = &all[1];
    assert_eq!(first["task"], "t1");
    assert_eq!(first["kind"], "TaskOutput");
    assert_eq!(first["path"], "o.txt");
    assert_eq!(first["size"], 5);
    assert_eq!(first["container"], "job-j");
    assert_eq!(first["content_type"], "text/plain");
    assert!(
        first["last_modified"]
            .as_str()
            .expect("a time")
            .ends_with('Z')
    );
}

#[test]
fn a_missing_job_or_output_fails_with_a_hint() {
    let env = Env::new();
    env.cmd(&["ls", "--job", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no outputs exist for job nope"));
    env.write("o.txt", "x");
    env.cmd(&["save", "--job", "j", "--task", "t", "o.txt"])
        .assert()
        .success();
    env.cmd(&["get", "--job", "j", "--task", "t", "other.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no TaskOutput output \"other.txt\" of task t of job j",
        ))
        .stderr(predicate::str::contains("batchout ls"));
}

#[test]
fn patterns_keep_the_structure_below_their_fixed_folder() {
    let env = Env::new();
    env.write("results/a.csv", "a");
    env.write("results/deep/b.csv", "b");
    env.write("results/.hidden.csv", "h");
    env.write("results/notes.txt", "n");
    env.cmd(&[
        "save",
        "--job",
        "j",
        "--task",
        "t",
        "--pattern",
        "results/**/*.csv",
        "--pattern",
        "nothing/*.x",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains(
        "pattern \"nothing/*.x\" matched no file",
    ));
    assert_eq!(
        env.stored(),
        [
            "job-j/t/$TaskOutput/a.csv",
            "job-j/t/$TaskOutput/deep/b.csv"
        ]
    );
    env.cmd(&[
        "save",
        "--job",
        "j",
        "--task",
        "t",
        "--kind",
        "TaskIntermediate",
        "--as",
        "notes",
        "--pattern",
        "results/*.txt",
    ])
    .assert()
    .success();
    assert!(
        env.stored()
            .contains(&"job-j/t/$TaskIntermediate/notes/notes.txt".to_owned())
    );
}

#[test]
fn download_lays_out_outputs_below_dest() {
    let env = Env::new();
    env.write("a.txt", "a");
    env.cmd(&["save", "--job", "j", "--task", "t1", "a.txt"])
        .assert()
        .success();
    env.cmd(&[
        "save", "--job", "j", "--task", "t1", "--kind", "TaskLog", "a.txt",
    ])
    .assert()
    .success();
    env.cmd(&["save", "--job", "j", "a.txt"]).assert().success();

    env.cmd(&[
        "download", "--job", "j", "--task", "t1", "--kind", "TaskLog", "--dest", "one",
    ])
    .assert()
    .success();
    assert_eq!(
        fs::read_to_string(env.path().join("one/a.txt")).expect("downloaded"),
        "a"
    );

    env.cmd(&["download", "--job", "j", "--dest", "all"])
        .assert()
        .success()
        .stdout(predicate::str::contains("downloaded 3 outputs"));
    for file in [
        "$JobOutput/a.txt",
        "t1/$TaskOutput/a.txt",
        "t1/$TaskLog/a.txt",
    ] {
        assert!(env.path().join("all").join(file).is_file(), "{file}");
    }
}

#[cfg(unix)]
#[test]
fn download_never_writes_outside_dest_even_for_hostile_stored_names() {
    let env = Env::new();
    env.write("a.txt", "a");
    env.cmd(&["save", "--job", "j", "--task", "t", "a.txt"])
        .assert()
        .success();
    let kind_dir = env.store().join("job-j/t/$TaskOutput");
    // Names planted in the store directly: a backslash-climbing name, a name
    // that is absolute on Windows, and a link out of the store.
    fs::write(kind_dir.join("..\\..\\evil.txt"), "evil").expect("plant");
    fs::write(kind_dir.join("C:\\evil.txt"), "evil").expect("plant");
    let outside = tempfile::tempdir().expect("temp dir");
    fs::write(outside.path().join("secret.txt"), "secret").expect("write");
    std::os::unix::fs::symlink(outside.path(), kind_dir.join("link")).expect("symlink");

    let dest = env.path().join("dest");
    env.cmd(&[
        "download",
        "--job",
        "j",
        "--task",
        "t",
        "--kind",
        "TaskOutput",
        "--dest",
        "dest",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("refusing to download"));
    let mut got: Vec<String> = Vec::new();
    collect(&dest, &dest, &mut got);
    assert_eq!(got, ["a.txt"], "only the safe output was written");
    assert!(!env.path().join("evil.txt").exists());
    assert_eq!(fs::read_dir(outside.path()).expect("list").count(), 1);

    // A link planted in the destination is not followed either.
    let dest2 = env.path().join("dest2");
    fs::create_dir_all(&dest2).expect("mkdir");
    std::os::unix::fs::symlink(outside.path(), dest2.join("t")).expect("symlink");
    env.cmd(&["download", "--job", "j", "--dest", "dest2"])
        .assert()
        .code(1);
    assert_eq!(
        fs::read_dir(outside.path()).expect("list").count(),
        1,
        "nothing written through the link"
    );
}

#[test]
fn rm_deletes_named_outputs_and_fails_on_missing_ones() {
    let env = Env::new();
    env.write("a.txt", "a");
    env.write("b.txt", "b");
    env.cmd(&["save", "--job", "j", "--task", "t", "a.txt", "b.txt"])
        .assert()
        .success();
    env.cmd(&["rm", "--job", "j", "--task", "t", "a.txt"])
        .assert()
        .success();
    assert_eq!(env.stored(), ["job-j/t/$TaskOutput/b.txt"]);
    env.cmd(&["rm", "--job", "j", "--task", "t", "a.txt"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no TaskOutput output"));
    env.cmd(&["rm", "--job", "j", "--task", "t", "--all"])
        .assert()
        .success();
    assert!(env.stored().is_empty());
}

#[test]
fn path_prints_prefixes_and_names_without_a_store() {
    let env = Env::new();
    env.cmd(&[
        "path",
        "--job",
        "j",
        "--task",
        "analysis-309",
        "--kind",
        "TaskLog",
    ])
    .assert()
    .success()
    .stdout("analysis-309/$TaskLog/\n");
    env.cmd(&[
        "path",
        "--job",
        "j",
        "--task",
        "t",
        "--kind",
        "TaskLog",
        "../stdout.txt",
    ])
    .assert()
    .success()
    .stdout("t/$TaskLog/stdout.txt\n");
    env.cmd(&[
        "path",
        "--job",
        "j",
        "--kind",
        "JobOutput",
        "out/mergeresults.txt",
    ])
    .assert()
    .success()
    .stdout("$JobOutput/out/mergeresults.txt\n");
    assert!(!env.store().exists(), "pure commands touch no store");
}

#[test]
fn prepare_creates_the_container_once() {
    let env = Env::new();
    env.cmd(&["prepare", "--job", "MyJob"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created container job-myjob"));
    assert!(env.store().join("job-myjob").is_dir());
    let json = env.json(&["prepare", "--job", "MyJob"]);
    assert_eq!(json["created"], false);
    assert_eq!(json["container"], "job-myjob");
}

#[test]
fn download_into_a_file_is_refused_with_a_hint() {
    let env = Env::new();
    env.write("a.txt", "a");
    env.cmd(&["save", "--job", "j", "--task", "t", "a.txt"])
        .assert()
        .success();
    env.cmd(&["download", "--job", "j", "--dest", "a.txt"])
        .assert()
        .code(1)
        .stderr("error: cannot download into a.txt: it exists and is not a folder; give a folder (it is created if needed)\n");
    assert_eq!(
        fs::read_to_string(env.path().join("a.txt")).expect("kept"),
        "a"
    );
}
