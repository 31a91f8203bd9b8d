//! A stand-in for the AWS credential endpoints a test cannot reach, on
//! loopback: the EC2 instance metadata service (IMDSv2), the ECS/EKS
//! container credentials endpoint and IAM Identity Center's portal. The storage side (a [`SeaweedFs`] or a
//! [`MotoS3`]) is real; the credentials handed out are the keys the test
//! gives [`AwsMetadata::start`], so requests signed with them reach it.
//!
//! It answers, on one port:
//!
//! - IMDSv2 (point `AWS_EC2_METADATA_SERVICE_ENDPOINT` at
//!   [`AwsMetadata::imds_endpoint`]):
//!   - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: N`
//!     (1 to 21600): a fresh session token, valid for `N` seconds, with the
//!     same header in the answer; `400` without a valid TTL, and `403` when
//!     the request carries `X-Forwarded-For` (IMDS refuses proxied PUTs);
//!   - `GET /latest/meta-data/iam/security-credentials/`: the role's name;
//!   - `GET /latest/meta-data/iam/security-credentials/{role}`: the role's
//!     credentials as JSON (`Code`, `LastUpdated`, `Type`, `AccessKeyId`,
//!     `SecretAccessKey`, `Token`, `Expiration`); `404` for another role;
//!   - `GET /latest/meta-data/placement/region`: the region;
//!
//!   each `GET` with a valid `X-aws-ec2-metadata-token`, else `401`: there
//!   is no IMDSv1.
//! - The container endpoint (point `AWS_CONTAINER_CREDENTIALS_FULL_URI` at
//!   [`AwsMetadata::container_full_uri`] and `AWS_CONTAINER_AUTHORIZATION_TOKEN`
//!   at [`AwsMetadata::container_token`]): `GET /v1/credentials`, the EKS Pod
//!   Identity agent's path, or any path under `/v2/credentials/` (ECS's):
//!   credentials as JSON (`AccessKeyId`, `SecretAccessKey`, `Token`,
//!   `Expiration`, `RoleArn`), when `Authorization` is the token exactly,
//!   else `401` with a JSON `{"code":"AccessDenied",…}`.
//!
//! - IAM Identity Center's portal (point `AWS_ENDPOINT_URL_SSO` at
//!   [`AwsMetadata::sso_portal`]): `GET /federation/credentials?role_name=…&account_id=…`
//!   with `x-amz-sso_bearer_token` set to [`AwsMetadata::sso_token`]:
//!   `{"roleCredentials": {"accessKeyId", "secretAccessKey", "sessionToken",
//!   "expiration"}}` (milliseconds since 1970), else `401`
//!   (`UnauthorizedException`).
//!
//! Anything else is `404`. Every set of credentials carries a new session
//! token (`session-<n>-…`), kept so a test can look for it in what batchout
//! printed ([`AwsMetadata::minted_tokens`], [`AwsMetadata::secrets`]). The
//! service counts the requests of each route and the ones it denied, and can
//! fail the next credential requests ([`AwsMetadata::fail_next`]).
//!
//! SeaweedFS (4.48) refuses a request that carries a session token it did not
//! issue (`403 InvalidAccessKeyId`), even when signed with its own identity's
//! keys; moto takes it.
//!
//! [`SeaweedFs`]: crate::SeaweedFs
//! [`MotoS3`]: crate::MotoS3

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::stub_http::{Request, Response, Server};

/// The role IMDS names unless [`AwsMetadata::set_role`] says otherwise.
pub const DEFAULT_ROLE: &str = "batchout-node-role";

/// The region IMDS names unless [`AwsMetadata::set_region`] says otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The `RoleArn` the container endpoint's credentials carry.
pub const CONTAINER_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/batchout-task";

/// The longest IMDS session token, in seconds (six hours).
const MAX_TOKEN_TTL: u64 = 21_600;

