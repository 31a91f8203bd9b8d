//! A stand-in for Entra ID and the managed identity endpoints, on loopback:
//! the real ones cannot be reached from a test, while the storage side (an
//! Azurite started with `--oauth basic`, [`Azurite::start_https_oauth`])
//! is real.
//!
//! It answers the three shapes batchout asks:
//!
//! - IMDS: `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…[&client_id=…]`
//!   with `Metadata: true` (point `AZURE_POD_IDENTITY_AUTHORITY_HOST` at
//!   [`TokenService::imds_authority`]); it can answer `400 Identity not
//!   found` as IMDS does on a machine with no identity;
//! - App Service and Container Apps: `GET /msi/token?api-version=2019-08-01&resource=…`
//!   with `X-IDENTITY-HEADER` ([`TokenService::identity_endpoint`],
//!   [`TokenService::identity_header`]);
//! - Entra ID's v2.0 endpoint: `POST /{tenant}/oauth2/v2.0/token`, a
//!   `client_credentials` form with the client secret or the federated
//!   token as `client_assertion` (point `AZURE_AUTHORITY_HOST` at
//!   [`TokenService::authority`]).
//!
//! Each token is an unsigned JWT (`alg: none`) for the audience
//! `https://storage.azure.com` from the issuer
//! `https://sts.windows.net/<tenant>/`, valid from a minute ago for the
//! lifetime set ([`TokenService::set_lifetime`]): what Azurite's basic
//! OAuth mode checks (it checks no signature). The service counts the
//! requests of each route and keeps every token it minted, so a test can
//! look for them in what batchout printed.
//!
//! [`Azurite::start_https_oauth`]: crate::Azurite::start_https_oauth

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::stub_http::{Request, Response, Server};

/// The audience Azure Storage's tokens carry.
pub const STORAGE_AUDIENCE: &str = "https://storage.azure.com";

/// A route of the token service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// IMDS's token endpoint.
    Imds,
    /// The App Service identity endpoint.
    AppService,
    /// Entra ID's v2.0 token endpoint.
    V2,
}

/// What the service accepts and how it answers; changed while it runs.
#[derive(Debug, Clone)]
struct Config {
    lifetime: Duration,
    /// Whether IMDS has an identity to give (else 400 Identity not found).
    imds_identity: bool,
    /// The user-assigned identities IMDS knows (a request for another
    /// client id is 400 Identity not found).
    user_assigned: Vec<String>,
}

#[derive(Debug, Default)]
struct Seen {
    requests: HashMap<Route, usize>,
    minted: Vec<String>,
    client_ids: Vec<Option<String>>,
}

#[derive(Debug)]
struct State {
    tenant: String,
    client_id: String,
    client_secret: String,
    federated_token: String,
    identity_header: String,
    config: Mutex<Config>,
    seen: Mutex<Seen>,
    serial: AtomicU64,
}

/// The token service, on a free loopback port until dropped (it then stops
/// accepting connections).
#[derive(Debug)]
pub struct TokenService {
    server: Server,
    state: Arc<State>,
}

