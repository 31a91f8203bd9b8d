//! Who may ask, and what every answer carries: the token check (when the
//! viewer has one), and headers that keep a browser from running or framing
//! anything the viewer did not serve itself.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::ViewerError;
use crate::pages::html::{Esc, page};

/// The cookie that carries the token once a browser has given it.
pub(crate) const COOKIE: &str = "batchout_token";

/// The policy every answer carries: scripts and styles from the viewer
/// itself only (never inline), nothing framed, nothing sent elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// `router` with the security headers on every answer, and, with a token,
/// the check of it on every request.
pub(crate) fn guarded(router: Router, token: Option<String>) -> Router {
    let router = match token {
        Some(token) => router.layer(middleware::from_fn_with_state(Arc::new(token), check_token)),
        None => router,
    };
    router.layer(middleware::from_fn(secure_headers))
}

async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Lets a request through when it carries the token (header, cookie, or
/// `?token=`, which is answered with the cookie); else 401.
async fn check_token(State(token): State<Arc<String>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let from_query = query_token(request.uri().query());
    let carried = bearer(headers)
        .or_else(|| cookie(headers))
        .or(from_query.clone());
    if !carried.as_deref().is_some_and(|given| same(given, &token)) {
        if wants_page(headers) {
            return token_page(request.uri().path(), from_query.is_some());
        }
        return ViewerError::Unauthorized.into_response();
    }
    let mut response = next.run(request).await;
    if from_query.is_some()
        && let Ok(value) = HeaderValue::from_str(&format!(
            "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Whether the request is a browser's for a page (rather than the API's).
fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// A page that asks for the token, once: the form sends it as `?token=`,
/// which is answered with the cookie.
fn token_page(path: &str, wrong: bool) -> Response {
    let body = format!(
        "<h1>This viewer needs its token</h1>{}\
         <form method=\"get\" action=\"{}\" class=\"filter\"><label>Token \
         <input type=\"password\" name=\"token\" autocomplete=\"current-password\" autofocus></label> \
         <button type=\"submit\">Open</button></form>\
         <p class=\"dim\">It is the value of <code>BATCHOUT_SERVE_TOKEN</code> (or <code>--token</code>) \
         that <code>batchout serve</code> was started with. It is kept in a cookie of this browser.</p>",
        if wrong {
            "<p class=\"error\">That is not the token.</p>"
        } else {
            ""
        },
        Esc(path)
    );
    let mut response = page("Token needed", &[], &body).into_response();
    *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_owned())
        })
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "token").then(|| value.to_owned())
    })
}

/// Whether two tokens are equal, comparing every byte whatever the first
/// difference, so the time taken does not tell how much of a guess was right.
fn same(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut differ = a.len() ^ b.len();
    for (i, byte) in b.iter().enumerate() {
        differ |= usize::from(a.get(i).copied().unwrap_or(0) ^ byte);
    }
    differ == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_equal_only_when_every_byte_is() {
        assert!(same("s3cret", "s3cret"));
        for other in ["", "s3cre", "s3cret!", "S3cret", "x3cret"] {
            assert!(!same(other, "s3cret"), "{other}");
        }
    }
}