/// How long credentials live unless [`AwsMetadata::set_lifetime`] says
/// otherwise: six hours, as IMDS's do.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// The routes [`AwsMetadata::requests`] counts.
const ROUTES: [&str; 6] = ["token", "role", "credentials", "region", "container", "sso"];

const TOKEN_PATH: &str = "/latest/api/token";
const CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
const REGION_PATH: &str = "/latest/meta-data/placement/region";
const CONTAINER_PATH: &str = "/v1/credentials";
const CONTAINER_V2_PREFIX: &str = "/v2/credentials/";
const SSO_PATH: &str = "/federation/credentials";

/// How many services this process has started: sets each one's tokens apart.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// What the service answers; changed while it runs.
#[derive(Debug, Clone)]
struct Config {
    lifetime: Duration,
    role: String,
    region: String,
    /// Whether the container endpoint wants `Authorization`.
    container_token_required: bool,
    /// How many credential requests are still to fail, and with what status.
    failures: (u32, u16),
    /// The session token to hand out instead of minting one.
    session_token: Option<String>,
}

#[derive(Debug, Default)]
struct Seen {
    requests: HashMap<&'static str, u64>,
    denied: u64,
    /// The session tokens of the credentials handed out, in order.
    minted: Vec<String>,
    /// The IMDS tokens issued, and when each stops being valid.
    imds_tokens: Vec<(String, Instant)>,
}

#[derive(Debug)]
struct State {
    access_key_id: String,
    secret_access_key: String,
    container_token: String,
    sso_token: String,
    /// Sets this instance's tokens apart from another's.
    unique: String,
    config: Mutex<Config>,
    seen: Mutex<Seen>,
    serial: AtomicU64,
}

impl State {
    fn config(&self) -> MutexGuard<'_, Config> {
        self.config.lock().expect("config")
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().expect("seen")
    }
}

/// The AWS metadata stand-in, on a free loopback port until dropped (it then
/// stops accepting connections).
#[derive(Debug)]
pub struct AwsMetadata {
    server: Server,
    state: Arc<State>,
}

impl AwsMetadata {
    /// Starts the service handing out `access_key_id` and
    /// `secret_access_key` (with a new session token each time), for the role
    /// [`DEFAULT_ROLE`] in [`DEFAULT_REGION`], credentials of six hours, and
    /// a container endpoint that wants its [`container_token`].
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    ///
    /// [`container_token`]: AwsMetadata::container_token
    pub fn start(access_key_id: &str, secret_access_key: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let instance = INSTANCES.fetch_add(1, Ordering::SeqCst);
        let unique = hex(&Sha256::digest(format!(
            "{}-{nanos}-{instance}",
            std::process::id()
        )))[..12]
            .to_owned();
        let state = Arc::new(State {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            container_token: format!("container-token-{unique}"),
            sso_token: format!("sso-access-token-{unique}"),
            unique,
            config: Mutex::new(Config {
                lifetime: DEFAULT_LIFETIME,
                role: DEFAULT_ROLE.to_owned(),
                region: DEFAULT_REGION.to_owned(),
                container_token_required: true,
                failures: (0, 500),
                session_token: None,
            }),
            seen: Mutex::new(Seen::default()),
            serial: AtomicU64::new(0),
        });
        let shared = Arc::clone(&state);
        let server = Server::start(move |request| answer(&shared, request));
        Self { server, state }
    }

    /// Its IMDS, `http://127.0.0.1:<port>`, for
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub fn imds_endpoint(&self) -> String {
        self.server.url("")
    }

    /// Its container endpoint, `http://127.0.0.1:<port>/v1/credentials`, for
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub fn container_full_uri(&self) -> String {
        self.server.url(CONTAINER_PATH)
    }

    /// Its IAM Identity Center portal, for `AWS_ENDPOINT_URL_SSO`.
    pub fn sso_portal(&self) -> String {
        self.server.url("")
    }

