//! Each source of Entra ID tokens against the testkit's token service on
//! loopback (a stand-in for Entra ID, IMDS and App Service's identity
//! endpoint): the request each makes, the token it reads, and what it says
//! when the service refuses, with no secret in any message.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use batchout_store::Error;
use batchout_store::azure::identity::{
    CachedCredential, ClientSecretCredential, ManagedIdentityCredential, STORAGE_SCOPE, Secret,
    TokenCredential, WorkloadIdentityCredential,
};
use batchout_testkit::{Route, TokenService};

/// No secret of the service in `text`.
fn assert_no_secret(service: &TokenService, text: &str) {
    for secret in service.secrets() {
        assert!(!text.contains(&secret), "a secret shows in: {text}");
    }
}

#[tokio::test]
async fn a_service_principal_gets_a_token_with_its_secret_and_a_wrong_one_is_named() {
    let service = TokenService::start();
    let sp = ClientSecretCredential::new(
        service.tenant(),
        service.client_id(),
        Secret::new(service.client_secret()),
        Some(&service.authority()),
    )
    .expect("valid");
    let token = sp.token(STORAGE_SCOPE).await.expect("a token");
    assert_eq!(service.minted(), [token.secret.expose().to_owned()]);
    let left = token.remaining();
    assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600));
    assert_no_secret(&service, &format!("{sp:?} {token:?} {}", sp.name()));

    let wrong = ClientSecretCredential::new(
        service.tenant(),
        service.client_id(),
        Secret::new("not-the-secret"),
        Some(&service.authority()),
    )
    .expect("valid");
    let err = wrong.token(STORAGE_SCOPE).await.expect_err("refused");
    let shown = err.to_string();
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(shown.contains("check AZURE_CLIENT_SECRET"), "{shown}");
    assert!(!shown.contains("not-the-secret"), "{shown}");
    assert_eq!(service.requests(Route::V2), 2, "a refusal is not retried");

    let stranger = ClientSecretCredential::new(
        "other-tenant",
        service.client_id(),
        Secret::new(service.client_secret()),
        Some(&service.authority()),
    )
    .expect("valid");
    let err = stranger
        .token(STORAGE_SCOPE)
        .await
        .expect_err("unknown tenant");
    assert!(err.to_string().contains("set AZURE_TENANT_ID"), "{err}");
}

#[tokio::test]
async fn workload_identity_reads_its_federated_token_for_every_request() {
    let service = TokenService::start();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{}\n", service.federated_token())).expect("write");
    let wi = WorkloadIdentityCredential::new(
        service.tenant(),
        service.client_id(),
        &file,
        Some(&service.authority()),
    )
    .expect("valid");
    wi.token(STORAGE_SCOPE).await.expect("a token");
    // The platform rotates the file; the next request reads the new one.
    std::fs::write(&file, "a-stale-federated-token").expect("rotate");
    let err = wi.token(STORAGE_SCOPE).await.expect_err("refused");
    let shown = err.to_string();
    assert!(shown.contains("the federated token was refused"), "{shown}");
    assert!(!shown.contains("a-stale-federated-token"), "{shown}");
    assert_no_secret(&service, &shown);
    std::fs::remove_file(&file).expect("remove");
    let err = wi.token(STORAGE_SCOPE).await.expect_err("no file");
    assert!(
        err.to_string().contains("AZURE_FEDERATED_TOKEN_FILE"),
        "{err}"
    );
}

#[tokio::test]
async fn imds_gives_the_identity_asked_for_and_says_what_to_do_without_one() {
    let service = TokenService::start();
    let imds =
        ManagedIdentityCredential::imds(Some(&service.imds_authority()), None).expect("valid");
    let token = imds.token(STORAGE_SCOPE).await.expect("a token");
    assert!(token.remaining() > Duration::from_secs(3500));
    assert_eq!(service.requests(Route::Imds), 1);

    // A user-assigned identity, by client id.
    service.set_user_assigned(&["user-assigned-1"]);
    let chosen =
        ManagedIdentityCredential::imds(Some(&service.imds_authority()), Some("user-assigned-1"))
            .expect("valid");
    chosen.token(STORAGE_SCOPE).await.expect("a token");
    assert_eq!(
        service.managed_identity_client_ids(),
        [None, Some("user-assigned-1".to_owned())]
    );

    // None assigned: 400 Identity not found, said once, with what to do.
    service.set_imds_identity(false);
    let err = imds.token(STORAGE_SCOPE).await.expect_err("no identity");
    let shown = err.to_string();
    assert!(
        shown.contains("no managed identity is assigned to this VM or Batch pool"),
        "{shown}"
    );
    assert!(shown.contains("AZURE_CLIENT_ID"), "{shown}");
    assert!(
        matches!(
            err,
            Error::Credential {
                unavailable: false,
                ..
            }
        ),
        "forced, it is a failure"
    );
    assert_eq!(service.requests(Route::Imds), 3, "a 400 is not retried");
    let err = ManagedIdentityCredential::imds(Some(&service.imds_authority()), Some("nobody"))
        .expect("valid")
        .token(STORAGE_SCOPE)
        .await
        .expect_err("not assigned");
    assert!(
        err.to_string()
            .contains("no user-assigned identity with client id nobody"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_imds_is_retried_a_few_times_then_given_up() {
    // A port that was free: nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let imds = ManagedIdentityCredential::imds(Some(&format!("http://127.0.0.1:{port}")), None)
        .expect("valid");
    let started = std::time::Instant::now();
    let err = imds.token(STORAGE_SCOPE).await.expect_err("unreachable");
    let shown = err.to_string();
    assert!(shown.contains("gave up after 4 attempts"), "{shown}");
    assert!(started.elapsed() < Duration::from_secs(30), "bounded");
    assert!(!err.is_retryable(), "not retried again by the store");
}

#[tokio::test]
async fn app_service_needs_its_identity_header() {
    let service = TokenService::start();
    let app = ManagedIdentityCredential::app_service(
        &service.identity_endpoint(),
        Secret::new(service.identity_header()),
        None,
    )
    .expect("valid");
    app.token(STORAGE_SCOPE).await.expect("a token");
    assert_eq!(service.requests(Route::AppService), 1);
    assert_no_secret(&service, &format!("{app:?}"));

    let wrong = ManagedIdentityCredential::app_service(
        &service.identity_endpoint(),
        Secret::new("wrong-header"),
        None,
    )
    .expect("valid");
    let err = wrong.token(STORAGE_SCOPE).await.expect_err("refused");
    let shown = err.to_string();
    assert!(
        shown.contains("check IDENTITY_ENDPOINT and IDENTITY_HEADER"),
        "{shown}"
    );
    assert!(!shown.contains("wrong-header"), "{shown}");
}

#[tokio::test]
async fn a_cached_token_is_asked_for_once_and_refreshed_at_half_life() {
    let service = TokenService::start();
    service.set_lifetime(Duration::from_secs(4));
    let imds =
        ManagedIdentityCredential::imds(Some(&service.imds_authority()), None).expect("valid");
    let cached = Arc::new(CachedCredential::new(Arc::new(imds)));
    let first = cached.token(STORAGE_SCOPE).await.expect("token");
    for _ in 0..10 {
        let again = cached.token(STORAGE_SCOPE).await.expect("kept");
        assert_eq!(again.secret, first.secret);
    }
    assert_eq!(service.requests(Route::Imds), 1);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let second = cached.token(STORAGE_SCOPE).await.expect("refreshed");
    assert_ne!(second.secret, first.secret);
    assert!(second.expires_on > SystemTime::now());
    assert_eq!(service.requests(Route::Imds), 2);
}
