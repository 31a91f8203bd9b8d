//! Which source gives the credentials, chosen as the AWS SDKs choose it
//! (see the parent module for the order), from the variables and the
//! shared files alone: nothing is fetched here. A source that is set up
//! wrongly (a role with no source, a token file with no role) is an error
//! at once, saying what to set, rather than a step to the next source.

use std::path::PathBuf;
use std::sync::Arc;

use url::Url;

use super::metadata::{ContainerCredentials, IMDS_ENDPOINT, InstanceCredentials};
use super::process::ProcessCredentials;
use super::sso::{SsoCredentials, SsoProfile};
use super::sts::{AssumeRole, Sts, WebIdentity};
use super::{CachedCredentials, Credentials, ProvideCredentials, StaticCredentials};
use crate::s3::profile::Profile;
use crate::{Authorities, EnvLookup, Secret};

type Chosen = Arc<dyn ProvideCredentials>;

/// What the sources that call AWS services (STS, the SSO portal) need.
struct Remote<'a> {
    /// The region they are called in.
    region: &'a str,
    /// Certificate authorities trusted besides the system's.
    authorities: Option<&'a Authorities>,
}

/// The source of the credentials for `profile` (the one `AWS_PROFILE`
/// names, else `default`), in `region`.
pub(crate) fn resolve(
    env: EnvLookup<'_>,
    profile: &Profile,
    region: &str,
    authorities: Option<&Authorities>,
) -> Result<Chosen, String> {
    let at = Remote {
        region,
        authorities,
    };
    if let Some(keys) = from_variables(env)? {
        return Ok(keys);
    }
    let mut visited = Vec::new();
    if let Some(chosen) = from_profile(env, profile, &at, &mut visited)? {
        return Ok(chosen);
    }
    // A profile named that gives none (one that sets only a region) is
    // passed over, as the SDKs pass it: a pod's web identity or a node's
    // role may still give them.
    if let Some(file) = env("AWS_WEB_IDENTITY_TOKEN_FILE") {
        let role = env("AWS_ROLE_ARN").ok_or(
            "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not; set the role to assume with the token",
        )?;
        let session = env("AWS_ROLE_SESSION_NAME");
        let identity = WebIdentity::new(
            PathBuf::from(file),
            role,
            session,
            Sts::new(env, at.region, at.authorities)?,
        );
        return Ok(Arc::new(identity));
    }
    if let Some(container) = container(env)? {
        return Ok(Arc::new(container));
    }
    if let Some(instance) = instance(env)? {
        return Ok(Arc::new(instance.last_resort()));
    }
    let named = if env("AWS_PROFILE").is_some() {
        format!(
            "the profile {} (AWS_PROFILE) has no aws_access_key_id, role_arn, sso_session or credential_process, and ",
            profile.name
        )
    } else {
        String::new()
    };
    Err(format!(
        "no AWS credentials found: {named}set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or name a profile of {} or {} with AWS_PROFILE; on EC2, ECS or EKS, the machine's role is used when AWS_EC2_METADATA_DISABLED is not set",
        profile.credentials_file.display(),
        profile.config_file.display()
    ))
}

/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with
/// `AWS_SESSION_TOKEN`), both or neither.
fn from_variables(env: EnvLookup<'_>) -> Result<Option<Chosen>, String> {
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Some(Arc::new(StaticCredentials(Credentials::new(
            id.trim(),
            Secret::new(secret.trim()),
            env("AWS_SESSION_TOKEN").map(|t| Secret::new(t.trim())),
            "AWS_ACCESS_KEY_ID",
        ))))),
        (Some(_), None) => {
            Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both".into())
        }
        (None, Some(_)) => {
            Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both".into())
        }
        (None, None) => Ok(None),
    }
}

/// What a profile gives: a role it assumes, its IAM Identity Center role,
/// its keys, or its `credential_process`; `None` when it gives nothing (or
/// is not there).
/// `visited` holds the profiles a chain of `source_profile`s went through.
fn from_profile(
    env: EnvLookup<'_>,
    profile: &Profile,
    at: &Remote<'_>,
    visited: &mut Vec<String>,
) -> Result<Option<Chosen>, String> {
    let name = &profile.name;
    let setting = |key: &str| profile.credential(key);
    let keys = match (
        setting("aws_access_key_id"),
        setting("aws_secret_access_key"),
    ) {
        (Some(id), Some(secret)) => Some(Credentials::new(
            id,
            Secret::new(secret),
            setting("aws_session_token").map(Secret::new),
            format!("profile {name}"),
        )),
        _ => None,
    };
    if let Some(role) = setting("role_arn") {
        return assumed_role(env, profile, role, keys, at, visited).map(Some);
    }
    if let Some(sso) = sso_profile(profile)? {
        return Ok(Some(Arc::new(SsoCredentials::new(
            env,
            sso,
            at.authorities,
        )?)));
    }
    if let Some(keys) = keys {
        return Ok(Some(Arc::new(StaticCredentials(keys))));
    }
    if let Some(command) = setting("credential_process") {
        return Ok(Some(Arc::new(ProcessCredentials::new(&command, name)?)));
    }
    Ok(None)
}

