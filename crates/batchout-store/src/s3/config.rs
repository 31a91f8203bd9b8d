//! Where an S3 store is and how to sign in: the `s3://BUCKET[/PREFIX]` URL,
//! the endpoint (`AWS_ENDPOINT_URL`, else AWS itself), the region, and the
//! credentials, from the standard AWS variables or the shared config and
//! credentials files of a profile. All parsing of S3 locations and
//! credentials lives here.
//!
//! Which source of credentials to use is chosen here, in the order of the
//! AWS SDKs ([`super::credentials`]); they are fetched when the first
//! request needs them.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use super::credentials::{self, CachedCredentials};
use super::profile::Profile;
use crate::{Authorities, EnvLookup, Error, Result};

/// The region used when none is given (what the AWS SDKs assume for S3).
pub const DEFAULT_REGION: &str = "us-east-1";

/// A resolved S3 location: the bucket and the key prefix under which each
/// container is a folder, the endpoint and how it is addressed, the region
/// and the credentials.
#[derive(Debug, Clone)]
pub struct S3Target {
    /// The bucket.
    pub bucket: String,
    /// The prefix of every key: empty, or ending in `/`.
    pub prefix: String,
    /// The endpoint: AWS's for the region, or `AWS_ENDPOINT_URL`'s.
    pub endpoint: Url,
    /// Whether the bucket is in the path (`ENDPOINT/BUCKET/KEY`) rather than
    /// in the host name (`BUCKET.ENDPOINT/KEY`).
    pub path_style: bool,
    /// Whether the endpoint is a custom one (not AWS itself).
    pub custom_endpoint: bool,
    /// The region requests are signed for.
    pub region: String,
    /// Where the credentials come from, kept and refreshed for the
    /// process.
    pub credentials: Arc<CachedCredentials>,
    /// Certificate authorities trusted besides the system's, for the
    /// endpoint, STS and the SSO portal: `AWS_CA_BUNDLE`, else the
    /// profile's `ca_bundle`.
    pub authorities: Option<Authorities>,
}

impl S3Target {
    /// The store's URL as given, `s3://BUCKET/PREFIX`.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
            .trim_end_matches('/')
            .to_owned()
    }
}

impl fmt::Display for S3Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3 {}", self.url())?;
        if self.custom_endpoint {
            write!(f, " at {}", self.endpoint.as_str().trim_end_matches('/'))?;
        }
        Ok(())
    }
}

/// Resolves `s3://BUCKET[/PREFIX]` with what `env` gives.
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] for a URL, endpoint or addressing style that
/// is not valid, and when no credentials are found (saying where they are
/// looked for).
pub fn from_url(url: &str, env: EnvLookup<'_>) -> Result<S3Target> {
    let invalid = |reason: String| Error::InvalidStoreUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| invalid("an S3 store URL starts with s3://".into()))?;
    if rest.contains(['?', '#']) {
        return Err(invalid(
            "an s3:// URL has no query; give credentials with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE".into(),
        ));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket(bucket).map_err(|why| invalid(format!("the bucket name {bucket:?} {why}")))?;
    let prefix = normal_prefix(prefix).map_err(invalid)?;
    let profile = Profile::load(env).map_err(invalid)?;
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| profile.config("region"))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid(format!(
            "the region {region:?} is not a region name such as eu-west-1 (AWS_REGION)"
        )));
    }
    let custom = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
    let style = env("BATCHOUT_S3_ADDRESSING");
    let path_style = match style.as_deref().map(str::trim) {
        None => custom.is_some() || bucket.contains('.'),
        Some(s) if s.eq_ignore_ascii_case("path") => true,
        Some(s) if s.eq_ignore_ascii_case("virtual") => false,
        Some(other) => {
            return Err(invalid(format!(
                "BATCHOUT_S3_ADDRESSING={other:?} is not valid; give path or virtual"
            )));
        }
    };
    let endpoint = match &custom {
        Some(text) => {
            let endpoint = Url::parse(text.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| {
                    invalid(format!(
                        "AWS_ENDPOINT_URL={text:?} is not an http:// or https:// URL"
                    ))
                })?;
            if path_style {
                endpoint
            } else {
                virtual_host(&endpoint, bucket).map_err(invalid)?
            }
        }
        None => {
            let host = if path_style {
                format!("https://s3.{region}.amazonaws.com")
            } else {
                format!("https://{bucket}.s3.{region}.amazonaws.com")
            };
            Url::parse(&host).map_err(|e| invalid(e.to_string()))?
        }
    };
    let authorities = match (env("AWS_CA_BUNDLE"), profile.config("ca_bundle")) {
        (Some(file), _) => Some(Authorities {
            file: PathBuf::from(file.trim()),
            named_by: "AWS_CA_BUNDLE".into(),
        }),
        (None, Some(file)) => Some(Authorities {
            file: PathBuf::from(file),
            named_by: format!("the ca_bundle of the profile {}", profile.name),
        }),
        (None, None) => None,
    };
    let source =
        credentials::resolve(env, &profile, &region, authorities.as_ref()).map_err(invalid)?;
    let credentials = Arc::new(CachedCredentials::new(source));
    Ok(S3Target {
        bucket: bucket.to_owned(),
        prefix,
        endpoint,
        path_style,
        custom_endpoint: custom.is_some(),
        region,
        credentials,
        authorities,
    })
}

