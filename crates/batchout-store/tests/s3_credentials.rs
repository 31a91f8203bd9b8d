//! Where an S3 store's credentials come from, end to end: a profile's role
//! assumed through STS, a web identity, a `credential_process`, an EC2
//! instance's role (IMDSv2) and a container's credentials.
//!
//! The servers are real where they can be: moto serves S3, IAM and STS on
//! one port, and, once told to ([`MotoS3::enforce_auth`]), checks every
//! request's signature and whether its credentials' policies allow it, the
//! temporary credentials of an assumed role included. So a request signed
//! with the wrong keys, or with keys that are not the role's, is refused.
//! The instance metadata service and a container's credentials endpoint
//! cannot be had here: [`AwsMetadata`] stands in for them, handing out keys
//! of a user that moto knows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use batchout_store::{BlobName, ContainerName, Error, Location, PutSource, Store, StoreSettings};
use batchout_testkit::seaweed::BUCKET;
use batchout_testkit::{AwsMetadata, MotoS3};
use bytes::Bytes;

/// A moto server with its IAM users and roles made, and the answer of
/// [`MotoS3::make_identities`].
fn server() -> Option<(MotoS3, serde_json::Value)> {
    let server = MotoS3::start()?;
    let identities = server.make_identities();
    Some((server, identities))
}

fn text(value: &serde_json::Value, path: &[&str]) -> String {
    let mut at = value;
    for key in path {
        at = &at[*key];
    }
    at.as_str().expect("a string").to_owned()
}

/// A store on `server`'s bucket with only the variables `vars` (and the
/// endpoint and region), nothing from this machine's own AWS set-up.
fn store(server: &MotoS3, vars: &[(&str, String)]) -> Arc<dyn Store> {
    let mut all: Vec<(String, String)> = vec![
        ("HOME".into(), "/nonexistent".into()),
        ("AWS_ENDPOINT_URL".into(), server.endpoint()),
        ("AWS_REGION".into(), "us-east-1".into()),
        // Off EC2, nothing answers at IMDS: no test waits for it.
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
            "http://127.0.0.1:9".into(),
        ),
    ];
    for (k, v) in vars {
        all.retain(|(name, _)| name != k);
        all.push(((*k).to_owned(), v.clone()));
    }
    let env = move |name: &str| all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let target = batchout_store::s3::config::from_url(&format!("s3://{BUCKET}/creds"), &env)
        .expect("the S3 URL opens");
    let options = batchout_store::S3Options::from_settings(&StoreSettings::default());
    Arc::new(batchout_store::S3Store::new(target, options).expect("a client"))
}

fn location(job: &str, name: &str) -> Location {
    Location::new(
        ContainerName::parse(job).expect("valid"),
        BlobName::new(name).expect("valid"),
    )
}

/// Makes the job's container, writes a blob and reads it back.
async fn round_trip(store: &dyn Store, job: &str) -> batchout_store::Result<()> {
    let at = location(job, "t1/$TaskOutput/out.txt");
    store.create_container(&at.container).await?;
    let body = format!("written by {job}");
    store
        .put(
            &at,
            PutSource::Bytes(Bytes::from(body.clone())),
            &Default::default(),
        )
        .await?;
    let read = store.get(&at, None).await?.bytes().await?;
    assert_eq!(read, body.as_bytes());
    Ok(())
}