/// The role `role` a profile assumes: with its `web_identity_token_file`,
/// or with the credentials of its `source_profile` (its own `keys` when it
/// names itself) or `credential_source`.
fn assumed_role(
    env: EnvLookup<'_>,
    profile: &Profile,
    role: String,
    keys: Option<Credentials>,
    at: &Remote<'_>,
    visited: &mut Vec<String>,
) -> Result<Chosen, String> {
    let name = &profile.name;
    let setting = |key: &str| profile.credential(key);
    // A profile that is its own source uses its keys for the role.
    let own_keys = setting("source_profile").as_deref() == Some(name.as_str());
    if visited.contains(name) && !own_keys {
        visited.push(name.clone());
        return Err(format!(
            "the profiles' source_profile settings go round in a circle: {}",
            visited.join(" -> ")
        ));
    }
    visited.push(name.clone());
    if setting("mfa_serial").is_some() {
        return Err(format!(
            "the profile {name} assumes its role with an MFA code (mfa_serial), which batchout cannot ask for; run `aws configure export-credentials --profile {name} --format env` and run again with what it prints"
        ));
    }
    let session = setting("role_session_name");
    if let Some(file) = setting("web_identity_token_file") {
        let identity = WebIdentity::new(
            PathBuf::from(file),
            role,
            session,
            Sts::new(env, at.region, at.authorities)?,
        );
        return Ok(Arc::new(identity));
    }
    let source: Chosen = match (setting("source_profile"), setting("credential_source")) {
        (Some(_), _) if own_keys => match keys {
            Some(keys) => Arc::new(StaticCredentials(keys)),
            None => {
                return Err(format!(
                    "the profile {name} is its own source_profile but has no aws_access_key_id and aws_secret_access_key"
                ));
            }
        },
        (Some(source), _) => {
            let next = Profile::named(env, &source)?;
            if !next.exists() {
                return Err(format!(
                    "the profile {name} takes its credentials from the profile {source} (source_profile), which is in neither {} nor {}",
                    next.credentials_file.display(),
                    next.config_file.display()
                ));
            }
            from_profile(env, &next, at, visited)?.ok_or_else(|| {
                format!("the profile {source}, the source_profile of {name}, gives no credentials")
            })?
        }
        (None, Some(source)) => credential_source(env, name, &source)?,
        (None, None) => {
            return Err(format!(
                "the profile {name} has role_arn but neither source_profile nor credential_source to assume it with; add one"
            ));
        }
    };
    let external_id = setting("external_id");
    let duration = match setting("duration_seconds") {
        Some(text) => Some(text.trim().parse::<u32>().map_err(|_| {
            format!(
                "the duration_seconds of the profile {name}, {text:?}, is not a number of seconds"
            )
        })?),
        None => None,
    };
    let assume = AssumeRole::new(
        Arc::new(CachedCredentials::new(source)),
        role,
        session,
        external_id,
        duration,
        format!("profile {name}"),
        Sts::new(env, at.region, at.authorities)?,
    );
    Ok(Arc::new(assume))
}

/// The IAM Identity Center settings of a profile, if it signs in that way:
/// `sso_session` and its `[sso-session NAME]` section, or the older
/// `sso_start_url` and `sso_region` in the profile; `sso_account_id` and
/// `sso_role_name` either way.
fn sso_profile(profile: &Profile) -> Result<Option<SsoProfile>, String> {
    let name = &profile.name;
    let setting = |key: &str| profile.config(key);
    let (session, start_url, region) = match (setting("sso_session"), setting("sso_start_url")) {
        (Some(session), _) => {
            let section = profile.config_section(&format!("sso-session {session}"))?;
            let (Some(start_url), Some(region)) =
                (section.get("sso_start_url"), section.get("sso_region"))
            else {
                return Err(format!(
                    "the profile {name} names the sso-session {session}, but {} has no [sso-session {session}] with sso_start_url and sso_region",
                    profile.config_file.display()
                ));
            };
            (Some(session), start_url, region)
        }
        (None, Some(start_url)) => {
            let region = setting("sso_region")
                .ok_or_else(|| format!("the profile {name} has sso_start_url but no sso_region"))?;
            (None, start_url, region)
        }
        (None, None) => return Ok(None),
    };
    let (Some(account), Some(role)) = (setting("sso_account_id"), setting("sso_role_name")) else {
        return Err(format!(
            "the profile {name} signs in with IAM Identity Center but has no sso_account_id and sso_role_name; add them (`aws configure sso --profile {name}` does)"
        ));
    };
    Ok(Some(SsoProfile {
        profile: name.clone(),
        session,
        start_url,
        region,
        account,
        role,
    }))
}

