//! Output rules of `run`: `PATTERN[:KIND[:CONDITION]]`, as the Batch service's
//! output files have a file pattern, a destination and an upload condition.

use std::fmt;
use std::str::FromStr;

use batchout_naming::OutputKind;

use crate::{Error, Result};

/// When a rule's files are uploaded, given how the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadCondition {
    /// The command exited with 0.
    Success,
    /// The command exited non-zero or was killed.
    Failure,
    /// Always.
    Completion,
}

impl UploadCondition {
    /// Whether files are uploaded for a command that `succeeded` or not.
    pub fn applies(self, succeeded: bool) -> bool {
        match self {
            Self::Success => succeeded,
            Self::Failure => !succeeded,
            Self::Completion => true,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "success" | "tasksuccess" => Some(Self::Success),
            "failure" | "taskfailure" => Some(Self::Failure),
            "completion" | "taskcompletion" => Some(Self::Completion),
            _ => None,
        }
    }
}

impl fmt::Display for UploadCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Completion => "completion",
        })
    }
}

/// One output rule: which files, stored as which kind, on which condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRule {
    /// The glob pattern, relative to the working directory (see [`crate::pattern`]).
    pub pattern: String,
    /// The kind to store matches as (default `TaskOutput`).
    pub kind: OutputKind,
    /// When to upload (default `success`).
    pub condition: UploadCondition,
}

impl OutputRule {
    /// A rule with the defaults: `TaskOutput`, on success.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            kind: OutputKind::TaskOutput,
            condition: UploadCondition::Success,
        }
    }
}

impl FromStr for OutputRule {
    type Err = Error;

    /// Parses `PATTERN[:KIND[:CONDITION]]`; an empty KIND is `TaskOutput`.
    fn from_str(rule: &str) -> Result<Self> {
        let bad = |reason: String| Error::BadPattern {
            pattern: rule.to_owned(),
            reason,
        };
        let parts: Vec<&str> = rule.split(':').collect();
        let (pattern, kind, condition) = match parts.as_slice() {
            [pattern] => (*pattern, "", None),
            [pattern, kind] => (*pattern, *kind, None),
            [pattern @ .., kind, condition] => {
                let condition = UploadCondition::parse(condition).ok_or_else(|| {
                    bad(format!(
                        "{condition:?} is not an upload condition; use success, failure or completion"
                    ))
                })?;
                (&rule[..pattern.join(":").len()], *kind, Some(condition))
            }
            [] => unreachable!("split yields at least one part"),
        };
        if pattern.is_empty() {
            return Err(bad(
                "the pattern is empty; write PATTERN[:KIND[:CONDITION]]".into(),
            ));
        }
        if UploadCondition::parse(kind).is_some() && condition.is_none() {
            return Err(bad(format!(
                "{kind:?} is an upload condition, not a kind; write PATTERN:KIND:CONDITION, e.g. {pattern}:TaskOutput:{kind}"
            )));
        }
        let kind = if kind.is_empty() {
            OutputKind::TaskOutput
        } else {
            OutputKind::new(kind)?
        };
        Ok(Self {
            pattern: pattern.to_owned(),
            kind,
            condition: condition.unwrap_or(UploadCondition::Success),
        })
    }
}

impl fmt::Display for OutputRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.pattern, self.kind, self.condition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> OutputRule {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn defaults_are_task_output_on_success() {
        assert_eq!(rule("out/*.txt"), OutputRule::new("out/*.txt"));
        assert_eq!(rule("out/*.txt::failure").kind, OutputKind::TaskOutput);
    }

    #[test]
    fn kinds_and_conditions() {
        let r = rule("logs/**/*.log:TaskLog:completion");
        assert_eq!(
            (r.pattern.as_str(), r.kind, r.condition),
            (
                "logs/**/*.log",
                OutputKind::TaskLog,
                UploadCondition::Completion
            )
        );
        let r = rule("core*:Dumps:failure");
        assert_eq!(r.kind, OutputKind::new("Dumps").expect("valid"));
        assert_eq!(r.condition, UploadCondition::Failure);
        assert_eq!(rule("a:TaskPreview").condition, UploadCondition::Success);
    }

    #[test]
    fn a_pattern_may_contain_colons_when_all_three_parts_are_given() {
        assert_eq!(rule("a:b/*.txt:TaskOutput:success").pattern, "a:b/*.txt");
    }

    #[test]
    fn mistakes_are_explained() {
        let err = "out/*:success".parse::<OutputRule>().unwrap_err();
        assert!(
            err.to_string()
                .contains("is an upload condition, not a kind"),
            "{err}"
        );
        let err = "out/*:TaskOutput:sometimes"
            .parse::<OutputRule>()
            .unwrap_err();
        assert!(err.to_string().contains("not an upload condition"), "{err}");
        assert!("".parse::<OutputRule>().is_err());
        assert!(
            "x:a/b".parse::<OutputRule>().is_err(),
            "kinds cannot hold '/'"
        );
    }

    #[test]
    fn conditions_follow_the_exit() {
        assert!(UploadCondition::Success.applies(true) && !UploadCondition::Success.applies(false));
        assert!(!UploadCondition::Failure.applies(true) && UploadCondition::Failure.applies(false));
        assert!(
            UploadCondition::Completion.applies(true) && UploadCondition::Completion.applies(false)
        );
    }
}