/// A shared config file with `text`, kept for the test.
fn config_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("config");
    std::fs::write(&path, text).expect("write the config file");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_role_is_assumed_and_only_the_roles_credentials_may_write() {
    let Some((server, ids)) = server() else {
        return;
    };
    server.enforce_auth(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_file(
        &dir,
        &format!(
            "[profile base]\naws_access_key_id = {}\naws_secret_access_key = {}\n\
             [profile writer]\nrole_arn = {}\nsource_profile = base\nrole_session_name = ci\n\
             [profile powerless]\nrole_arn = {}\nsource_profile = base\n",
            text(&ids, &["assumer", "id"]),
            text(&ids, &["assumer", "secret"]),
            text(&ids, &["writer"]),
            text(&ids, &["powerless"]),
        ),
    );
    let with = |profile: &str| {
        store(
            &server,
            &[
                ("AWS_CONFIG_FILE", config.clone()),
                ("AWS_PROFILE", profile.to_owned()),
            ],
        )
    };
    round_trip(&*with("writer"), "job-role")
        .await
        .expect("the role may write");

    // The source profile's own keys may only assume the role.
    let err = round_trip(&*with("base"), "job-base")
        .await
        .expect_err("the user may not write");
    let shown = err.to_string();
    assert!(matches!(err, Error::Denied { .. }), "{err:?}");
    assert!(shown.contains("profile base"), "{shown}");
    // A role without S3 permissions is refused, and the message names it.
    let err = round_trip(&*with("powerless"), "job-powerless")
        .await
        .expect_err("the role may not write");
    let shown = err.to_string();
    assert!(shown.contains("role/powerless"), "{shown}");
    assert!(
        !shown.contains(&text(&ids, &["assumer", "secret"])),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_source_secret_fails_at_sts_with_what_sts_said() {
    let Some((server, ids)) = server() else {
        return;
    };
    server.enforce_auth(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_file(
        &dir,
        &format!(
            "[profile base]\naws_access_key_id = {}\naws_secret_access_key = not-the-secret\n\
             [profile writer]\nrole_arn = {}\nsource_profile = base\n",
            text(&ids, &["assumer", "id"]),
            text(&ids, &["writer"]),
        ),
    );
    let store = store(
        &server,
        &[
            ("AWS_CONFIG_FILE", config),
            ("AWS_PROFILE", "writer".into()),
        ],
    );
    let started = Instant::now();
    let err = round_trip(&*store, "job-x").await.expect_err("refused");
    let shown = err.to_string();
    assert!(matches!(err, Error::Credential { .. }), "{err:?}");
    assert!(
        shown.contains("STS refused") && shown.contains("SignatureDoesNotMatch"),
        "{shown}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once, not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_identity_token_is_exchanged_for_the_role() {
    let Some((server, ids)) = server() else {
        return;
    };
    // STS's AssumeRoleWithWebIdentity is not signed, and moto's check would
    // refuse it: it is the one request let through; the S3 requests that
    // follow are checked.
    server.enforce_auth(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Y2k6Ym90In0.c2ln",
    )
    .expect("write the token");
    let store = store(
        &server,
        &[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
            ("AWS_ROLE_ARN", text(&ids, &["writer"])),
        ],
    );
    round_trip(&*store, "job-web")
        .await
        .expect("the role may write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_process_gives_the_keys() {
    let Some((server, ids)) = server() else {
        return;
    };
    server.enforce_auth(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("creds");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\"}}'\n",
            text(&ids, &["node", "id"]),
            text(&ids, &["node", "secret"]),
        ),
    )
    .expect("write the script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = config_file(
        &dir,
        &format!("[default]\ncredential_process = {}\n", script.display()),
    );
    let store = store(&server, &[("AWS_CONFIG_FILE", config)]);
    round_trip(&*store, "job-process")
        .await
        .expect("the user may write");
}

/// The stand-in for IMDS and a container's endpoint, handing out the
/// `writer` role's session that moto's STS gave.
fn metadata(ids: &serde_json::Value) -> AwsMetadata {
    let metadata = AwsMetadata::start(
        &text(ids, &["session", "id"]),
        &text(ids, &["session", "secret"]),
    );
    metadata.set_session_token(&text(ids, &["session", "token"]));
    metadata
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_role_comes_from_imds_and_is_refreshed_before_it_expires() {
    let Some((server, ids)) = server() else {
        return;
    };
    server.enforce_auth(0);
    let imds = metadata(&ids);
    imds.set_lifetime(Duration::from_secs(8));
    imds.fail_next(2, 500);
    let store = store(
        &server,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.imds_endpoint())],
    );
    round_trip(&*store, "job-imds")
        .await
        .expect("the instance's role may write");
    assert_eq!(imds.requests("token"), 1);
    assert_eq!(
        imds.requests("credentials"),
        1,
        "after two refusals of the role's name, retried"
    );
    round_trip(&*store, "job-imds").await.expect("kept");
    assert_eq!(imds.requests("credentials"), 1, "kept while fresh");
    // Credentials of 8 s are refreshed at half their life.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    round_trip(&*store, "job-imds").await.expect("refreshed");
    assert_eq!(imds.requests("credentials"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_credentials_need_the_authorization_token() {
    let Some((server, ids)) = server() else {
        return;
    };
    server.enforce_auth(0);
    let endpoint = metadata(&ids);
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", endpoint.container_token())).expect("write");
    let vars = [
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            endpoint.container_full_uri(),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.display().to_string(),
        ),
    ];
    round_trip(&*store(&server, &vars), "job-pod")
        .await
        .expect("the pod's role may write");
    assert_eq!(endpoint.requests("container"), 1);

    std::fs::write(&token_file, "not-the-token").expect("write");
    let err = round_trip(&*store(&server, &vars), "job-pod")
        .await
        .expect_err("refused");
    let shown = err.to_string();
    assert!(
        shown.contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        "{shown}"
    );
    for secret in endpoint.secrets() {
        assert!(!shown.contains(&secret), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_profile_takes_its_role_with_the_session_aws_sso_login_cached() {
    let Some((server, ids)) = server() else {
        return;
    };
    server.enforce_auth(0);
    let portal = metadata(&ids);
    let home = tempfile::tempdir().expect("temp dir");
    let cache = home.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).expect("mkdir");
    // The file `aws sso login` writes for the session `corp`: named after
    // the SHA-1 of the session's name.
    let cached = cache.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
    let session = |expires: &str| {
        format!(
            r#"{{"startUrl": "https://corp.awsapps.com/start", "region": "us-east-1", "accessToken": "{}", "expiresAt": "{expires}"}}"#,
            portal.sso_token()
        )
    };
    let later =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(3600));
    std::fs::write(&cached, session(&later.to_string())).expect("write the session");
    let config = config_file(
        &home,
        "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = writer\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    );
    let vars = [
        ("HOME", home.path().display().to_string()),
        ("AWS_CONFIG_FILE", config),
        ("AWS_PROFILE", "dev".to_owned()),
        ("AWS_ENDPOINT_URL_SSO", portal.sso_portal()),
    ];
    round_trip(&*store(&server, &vars), "job-sso")
        .await
        .expect("the role may write");
    assert_eq!(portal.requests("sso"), 1);

    std::fs::write(&cached, session("2020-01-01T00:00:00Z")).expect("write an old session");
    let err = round_trip(&*store(&server, &vars), "job-sso")
        .await
        .expect_err("expired");
    let shown = err.to_string();
    assert!(shown.contains("aws sso login --profile dev"), "{shown}");
    assert!(!shown.contains(&portal.sso_token()), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preparing_a_job_proves_the_credentials_may_write_even_when_it_exists() {
    let Some((server, ids)) = server() else {
        return;
    };
    server.enforce_auth(0);
    let keys = |user: &str| {
        [
            ("AWS_ACCESS_KEY_ID", text(&ids, &[user, "id"])),
            ("AWS_SECRET_ACCESS_KEY", text(&ids, &[user, "secret"])),
        ]
    };
    let container = ContainerName::parse("job-prepared").expect("valid");
    let node = store(&server, &keys("node"));
    assert!(node.create_container(&container).await.expect("made"));
    assert!(
        !node
            .create_container(&container)
            .await
            .expect("there already")
    );
    let reader = store(&server, &keys("reader"));
    let err = reader
        .create_container(&container)
        .await
        .expect_err("a reader may not prepare");
    assert!(matches!(err, Error::Denied { .. }), "{err:?}");
    assert!(err.to_string().contains("s3:PutObject"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_credentials_anywhere_the_error_says_where_to_put_them() {
    let Some(server) = MotoS3::shared() else {
        return;
    };
    let store = store(server, &[]);
    let started = Instant::now();
    let err = round_trip(&*store, "job-none")
        .await
        .expect_err("no credentials");
    let shown = err.to_string();
    assert!(
        shown.contains("AWS_ACCESS_KEY_ID") && shown.contains("AWS_PROFILE"),
        "{shown}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