impl TokenService {
    /// Starts a token service minting tokens of an hour, with an IMDS that
    /// has a (system-assigned) identity.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start() -> Self {
        let unique = format!(
            "{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let state = Arc::new(State {
            tenant: "72f988bf-0000-4000-8000-00000000beef".to_owned(),
            client_id: "a0b1c2d3-0000-4000-8000-000000000001".to_owned(),
            client_secret: format!("client-secret-{unique}"),
            federated_token: format!("federated-token-{unique}"),
            identity_header: format!("identity-header-{unique}"),
            config: Mutex::new(Config {
                lifetime: Duration::from_secs(3600),
                imds_identity: true,
                user_assigned: Vec::new(),
            }),
            seen: Mutex::new(Seen::default()),
            serial: AtomicU64::new(0),
        });
        let shared = Arc::clone(&state);
        let server = Server::start(move |request| answer(&shared, request));
        Self { server, state }
    }

    /// What `AZURE_POD_IDENTITY_AUTHORITY_HOST` names to reach its IMDS:
    /// `http://127.0.0.1:<port>`.
    pub fn imds_authority(&self) -> String {
        self.server.url("")
    }

    /// Its App Service identity endpoint, for `IDENTITY_ENDPOINT`.
    pub fn identity_endpoint(&self) -> String {
        self.server.url("/msi/token")
    }

    /// Its Entra ID authority, for `AZURE_AUTHORITY_HOST`.
    pub fn authority(&self) -> String {
        self.server.url("/")
    }

    /// The tenant its v2.0 endpoint knows (`AZURE_TENANT_ID`).
    pub fn tenant(&self) -> &str {
        &self.state.tenant
    }

    /// The application it knows (`AZURE_CLIENT_ID`).
    pub fn client_id(&self) -> &str {
        &self.state.client_id
    }

    /// The application's client secret (`AZURE_CLIENT_SECRET`).
    pub fn client_secret(&self) -> &str {
        &self.state.client_secret
    }

    /// The federated token it accepts as the application's assertion (what
    /// `AZURE_FEDERATED_TOKEN_FILE` holds).
    pub fn federated_token(&self) -> &str {
        &self.state.federated_token
    }

    /// The header its App Service endpoint wants (`IDENTITY_HEADER`).
    pub fn identity_header(&self) -> &str {
        &self.state.identity_header
    }

    /// How long the tokens minted from now on live.
    pub fn set_lifetime(&self, lifetime: Duration) {
        self.config().lifetime = lifetime;
    }

    /// Whether IMDS has an identity to give; without one it answers `400
    /// Identity not found`, as on a VM or pool with none assigned.
    pub fn set_imds_identity(&self, has_one: bool) {
        self.config().imds_identity = has_one;
    }

    /// The user-assigned identities IMDS has, by client id: a request for
    /// another is `400 Identity not found`.
    pub fn set_user_assigned(&self, client_ids: &[&str]) {
        self.config().user_assigned = client_ids.iter().map(|&id| id.to_owned()).collect();
    }

    /// How many requests `route` has had.
    pub fn requests(&self, route: Route) -> usize {
        self.seen().requests.get(&route).copied().unwrap_or(0)
    }

    /// Every token minted so far.
    pub fn minted(&self) -> Vec<String> {
        self.seen().minted.clone()
    }

    /// The `client_id` of each IMDS and App Service request, in order.
    pub fn managed_identity_client_ids(&self) -> Vec<Option<String>> {
        self.seen().client_ids.clone()
    }

    /// Every secret a test must never find in batchout's output: the tokens
    /// minted, the client secret, the federated token and the identity
    /// header.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = self.minted();
        secrets.extend([
            self.state.client_secret.clone(),
            self.state.federated_token.clone(),
            self.state.identity_header.clone(),
        ]);
        secrets
    }

    fn config(&self) -> std::sync::MutexGuard<'_, Config> {
        self.state.config.lock().expect("config")
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.state.seen.lock().expect("seen")
    }
}

/// An unsigned JWT (`alg: none`) for `audience` from `tenant`'s issuer,
/// valid from a minute ago for `lifetime`: what Azurite's basic OAuth mode
/// accepts. `serial` makes each one different.
pub fn unsigned_jwt(tenant: &str, audience: &str, lifetime: Duration, serial: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    let claims = serde_json::json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime.as_secs(),
        "tid": tenant,
        "oid": "00000000-0000-4000-8000-0000000000aa",
        "sub": "batchout-test",
        "uti": format!("t{serial}-{}", std::process::id()),
        "ver": "1.0",
    });
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The JSON answer to `request`.
fn answer(state: &State, request: &Request) -> Response {
    let path = request.path();
    let route = if path == "/metadata/identity/oauth2/token" {
        Route::Imds
    } else if path == "/msi/token" {
        Route::AppService
    } else if path.ends_with("/oauth2/v2.0/token") {
        Route::V2
    } else {
        return error(404, "not_found", "no such route");
    };
    let query = form(request.query());
    {
        let mut seen = state.seen.lock().expect("seen");
        *seen.requests.entry(route).or_default() += 1;
        if route != Route::V2 {
            seen.client_ids.push(query.get("client_id").cloned());
        }
    }
    let config = state.config.lock().expect("config").clone();
    match route {
        Route::Imds => imds(state, &config, request, &query),
        Route::AppService => app_service(state, &config, request, &query),
        Route::V2 => v2(state, &config, request),
    }
}