    /// The SSO access token the portal takes: what `aws sso login` would
    /// have written to `~/.aws/sso/cache/`.
    pub fn sso_token(&self) -> String {
        self.state.sso_token.clone()
    }

    /// The `Authorization` the container endpoint wants, for
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN` (or the file
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` names).
    pub fn container_token(&self) -> String {
        self.state.container_token.clone()
    }

    /// Whether the container endpoint wants [`container_token`] (it does
    /// unless told otherwise); without, it takes any request.
    ///
    /// [`container_token`]: AwsMetadata::container_token
    pub fn require_container_token(&self, required: bool) {
        self.state.config().container_token_required = required;
    }

    /// How long the credentials handed out from now on live: their
    /// `Expiration` is now plus `lifetime` (six hours unless set).
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.state.config().lifetime = lifetime;
    }

    /// The role IMDS names and gives credentials for ([`DEFAULT_ROLE`] unless
    /// set).
    pub fn set_role(&self, role: &str) {
        role.clone_into(&mut self.state.config().role);
    }

    /// The region IMDS names ([`DEFAULT_REGION`] unless set).
    pub fn set_region(&self, region: &str) {
        region.clone_into(&mut self.state.config().region);
    }

    /// The next `n` credential requests answer `status` with a short body:
    /// IMDS's `GET`s under `/latest/meta-data/iam/security-credentials/`
    /// (the role's name and its credentials) and the container endpoint's,
    /// once past the token check. Token `PUT`s and the region are not
    /// affected. Replaces failures still pending.
    pub fn fail_next(&self, n: u32, status: u16) {
        self.state.config().failures = (n, status);
    }

    /// Makes every IMDS token issued so far expire now, as if its TTL had
    /// run out: a client must ask for a new one.
    pub fn expire_imds_tokens(&self) {
        let now = Instant::now();
        for (_, valid_until) in &mut self.state.seen().imds_tokens {
            *valid_until = now;
        }
    }

    /// How many requests `route` has had, answered or refused: `"token"`
    /// (IMDS token `PUT`s), `"role"` (the role's name), `"credentials"` (the
    /// role's credentials), `"region"`, or `"container"` (the container
    /// endpoint).
    ///
    /// # Panics
    ///
    /// When `route` is none of those.
    pub fn requests(&self, route: &str) -> u64 {
        assert!(
            ROUTES.contains(&route),
            "no route {route:?}; the routes are {ROUTES:?}"
        );
        self.state.seen().requests.get(route).copied().unwrap_or(0)
    }

    /// How many requests were answered `401` or `403` (failures set with
    /// [`fail_next`](AwsMetadata::fail_next) included).
    pub fn denied(&self) -> u64 {
        self.state.seen().denied
    }

    /// From now on hands out `token` as the session token (one that a real
    /// STS issued with the keys given to [`AwsMetadata::start`], which a
    /// server that checks session tokens takes) instead of minting one.
    pub fn set_session_token(&self, token: &str) {
        self.state.config().session_token = Some(token.to_owned());
    }

    /// The session token of every set of credentials handed out so far, in
    /// order.
    pub fn minted_tokens(&self) -> Vec<String> {
        self.state.seen().minted.clone()
    }

    /// Every secret a test must never find in batchout's output: the session
    /// tokens minted, the IMDS tokens issued, the container token, the SSO
    /// access token and the secret access key.
    pub fn secrets(&self) -> Vec<String> {
        let seen = self.state.seen();
        let mut secrets = seen.minted.clone();
        secrets.extend(seen.imds_tokens.iter().map(|(token, _)| token.clone()));
        secrets.push(self.state.container_token.clone());
        secrets.push(self.state.sso_token.clone());
        secrets.push(self.state.secret_access_key.clone());
        secrets
    }
}