/// A role profile's `credential_source`: where the credentials that assume
/// it are.
fn credential_source(env: EnvLookup<'_>, name: &str, source: &str) -> Result<Chosen, String> {
    let missing = |what: &str| {
        format!(
            "the profile {name} takes its credentials from {source} (credential_source), but {what}"
        )
    };
    match source {
        "Environment" => from_variables(env)?
            .ok_or_else(|| missing("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")),
        "EcsContainer" => Ok(Arc::new(container(env)?.ok_or_else(|| {
            missing("neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set")
        })?)),
        "Ec2InstanceMetadata" => Ok(Arc::new(
            instance(env)?.ok_or_else(|| missing("AWS_EC2_METADATA_DISABLED is set"))?,
        )),
        other => Err(format!(
            "the credential_source of the profile {name}, {other:?}, is not one of Environment, Ec2InstanceMetadata and EcsContainer"
        )),
    }
}

/// The container's credentials endpoint, when the variables name one: ECS's
/// (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, on 169.254.170.2) or any
/// other (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, which must be HTTPS or on
/// this machine or the link-local addresses of ECS and EKS), with the
/// token it asks for.
fn container(env: EnvLookup<'_>) -> Result<Option<ContainerCredentials>, String> {
    let (url, variable) = if let Some(relative) = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        let url = Url::parse(&format!("http://169.254.170.2{}", relative.trim()))
            .map_err(|e| format!("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI={relative:?}: {e}"))?;
        (url, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    } else if let Some(full) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        let url = Url::parse(full.trim())
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!(
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI={full:?} is not an http:// or https:// URL"
                )
            })?;
        if url.scheme() == "http" && !allowed_plain(&url) {
            return Err(format!(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI={full:?} is plain HTTP to another machine; only https:// or an address of this machine (or ECS's and EKS's 169.254.170.2 and 169.254.170.23) is trusted with credentials"
            ));
        }
        (url, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    } else {
        return Ok(None);
    };
    let token = match (
        env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    ) {
        (Some(file), _) => Some(super::metadata::Authorization::File(PathBuf::from(file))),
        (None, Some(token)) => Some(super::metadata::Authorization::Token(Secret::new(
            token.trim(),
        ))),
        (None, None) => None,
    };
    Ok(Some(ContainerCredentials::new(url, variable, token)))
}

/// Whether a plain HTTP endpoint may be sent credentials' requests: this
/// machine, or the endpoints of ECS and EKS Pod Identity.
fn allowed_plain(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback()
                || ip.octets() == [169, 254, 170, 2]
                || ip.octets() == [169, 254, 170, 23]
        }
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)
        }
        Some(url::Host::Domain(host)) => host == "localhost",
        None => false,
    }
}