/// IMDS's token endpoint; `query` is the request's, decoded.
fn imds(
    state: &State,
    config: &Config,
    request: &Request,
    query: &HashMap<String, String>,
) -> Response {
    if request.method != "GET" || request.header("metadata") != Some("true") {
        return error(
            400,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    if query.get("api-version").map(String::as_str) != Some("2018-02-01")
        || !query.contains_key("resource")
    {
        return error(400, "invalid_request", "Invalid query");
    }
    let known = match query.get("client_id") {
        Some(id) => config.user_assigned.contains(id),
        None => config.imds_identity,
    };
    if !known {
        return error(400, "invalid_request", "Identity not found");
    }
    let (token, expires_on) = mint(state, config);
    let body = serde_json::json!({
        "access_token": token,
        "client_id": query.get("client_id").cloned().unwrap_or_else(|| state.client_id.clone()),
        "expires_in": config.lifetime.as_secs().to_string(),
        "expires_on": expires_on.to_string(),
        "ext_expires_in": config.lifetime.as_secs().to_string(),
        "not_before": (expires_on - config.lifetime.as_secs()).to_string(),
        "resource": query.get("resource"),
        "token_type": "Bearer",
    });
    Response::json(200, &body)
}

/// The App Service identity endpoint; `query` is the request's, decoded.
fn app_service(
    state: &State,
    config: &Config,
    request: &Request,
    query: &HashMap<String, String>,
) -> Response {
    if request.header("x-identity-header") != Some(state.identity_header.as_str()) {
        return error(
            401,
            "unauthorized",
            "The X-IDENTITY-HEADER is missing or wrong",
        );
    }
    if query.get("api-version").map(String::as_str) != Some("2019-08-01")
        || !query.contains_key("resource")
    {
        return error(400, "invalid_request", "Invalid query");
    }
    let (token, expires_on) = mint(state, config);
    let body = serde_json::json!({
        "access_token": token,
        "expires_on": expires_on.to_string(),
        "resource": query.get("resource"),
        "token_type": "Bearer",
        "client_id": state.client_id,
    });
    Response::json(200, &body)
}

/// Entra ID's v2.0 token endpoint.
fn v2(state: &State, config: &Config, request: &Request) -> Response {
    let tenant = request
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if tenant != state.tenant {
        return error(
            400,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    let form = form(&String::from_utf8_lossy(&request.body));
    let field = |name: &str| form.get(name).map(String::as_str);
    if request.method != "POST" || field("grant_type") != Some("client_credentials") {
        return error(
            400,
            "unsupported_grant_type",
            "AADSTS70003: unsupported grant type",
        );
    }
    if field("client_id") != Some(state.client_id.as_str()) {
        return error(
            400,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if field("scope") != Some("https://storage.azure.com/.default") {
        return error(
            400,
            "invalid_scope",
            "AADSTS70011: The provided scope is not valid.",
        );
    }
    let by_secret = field("client_secret") == Some(state.client_secret.as_str());
    let by_assertion = field("client_assertion_type")
        == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        && field("client_assertion") == Some(state.federated_token.as_str());
    if !(by_secret || by_assertion) {
        return error(
            401,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let (token, _) = mint(state, config);
    let body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": config.lifetime.as_secs(),
        "ext_expires_in": config.lifetime.as_secs(),
        "access_token": token,
    });
    Response::json(200, &body)
}

/// A new token and its expiry (seconds since 1970), remembered.
fn mint(state: &State, config: &Config) -> (String, u64) {
    let serial = state.serial.fetch_add(1, Ordering::SeqCst);
    let token = unsigned_jwt(&state.tenant, STORAGE_AUDIENCE, config.lifetime, serial);
    state.seen.lock().expect("seen").minted.push(token.clone());
    let expires_on = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + config.lifetime.as_secs();
    (token, expires_on)
}

/// An OAuth error answer: `code` and its description.
fn error(status: u16, code: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": code, "error_description": description});
    Response::json(status, &body)
}

/// A form or query string, decoded.
fn form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// `+` as a space and `%XX` as its byte.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_decoded() {
        let decoded = form("a=b%2Fc+d&scope=https%3A%2F%2Fstorage.azure.com%2F.default&e");
        assert_eq!(decoded["a"], "b/c d");
        assert_eq!(decoded["scope"], "https://storage.azure.com/.default");
        assert_eq!(decoded["e"], "");
    }

    #[test]
    fn tokens_are_three_part_jwts_with_the_claims_azurite_checks() {
        let token = unsigned_jwt("t", STORAGE_AUDIENCE, Duration::from_secs(60), 7);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64"))
                .expect("json");
        assert_eq!(claims["aud"], STORAGE_AUDIENCE);
        assert_eq!(claims["iss"], "https://sts.windows.net/t/");
        for claim in ["iat", "nbf", "exp"] {
            assert!(claims[claim].is_u64(), "{claim}");
        }
    }
}