/// The route `request` is for, if any.
fn route_of(request: &Request) -> Option<&'static str> {
    let path = request.path();
    match request.method.as_str() {
        "PUT" if path == TOKEN_PATH => Some("token"),
        "GET" if path == CREDENTIALS_PATH => Some("role"),
        "GET" if path.starts_with(CREDENTIALS_PATH) => Some("credentials"),
        "GET" if path == REGION_PATH => Some("region"),
        "GET" if path == CONTAINER_PATH || path.starts_with(CONTAINER_V2_PREFIX) => {
            Some("container")
        }
        "GET" if path == SSO_PATH => Some("sso"),
        _ => None,
    }
}

/// The answer to `request`, counted.
fn answer(state: &State, request: &Request) -> Response {
    let Some(route) = route_of(request) else {
        return Response::text(404, "Not Found");
    };
    *state.seen().requests.entry(route).or_default() += 1;
    let response = match route {
        "token" => token(state, request),
        "container" => container(state, request),
        "sso" => sso(state, request),
        _ => metadata(state, route, request),
    };
    if matches!(response.status, 401 | 403) {
        state.seen().denied += 1;
    }
    response
}

/// `PUT /latest/api/token`: a new IMDS token for the TTL asked.
fn token(state: &State, request: &Request) -> Response {
    if request.header("x-forwarded-for").is_some() {
        return Response::text(403, "Forbidden");
    }
    let Some(ttl) = request
        .header("x-aws-ec2-metadata-token-ttl-seconds")
        .and_then(|ttl| ttl.parse::<u64>().ok())
        .filter(|ttl| (1..=MAX_TOKEN_TTL).contains(ttl))
    else {
        return Response::text(400, "Bad Request");
    };
    let serial = state.serial.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let token = STANDARD.encode(Sha256::digest(format!(
        "imds-{}-{serial}-{nanos}",
        state.unique
    )));
    state
        .seen()
        .imds_tokens
        .push((token.clone(), Instant::now() + Duration::from_secs(ttl)));
    let mut response = Response::text(200, &token);
    response
        .headers
        .push(("X-aws-ec2-metadata-token-ttl-seconds", ttl.to_string()));
    response
}

/// IMDS's `GET`s: the role, its credentials, the region.
fn metadata(state: &State, route: &str, request: &Request) -> Response {
    let now = Instant::now();
    let valid = request.header("x-aws-ec2-metadata-token").is_some_and(|t| {
        state
            .seen()
            .imds_tokens
            .iter()
            .any(|(token, valid_until)| token == t && now < *valid_until)
    });
    if !valid {
        return Response::text(401, "Unauthorized");
    }
    let config = state.config().clone();
    if route == "region" {
        return Response::text(200, &config.region);
    }
    if let Some(status) = take_failure(state) {
        return Response::text(status, "injected failure");
    }
    if route == "role" {
        return Response::text(200, &config.role);
    }
    if request.path()[CREDENTIALS_PATH.len()..] != config.role {
        return Response::text(404, "Not Found");
    }
    let (token, expiration) = mint(state, &config);
    Response::json(
        200,
        &serde_json::json!({
            "Code": "Success",
            "LastUpdated": rfc3339(unix_now()),
            "Type": "AWS-HMAC",
            "AccessKeyId": state.access_key_id,
            "SecretAccessKey": state.secret_access_key,
            "Token": token,
            "Expiration": expiration,
        }),
    )
}

/// The container endpoint's `GET`.
fn container(state: &State, request: &Request) -> Response {
    let config = state.config().clone();
    if config.container_token_required
        && request.header("authorization") != Some(state.container_token.as_str())
    {
        return Response::json(
            401,
            &serde_json::json!({
                "code": "AccessDenied",
                "message": "The Authorization header is missing or is not the container's token",
            }),
        );
    }
    if let Some(status) = take_failure(state) {
        return Response::json(
            status,
            &serde_json::json!({"code": "InjectedFailure", "message": "injected failure"}),
        );
    }
    let (token, expiration) = mint(state, &config);
    Response::json(
        200,
        &serde_json::json!({
            "AccessKeyId": state.access_key_id,
            "SecretAccessKey": state.secret_access_key,
            "Token": token,
            "Expiration": expiration,
            "RoleArn": CONTAINER_ROLE_ARN,
        }),
    )
}

