//! Job and task ids, validated as Azure Batch validates them.

use std::fmt;

use crate::NamingError;

/// The longest id Azure Batch accepts for a job or a task.
pub const MAX_ID_LEN: usize = 64;

fn validate(what: &'static str, id: &str) -> Result<(), NamingError> {
    let invalid = |reason: String| NamingError::InvalidId {
        what,
        id: id.to_owned(),
        reason,
    };
    if id.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    let chars = id.chars().count();
    if chars > MAX_ID_LEN {
        return Err(invalid(format!(
            "it is {chars} characters long, more than {MAX_ID_LEN}"
        )));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(invalid(format!("it contains {bad:?}")));
    }
    Ok(())
}

macro_rules! batch_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Validates a ", $what, " id: 1 to 64 ASCII letters, digits, `-` or `_`.")]
            ///
            /// # Errors
            ///
            /// [`NamingError::InvalidId`] when the id is empty, too long, or has any
            /// other character.
            pub fn new(id: impl Into<String>) -> Result<Self, NamingError> {
                let id = id.into();
                validate($what, &id)?;
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
    /// An Azure Batch job id. Batch treats job ids case-insensitively; the
    /// container name lower-cases them.
    JobId,
    "job"
);

batch_id!(
    /// An Azure Batch task id. It keeps its case in blob names.
    TaskId,
    "task"
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
        for id in [
            "",
            &"x".repeat(65),
            "a b",
            "a/b",
            "a.b",
            "é",
            "a:b",
            "a$b",
            "a\0",
        ] {
            let err = JobId::new(id).expect_err(id);
            assert!(err.to_string().contains("Batch ids are"), "{err}");
        }
        let err = TaskId::new("a b").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid task id \"a b\""),
            "{err}"
        );
    }
}
