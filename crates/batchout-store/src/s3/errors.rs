//! What an error answer of S3 means, and what to do about it: not found (an
//! object; a missing bucket is the store's own problem, told as such), denied
//! (a key that is not known, a secret that does not sign, a clock that is
//! off, a region that is wrong, a policy that does not allow), and the
//! permanent failures' hints.

use reqwest::{Method, Response, StatusCode};

use super::config::S3Target;
use super::credentials::Credentials;
use super::request::Request;
use super::xml;
use crate::Error;

/// The error an answer that is not a success means: its status and S3's
/// error code and message (from the XML body; a HEAD has none), with what
/// to do about it. `store` is the store as shown.
pub(super) async fn error_from(
    store: &str,
    target: &S3Target,
    credentials: &Credentials,
    request: &Request<'_>,
    response: Response,
) -> Error {
    let status = response.status();
    let body = if request.method == Method::HEAD {
        String::new()
    } else {
        response.text().await.unwrap_or_default()
    };
    map_error(
        store,
        target,
        credentials,
        request,
        status,
        &xml::parse_error(&body),
    )
}

/// The error of an answer with `status` and `body`.
pub(super) fn map_error(
    store: &str,
    target: &S3Target,
    credentials: &Credentials,
    request: &Request<'_>,
    status: StatusCode,
    body: &xml::ErrorBody,
) -> Error {
    let store = store.to_owned();
    let code = body.code.clone().unwrap_or_else(|| "-".to_owned());
    let message = body
        .message
        .clone()
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
    let status = status.as_u16();
    match (status, code.as_str()) {
        (404, "NoSuchBucket") => Error::Service {
            message: format!(
                "the bucket {} does not exist{}; create it (e.g. aws s3 mb s3://{}), or check the bucket's name{}",
                target.bucket,
                if target.custom_endpoint {
                    format!(" at {}", target.endpoint)
                } else {
                    String::new()
                },
                target.bucket,
                if target.custom_endpoint {
                    " and AWS_ENDPOINT_URL"
                } else {
                    " and AWS_REGION"
                }
            ),
            store,
            operation: request.operation,
            target: request.target(),
            status,
            code,
        },
        (404, "NoSuchKey" | "-") if request.blob.is_some() => Error::NotFound {
            container: request.container_name(),
            name: request.blob.unwrap_or_default().to_owned(),
        },
        (401 | 403, _)
        | (400, "AuthorizationHeaderMalformed" | "ExpiredToken" | "InvalidToken") => {
            Error::Denied {
                hint: denied_hint(
                    target,
                    credentials,
                    request.operation,
                    &code,
                    &message,
                    body,
                ),
                store,
                operation: request.operation,
                target: request.target(),
                code,
            }
        }
        (301, _) => Error::Denied {
            hint: region_hint(target, body),
            store,
            operation: request.operation,
            target: request.target(),
            code,
        },
        _ => {
            let message = match permanent_hint(status, &code) {
                Some(hint) => format!("{}; {hint}", message.trim_end_matches('.')),
                None => message,
            };
            Error::Service {
                store,
                operation: request.operation,
                target: request.target(),
                status,
                code,
                message,
            }
        }
    }
}

/// What to do about a refusal, by S3's code.
fn denied_hint(
    target: &S3Target,
    credentials: &Credentials,
    operation: &str,
    code: &str,
    message: &str,
    body: &xml::ErrorBody,
) -> String {
    let source = &credentials.source;
    let (id_from, secret_from) = credentials.key_settings();
    match code {
        "InvalidAccessKeyId" => format!(
            "the access key id {} ({id_from}) is not known to this server; check it{}",
            credentials.access_key_id,
            if target.custom_endpoint {
                ", and that AWS_ENDPOINT_URL names the server it belongs to"
            } else {
                ""
            }
        ),
        "SignatureDoesNotMatch" => format!(
            "the secret access key was refused: check {secret_from}, which must belong to the access key id {}, and that this machine's clock is right",
            credentials.access_key_id
        ),
        "RequestTimeTooSkewed" => {
            "this machine's clock is too far from the server's; set it right (e.g. enable NTP) and run again".into()
        }
        "ExpiredToken" | "TokenRefreshRequired" if credentials.expires_on.is_some() => format!(
            "the temporary credentials from {source} were refused as expired; check this machine's clock, and run again"
        ),
        "ExpiredToken" | "TokenRefreshRequired" => {
            "the temporary credentials have expired; get new ones (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN together) and run again".into()
        }
        "InvalidToken" => {
            "the session token was refused; check AWS_SESSION_TOKEN (or the profile's aws_session_token), which must come with its own key id and secret".into()
        }
        "AuthorizationHeaderMalformed" => region_hint(target, body),
        "AccessDenied" | "AllAccessDisabled" => {
            let action = match operation {
                "read" => "s3:GetObject",
                "list" => "s3:ListBucket",
                "delete" => "s3:DeleteObject",
                _ => "s3:PutObject",
            };
            format!(
                "the credentials ({source}) are not allowed to {operation} here; a policy that lets them needs {action} on the bucket {} (batchout needs s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject)",
                target.bucket
            )
        }
        _ => format!(
            "{}; check the credentials ({source}) and the bucket's policy",
            message.trim_end_matches('.')
        ),
    }
}

