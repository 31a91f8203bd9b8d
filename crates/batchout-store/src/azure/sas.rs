//! Generating container service SAS tokens (what a task gets instead of a key).

use std::time::{Duration, SystemTime};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::SERVICE_VERSION;
use super::credential::{SasToken, SharedKey};
use crate::{ContainerName, Error, Result};

/// The container permissions a task needs by default: read, add, create, write,
/// list.
pub const DEFAULT_PERMISSIONS: &str = "racwl";

/// How long a SAS is valid by default: 7 days, the longest a Batch task may stay
/// active.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

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
    let start = SystemTime::now() - Duration::from_secs(5 * 60);
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
