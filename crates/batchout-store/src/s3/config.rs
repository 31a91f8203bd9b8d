//! Where an S3 store is and how to sign in: the `s3://BUCKET[/PREFIX]` URL,
//! the endpoint (`AWS_ENDPOINT_URL`, else AWS itself), the region, and the
//! credentials, from the standard AWS variables or the shared config and
//! credentials files of a profile. All parsing of S3 locations and
//! credentials lives here.
//!
//! Credentials are looked for in the order the AWS SDKs use, as far as
//! batchout goes: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
//! `AWS_SESSION_TOKEN`), then the profile `AWS_PROFILE` (else `default`) in
//! `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`) and `~/.aws/config`
//! (`AWS_CONFIG_FILE`). Instance and container credentials (IMDS, ECS), SSO,
//! roles to assume and `credential_process` are not read yet: a profile that
//! uses them is refused with what to do instead.

use std::fmt;
use std::path::PathBuf;

use url::Url;

use crate::azure::identity::Secret;
use crate::{EnvLookup, Error, Result};

/// The region used when none is given (what the AWS SDKs assume for S3).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The credentials requests are signed with. `Debug` shows the key id and
/// where they came from, never the secret key or the session token.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (not a secret: AWS shows it in its consoles).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
    /// Where they came from, for messages: `AWS_ACCESS_KEY_ID` or `profile
    /// NAME`.
    pub source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"REDACTED")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "REDACTED"),
            )
            .field("source", &self.source)
            .finish()
    }
}

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
    /// The credentials.
    pub credentials: Credentials,
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
    let credentials = credentials(env, &profile).map_err(invalid)?;
    Ok(S3Target {
        bucket: bucket.to_owned(),
        prefix,
        endpoint,
        path_style,
        custom_endpoint: custom.is_some(),
        region,
        credentials,
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

/// The credentials: the variables, else the profile's.
fn credentials(env: EnvLookup<'_>, profile: &Profile) -> std::result::Result<Credentials, String> {
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials {
                access_key_id: id.trim().to_owned(),
                secret_access_key: Secret::new(secret.trim()),
                session_token: env("AWS_SESSION_TOKEN").map(|t| Secret::new(t.trim())),
                source: "AWS_ACCESS_KEY_ID".to_owned(),
            });
        }
        (Some(_), None) => {
            return Err(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both".into(),
            );
        }
        (None, Some(_)) => {
            return Err(
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both".into(),
            );
        }
        (None, None) => {}
    }
    let key = |name: &str| profile.credential(name);
    if let (Some(id), Some(secret)) = (key("aws_access_key_id"), key("aws_secret_access_key")) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: Secret::new(secret),
            session_token: key("aws_session_token").map(Secret::new),
            source: format!("profile {}", profile.name),
        });
    }
    let unsupported = [
        "role_arn",
        "sso_session",
        "sso_start_url",
        "credential_process",
    ]
    .into_iter()
    .find(|setting| profile.config(setting).is_some() || key(setting).is_some());
    if let Some(setting) = unsupported {
        return Err(format!(
            "the profile {} gets its credentials with {setting}, which batchout does not read yet; export them with `aws configure export-credentials --profile {} --format env` and run again",
            profile.name, profile.name
        ));
    }
    Err(format!(
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or name a profile with keys in {} with AWS_PROFILE; instance and container credentials are not read yet",
        profile.credentials_file.display()
    ))
}

/// One profile of the shared config and credentials files: its settings in
/// each.
#[derive(Debug, Default)]
struct Profile {
    name: String,
    credentials_file: PathBuf,
    /// Its section of the credentials file.
    credentials: Vec<(String, String)>,
    /// Its section of the config file.
    config: Vec<(String, String)>,
}

impl Profile {
    /// The profile `AWS_PROFILE` names (else `default`), from the files the
    /// variables name (else `~/.aws/credentials` and `~/.aws/config`). A
    /// file that does not exist has no profiles.
    fn load(env: EnvLookup<'_>) -> std::result::Result<Self, String> {
        let name = env("AWS_PROFILE")
            .or_else(|| env("AWS_DEFAULT_PROFILE"))
            .unwrap_or_else(|| "default".to_owned());
        let home = env("HOME").map(PathBuf::from).unwrap_or_default();
        let credentials_file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map_or_else(|| home.join(".aws/credentials"), PathBuf::from);
        let config_file =
            env("AWS_CONFIG_FILE").map_or_else(|| home.join(".aws/config"), PathBuf::from);
        let read = |path: &PathBuf| match std::fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        };
        let credentials = section(&read(&credentials_file)?, &name);
        let config_name = if name == "default" {
            "default".to_owned()
        } else {
            format!("profile {name}")
        };
        let config = section(&read(&config_file)?, &config_name);
        if env("AWS_PROFILE").is_some() && credentials.is_empty() && config.is_empty() {
            return Err(format!(
                "the profile {name} (AWS_PROFILE) is in neither {} nor {}",
                credentials_file.display(),
                config_file.display()
            ));
        }
        Ok(Self {
            name,
            credentials_file,
            credentials,
            config,
        })
    }

    /// A setting of the credentials file's section, else of the config's.
    fn credential(&self, key: &str) -> Option<String> {
        lookup(&self.credentials, key).or_else(|| self.config(key))
    }

    /// A setting of the config file's section.
    fn config(&self, key: &str) -> Option<String> {
        lookup(&self.config, key)
    }
}

fn lookup(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// The `key = value` settings of the INI section `[name]` (all of its
/// occurrences, in order), comments and nested settings left out.
fn section(text: &str, name: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(header) = trimmed.strip_prefix('[') {
            let header = header.split(']').next().unwrap_or_default();
            inside = header.split_whitespace().collect::<Vec<_>>().join(" ") == name;
            continue;
        }
        // An indented line continues a nested setting (`s3 =` then its own
        // lines); none of those is read.
        if !inside || line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((key, value)) = trimmed.split_once('=') {
            pairs.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(target.credentials.access_key_id, "DEFAULTID");
        assert_eq!(target.region, "us-west-2");
        let mut vars = files.to_vec();
        vars.push(("AWS_PROFILE", "ci"));
        let target = from_url("s3://bucket", &lookup_in(&vars)).expect("ci profile");
        assert_eq!(target.credentials.access_key_id, "CIID");
        assert_eq!(target.credentials.secret_access_key.expose(), "CISECRET");
        assert_eq!(target.region, "ap-south-1");
        assert_eq!(target.credentials.source, "profile ci");
        let shown = format!("{target:?} {target}");
        for secret in ["CISECRET", "CITOKEN"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        // The variables win over any profile.
        vars.extend(KEYS);
        let target = from_url("s3://bucket", &lookup_in(&vars)).expect("variables");
        assert_eq!(target.credentials.source, "AWS_ACCESS_KEY_ID");

        let mut sso = files.to_vec();
        sso.push(("AWS_PROFILE", "sso"));
        let err = from_url("s3://bucket", &lookup_in(&sso)).expect_err("sso");
        assert!(err.to_string().contains("export-credentials"), "{err}");
        let mut missing = files.to_vec();
        missing.push(("AWS_PROFILE", "nope"));
        let err = from_url("s3://bucket", &lookup_in(&missing)).expect_err("no such profile");
        assert!(err.to_string().contains("the profile nope"), "{err}");
        let err = from_url("s3://bucket", &lookup_in(&[("HOME", "/nonexistent")]))
            .expect_err("no credentials");
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    }
}
