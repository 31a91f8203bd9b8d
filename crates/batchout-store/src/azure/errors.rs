//! What an error answer of the Blob service means, and what to do about it:
//! not found (a blob, or a container), denied (with why, read from the SAS
//! itself where it can be), and the permanent failures' hints.

use std::time::SystemTime;

use reqwest::{Method, Response, StatusCode};

use super::config::Credential;
use super::request::Request;
use super::xml;
use crate::Error;

/// The error an answer that is not a success means: its status and the
/// service's error code and message (from `x-ms-error-code` and the XML
/// body), with what to do about it. `store` is the store as shown.
pub(super) async fn error_from(
    store: &str,
    credential: &Credential,
    request: &Request<'_>,
    response: Response,
) -> Error {
    let status = response.status();
    let header_code = response
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = if request.method == Method::HEAD {
        String::new()
    } else {
        response.text().await.unwrap_or_default()
    };
    let (body_code, message) = xml::parse_error(&body);
    let code = header_code.or(body_code).unwrap_or_else(|| "-".to_owned());
    let message = message.unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    map_error(store, credential, request, status, code, message)
}

fn map_error(
    store: &str,
    credential: &Credential,
    request: &Request<'_>,
    status: StatusCode,
    code: String,
    message: String,
) -> Error {
    let store = store.to_owned();
    let target = request.target();
    match (status.as_u16(), code.as_str()) {
        (404, "ContainerNotFound") => Error::ContainerNotFound {
            container: request.container_name(),
            store,
        },
        (404, "-") if request.blob.is_none() => Error::ContainerNotFound {
            container: request.container_name(),
            store,
        },
        (404, _) => Error::NotFound {
            container: request.container_name(),
            name: request.blob.unwrap_or_default().to_owned(),
        },
        (403, _) | (401, _) => Error::Denied {
            hint: denied_hint(credential, request.operation, &code, &message),
            store,
            operation: request.operation,
            target,
            code,
        },
        (status, _) => {
            let message = match permanent_hint(status, &code) {
                Some(hint) => format!("{}; {hint}", message.trim_end_matches('.')),
                None => message,
            };
            Error::Service {
                store,
                operation: request.operation,
                target,
                status,
                code,
                message,
            }
        }
    }
}

/// What to do about a refusal, by the credential that was refused.
fn denied_hint(credential: &Credential, operation: &str, code: &str, message: &str) -> String {
    let message = message.trim_end_matches('.');
    match credential {
            Credential::Sas(token) => sas_hint(token, operation, code, message),
            Credential::SharedKey(_) => match code {
                "AuthenticationFailed" | "AuthorizationFailure" => {
                    "the account key was refused; check AZURE_STORAGE_KEY or the connection string, and that this machine's clock is right".into()
                }
                _ => format!("{message}; check the account's settings and the credentials"),
            },
            Credential::Anonymous => {
                "no credential was given; set AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, or use a SAS URL".into()
            }
        }
}

/// Why a SAS was refused, read from the token itself where it can be: its
/// expiry and start against this machine's clock, and its permission letters
/// against the operation.
fn sas_hint(
    token: &super::credential::SasToken,
    operation: &str,
    code: &str,
    message: &str,
) -> String {
    let now = SystemTime::now();
    let time = |field: &str| {
        token
            .field(field)
            .and_then(|t| humantime::parse_rfc3339_weak(&t).ok().map(|at| (t, at)))
    };
    if let Some((shown, expiry)) = time("se")
        && expiry <= now
    {
        return format!("the SAS expired at {shown}; create a new one");
    }
    if let Some((shown, start)) = time("st")
        && start > now
    {
        return format!(
            "the SAS is not valid before {shown}; check this machine's clock, or create a new one"
        );
    }
    let needed = match operation {
        "read" => Some('r'),
        "list" => Some('l'),
        "write" => Some('w'),
        "create" => Some('c'),
        "append to" => Some('a'),
        "delete" => Some('d'),
        _ => None,
    };
    if let (Some(letter), Some(granted)) = (needed, token.field("sp"))
        && !granted.contains(letter)
        && !(letter == 'a' && granted.contains('w'))
        && !(letter == 'c' && granted.contains('w'))
    {
        return format!(
            "the SAS grants '{granted}' but {operation} needs '{letter}'; create one that has it (permissions racwl{} let a task save, list and read{})",
            if letter == 'd' { "d" } else { "" },
            if letter == 'd' { ", and delete" } else { "" }
        );
    }
    match code {
        "AuthorizationPermissionMismatch" | "AuthorizationResourceTypeMismatch" => {
            "the SAS does not permit this operation; create one that does (permissions racwl let a task save, list and read)".into()
        }
        "AuthenticationFailed" | "AuthorizationFailure" => {
            "the SAS signature was refused (altered, cut short, or signed with another key); copy the whole SAS URL again, or create a new one".into()
        }
        _ => format!("{message}; check the SAS's permissions and expiry"),
    }
}

/// What to do about a permanent failure the service answered, by its status
/// and error code.
fn permanent_hint(status: u16, code: &str) -> Option<&'static str> {
    Some(match (status, code) {
        (409, "ContainerBeingDeleted") => {
            "the container is being deleted; wait a minute and try again, or use another job id"
        }
        (409, "LeaseIdMissing" | "LeaseAlreadyPresent")
        | (412, "LeaseIdMissing" | "LeaseNotPresentWithBlobOperation") => {
            "another client holds a lease on the blob; wait for it to finish, or break the lease"
        }
        (409, "InvalidBlobType") => {
            "a blob of another type (block or append) has this name; delete it, or save under another name"
        }
        (409, "BlobArchived") => "the blob is archived; rehydrate it first",
        (409, _) => "another client changed it at the same time; run the command again",
        (412, _) => {
            "the blob changed while this was being done (a condition failed); run the command again"
        }
        (400, "OutOfRangeInput" | "InvalidResourceName") => {
            "the service refused a name; check the job id, kind and path"
        }
        (400, _) => {
            "the service refused the request as malformed; check the store URL, and report it if it persists"
        }
        (413, _) => "the request is larger than the service accepts",
        _ => return None,
    })
}
