//! Job and task ids, validated as Azure Batch validates them.
//!
//! A task id, and the id of a job made directly, is 1 to 64 ASCII letters,
//! digits, `-` or `_`. A job that a **job schedule** makes is named
//! `{scheduleId}:job-{n}` by Batch (`nightly:job-7`), and every task of it
//! sees that id in `AZ_BATCH_JOB_ID`; so a job id may also be two such ids
//! joined by one `:`, up to [`MAX_JOB_ID_LEN`] characters in all. The
//! container rule maps the `:` like `_` and `-` (see
//! [`crate::ContainerName::for_job`]).

use std::fmt;

use crate::NamingError;

/// The longest id Azure Batch accepts for a task, a job it is given, or a job
/// schedule.
pub const MAX_ID_LEN: usize = 64;

/// The longest job id accepted: a schedule's id (64), `:`, and the id Batch
/// gives the job it makes (`job-{n}`, at most 64 too).
pub const MAX_JOB_ID_LEN: usize = 2 * MAX_ID_LEN + 1;

/// What Batch ids are made of, for messages.
const ID_RULE: &str = "Batch ids are 1 to 64 letters, digits, '-' or '_'";

/// Checks one plain Batch id: 1 to 64 letters, digits, `-` or `_`. Returns
/// why not, for a message.
fn plain_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("it is empty".into());
    }
    let chars = id.chars().count();
    if chars > MAX_ID_LEN {
        return Some(format!(
            "it is {chars} characters long, more than {MAX_ID_LEN}"
        ));
    }
    id.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        .map(|bad| format!("it contains {bad:?}"))
}

fn validate_task(id: &str) -> Result<(), NamingError> {
    match plain_id_problem(id) {
        None => Ok(()),
        Some(reason) => Err(NamingError::InvalidId {
            what: "task",
            id: id.to_owned(),
            reason: format!("{reason}; {ID_RULE}"),
        }),
    }
}

/// A job id: a plain Batch id, or `{scheduleId}:{id}` for a job that a job
/// schedule made.
fn validate_job(id: &str) -> Result<(), NamingError> {
    let problem = match id.split_once(':') {
        None => plain_id_problem(id),
        Some((schedule, job)) => match (plain_id_problem(schedule), plain_id_problem(job)) {
            (None, None) => None,
            (Some(why), _) => Some(format!(
                "the job schedule's id before ':' is not valid: {why}"
            )),
            (None, Some(why)) => Some(format!(
                "the part after the schedule's ':' is not valid: {why}"
            )),
        },
    };
    match problem {
        None => Ok(()),
        Some(reason) => Err(NamingError::InvalidId {
            what: "job",
            id: id.to_owned(),
            reason: format!(
                "{reason}; {ID_RULE}, and a job made by a job schedule is SCHEDULE:job-N"
            ),
        }),
    }
}

macro_rules! batch_id {
    ($(#[$doc:meta])* $name:ident, $validate:ident, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Validates ", $rule)]
            ///
            /// # Errors
            ///
            /// [`NamingError::InvalidId`] when the id is empty, too long, or has any
            /// other character.
            pub fn new(id: impl Into<String>) -> Result<Self, NamingError> {
                let id = id.into();
                $validate(&id)?;
                Ok(Self(id))
            }

            /// The id as given, case kept.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NamingError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

batch_id!(
    /// An Azure Batch job id, that of a job made by a job schedule
    /// (`nightly:job-7`) included. Batch treats job ids case-insensitively; the
    /// container name lower-cases them.
    JobId,
    validate_job,
    "a job id: 1 to 64 ASCII letters, digits, `-` or `_`; or, for a job made by a job schedule, the schedule's id and the job's joined by one `:` (`nightly:job-7`)."
);

batch_id!(
    /// An Azure Batch task id. It keeps its case in blob names.
    TaskId,
    validate_task,
    "a task id: 1 to 64 ASCII letters, digits, `-` or `_`."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_dash_underscore() {
        for id in ["a", "job-15", "My_Job", "-", "_", &"x".repeat(64)] {
            assert!(JobId::new(id).is_ok(), "{id}");
            assert!(TaskId::new(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn refuses_empty_long_and_foreign_characters() {
        for id in ["", &"x".repeat(65), "a b", "a/b", "a.b", "é", "a$b", "a\0"] {
            let err = JobId::new(id).expect_err(id);
            assert!(err.to_string().contains("Batch ids are"), "{err}");
            assert!(TaskId::new(id).is_err(), "{id}");
        }
        let err = TaskId::new("a b").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid task id \"a b\""),
            "{err}"
        );
    }

    #[test]
    fn jobs_made_by_a_job_schedule_are_accepted_as_job_ids_only() {
        let longest = format!("{}:{}", "s".repeat(64), "j".repeat(64));
        for id in ["nightly:job-7", "My_Schedule:job-1234567", "a:b", &longest] {
            let job = JobId::new(id).expect(id);
            assert_eq!(job.as_str(), id, "kept as given");
            let err = TaskId::new(id).expect_err(id).to_string();
            assert!(
                err.contains("contains ':'") || err.contains("more than 64"),
                "{err}"
            );
        }
        assert_eq!(longest.len(), MAX_JOB_ID_LEN);
    }

    #[test]
    fn a_schedule_id_must_be_a_batch_id_on_both_sides_of_one_colon() {
        for (id, says) in [
            (":job-7", "schedule's id before ':'"),
            ("nightly:", "after the schedule's ':'"),
            ("a:b:c", "contains ':'"),
            ("night ly:job-7", "schedule's id before ':'"),
            (&format!("{}:job-1", "s".repeat(65)), "more than 64"),
            (&format!("s:{}", "j".repeat(65)), "more than 64"),
        ] {
            let err = JobId::new(id).expect_err(id).to_string();
            assert!(err.contains(says), "{id}: {err}");
            assert!(err.contains("SCHEDULE:job-N"), "{id}: {err}");
        }
    }
}