/// The instance metadata service, unless `AWS_EC2_METADATA_DISABLED` is
/// `true`; at `AWS_EC2_METADATA_SERVICE_ENDPOINT` if set.
fn instance(env: EnvLookup<'_>) -> Result<Option<InstanceCredentials>, String> {
    if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let text = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| IMDS_ENDPOINT.to_owned());
    let endpoint = Url::parse(text.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| {
            format!("AWS_EC2_METADATA_SERVICE_ENDPOINT={text:?} is not an http:// URL")
        })?;
    Ok(Some(InstanceCredentials::new(endpoint)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_in(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// The name of the source chosen with `vars` and `config` as the
    /// config file, or the error.
    fn chosen(vars: &[(&str, &str)], config: &str) -> Result<String, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("config");
        std::fs::write(&file, config).expect("write");
        let mut all: Vec<(&str, String)> = vec![
            ("HOME", "/nonexistent".to_owned()),
            ("AWS_CONFIG_FILE", file.display().to_string()),
        ];
        all.extend(vars.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let env = lookup_in(&all);
        let profile = Profile::load(&env)?;
        resolve(&env, &profile, "eu-west-1", None).map(|source| source.name())
    }

    const ROLES: &str = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s\n\
        [profile keys]\naws_access_key_id = AKIAKEYS\naws_secret_access_key = s\n\
        [profile role]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = keys\n\
        [profile chained]\nrole_arn = arn:aws:iam::123456789012:role/c\nsource_profile = role\n\
        [profile self]\nrole_arn = arn:aws:iam::123456789012:role/s\nsource_profile = self\naws_access_key_id = AKIASELF\naws_secret_access_key = s\n\
        [profile loop-a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = loop-b\n\
        [profile loop-b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = loop-a\n\
        [profile on-ec2]\nrole_arn = arn:aws:iam::123456789012:role/e\ncredential_source = Ec2InstanceMetadata\n\
        [profile bad-source]\nrole_arn = arn:aws:iam::123456789012:role/e\ncredential_source = Somewhere\n\
        [profile orphan]\nrole_arn = arn:aws:iam::123456789012:role/o\n\
        [profile mfa]\nrole_arn = arn:aws:iam::123456789012:role/m\nsource_profile = keys\nmfa_serial = arn:aws:iam::123456789012:mfa/me\n\
        [profile web]\nrole_arn = arn:aws:iam::123456789012:role/w\nweb_identity_token_file = /var/run/token\n\
        [profile process]\ncredential_process = /usr/local/bin/creds --account 1\n\
        [profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\n\
        [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n\
        [profile sso-legacy]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 1\nsso_role_name = Dev\n\
        [profile sso-lost]\nsso_session = nowhere\nsso_account_id = 1\nsso_role_name = Dev\n\
        [profile sso-no-role]\nsso_session = corp\n\
        [profile empty]\nregion = eu-west-1\n";

    #[test]
    fn the_variables_come_first_then_the_profile() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        assert_eq!(chosen(&keys, ROLES).as_deref(), Ok("AWS_ACCESS_KEY_ID"));
        assert_eq!(chosen(&[], ROLES).as_deref(), Ok("profile default"));
        let err = chosen(&[("AWS_ACCESS_KEY_ID", "AKIAENV")], ROLES).expect_err("half");
        assert!(err.contains("set both"), "{err}");
    }

    #[test]
    fn profiles_assume_roles_from_their_sources() {
        let name = |profile: &str| chosen(&[("AWS_PROFILE", profile)], ROLES);
        let role = name("role").expect("role");
        assert!(
            role.contains("arn:aws:iam::123456789012:role/r") && role.contains("profile role"),
            "{role}"
        );
        let chained = name("chained").expect("chained");
        assert!(chained.contains("role/c"), "{chained}");
        assert!(name("self").expect("self").contains("role/s"));
        assert!(name("on-ec2").expect("on ec2").contains("role/e"));
        assert!(name("web").expect("web").contains("web identity"));
        assert!(
            name("process")
                .expect("process")
                .contains("credential_process")
        );
        for (profile, needle) in [
            ("loop-a", "circle: loop-a -> loop-b -> loop-a"),
            ("orphan", "neither source_profile nor credential_source"),
            ("bad-source", "not one of Environment"),
            ("mfa", "export-credentials"),
            ("sso-lost", "no [sso-session nowhere]"),
            ("sso-no-role", "no sso_account_id and sso_role_name"),
            ("missing", "is in neither"),
        ] {
            let err = name(profile).expect_err(profile);
            assert!(err.contains(needle), "{profile}: {err}");
        }
    }

    #[test]
    fn a_profile_with_no_credentials_is_passed_over() {
        let profile = [("AWS_PROFILE", "empty")];
        assert!(chosen(&profile, ROLES).expect("imds").contains("IMDS"));
        let mut off = profile.to_vec();
        off.push(("AWS_EC2_METADATA_DISABLED", "true"));
        let err = chosen(&off, ROLES).expect_err("nothing");
        assert!(
            err.contains("the profile empty (AWS_PROFILE) has no"),
            "{err}"
        );
    }

    #[test]
    fn without_a_profile_the_machine_gives_them() {
        let none = "[profile other]\nregion = eu-west-1\n";
        let web = [
            (
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                "/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
            ),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/pod"),
        ];
        assert!(chosen(&web, none).expect("web").contains("role/pod"));
        let err = chosen(&web[..1], none).expect_err("no role");
        assert!(err.contains("AWS_ROLE_ARN"), "{err}");
        let ecs = [(
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/abc",
        )];
        assert!(chosen(&ecs, none).expect("ecs").contains("container"));
        let pod = [
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1/credentials",
            ),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token",
            ),
        ];
        assert!(
            chosen(&pod, none)
                .expect("pod identity")
                .contains("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        );
        let remote = [(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://10.0.0.1/creds",
        )];
        let err = chosen(&remote, none).expect_err("plain HTTP elsewhere");
        assert!(err.contains("only https://"), "{err}");
        assert!(chosen(&[], none).expect("imds").contains("IMDS"));
        let err = chosen(&[("AWS_EC2_METADATA_DISABLED", "true")], none).expect_err("nothing");
        assert!(err.contains("no AWS credentials found"), "{err}");
    }
}
