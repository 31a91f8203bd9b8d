//! The job output container name.
//!
//! The rule, from the conventions: lower-case the job id; if `job-<id>` is a valid
//! container name use it, else `job-<prefix>-<sha1 of id>` where the prefix is a
//! readable, shortened form of the id. This reproduces the .NET library's
//! `ContainerNameUtils.GetSafeContainerName`, so both find the same container.

use std::fmt;

use sha1::{Digest, Sha1};

use crate::JobId;

/// The most characters of the id kept in front of the hash.
const PREFIX_MAX: usize = 15;
/// The longest job id that can be used as it is (`job-` plus 59 is 63).
const PLAIN_MAX: usize = 59;

/// A valid Azure blob container name: 3 to 63 characters of lower-case letters,
/// digits and single hyphens, starting and ending with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerName(String);

impl ContainerName {
    /// The output container of a job, per the conventions.
    pub fn for_job(job: &JobId) -> Self {
        Self::for_raw_job_id(job.as_str())
    }

    /// The conventions' container name for any text used as a job id, including
    /// ids that Azure Batch itself would refuse; the result is always a valid
    /// container name.
    ///
    /// For a valid Batch id this is exactly [`ContainerName::for_job`]. For other
    /// text, characters that cannot appear in a container name are treated like
    /// `_` when building the readable prefix, and lower-casing is Unicode's (the
    /// .NET library only ever sees ASCII ids, so the two cannot differ there).
    pub fn for_raw_job_id(id: &str) -> Self {
        let id = id.to_lowercase();
        if is_plain_id(&id) {
            return Self(format!("job-{id}"));
        }
        let hash = Sha1::digest(id.as_bytes());
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("job-{}-{hex}", readable_prefix(&id)))
    }

    /// Accepts an existing container name if it is valid.
    ///
    /// # Errors
    ///
    /// [`crate::NamingError::InvalidPath`] naming what is wrong with it.
    pub fn parse(name: &str) -> Result<Self, crate::NamingError> {
        if is_valid_container_name(name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(crate::NamingError::InvalidPath {
                path: name.to_owned(),
                reason: "not a valid container name: 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit".into(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ContainerName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whether `job-<id>` is a valid container name: at most 59 characters of
/// `[a-z0-9-]`, starting with a letter or digit, not ending in `-`, no `--`.
fn is_plain_id(id: &str) -> bool {
    id.len() <= PLAIN_MAX
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.ends_with('-')
        && !id.contains("--")
}

/// Runs of separators become one `-`, the ends are trimmed, the result is cut to
/// 15 characters (trimming a `-` the cut exposes), and an empty result is `job`.
fn readable_prefix(id: &str) -> String {
    let mut prefix = String::with_capacity(id.len());
    for c in id.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            prefix.push(c);
        } else if !prefix.ends_with('-') {
            // `:`, `_`, `-` per the conventions; anything else only occurs in ids
            // Batch would refuse, and is treated the same way.
            prefix.push('-');
        }
    }
    let trimmed = prefix.trim_matches('-');
    let cut = &trimmed[..trimmed.len().min(PREFIX_MAX)];
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        "job".to_owned()
    } else {
        cut.to_owned()
    }
}

/// Azure's rule for container names.
fn is_valid_container_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(|b| *b != b'-')
        && bytes.last().is_some_and(|b| *b != b'-')
        && !name.contains("--")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The public vectors of the .NET library's own tests (conventions.md).
    const VECTORS: &[(&str, &str)] = &[
        ("job-15", "job-job-15"),
        ("MyTerrificJob", "job-myterrificjob"),
        ("J", "job-j"),
        (
            "my_job-bob",
            "job-my-job-bob-e04620bc2add214df74e158ba60d24273a0e0927",
        ),
        (
            "-my_job-sam--",
            "job-my-job-sam-47f54d840815af2592a12213db05f8a8277a098d",
        ),
        (
            "my-_EVEN_MORE_-terrific-job",
            "job-my-even-more-te-68b05a7d8aa6aa65b9a6892c667a6c406a16ad65",
        ),
        ("---", "job-job-58b63e273b964039d6ef432a415df3f177c818e5"),
        ("-_-", "job-job-6fe16b401f95cfcf3aba78023b0a14ef782813e1"),
        ("-", "job-job-3bc15c8aae3e4124dd409035f32ea2fd6835efc9"),
        ("_", "job-job-53a0acfad59379b3e050338bf9f23cfc172ee787"),
        (
            "myverylongjobnameallinonewordreallystartingtogetreallysillynow",
            "job-myverylongjobna-a8700e4947d0c8c621e53b24246aa0349d830e41",
        ),
    ];

    #[test]
    fn reproduces_every_public_vector_of_the_dotnet_library() {
        for (id, expected) in VECTORS {
            let job = JobId::new(*id).expect("vector ids are valid Batch ids");
            assert_eq!(
                ContainerName::for_job(&job).as_str(),
                *expected,
                "job id {id:?}"
            );
        }
    }

    #[test]
    fn jobs_made_by_a_job_schedule_map_their_colon_like_the_dotnet_library() {
        // Step 3: the run of `:` becomes one `-`; the hash is of the
        // lower-cased id, colon included. The last vector's SHA-1 is
        // Python's `hashlib.sha1(b"nightly:job-7")`.
        for (id, prefix) in [
            ("nightly:job-7", "job-nightly-job-7-"),
            ("Nightly:job-7", "job-nightly-job-7-"),
            ("my_sched:job-12", "job-my-sched-job-12-"),
            ("weekly-report:job-3", "job-weekly-report-j-"),
        ] {
            let job = JobId::new(id).expect("a schedule's job id");
            let name = ContainerName::for_job(&job);
            let sha1: String = Sha1::digest(id.to_lowercase().as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(name.as_str(), format!("{prefix}{sha1}"), "{id}");
        }
        assert_eq!(
            ContainerName::for_job(&JobId::new("nightly:job-7").expect("valid")).as_str(),
            "job-nightly-job-7-f46938ce4f51991f7a00114787dc2dd004134595"
        );
    }

    #[test]
    fn ids_differing_only_by_case_share_a_container() {
        let a = ContainerName::for_raw_job_id("My_Job");
        let b = ContainerName::for_raw_job_id("my_job");
        assert_eq!(a, b);
    }

    #[test]
    fn a_59_character_id_is_used_plain_and_60_is_hashed() {
        let id59 = "a".repeat(59);
        assert_eq!(
            ContainerName::for_raw_job_id(&id59).as_str(),
            format!("job-{id59}")
        );
        let id60 = "a".repeat(60);
        let name = ContainerName::for_raw_job_id(&id60);
        assert!(name.as_str().starts_with("job-aaaaaaaaaaaaaaa-"), "{name}");
        assert_eq!(name.as_str().len(), 4 + 15 + 1 + 40);
    }

    #[test]
    fn a_cut_that_exposes_a_dash_is_trimmed() {
        // 14 letters, then `_`: the 15-character cut ends on the separator.
        let name = ContainerName::for_raw_job_id("abcdefghijklmn_opq");
        assert!(name.as_str().starts_with("job-abcdefghijklmn-"), "{name}");
        assert!(!name.as_str().contains("--"), "{name}");
    }

    #[test]
    fn parse_accepts_valid_and_refuses_invalid_names() {
        assert!(ContainerName::parse("job-abc").is_ok());
        for bad in [
            "ab",
            "Job-a",
            "job--a",
            "-job",
            "job-",
            "job_a",
            &"a".repeat(64),
        ] {
            assert!(ContainerName::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_text_yields_a_valid_container_name(id in any::<String>()) {
            let name = ContainerName::for_raw_job_id(&id);
            prop_assert!(is_valid_container_name(name.as_str()), "{id:?} -> {name}");
        }

        #[test]
        fn very_long_and_unicode_ids_yield_valid_names(id in "[\\PC_:-]{0,400}") {
            let name = ContainerName::for_raw_job_id(&id);
            prop_assert!(is_valid_container_name(name.as_str()), "{id:?} -> {name}");
        }

        #[test]
        fn every_job_made_by_a_schedule_yields_a_valid_hashed_name(
            schedule in "[A-Za-z0-9_-]{1,64}",
            n in 0u64..10_000_000,
        ) {
            let id = format!("{schedule}:job-{n}");
            let job = JobId::new(id.clone()).expect("a schedule's job id is valid");
            let name = ContainerName::for_job(&job);
            prop_assert!(is_valid_container_name(name.as_str()), "{id:?} -> {name}");
            // Never plain: a container name cannot hold ':'.
            prop_assert_eq!(name.as_str().len() - name.as_str().rfind('-').unwrap_or(0), 41);
            let upper = JobId::new(id.to_uppercase()).expect("valid");
            prop_assert_eq!(ContainerName::for_job(&upper), name);
        }

        #[test]
        fn every_valid_batch_id_yields_a_valid_name(id in "[A-Za-z0-9_-]{1,64}") {
            let job = JobId::new(id.clone()).expect("generated ids are valid");
            let name = ContainerName::for_job(&job);
            prop_assert!(is_valid_container_name(name.as_str()), "{id:?} -> {name}");
            // Case-insensitive, as Batch is.
            let upper = JobId::new(id.to_uppercase()).expect("valid");
            prop_assert_eq!(ContainerName::for_job(&upper), name);
        }
    }
}
