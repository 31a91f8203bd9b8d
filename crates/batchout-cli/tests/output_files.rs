//! `batchout output-files`: the Batch service's `outputFiles` (and task
//! bodies), in the Batch REST API's shape, with destinations that follow the
//! conventions; what it refuses and warns about; and a round trip on Azurite,
//! where the uploads the Batch service would make for the printed JSON (done
//! here with the official Python SDK, from a task directory laid out as on a
//! node) are found by `ls` and `download` with the right kinds and bytes.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use batchout_testkit::{Azurite, PythonSdk};
use serde_json::{Value, json};
use support::{Env, job};

/// A container SAS URL for job `render-42` (never used: nothing is uploaded).
const URL: &str = "https://acct.blob.core.windows.net/job-render-42?sv=2021-12-02&sr=c&sp=w&se=2030-01-01T00%3A00%3A00Z&sig=c2VjcmV0";
/// A user-assigned identity's resource id.
const IDENTITY: &str = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uploader";

/// `output-files --job render-42 ARGS`, expecting success: its JSON and stderr.
fn made(env: &Env, args: &[&str]) -> (Value, String) {
    let mut all = vec!["output-files", "--job", "render-42"];
    all.extend_from_slice(args);
    let out = env.cmd(&all).assert().success();
    let output = out.get_output();
    let json = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    (json, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// `output-files --job render-42 ARGS`, expecting a usage error: its stderr.
fn refused(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["output-files", "--job", "render-42"];
    all.extend_from_slice(args);
    let out = env.cmd(&all).assert().code(2);
    let output = out.get_output();
    assert!(output.stdout.is_empty(), "nothing on stdout when refused");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One documented `outputFiles` element, its keys exactly those the Batch
/// REST reference defines.
fn element(pattern: &str, url: &str, path: &str, condition: &str) -> Value {
    json!({
        "filePattern": pattern,
        "destination": {"container": {"containerUrl": url, "path": path}},
        "uploadOptions": {"uploadCondition": condition}
    })
}

#[test]
fn each_rule_shape_and_condition_gets_the_documented_element() {
    let env = Env::new();
    let (value, stderr) = made(
        &env,
        &[
            "--task",
            "frame-7",
            "--container-url",
            URL,
            "--rule",
            "out/**/*.csv",
            "--rule",
            "frame?.png:TaskPreview:completion",
            "--rule",
            "out/summary.txt::failure",
            "--rule",
            "../shared/note.txt:TaskIntermediate:success",
            "--rule",
            "core*:Dumps:failure",
            "--rule",
            "[ab].log:TaskLog",
        ],
    );
    assert_eq!(stderr, "", "no warning for plain rules");
    assert_eq!(
        value,
        json!([
            // A wildcard: the kind's folder, a virtual folder the matches go below.
            element("out/**/*.csv", URL, "frame-7/$TaskOutput", "taskSuccess"),
            element("frame?.png", URL, "frame-7/$TaskPreview", "taskCompletion"),
            // A single file: its whole blob name.
            element(
                "out/summary.txt",
                URL,
                "frame-7/$TaskOutput/out/summary.txt",
                "taskFailure"
            ),
            // `../` flattened as the conventions say.
            element(
                "../shared/note.txt",
                URL,
                "frame-7/$TaskIntermediate/shared/note.txt",
                "taskSuccess"
            ),
            // A custom kind.
            element("core*", URL, "frame-7/$Dumps", "taskFailure"),
            element("[ab].log", URL, "frame-7/$TaskLog", "taskSuccess"),
            // The default log rule, last.
            element("../std*.txt", URL, "frame-7/$TaskLog", "taskCompletion"),
        ])
    );
}

#[test]
fn without_a_task_the_rules_are_the_jobs_own_and_no_log_rule_is_added() {
    let env = Env::new();
    let (value, _) = made(
        &env,
        &[
            "--container-url",
            URL,
            "--rule",
            "merged/*.txt:JobOutput",
            "--rule",
            "preview.png:JobPreview:completion",
            "--rule",
            "report.pdf:Reports",
        ],
    );
    assert_eq!(
        value,
        json!([
            element("merged/*.txt", URL, "$JobOutput", "taskSuccess"),
            element(
                "preview.png",
                URL,
                "$JobPreview/preview.png",
                "taskCompletion"
            ),
            element("report.pdf", URL, "$Reports/report.pdf", "taskSuccess"),
        ])
    );
}

#[test]
fn no_logs_leaves_out_the_log_rule() {
    let env = Env::new();
    let (value, _) = made(
        &env,
        &[
            "--task",
            "t1",
            "--container-url",
            URL,
            "--rule",
            "a.txt",
            "--no-logs",
        ],
    );
    assert_eq!(
        value,
        json!([element("a.txt", URL, "t1/$TaskOutput/a.txt", "taskSuccess")])
    );
    let message = refused(&env, &["--task", "t1", "--container-url", URL, "--no-logs"]);
    assert!(message.contains("no rules"), "{message}");
}

#[test]
fn an_identity_signs_in_and_the_url_carries_no_sas() {
    let env = Env::new();
    let expected = |url: &str| {
        json!([{
            "filePattern": "out/*",
            "destination": {"container": {
                "containerUrl": url,
                "path": "t1/$TaskOutput",
                "identityReference": {"resourceId": IDENTITY}
            }},
            "uploadOptions": {"uploadCondition": "taskSuccess"}
        }])
    };
    let args = [
        "--task",
        "t1",
        "--rule",
        "out/*",
        "--no-logs",
        "--identity",
        IDENTITY,
    ];
    // The store's account, by URL (Azurite's, path-style) ...
    let with_store = |store: &str| {
        let mut all = vec!["output-files", "--job", "render-42"];
        all.extend_from_slice(&args);
        let out = env.cmd_on(store, &all).assert().success();
        serde_json::from_slice::<Value>(&out.get_output().stdout).expect("JSON")
    };
    assert_eq!(
        with_store("http://127.0.0.1:10000/devstoreaccount1"),
        expected("http://127.0.0.1:10000/devstoreaccount1/job-render-42")
    );
    // ... a container SAS URL, its SAS stripped ...
    assert_eq!(
        with_store(URL),
        expected("https://acct.blob.core.windows.net/job-render-42")
    );
    // ... a connection string ...
    assert_eq!(
        with_store(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
        ),
        expected("https://acct.blob.core.windows.net/job-render-42")
    );
    // ... or the URL given, its SAS stripped.
    let mut given = args.to_vec();
    given.extend(["--container-url", URL]);
    let (value, _) = made(&env, &given);
    assert_eq!(
        value,
        expected("https://acct.blob.core.windows.net/job-render-42")
    );

    // A local store cannot be reached by the service.
    let message = refused(&env, &args);
    assert!(message.contains("--container-url"), "{message}");
    let message = refused(
        &env,
        &["--task", "t1", "--rule", "a", "--identity", "uploader"],
    );
    assert!(message.contains("user-assigned identity"), "{message}");
}

#[test]
fn headers_are_listed_for_every_upload() {
    let env = Env::new();
    let (value, _) = made(
        &env,
        &[
            "--task",
            "t1",
            "--container-url",
            URL,
            "--rule",
            "out/*.csv",
            "--header",
            "x-ms-blob-content-type=text/csv",
            "--header",
            "x-ms-meta-source=batch=1",
        ],
    );
    let headers = json!([
        {"name": "x-ms-blob-content-type", "value": "text/csv"},
        {"name": "x-ms-meta-source", "value": "batch=1"},
    ]);
    for file in value.as_array().expect("an array") {
        assert_eq!(file["destination"]["container"]["uploadHeaders"], headers);
    }
    let message = refused(
        &env,
        &[
            "--task",
            "t1",
            "--container-url",
            URL,
            "--rule",
            "a",
            "--header",
            "novalue",
        ],
    );
    assert!(message.contains("NAME=VALUE"), "{message}");
}

#[test]
fn command_prints_a_whole_task_body() {
    let env = Env::new();
    let (value, _) = made(
        &env,
        &[
            "--task",
            "frame-7",
            "--container-url",
            URL,
            "--rule",
            "out/*.png",
            "--command",
            "/bin/sh -c 'render --frame 7'",
            "--json",
        ],
    );
    assert_eq!(
        value,
        json!({
            "id": "frame-7",
            "commandLine": "/bin/sh -c 'render --frame 7'",
            "outputFiles": [
                element("out/*.png", URL, "frame-7/$TaskOutput", "taskSuccess"),
                element("../std*.txt", URL, "frame-7/$TaskLog", "taskCompletion"),
            ]
        })
    );
    let out = env
        .cmd(&[
            "output-files",
            "--job",
            "j",
            "--rule",
            "a:JobOutput",
            "--command",
            "x",
        ])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("--task"),
        "a task body needs the task's id: {stderr}"
    );
}

#[test]
fn rules_that_cannot_follow_the_conventions_are_refused_with_why() {
    let env = Env::new();
    let task = |rule: &str| {
        refused(
            &env,
            &["--task", "t1", "--container-url", URL, "--rule", rule],
        )
    };
    for (rule, why) in [
        ("/data/result.txt", "absolute"),
        ("a/../../x.txt", "climbs above"),
        ("a/../../x/*.txt", "climbs above"),
        ("out/", "names a folder"),
        ("out/*/../x.txt", "after the first wildcard"),
        ("merged.txt:JobOutput", "a job kind"),
        ("out/*:success", "is an upload condition, not a kind"),
        ("out/*:TaskOutput:sometimes", "not an upload condition"),
    ] {
        let message = task(rule);
        assert!(message.contains(why), "{rule}: {message}");
    }
    let message = refused(&env, &["--container-url", URL, "--rule", "out/*.txt"]);
    assert!(message.contains("out/*.txt:JobOutput"), "{message}");

    // The container URL: the job's container, with a SAS that writes.
    let other = URL.replace("job-render-42", "job-other");
    let message = refused(
        &env,
        &["--task", "t1", "--rule", "a", "--container-url", &other],
    );
    assert!(message.contains("job-render-42"), "{message}");
    let plain = "https://acct.blob.core.windows.net/job-render-42";
    let message = refused(
        &env,
        &["--task", "t1", "--rule", "a", "--container-url", plain],
    );
    assert!(message.contains("no SAS"), "{message}");
    let read_only = URL.replace("sp=w", "sp=rl");
    let message = refused(
        &env,
        &["--task", "t1", "--rule", "a", "--container-url", &read_only],
    );
    assert!(message.contains("needs write"), "{message}");
    assert!(
        !message.contains("c2VjcmV0"),
        "no signature in messages: {message}"
    );

    // A store that cannot sign says what to give instead.
    let message = refused(&env, &["--task", "t1", "--rule", "a"]);
    assert!(
        message.contains("--container-url") && message.contains("--identity"),
        "{message}"
    );
    // An account with neither a key nor a token (signed in with Entra ID,
    // it would make a user delegation SAS: tests/entra.rs).
    let no_key = "https://acct.blob.core.windows.net";
    let out = env
        .cmd_on(
            no_key,
            &[
                "output-files",
                "--job",
                "render-42",
                "--task",
                "t1",
                "--rule",
                "a",
                "--auth",
                "anonymous",
            ],
        )
        .assert()
        .code(2);
    let message = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        message.contains("account key") && message.contains("--identity"),
        "{message}"
    );
}

#[test]
fn environment_variables_in_a_pattern_are_warned_about() {
    let env = Env::new();
    let (value, stderr) = made(
        &env,
        &[
            "--task",
            "t1",
            "--container-url",
            URL,
            "--rule",
            "$AZ_BATCH_NODE_SHARED_DIR/x.txt",
            "--no-logs",
        ],
    );
    assert!(
        stderr.starts_with("warning: ") && stderr.contains("expands environment variables"),
        "{stderr}"
    );
    assert_eq!(
        value[0]["destination"]["container"]["path"],
        "t1/$TaskOutput/$AZ_BATCH_NODE_SHARED_DIR/x.txt"
    );
    let (_, stderr) = made(
        &env,
        &[
            "--task",
            "t1",
            "--container-url",
            URL,
            "--rule",
            "%TEMP%/*.log",
            "--no-logs",
        ],
    );
    assert!(stderr.contains("'%'"), "{stderr}");
}

/// The Batch service's upload of a task's output files, simulated: for each
/// `outputFiles` element whose condition holds, the matches of its pattern in
/// the working directory `wd` are uploaded to `containerUrl` (its SAS the only
/// credential): a single file as `path`, a wildcard's matches as `path/` +
/// their path below the pattern's part before its first wildcard. Prints the
/// blob names uploaded.
const SERVICE: &str = r#"
import glob, json, os, sys
from azure.storage.blob import ContainerClient

files, wd, outcome = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
skip = {"success": "taskFailure", "failure": "taskSuccess"}[outcome]
uploaded = []
for f in files:
    if f["uploadOptions"]["uploadCondition"] == skip:
        continue
    dest = f["destination"]["container"]
    client = ContainerClient.from_container_url(dest["containerUrl"])
    segments = f["filePattern"].split("/")
    wild = [i for i, s in enumerate(segments) if any(c in s for c in "*?[")]
    if wild:
        fixed = os.path.join(wd, *segments[: wild[0]])
        found = glob.glob(os.path.join(wd, f["filePattern"]), recursive=True)
        pairs = [
            (dest["path"] + "/" + os.path.relpath(m, fixed).replace(os.sep, "/"), m)
            for m in sorted(found)
            if os.path.isfile(m)
        ]
    else:
        m = os.path.join(wd, f["filePattern"])
        pairs = [(dest["path"], m)] if os.path.isfile(m) else []
    for name, path in pairs:
        with open(path, "rb") as data:
            client.get_blob_client(name).upload_blob(data.read(), overwrite=True)
        uploaded.append(name)
print(json.dumps(sorted(uploaded)))
"#;

/// Runs [`SERVICE`] with the `.venv`'s Python over `files` for the working
/// directory `wd`, the task having ended with `outcome`: the blob names
/// uploaded, or the SDK's error.
fn service_uploads(
    env: &Env,
    files: &Value,
    wd: &Path,
    outcome: &str,
) -> Result<Vec<String>, String> {
    let json_file = env.path().join(format!("output-files-{outcome}.json"));
    std::fs::write(&json_file, files.to_string()).expect("write the JSON");
    let script = env.path().join("service.py");
    std::fs::write(&script, SERVICE).expect("write the script");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&json_file)
        .arg(wd)
        .arg(outcome)
        .output()
        .expect("run Python");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("the blob names uploaded"))
}

