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
            Credential::Token(source) => token_hint(&source.name(), operation, code, message),
            Credential::Anonymous => {
                "no credential was given; set AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, or use a SAS URL".into()
            }
        }
}

/// Why an Entra ID token was refused: the identity lacks a data role on the
/// account (the usual case: a role to manage the account is not one to read
/// its blobs), or the token itself was not accepted.
fn token_hint(identity: &str, operation: &str, code: &str, message: &str) -> String {
    match code {
        "AuthorizationPermissionMismatch" | "AuthorizationFailure" => {
            let role = if matches!(operation, "read" | "list") {
                "Storage Blob Data Reader (enough to read and list: the viewer, get, ls) or Storage Blob Data Contributor (to save too)"
            } else if operation == super::delegation::OPERATION {
                "Storage Blob Data Contributor (it may get the user delegation key that signs a SAS, and a user delegation SAS grants no more than the roles of the identity that made it)"
            } else {
                "Storage Blob Data Contributor (what a task needs to save, list and read)"
            };
            format!(
                "{identity} signed in, but has no role that lets it {operation} here; assign it {role} on the storage account or the container (Owner and Contributor manage the account but do not reach its data), then allow a few minutes for the role to apply"
            )
        }
        "InvalidAuthenticationInfo" | "AuthenticationFailed" | "NoAuthenticationInformation" => {
            format!(
                "the token of {identity} was refused ({message}); check that the identity is in the storage account's tenant (AZURE_TENANT_ID), that its token is for Azure Storage (https://storage.azure.com), and that this machine's clock is right"
            )
        }
        _ => format!("{message}; check the role assignments of {identity} on the account"),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::identity::ManagedIdentityCredential;
    use super::*;
    use crate::ContainerName;

    fn denied(credential: &Credential, operation: &'static str, code: &str) -> String {
        let container = ContainerName::parse("job-x").expect("valid");
        let request = Request::new(operation, Method::PUT, &container, Some("t/$TaskLog/a"));
        map_error(
            "Azure Blob Storage https://acct.blob.core.windows.net (Entra ID)",
            credential,
            &request,
            StatusCode::FORBIDDEN,
            code.to_owned(),
            "This request is not authorized to perform this operation using this permission."
                .to_owned(),
        )
        .to_string()
    }

    /// Azurite's basic OAuth mode checks a token's audience, issuer and
    /// lifetime but no role, so the hint of a 403 for a token is pinned
    /// here.
    #[test]
    fn a_token_refused_for_want_of_a_role_names_the_role() {
        let identity =
            ManagedIdentityCredential::imds(None, Some("0a1b")).expect("an IMDS identity");
        let token = Credential::Token(Arc::new(identity));
        let write = denied(&token, "write", "AuthorizationPermissionMismatch");
        assert!(write.contains("Storage Blob Data Contributor"), "{write}");
        assert!(
            write.contains("a managed identity (IMDS, client 0a1b)"),
            "{write}"
        );
        assert!(write.contains("AuthorizationPermissionMismatch"), "{write}");
        let read = denied(&token, "read", "AuthorizationFailure");
        assert!(read.contains("Storage Blob Data Reader"), "{read}");
        let refused = denied(&token, "list", "InvalidAuthenticationInfo");
        assert!(refused.contains("AZURE_TENANT_ID"), "{refused}");
        let key = denied(
            &token,
            crate::azure::delegation::OPERATION,
            "AuthorizationPermissionMismatch",
        );
        assert!(
            key.contains("refused to get a user delegation key for")
                && key
                    .contains("Storage Blob Data Contributor (it may get the user delegation key"),
            "{key}"
        );
    }
}