/// The endpoint with the bucket put in front of its host name.
fn virtual_host(endpoint: &Url, bucket: &str) -> std::result::Result<Url, String> {
    let mut url = endpoint.clone();
    let host = format!("{bucket}.{}", endpoint.host_str().unwrap_or_default());
    url.set_host(Some(&host))
        .map_err(|e| format!("cannot address the bucket as {host}: {e}"))?;
    Ok(url)
}

/// Whether `bucket` is a bucket name S3 accepts: 3 to 63 lower-case letters,
/// digits, `.` and `-`, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> std::result::Result<(), &'static str> {
    let edges = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if bucket.is_empty() {
        return Err("is empty; give s3://BUCKET or s3://BUCKET/PREFIX");
    }
    if !(3..=63).contains(&bucket.len()) {
        return Err("must be 3 to 63 characters long");
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        || !edges(bucket.bytes().next())
        || !edges(bucket.bytes().last())
        || bucket.contains("..")
    {
        return Err(
            "is not valid: lower-case letters, digits, '.' and '-', starting and ending with a letter or digit",
        );
    }
    Ok(())
}

/// The key prefix as stored: its segments joined by `/`, with a trailing
/// `/`, or empty. Empty, `.` and `..` segments are refused.
fn normal_prefix(prefix: &str) -> std::result::Result<String, String> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "the prefix {prefix:?} has an empty, '.' or '..' segment; give folder names separated by single '/'"
            ));
        }
        if segment.chars().any(char::is_control) {
            return Err(format!("the prefix {prefix:?} has a control character"));
        }
    }
    Ok(format!("{trimmed}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::credentials::{Credentials, ProvideCredentials};

    fn lookup_in(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    const KEYS: [(&str, &str); 3] = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "SECRETKEY"),
        ("HOME", "/nonexistent"),
    ];

    #[test]
    fn aws_urls_are_virtual_hosted_in_their_region_and_custom_endpoints_path_style() {
        let mut vars = KEYS.to_vec();
        vars.push(("AWS_REGION", "eu-west-1"));
        let target = from_url("s3://my-bucket/runs/2026/", &lookup_in(&vars)).expect("valid");
        assert_eq!(target.prefix, "runs/2026/");
        assert!(!target.path_style);
        assert_eq!(
            target.endpoint.as_str(),
            "https://my-bucket.s3.eu-west-1.amazonaws.com/"
        );
        assert_eq!(target.to_string(), "S3 s3://my-bucket/runs/2026");

        vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"));
        let target = from_url("s3://my-bucket", &lookup_in(&vars)).expect("valid");
        assert!(target.path_style && target.prefix.is_empty());
        assert_eq!(
            target.to_string(),
            "S3 s3://my-bucket at http://127.0.0.1:9000"
        );
        vars.push(("BATCHOUT_S3_ADDRESSING", "virtual"));
        vars.push(("AWS_ENDPOINT_URL_S3", "http://localhost:9000"));
        let target = from_url("s3://my-bucket", &lookup_in(&vars)).expect("valid");
        assert_eq!(target.endpoint.as_str(), "http://my-bucket.localhost:9000/");
    }

    #[test]
    fn bad_urls_are_refused_with_what_to_write() {
        let env = lookup_in(&KEYS);
        for (url, needle) in [
            ("s3://", "is empty"),
            ("s3://ab", "3 to 63"),
            ("s3://My_Bucket", "lower-case"),
            ("s3://bucket/a//b", "empty, '.' or '..'"),
            ("s3://bucket/../x", "'..'"),
            ("s3://bucket?x=1", "no query"),
        ] {
            let err = from_url(url, &env).expect_err(url).to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }

    /// The credentials the target signs with.
    fn keys(target: &S3Target) -> Credentials {
        futures::executor::block_on(target.credentials.credentials()).expect("credentials")
    }

    #[test]
    fn credentials_come_from_the_variables_else_the_profile_and_never_show() {
        let dir = tempfile::tempdir().expect("temp dir");
        let credentials = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = DEFAULTID\naws_secret_access_key = DEFAULTSECRET\n\n[ci]\naws_access_key_id=CIID\n# a comment\naws_secret_access_key= CISECRET\naws_session_token = CITOKEN\n",
        )
        .expect("write");
        std::fs::write(
            &config,
            "[default]\nregion = us-west-2\n[profile ci]\nregion = ap-south-1\ns3 =\n  addressing_style = path\n[profile sso]\nsso_session = corp\n",
        )
        .expect("write");
        let files = [
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.to_str().expect("utf-8"),
            ),
            ("AWS_CONFIG_FILE", config.to_str().expect("utf-8")),
        ];
        let target = from_url("s3://bucket", &lookup_in(&files)).expect("default profile");
        assert_eq!(keys(&target).access_key_id, "DEFAULTID");
        assert_eq!(target.region, "us-west-2");
        let mut vars = files.to_vec();
        vars.push(("AWS_PROFILE", "ci"));
        let target = from_url("s3://bucket", &lookup_in(&vars)).expect("ci profile");
        let ci = keys(&target);
        assert_eq!(ci.access_key_id, "CIID");
        assert_eq!(ci.secret_access_key.expose(), "CISECRET");
        assert_eq!(target.region, "ap-south-1");
        assert_eq!(ci.source, "profile ci");
        let shown = format!("{target:?} {target} {ci:?}");
        for secret in ["CISECRET", "CITOKEN"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        // The variables win over any profile.
        vars.extend(KEYS);
        let target = from_url("s3://bucket", &lookup_in(&vars)).expect("variables");
        assert_eq!(keys(&target).source, "AWS_ACCESS_KEY_ID");

        let mut sso = files.to_vec();
        sso.push(("AWS_PROFILE", "sso"));
        let err = from_url("s3://bucket", &lookup_in(&sso)).expect_err("sso");
        assert!(err.to_string().contains("no [sso-session corp]"), "{err}");
        let mut missing = files.to_vec();
        missing.push(("AWS_PROFILE", "nope"));
        let err = from_url("s3://bucket", &lookup_in(&missing)).expect_err("no such profile");
        assert!(err.to_string().contains("the profile nope"), "{err}");
        let err = from_url(
            "s3://bucket",
            &lookup_in(&[
                ("HOME", "/nonexistent"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ]),
        )
        .expect_err("no credentials");
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    }
}
