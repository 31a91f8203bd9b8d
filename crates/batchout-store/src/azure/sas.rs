//! Generating container SAS tokens (what a task gets instead of a key or a
//! token): a service SAS, signed with the account key, or a user delegation
//! SAS, signed with a key the service gives an Entra ID identity
//! (`delegation.rs`).

use std::time::{Duration, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::SERVICE_VERSION;
use super::credential::{SasToken, SharedKey};
use super::delegation::UserDelegationKey;
use crate::{ContainerName, Error, Result};

/// The container permissions a task needs by default: read, add, create, write,
/// list.
pub const DEFAULT_PERMISSIONS: &str = "racwl";

/// How long a SAS is valid by default: 7 days, the longest a Batch task may stay
/// active.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How far back a SAS's start, and a user delegation key's, is set, so that
/// a machine whose clock is a little behind can use it at once.
pub const START_SKEW: Duration = Duration::from_secs(5 * 60);

/// The longest a user delegation key lasts, from its start, and so the
/// longest a user delegation SAS can: 7 days (Get User Delegation Key).
pub const USER_DELEGATION_MAX: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Characters kept as they are in a query value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The permission letters a container SAS may carry, in the order the service
/// requires.
const ORDER: &str = "racwdxltfmeopi";

/// Checks and orders permission letters (`lwr` becomes `rwl`).
///
/// # Errors
///
/// [`Error::InvalidStoreUrl`] for an empty set, a repeated or unknown letter.
pub fn normalise_permissions(permissions: &str) -> Result<String> {
    let invalid = |reason: String| Error::InvalidStoreUrl {
        url: format!("--permissions {permissions}"),
        reason,
    };
    if permissions.is_empty() {
        return Err(invalid(format!(
            "no permissions given; a task needs {DEFAULT_PERMISSIONS} (read, add, create, write, list)"
        )));
    }
    for c in permissions.chars() {
        if !ORDER.contains(c) {
            return Err(invalid(format!(
                "{c:?} is not a container permission; use letters of {ORDER} (r read, a add, c create, w write, d delete, l list, …)"
            )));
        }
        if permissions.matches(c).count() > 1 {
            return Err(invalid(format!("{c:?} is given twice")));
        }
    }
    Ok(ORDER.chars().filter(|c| permissions.contains(*c)).collect())
}

/// A service SAS for one container, signed with the account key.
///
/// Its start is set a few minutes back so that a node whose clock is a little
/// behind can use it at once.
///
/// # Errors
///
/// As [`normalise_permissions`].
pub fn container_sas(
    key: &SharedKey,
    container: &ContainerName,
    permissions: &str,
    expiry: SystemTime,
) -> Result<SasToken> {
    let permissions = normalise_permissions(permissions)?;
    let start = SystemTime::now() - START_SKEW;
    let start = humantime::format_rfc3339_seconds(start).to_string();
    let expiry = humantime::format_rfc3339_seconds(expiry).to_string();
    let resource = format!("/blob/{}/{}", key.account(), container);
    // Service SAS, version 2020-12-06 and later: the fields, one per line.
    let string_to_sign = [
        permissions.as_str(),
        &start,
        &expiry,
        &resource,
        "", // signed identifier
        "", // signed IP
        "", // signed protocol: https and http both allowed
        SERVICE_VERSION,
        "c", // signed resource: container
        "",  // snapshot time
        "",  // encryption scope
        "",  // rscc
        "",  // rscd
        "",  // rsce
        "",  // rscl
        "",  // rsct
    ]
    .join("\n");
    let signature = key.sign(&string_to_sign);
    let encode = |v: &str| utf8_percent_encode(v, QUERY).to_string();
    SasToken::new(&format!(
        "sv={SERVICE_VERSION}&sr=c&sp={permissions}&st={}&se={}&sig={}",
        encode(&start),
        encode(&expiry),
        encode(&signature)
    ))
}

/// A user delegation SAS for one container of `account`, signed with
/// `key`, valid from `start` to `expiry` (both within the key's validity;
/// [`super::delegation`] chooses them). `permissions` are normalised
/// already.
pub(crate) fn user_delegation_sas(
    key: &UserDelegationKey,
    account: &str,
    container: &ContainerName,
    permissions: &str,
    start: SystemTime,
    expiry: SystemTime,
) -> Result<SasToken> {
    let start = humantime::format_rfc3339_seconds(start).to_string();
    let expiry = humantime::format_rfc3339_seconds(expiry).to_string();
    let string_to_sign =
        user_delegation_string_to_sign(key, account, container, permissions, &start, &expiry);
    let signature = key.sign(&string_to_sign);
    let encode = |v: &str| utf8_percent_encode(v, QUERY).to_string();
    SasToken::new(&format!(
        "sv={SERVICE_VERSION}&sr=c&sp={permissions}&st={}&se={}&skoid={}&sktid={}&skt={}&ske={}&sks={}&skv={}&sig={}",
        encode(&start),
        encode(&expiry),
        encode(&key.object_id),
        encode(&key.tenant_id),
        encode(&key.start),
        encode(&key.expiry),
        encode(&key.service),
        encode(&key.version),
        encode(&signature)
    ))
}

/// What a user delegation SAS for a container signs, for the service
/// version batchout sends (`sv`, 2021-12-02): the layout of versions
/// 2020-12-06 to 2025-05-05, one field a line. The key's fields are as the
/// service gave them; what batchout does not use is an empty line.
fn user_delegation_string_to_sign(
    key: &UserDelegationKey,
    account: &str,
    container: &ContainerName,
    permissions: &str,
    start: &str,
    expiry: &str,
) -> String {
    let resource = format!("/blob/{account}/{container}");
    [
        permissions,
        start,
        expiry,
        &resource,
        &key.object_id, // skoid
        &key.tenant_id, // sktid
        &key.start,     // skt
        &key.expiry,    // ske
        &key.service,   // sks
        &key.version,   // skv
        "",             // saoid: the user the SAS is for (none named)
        "",             // suoid: accounts with a hierarchical namespace only
        "",             // scid: correlation id
        "",             // signed IP
        "",             // signed protocol: https and http both allowed
        SERVICE_VERSION,
        "c", // signed resource: container
        "",  // snapshot time
        "",  // encryption scope
        "",  // rscc
        "",  // rscd
        "",  // rsce
        "",  // rscl
        "",  // rsct
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_checked_and_put_in_service_order() {
        assert_eq!(normalise_permissions("lwcar").expect("valid"), "racwl");
        assert_eq!(normalise_permissions("r").expect("valid"), "r");
        assert!(normalise_permissions("").is_err());
        assert!(normalise_permissions("rr").is_err());
        let err = normalise_permissions("rz").unwrap_err();
        assert!(
            err.to_string()
                .contains("'z' is not a container permission"),
            "{err}"
        );
    }

    /// The vector was computed by an implementation that is not ours:
    /// Azurite 3.37's `generateBlobSASSignatureWithUDK`, which checks the
    /// user delegation SAS it is sent, run by node on the same key, times,
    /// account and container. (The Python SDK's `generate_container_sas`
    /// signs the layout of the newest version whatever `sv` says, so it
    /// cannot check this one.)
    #[test]
    fn a_user_delegation_sas_signs_the_layout_of_its_version() {
        let answer = "<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey><SignedOid>00000000-0000-4000-8000-0000000000aa</SignedOid><SignedTid>72f988bf-86f1-41af-91ab-2d7cd011db47</SignedTid><SignedStart>2026-12-07T09:55:00Z</SignedStart><SignedExpiry>2026-12-14T09:55:00Z</SignedExpiry><SignedService>b</SignedService><SignedVersion>2021-12-02</SignedVersion><Value>a2V5IG9mIHRoZSB0ZXN0</Value></UserDelegationKey>";
        let key = UserDelegationKey::parse(answer).expect("a key");
        let container = ContainerName::parse("job-x").expect("valid");
        let time = |t: &str| humantime::parse_rfc3339(t).expect("a time");
        let (start, expiry) = (time("2026-12-07T09:55:00Z"), time("2026-12-14T09:55:00Z"));
        let text = user_delegation_string_to_sign(
            &key,
            "acct",
            &container,
            "racwl",
            "2026-12-07T09:55:00Z",
            "2026-12-14T09:55:00Z",
        );
        assert_eq!(
            text,
            "racwl\n2026-12-07T09:55:00Z\n2026-12-14T09:55:00Z\n/blob/acct/job-x\n\
             00000000-0000-4000-8000-0000000000aa\n72f988bf-86f1-41af-91ab-2d7cd011db47\n\
             2026-12-07T09:55:00Z\n2026-12-14T09:55:00Z\nb\n2021-12-02\n\n\n\n\n\n\
             2021-12-02\nc\n\n\n\n\n\n\n"
        );
        let token =
            user_delegation_sas(&key, "acct", &container, "racwl", start, expiry).expect("signed");
        assert_eq!(
            token.expose(),
            "sv=2021-12-02&sr=c&sp=racwl&st=2026-12-07T09%3A55%3A00Z&se=2026-12-14T09%3A55%3A00Z\
             &skoid=00000000-0000-4000-8000-0000000000aa&sktid=72f988bf-86f1-41af-91ab-2d7cd011db47\
             &skt=2026-12-07T09%3A55%3A00Z&ske=2026-12-14T09%3A55%3A00Z&sks=b&skv=2021-12-02\
             &sig=L0feTRedD2EfKulOBW3775UIofTrviykdqcuSGXh%2FgA%3D"
        );
        assert!(token.redacted().ends_with("&sig=REDACTED"));
    }

    #[test]
    fn a_sas_names_its_resource_permissions_and_expiry() {
        let key = SharedKey::new("acct", "a2V5").expect("valid base64");
        let container = ContainerName::parse("job-x").expect("valid");
        let expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let token = container_sas(&key, &container, "racwl", expiry).expect("signed");
        let shown = token.redacted();
        assert!(shown.contains("sr=c&sp=racwl"), "{shown}");
        assert!(shown.contains("se=2033-05-18T03%3A33%3A20Z"), "{shown}");
        assert!(shown.ends_with("sig=REDACTED"), "{shown}");
    }
}