/// `GET /federation/credentials`: the role's credentials, for the SSO
/// access token.
fn sso(state: &State, request: &Request) -> Response {
    let config = state.config().clone();
    let query = request.query();
    let asked = |name: &str| {
        query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(k, v)| k == name && !v.is_empty())
        })
    };
    if request.header("x-amz-sso_bearer_token") != Some(state.sso_token.as_str()) {
        return Response::json(
            401,
            &serde_json::json!({"message": "Session token not found or invalid"}),
        );
    }
    if !asked("role_name") || !asked("account_id") {
        return Response::json(
            400,
            &serde_json::json!({"message": "role_name and account_id are required"}),
        );
    }
    if let Some(status) = take_failure(state) {
        return Response::json(status, &serde_json::json!({"message": "injected failure"}));
    }
    let (token, _) = mint(state, &config);
    let expiration = (unix_now() + config.lifetime.as_secs()) * 1000;
    Response::json(
        200,
        &serde_json::json!({"roleCredentials": {
            "accessKeyId": state.access_key_id,
            "secretAccessKey": state.secret_access_key,
            "sessionToken": token,
            "expiration": expiration,
        }}),
    )
}

/// The status of the next failure set with [`AwsMetadata::fail_next`], if
/// one is pending (and counts it off).
fn take_failure(state: &State) -> Option<u16> {
    let mut config = state.config();
    let (left, status) = &mut config.failures;
    if *left == 0 {
        return None;
    }
    *left -= 1;
    Some(*status)
}

