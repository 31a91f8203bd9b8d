//! Proves the harness itself: Azurite starts and stops, and the official Python
//! SDK talks to it.

use std::net::{Ipv4Addr, TcpStream};

use batchout_testkit::{Azurite, PythonSdk};
use serde_json::json;

fn sdk(azurite: &Azurite) -> Option<PythonSdk> {
    Some(PythonSdk::find()?.with_connection_string(azurite.connection_string()))
}

#[test]
fn python_sdk_round_trips_a_block_blob_through_azurite() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let Some(sdk) = sdk(azurite) else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let original = dir.path().join("original.bin");
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&original, &bytes).expect("write");
    let original = original.to_str().expect("utf-8 path");

    let created = sdk.run_json(&["create-container", "job-harness"]);
    assert_eq!(created, json!({ "created": true }));
    let again = sdk.run_json(&["create-container", "job-harness"]);
    assert_eq!(again, json!({ "created": false }));

    let blob = "t1/$TaskOutput/out/original.bin";
    sdk.run_json(&["upload-block", "job-harness", blob, original]);
    sdk.run_json(&[
        "upload-block",
        "job-harness",
        "$JobOutput/other.txt",
        original,
    ]);

    let listed = sdk.run_json(&["list", "job-harness", "t1/"]);
    assert_eq!(
        listed,
        json!([{ "name": blob, "size": bytes.len(), "blob_type": "BlockBlob" }])
    );

    let copy = dir.path().join("copy.bin");
    let copy = copy.to_str().expect("utf-8 path");
    let downloaded = sdk.run_json(&["download", "job-harness", blob, copy]);
    assert_eq!(downloaded, json!({ "size": bytes.len() }));
    assert_eq!(std::fs::read(copy).expect("read"), bytes);
}

#[test]
fn python_sdk_appends_to_an_append_blob() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let Some(sdk) = sdk(azurite) else { return };
    sdk.run_json(&["create-container", "job-harness-append"]);
    let blob = "t1/$TaskLog/stdout.txt";
    sdk.run_json(&["append", "job-harness-append", blob, "one\n", "two\n"]);
    let after = sdk.run_json(&["append", "job-harness-append", blob, "three\n"]);
    assert_eq!(after, json!({ "size": 14 }));
    let kind = sdk.run_json(&["blob-type", "job-harness-append", blob]);
    assert_eq!(kind, json!({ "blob_type": "AppendBlob" }));
}

#[test]
fn python_sdk_reports_a_missing_blob_as_a_failure() {
    let Some(azurite) = Azurite::shared() else {
        return;
    };
    let Some(sdk) = sdk(azurite) else { return };
    sdk.run_json(&["create-container", "job-harness-missing"]);
    let out = sdk.run(&["blob-type", "job-harness-missing", "nope.txt"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ResourceNotFoundError"), "{stderr}");
}

#[test]
fn dropping_an_azurite_stops_it() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let port = azurite.port();
    assert_eq!(
        azurite.blob_endpoint(),
        format!("http://127.0.0.1:{port}/devstoreaccount1")
    );
    assert!(azurite.connection_string().contains(azurite.key()));
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok());
    drop(azurite);
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
}