#[test]
fn what_the_service_uploads_is_found_by_ls_and_download_on_azurite() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    if PythonSdk::find().is_none() {
        return;
    }
    let env = Env::new();
    let store = azurite.blob_endpoint();
    let id = job("service");
    env.cmd_on(&store, &["prepare", "--job", &id])
        .assert()
        .success();

    // A task directory as on a node: the task's files in wd/, its logs one
    // level up, and a file beside wd that a rule reaches with ../.
    let files: BTreeMap<&str, &str> = BTreeMap::from([
        ("task/wd/out/a.csv", "a,1\n"),
        ("task/wd/out/deep/b.csv", "b,2\n"),
        ("task/wd/out/skip.txt", "not a csv\n"),
        ("task/wd/result.txt", "42\n"),
        ("task/wd/core.17", "a core dump\n"),
        ("task/wd/merged/all.txt", "merged\n"),
        ("task/shared/note.txt", "a note\n"),
        ("task/stdout.txt", "rendered frame 7\n"),
        ("task/stderr.txt", "one warning\n"),
    ]);
    for (path, text) in &files {
        env.write(path, text);
    }
    let wd = env.path().join("task/wd");

    let made = |args: &[&str]| {
        let mut all = vec!["output-files", "--job", &id];
        all.extend_from_slice(args);
        let out = env.cmd_on(&store, &all).assert().success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(
            !stdout.contains(azurite.key()) && !stdout.contains("AccountKey"),
            "no account key in the JSON: {stdout}"
        );
        serde_json::from_str::<Value>(&stdout).expect("JSON")
    };
    let task_files = made(&[
        "--task",
        "frame-7",
        "--rule",
        "out/**/*.csv",
        "--rule",
        "result.txt:TaskPreview",
        "--rule",
        "../shared/note.txt:Notes:completion",
        "--rule",
        "core*:Dumps:failure",
    ]);
    let url = task_files[0]["destination"]["container"]["containerUrl"]
        .as_str()
        .expect("a URL");
    assert!(url.contains("sp=w&"), "write, and only write: {url}");
    let job_files = made(&["--rule", "merged/*.txt:JobOutput"]);

    // Azurite checks a SAS's permissions: one that cannot write uploads
    // nothing, so the upload below is allowed by the `w` of the printed URL.
    let read_only = env
        .cmd_on(&store, &["sas", "--job", &id, "--permissions", "rl"])
        .assert()
        .success();
    let read_only = String::from_utf8_lossy(&read_only.get_output().stdout)
        .trim()
        .to_owned();
    let mut denied = task_files.clone();
    for file in denied.as_array_mut().expect("an array") {
        file["destination"]["container"]["containerUrl"] = Value::from(read_only.as_str());
    }
    let error = service_uploads(&env, &denied, &wd, "success").expect_err("a read-only SAS");
    assert!(error.contains("AuthorizationPermissionMismatch"), "{error}");

    let mut uploaded = service_uploads(&env, &task_files, &wd, "success").expect("uploads");
    uploaded.extend(service_uploads(&env, &job_files, &wd, "success").expect("uploads"));
    assert_eq!(
        uploaded,
        [
            "frame-7/$Notes/shared/note.txt",
            "frame-7/$TaskLog/stderr.txt",
            "frame-7/$TaskLog/stdout.txt",
            "frame-7/$TaskOutput/a.csv",
            "frame-7/$TaskOutput/deep/b.csv",
            "frame-7/$TaskPreview/result.txt",
            "$JobOutput/all.txt",
        ],
        "the dump is uploaded on failure only"
    );

    // ls finds each by its kind and path.
    let out = env
        .cmd_on(&store, &["ls", "--job", &id, "--task", "frame-7", "--json"])
        .assert()
        .success();
    let listed: Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    let found: Vec<(&str, &str)> = listed
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().expect("kind"),
                o["path"].as_str().expect("path"),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("Notes", "shared/note.txt"),
            ("TaskLog", "stderr.txt"),
            ("TaskLog", "stdout.txt"),
            ("TaskOutput", "a.csv"),
            ("TaskOutput", "deep/b.csv"),
            ("TaskPreview", "result.txt"),
        ]
    );
    let out = env
        .cmd_on(
            &store,
            &["ls", "--job", &id, "--kind", "JobOutput", "--json"],
        )
        .assert()
        .success();
    let listed: Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(listed[0]["path"], "all.txt");

    // download fetches exactly those files, byte for byte.
    let dest = env.path().join("downloaded");
    env.cmd_on(
        &store,
        &[
            "download",
            "--job",
            &id,
            "--task",
            "frame-7",
            "--dest",
            dest.to_str().expect("UTF-8"),
        ],
    )
    .assert()
    .success();
    let expected: BTreeMap<String, &str> = [
        ("$Notes/shared/note.txt", "task/shared/note.txt"),
        ("$TaskLog/stderr.txt", "task/stderr.txt"),
        ("$TaskLog/stdout.txt", "task/stdout.txt"),
        ("$TaskOutput/a.csv", "task/wd/out/a.csv"),
        ("$TaskOutput/deep/b.csv", "task/wd/out/deep/b.csv"),
        ("$TaskPreview/result.txt", "task/wd/result.txt"),
    ]
    .into_iter()
    .map(|(downloaded, source)| (downloaded.to_owned(), files[source]))
    .collect();
    let got: BTreeMap<String, String> = support::files_below(&dest)
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(dest.join(&f)).expect("read");
            (f, text)
        })
        .collect();
    let got: BTreeMap<String, &str> = got.iter().map(|(k, v)| (k.clone(), v.as_str())).collect();
    assert_eq!(got, expected);
}