/// A new session token, remembered, and the credentials' expiration.
fn mint(state: &State, config: &Config) -> (String, String) {
    let mut seen = state.seen();
    // Numbered under the lock, so two requests at once get two numbers.
    let token = config
        .session_token
        .clone()
        .unwrap_or_else(|| format!("session-{}-{}", seen.minted.len() + 1, state.unique));
    seen.minted.push(token.clone());
    (token, rfc3339(unix_now() + config.lifetime.as_secs()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// `secs` since 1970 as `YYYY-MM-DDTHH:MM:SSZ`, in UTC.
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Counted from 0000-03-01, so that a leap day ends its year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 is March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpStream};

    use super::*;

    /// An answer as the test client read it.
    struct Answer {
        status: u16,
        headers: HashMap<String, String>,
        body: String,
    }

    impl Answer {
        fn json(&self) -> serde_json::Value {
            serde_json::from_str(&self.body).expect("a JSON body")
        }
    }

    /// Sends one request on a connection of its own.
    fn send(service: &AwsMetadata, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut stream =
            TcpStream::connect((Ipv4Addr::LOCALHOST, service.server.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n",
            service.server.port()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("an answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        let mut lines = head.lines();
        let status = lines.next().expect("a status line")[9..12]
            .parse()
            .expect("a status");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    fn imds_token(service: &AwsMetadata, ttl: &str) -> String {
        let answer = send(
            service,
            "PUT",
            TOKEN_PATH,
            &[("X-aws-ec2-metadata-token-ttl-seconds", ttl)],
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    fn imds_get(service: &AwsMetadata, path: &str, token: &str) -> Answer {
        send(service, "GET", path, &[("X-aws-ec2-metadata-token", token)])
    }

    fn container_get(service: &AwsMetadata, path: &str, authorization: Option<&str>) -> Answer {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        send(service, "GET", path, &headers)
    }

    /// Whether `text` is shaped `YYYY-MM-DDTHH:MM:SSZ`.
    fn is_utc_timestamp(text: &str) -> bool {
        let bytes = text.as_bytes();
        bytes.len() == 20
            && bytes.iter().enumerate().all(|(i, &b)| match i {
                4 | 7 => b == b'-',
                10 => b == b'T',
                13 | 16 => b == b':',
                19 => b == b'Z',
                _ => b.is_ascii_digit(),
            })
    }

    #[test]
    fn aws_metadata_dates_are_utc_civil_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn aws_metadata_imds_hands_out_credentials_with_a_token() {
        let service = AwsMetadata::start("AKIDTEST", "secret-test");
        let answer = send(
            &service,
            "PUT",
            TOKEN_PATH,
            &[("X-aws-ec2-metadata-token-ttl-seconds", "300")],
        );
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.headers["x-aws-ec2-metadata-token-ttl-seconds"],
            "300"
        );
        let token = answer.body;
        assert!(!token.is_empty());
        assert_ne!(imds_token(&service, "300"), token, "tokens are fresh");

        let role = imds_get(&service, CREDENTIALS_PATH, &token);
        assert_eq!((role.status, role.body.as_str()), (200, DEFAULT_ROLE));

        let credentials = imds_get(
            &service,
            &format!("{CREDENTIALS_PATH}{DEFAULT_ROLE}"),
            &token,
        );
        assert_eq!(credentials.status, 200, "{}", credentials.body);
        let json = credentials.json();
        assert_eq!(json["Code"], "Success");
        assert_eq!(json["Type"], "AWS-HMAC");
        assert_eq!(json["AccessKeyId"], "AKIDTEST");
        assert_eq!(json["SecretAccessKey"], "secret-test");
        assert!(is_utc_timestamp(
            json["LastUpdated"].as_str().expect("a string")
        ));
        assert!(is_utc_timestamp(
            json["Expiration"].as_str().expect("a string")
        ));
        let session = json["Token"].as_str().expect("a token");
        assert!(session.starts_with("session-1-"), "{session}");
        assert_eq!(service.minted_tokens(), [session]);

        let again = imds_get(
            &service,
            &format!("{CREDENTIALS_PATH}{DEFAULT_ROLE}"),
            &token,
        );
        let second = again.json()["Token"].as_str().expect("a token").to_owned();
        assert_ne!(second, session);
        assert!(!second.contains(session) && !session.contains(&second));
        assert_eq!(service.minted_tokens(), [session, second.as_str()]);
        assert!(service.secrets().contains(&token));

        let region = imds_get(&service, REGION_PATH, &token);
        assert_eq!((region.status, region.body.as_str()), (200, DEFAULT_REGION));

        let other = imds_get(&service, &format!("{CREDENTIALS_PATH}other-role"), &token);
        assert_eq!(other.status, 404);

        service.set_role("another-role");
        service.set_region("eu-west-3");
        assert_eq!(
            imds_get(&service, CREDENTIALS_PATH, &token).body,
            "another-role"
        );
        assert_eq!(imds_get(&service, REGION_PATH, &token).body, "eu-west-3");
        assert_eq!(
            imds_get(
                &service,
                &format!("{CREDENTIALS_PATH}{DEFAULT_ROLE}"),
                &token
            )
            .status,
            404
        );

        assert_eq!(service.requests("token"), 2);
        assert_eq!(service.requests("role"), 2);
        assert_eq!(service.requests("credentials"), 4);
        assert_eq!(service.requests("region"), 2);
        assert_eq!(service.requests("container"), 0);
        assert_eq!(service.denied(), 0);
    }

    #[test]
    fn aws_metadata_token_puts_want_a_valid_ttl_and_no_proxy() {
        let service = AwsMetadata::start("AKIDTEST", "secret-test");
        assert_eq!(send(&service, "PUT", TOKEN_PATH, &[]).status, 400);
        for bad in ["0", "21601", "-1", "abc", ""] {
            let answer = send(
                &service,
                "PUT",
                TOKEN_PATH,
                &[("X-aws-ec2-metadata-token-ttl-seconds", bad)],
            );
            assert_eq!(answer.status, 400, "TTL {bad:?}");
        }
        imds_token(&service, "1");
        imds_token(&service, "21600");
        let proxied = send(
            &service,
            "PUT",
            TOKEN_PATH,
            &[
                ("X-aws-ec2-metadata-token-ttl-seconds", "60"),
                ("X-Forwarded-For", "10.0.0.1"),
            ],
        );
        assert_eq!(proxied.status, 403);
        assert_eq!(send(&service, "GET", TOKEN_PATH, &[]).status, 404);
        assert_eq!(service.requests("token"), 9);
        assert_eq!(service.denied(), 1);
    }

    #[test]
    fn aws_metadata_imds_wants_a_valid_token() {
        let service = AwsMetadata::start("AKIDTEST", "secret-test");
        let credentials = format!("{CREDENTIALS_PATH}{DEFAULT_ROLE}");
        for path in [CREDENTIALS_PATH, credentials.as_str(), REGION_PATH] {
            assert_eq!(send(&service, "GET", path, &[]).status, 401, "{path}");
            assert_eq!(imds_get(&service, path, "made-up").status, 401, "{path}");
        }

        let token = imds_token(&service, "60");
        assert_eq!(imds_get(&service, &credentials, &token).status, 200);
        service.expire_imds_tokens();
        assert_eq!(imds_get(&service, &credentials, &token).status, 401);

        let short = imds_token(&service, "1");
        assert_eq!(imds_get(&service, REGION_PATH, &short).status, 200);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(imds_get(&service, REGION_PATH, &short).status, 401);

        assert_eq!(service.minted_tokens().len(), 1);
        assert_eq!(service.denied(), 8);
    }

    #[test]
    fn aws_metadata_container_endpoint_checks_its_token() {
        let service = AwsMetadata::start("AKIDTEST", "secret-test");
        let uri = service.container_full_uri();
        let path = uri
            .strip_prefix(&service.imds_endpoint())
            .expect("same origin");
        assert_eq!(path, "/v1/credentials");
        let token = service.container_token();

        for wrong in [None, Some("wrong"), Some(&*format!("Bearer {token}"))] {
            let answer = container_get(&service, path, wrong);
            assert_eq!(answer.status, 401, "{wrong:?}");
            assert_eq!(answer.json()["code"], "AccessDenied");
            assert!(answer.json()["message"].is_string());
        }

        let answer = container_get(&service, path, Some(&token));
        assert_eq!(answer.status, 200, "{}", answer.body);
        let json = answer.json();
        assert_eq!(json["AccessKeyId"], "AKIDTEST");
        assert_eq!(json["SecretAccessKey"], "secret-test");
        assert_eq!(json["RoleArn"], CONTAINER_ROLE_ARN);
        assert!(is_utc_timestamp(
            json["Expiration"].as_str().expect("a string")
        ));
        assert_eq!(
            service.minted_tokens(),
            [json["Token"].as_str().expect("a token")]
        );

        let v2 = container_get(&service, "/v2/credentials/1f2e3d4c", Some(&token));
        assert_eq!(v2.status, 200);
        assert_eq!(
            container_get(&service, "/v1/credentialsx", Some(&token)).status,
            404
        );
        assert_eq!(
            container_get(&service, "/v3/credentials", Some(&token)).status,
            404
        );

        service.require_container_token(false);
        assert_eq!(container_get(&service, path, None).status, 200);

        assert_eq!(service.requests("container"), 6);
        assert_eq!(service.denied(), 3);
        assert_eq!(service.minted_tokens().len(), 3);
        assert!(service.secrets().contains(&token));
    }

    #[test]
    fn aws_metadata_fails_the_next_credential_requests() {
        let service = AwsMetadata::start("AKIDTEST", "secret-test");
        let token = service.container_token();
        let credentials = format!("{CREDENTIALS_PATH}{DEFAULT_ROLE}");
        service.fail_next(3, 500);

        let failed = container_get(&service, CONTAINER_PATH, Some(&token));
        assert_eq!(failed.status, 500);
        assert!(!failed.body.is_empty());
        // Token PUTs, refused requests and the region use none up.
        let imds = imds_token(&service, "60");
        assert_eq!(send(&service, "GET", &credentials, &[]).status, 401);
        assert_eq!(container_get(&service, CONTAINER_PATH, None).status, 401);
        assert_eq!(imds_get(&service, REGION_PATH, &imds).status, 200);

        assert_eq!(imds_get(&service, CREDENTIALS_PATH, &imds).status, 500);
        assert_eq!(imds_get(&service, &credentials, &imds).status, 500);
        assert_eq!(imds_get(&service, &credentials, &imds).status, 200);
        assert_eq!(
            container_get(&service, CONTAINER_PATH, Some(&token)).status,
            200
        );

        service.fail_next(1, 403);
        assert_eq!(imds_get(&service, &credentials, &imds).status, 403);
        assert_eq!(imds_get(&service, &credentials, &imds).status, 200);

        assert_eq!(service.minted_tokens().len(), 3);
        assert_eq!(service.denied(), 3);
        assert_eq!(service.requests("credentials"), 5);
        assert_eq!(service.requests("container"), 3);
    }

    #[test]
    fn aws_metadata_expiration_is_now_plus_the_lifetime() {
        let service = AwsMetadata::start("AKIDTEST", "secret-test");
        let token = service.container_token();
        let expiration = |service: &AwsMetadata| {
            let answer = container_get(service, CONTAINER_PATH, Some(&token));
            answer.json()["Expiration"]
                .as_str()
                .expect("a string")
                .to_owned()
        };

        // The same shape throughout, so text order is time order.
        let before = rfc3339(unix_now() + 6 * 3600);
        let default = expiration(&service);
        let after = rfc3339(unix_now() + 6 * 3600);
        assert!(is_utc_timestamp(&default), "{default}");
        assert!(before <= default && default <= after, "{default}");

        service.set_lifetime(Duration::from_secs(90 * 60));
        let before = rfc3339(unix_now() + 90 * 60);
        let imds = imds_token(&service, "60");
        let answer = imds_get(
            &service,
            &format!("{CREDENTIALS_PATH}{DEFAULT_ROLE}"),
            &imds,
        );
        let json = answer.json();
        let after = rfc3339(unix_now() + 90 * 60);
        let short = json["Expiration"].as_str().expect("a string");
        assert!(is_utc_timestamp(short), "{short}");
        assert!(
            before.as_str() <= short && short <= after.as_str(),
            "{short}"
        );
        let updated = json["LastUpdated"].as_str().expect("a string");
        assert!(updated <= rfc3339(unix_now()).as_str(), "{updated}");

        service.set_lifetime(Duration::ZERO);
        let now = expiration(&service);
        assert!(now <= rfc3339(unix_now()), "{now}");
    }

    #[test]
    fn aws_metadata_answers_404_elsewhere_and_stops_when_dropped() {
        let service = AwsMetadata::start("AKIDTEST", "secret-test");
        let imds = imds_token(&service, "60");
        for path in [
            "/",
            "/latest/meta-data/",
            "/latest/meta-data/placement/zone",
        ] {
            assert_eq!(imds_get(&service, path, &imds).status, 404, "{path}");
        }
        assert_eq!(
            send(
                &service,
                "POST",
                CONTAINER_PATH,
                &[("Authorization", &service.container_token())]
            )
            .status,
            404
        );
        let port = service.server.port();
        drop(service);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            assert!(Instant::now() < deadline, "still accepting");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    #[should_panic(expected = "no route")]
    fn aws_metadata_counts_only_its_routes() {
        AwsMetadata::start("AKIDTEST", "secret-test").requests("tokens");
    }
}
