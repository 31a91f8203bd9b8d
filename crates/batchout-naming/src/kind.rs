//! Output kinds: the category under which an output is stored (`$<kind>/` in the
//! blob name).

use std::fmt;

use crate::NamingError;

/// The category of an output.
///
/// Six kinds are predefined by the conventions; any other non-empty text without
/// `/`, `$` or control characters is a custom kind. Kinds are case-sensitive:
/// `taskoutput` is a custom kind, not [`OutputKind::TaskOutput`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OutputKind {
    /// A task's output file (`$TaskOutput`).
    TaskOutput,
    /// A preview of a task's output, such as a thumbnail (`$TaskPreview`).
    TaskPreview,
    /// A task's log (`$TaskLog`).
    TaskLog,
    /// A task's intermediate file, kept for diagnosis or for later tasks (`$TaskIntermediate`).
    TaskIntermediate,
    /// A job's output file (`$JobOutput`).
    JobOutput,
    /// A preview of a job's output (`$JobPreview`).
    JobPreview,
    /// A kind of the user's own, valid for jobs and tasks alike.
    Custom(String),
}

/// The predefined kinds, task kinds first.
const PREDEFINED: [OutputKind; 6] = [
    OutputKind::TaskOutput,
    OutputKind::TaskPreview,
    OutputKind::TaskLog,
    OutputKind::TaskIntermediate,
    OutputKind::JobOutput,
    OutputKind::JobPreview,
];

impl OutputKind {
    /// Parses a kind: a predefined name (exact case) or a custom kind.
    ///
    /// # Errors
    ///
    /// [`NamingError::InvalidKind`] when the text is empty or has `/`, `$` or a
    /// control character.
    pub fn new(kind: &str) -> Result<Self, NamingError> {
        if let Some(known) = PREDEFINED.iter().find(|k| k.as_str() == kind) {
            return Ok(known.clone());
        }
        let invalid = |reason: &str| NamingError::InvalidKind {
            kind: kind.to_owned(),
            reason: reason.to_owned(),
        };
        if kind.is_empty() {
            return Err(invalid(
                "a kind cannot be empty; use TaskOutput, TaskPreview, TaskLog, TaskIntermediate, JobOutput, JobPreview or a name of your own",
            ));
        }
        if kind.contains('/') {
            return Err(invalid("a kind cannot contain '/'"));
        }
        if kind.contains('$') {
            return Err(invalid(
                "a kind cannot contain '$' (batchout adds the '$' of the stored name itself)",
            ));
        }
        if kind.chars().any(char::is_control) {
            return Err(invalid("a kind cannot contain control characters"));
        }
        Ok(Self::Custom(kind.to_owned()))
    }

    /// The six predefined kinds.
    pub fn predefined() -> &'static [OutputKind] {
        &PREDEFINED
    }

    /// The kind's name as it appears after `$` in blob names.
    pub fn as_str(&self) -> &str {
        match self {
            Self::TaskOutput => "TaskOutput",
            Self::TaskPreview => "TaskPreview",
            Self::TaskLog => "TaskLog",
            Self::TaskIntermediate => "TaskIntermediate",
            Self::JobOutput => "JobOutput",
            Self::JobPreview => "JobPreview",
            Self::Custom(name) => name,
        }
    }

    /// Whether this is one of the predefined task kinds.
    pub fn is_task_kind(&self) -> bool {
        matches!(
            self,
            Self::TaskOutput | Self::TaskPreview | Self::TaskLog | Self::TaskIntermediate
        )
    }

    /// Whether this is one of the predefined job kinds.
    pub fn is_job_kind(&self) -> bool {
        matches!(self, Self::JobOutput | Self::JobPreview)
    }

    /// Whether this is a custom kind.
    pub fn is_custom(&self) -> bool {
        matches!(self, Self::Custom(_))
    }
}

impl fmt::Display for OutputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OutputKind {
    type Err = NamingError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl From<&OutputKind> for OutputKind {
    /// A copy of a kind, so that methods taking `impl Into<OutputKind>` take a
    /// borrowed one too.
    fn from(kind: &OutputKind) -> Self {
        kind.clone()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn predefined_names_parse_to_their_variants() {
        for kind in OutputKind::predefined() {
            assert_eq!(&OutputKind::new(kind.as_str()).expect("predefined"), kind);
        }
        assert_eq!(OutputKind::TaskLog.to_string(), "TaskLog");
    }

    #[test]
    fn kinds_are_case_sensitive() {
        assert_eq!(
            OutputKind::new("tasklog").expect("valid custom kind"),
            OutputKind::Custom("tasklog".into())
        );
        assert_eq!(
            OutputKind::new("TaskLogs").expect("valid custom kind"),
            OutputKind::Custom("TaskLogs".into())
        );
    }

    #[test]
    fn refuses_empty_slash_dollar_and_control_characters() {
        for bad in ["", "a/b", "/", "$TaskLog", "a$", "a\nb", "a\0"] {
            let err = OutputKind::new(bad).expect_err(bad);
            assert!(matches!(err, NamingError::InvalidKind { .. }), "{bad:?}");
        }
    }

    #[test]
    fn scopes_of_predefined_kinds() {
        assert!(OutputKind::TaskIntermediate.is_task_kind());
        assert!(!OutputKind::TaskIntermediate.is_job_kind());
        assert!(OutputKind::JobPreview.is_job_kind());
        let custom = OutputKind::new("Reports").expect("valid");
        assert!(custom.is_custom() && !custom.is_job_kind() && !custom.is_task_kind());
    }

    proptest! {
        #[test]
        fn a_valid_kind_round_trips_through_its_name(text in any::<String>()) {
            if let Ok(kind) = OutputKind::new(&text) {
                prop_assert_eq!(kind.as_str(), text.as_str());
                prop_assert!(!text.is_empty() && !text.contains('/') && !text.contains('$'));
            }
        }
    }
}