/// The region to name when the bucket is elsewhere.
fn region_hint(target: &S3Target, body: &xml::ErrorBody) -> String {
    match &body.region {
        Some(region) => format!(
            "the bucket {} is in region {region}, not {}; set AWS_REGION={region}",
            target.bucket, target.region
        ),
        None => format!(
            "the bucket {} is not in region {}; set AWS_REGION to the bucket's region",
            target.bucket, target.region
        ),
    }
}

/// What to do about a permanent failure the service answered, by its status
/// and error code.
fn permanent_hint(status: u16, code: &str) -> Option<&'static str> {
    Some(match (status, code) {
        (409, _) => "another client changed it at the same time; run the command again",
        (412, _) => {
            "the object changed while this was being done (a condition failed); run the command again"
        }
        (400, "InvalidBucketName") => "the bucket's name is not valid; check the store URL",
        (400, "KeyTooLongError") => {
            "the key (prefix, container and name) is longer than the 1,024 bytes S3 takes; use a shorter prefix, kind or path"
        }
        (400, "EntityTooLarge") => "the object is larger than the server takes",
        (400, "EntityTooSmall") => {
            "a part of a multipart upload is smaller than the server takes; raise BATCHOUT_BLOCK_SIZE"
        }
        (400, _) => {
            "the server refused the request as malformed; check the store URL and AWS_ENDPOINT_URL, and report it if it persists"
        }
        (405 | 501, _) => {
            "the server does not offer this operation; check that AWS_ENDPOINT_URL names an S3 server"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContainerName;

    fn target() -> S3Target {
        super::super::config::from_url("s3://bucket/pre", &|name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("VERYSECRET".into()),
            "AWS_REGION" => Some("us-east-1".into()),
            _ => None,
        })
        .expect("valid")
    }

    fn shown(status: u16, code: &str, region: Option<&str>) -> Error {
        let container = ContainerName::parse("job-x").expect("valid");
        let request = Request::object("write", Method::PUT, "pre/", &container, "t1/$TaskLog/a")
            .about("t1/$TaskLog/a");
        let body = xml::ErrorBody {
            code: Some(code.to_owned()),
            message: Some("The message.".to_owned()),
            region: region.map(str::to_owned),
        };
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            crate::Secret::new("VERYSECRET"),
            None,
            "AWS_ACCESS_KEY_ID",
        );
        map_error(
            "S3 s3://bucket/pre",
            &target(),
            &credentials,
            &request,
            StatusCode::from_u16(status).expect("a status"),
            &body,
        )
    }

    #[test]
    fn refusals_say_which_credential_to_fix_and_never_show_the_secret() {
        for (code, needle) in [
            (
                "InvalidAccessKeyId",
                "AKIDEXAMPLE (AWS_ACCESS_KEY_ID) is not known",
            ),
            ("SignatureDoesNotMatch", "check AWS_SECRET_ACCESS_KEY"),
            ("RequestTimeTooSkewed", "clock"),
            ("AccessDenied", "s3:PutObject"),
        ] {
            let err = shown(403, code, None);
            assert!(matches!(err, Error::Denied { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(needle) && text.contains(code), "{text}");
            assert!(!text.contains("VERYSECRET"), "{text}");
        }
        let err = shown(400, "AuthorizationHeaderMalformed", Some("eu-west-1")).to_string();
        assert!(err.contains("set AWS_REGION=eu-west-1"), "{err}");
    }

    #[test]
    fn a_missing_bucket_and_a_missing_key_are_told_apart() {
        let err = shown(404, "NoSuchBucket", None);
        assert!(!err.is_not_found(), "the store itself is missing: {err:?}");
        assert!(err.to_string().contains("aws s3 mb s3://bucket"), "{err}");
        assert!(shown(404, "NoSuchKey", None).is_not_found());
        let busy = shown(503, "SlowDown", None);
        assert!(busy.is_retryable(), "{busy:?}");
    }
}
