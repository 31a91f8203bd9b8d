//! Blob names and listing prefixes inside a job's container.
//!
//! - job output: `$<kind>/<path>`
//! - task output: `<taskId>/$<kind>/<path>`
//!
//! Prefixes always end in `/`, so listing `TaskLog` never returns a custom kind
//! `TaskLogs` (the .NET library lists without the slash and has that bug).

use crate::{MAX_BLOB_NAME_LEN, NamingError, OutputKind, OutputPath, TaskId};

/// Azure's limit on the number of `/`-separated segments in a blob name.
const MAX_SEGMENTS: usize = 254;

/// Whose outputs: the job's own, or one task's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Outputs of the job itself (`$<kind>/…`).
    Job,
    /// Outputs of one task (`<taskId>/$<kind>/…`).
    Task(TaskId),
}

impl Scope {
    /// The task, for a task scope.
    pub fn task(&self) -> Option<&TaskId> {
        match self {
            Self::Job => None,
            Self::Task(task) => Some(task),
        }
    }

    /// Refuses a predefined kind of the other level: a task kind for job outputs,
    /// or a job kind for task outputs. Custom kinds fit both.
    ///
    /// # Errors
    ///
    /// [`NamingError::KindScope`] saying which level the kind belongs to.
    pub fn check_kind(&self, kind: &OutputKind) -> Result<(), NamingError> {
        match self {
            Self::Job if kind.is_task_kind() => Err(NamingError::KindScope {
                kind: kind.to_string(),
                belongs_to: "task",
                hint: "name the task (AZ_BATCH_TASK_ID in a task), or use JobOutput or JobPreview",
            }),
            Self::Task(_) if kind.is_job_kind() => Err(NamingError::KindScope {
                kind: kind.to_string(),
                belongs_to: "job",
                hint: "job outputs belong to no task; use a task kind such as TaskOutput, or save it as a job output",
            }),
            _ => Ok(()),
        }
    }
}

/// The prefix of everything a scope holds: empty for the job (whose kinds sit at
/// the container root), `<taskId>/` for a task.
pub fn scope_prefix(scope: &Scope) -> String {
    match scope {
        Scope::Job => String::new(),
        Scope::Task(task) => format!("{task}/"),
    }
}

/// The listing prefix of one kind: `$<kind>/` or `<taskId>/$<kind>/`.
///
/// # Errors
///
/// [`NamingError::KindScope`] for a predefined kind of the other level.
pub fn kind_prefix(scope: &Scope, kind: &OutputKind) -> Result<String, NamingError> {
    scope.check_kind(kind)?;
    Ok(format!("{}${kind}/", scope_prefix(scope)))
}

/// The blob name of an output: the kind prefix followed by the path.
///
/// # Errors
///
/// [`NamingError::KindScope`] for a predefined kind of the other level;
/// [`NamingError::InvalidPath`] when the whole name would exceed Azure's limits
/// (1,024 characters, 254 segments).
pub fn blob_name(
    scope: &Scope,
    kind: &OutputKind,
    path: &OutputPath,
) -> Result<String, NamingError> {
    let name = format!("{}{}", kind_prefix(scope, kind)?, path);
    let chars = name.chars().count();
    if chars > MAX_BLOB_NAME_LEN {
        return Err(NamingError::InvalidPath {
            path: path.to_string(),
            reason: format!(
                "the blob name would be {chars} characters long; Azure allows {MAX_BLOB_NAME_LEN}"
            ),
        });
    }
    if name.split('/').count() > MAX_SEGMENTS {
        return Err(NamingError::InvalidPath {
            path: path.to_string(),
            reason: format!("the blob name would have more than {MAX_SEGMENTS} segments"),
        });
    }
    Ok(name)
}

/// A blob name taken apart by the conventions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobNameParts {
    /// Whose output it is.
    pub scope: Scope,
    /// Its kind.
    pub kind: OutputKind,
    /// The file path: the blob name after the kind prefix, exactly as stored. It
    /// may not be a canonical [`OutputPath`] if something other than batchout
    /// wrote it; check with [`OutputPath::new`] before using it locally.
    pub file_path: String,
}

/// Takes a blob name apart into scope, kind and file path; `None` when the name
/// does not follow the conventions.
pub fn parse_blob_name(name: &str) -> Option<BlobNameParts> {
    let (scope, rest) = if name.starts_with('$') {
        (Scope::Job, name)
    } else {
        let (task, rest) = name.split_once('/')?;
        (Scope::Task(TaskId::new(task).ok()?), rest)
    };
    let (kind, file_path) = rest.strip_prefix('$')?.split_once('/')?;
    if file_path.is_empty() {
        return None;
    }
    Some(BlobNameParts {
        scope,
        kind: OutputKind::new(kind).ok()?,
        file_path: file_path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn task(id: &str) -> Scope {
        Scope::Task(TaskId::new(id).expect("valid task id"))
    }

    fn path(p: &str) -> OutputPath {
        OutputPath::new(p).expect("valid path")
    }

    #[test]
    fn names_of_the_conventions_examples() {
        assert_eq!(
            blob_name(
                &Scope::Job,
                &OutputKind::JobOutput,
                &path("out/mergeresults.txt")
            )
            .expect("valid"),
            "$JobOutput/out/mergeresults.txt"
        );
        assert_eq!(
            blob_name(
                &task("analysis-309"),
                &OutputKind::TaskLog,
                &path("analytics.log")
            )
            .expect("valid"),
            "analysis-309/$TaskLog/analytics.log"
        );
    }

    #[test]
    fn prefixes_end_in_a_slash() {
        assert_eq!(
            kind_prefix(&task("t1"), &OutputKind::TaskLog).expect("valid"),
            "t1/$TaskLog/"
        );
        assert_eq!(
            kind_prefix(&Scope::Job, &OutputKind::JobPreview).expect("valid"),
            "$JobPreview/"
        );
        let custom = OutputKind::new("TaskLogs").expect("valid");
        let logs = kind_prefix(&task("t1"), &OutputKind::TaskLog).expect("valid");
        let custom_name = blob_name(&task("t1"), &custom, &path("a.txt")).expect("valid");
        assert!(
            !custom_name.starts_with(&logs),
            "TaskLog must not list TaskLogs"
        );
    }

    #[test]
    fn task_ids_keep_their_case() {
        assert_eq!(
            blob_name(&task("MyTask"), &OutputKind::TaskOutput, &path("a")).expect("valid"),
            "MyTask/$TaskOutput/a"
        );
    }

    #[test]
    fn kinds_of_the_other_level_are_refused() {
        let err = kind_prefix(&Scope::Job, &OutputKind::TaskOutput).unwrap_err();
        assert!(err.to_string().contains("task kind"), "{err}");
        let err = kind_prefix(&task("t"), &OutputKind::JobOutput).unwrap_err();
        assert!(err.to_string().contains("job kind"), "{err}");
        let custom = OutputKind::new("Reports").expect("valid");
        assert!(kind_prefix(&Scope::Job, &custom).is_ok());
        assert!(kind_prefix(&task("t"), &custom).is_ok());
    }

    #[test]
    fn whole_blob_name_length_is_limited() {
        let long = path(&"a".repeat(1020));
        assert!(blob_name(&Scope::Job, &OutputKind::JobOutput, &long).is_err());
        let segments = path(&vec!["a"; 260].join("/"));
        assert!(blob_name(&Scope::Job, &OutputKind::JobOutput, &segments).is_err());
    }

    #[test]
    fn parses_job_and_task_names_back() {
        let parts = parse_blob_name("$JobOutput/out/merge.txt").expect("conventional");
        assert_eq!(parts.scope, Scope::Job);
        assert_eq!(parts.kind, OutputKind::JobOutput);
        assert_eq!(parts.file_path, "out/merge.txt");

        let parts = parse_blob_name("analysis-309/$TaskLog/analytics.log").expect("conventional");
        assert_eq!(parts.scope, task("analysis-309"));
        assert_eq!(parts.kind, OutputKind::TaskLog);
        assert_eq!(parts.file_path, "analytics.log");
    }

    #[test]
    fn names_outside_the_conventions_do_not_parse() {
        for name in [
            "plain.txt",
            "t1/x/y",
            "t1/$TaskLog",
            "t1/$TaskLog/",
            "bad id/$TaskLog/a",
            "$/a",
        ] {
            assert_eq!(parse_blob_name(name), None, "{name}");
        }
    }

    proptest! {
        #[test]
        fn whole_blob_names_never_exceed_azures_limits(
            task_id in "[A-Za-z0-9_-]{1,64}",
            kind in "[A-Za-z0-9 .é]{1,60}",
            segments in proptest::collection::vec("[a-z]{1,8}", 1..300),
        ) {
            let kind = OutputKind::new(&kind).expect("generated kinds are valid");
            let Ok(file) = OutputPath::new(&segments.join("/")) else {
                return Ok(());
            };
            for scope in [Scope::Job, task(&task_id)] {
                if let Ok(name) = blob_name(&scope, &kind, &file) {
                    prop_assert!(name.chars().count() <= MAX_BLOB_NAME_LEN);
                    prop_assert!(name.split('/').count() <= MAX_SEGMENTS);
                    prop_assert!(name.ends_with(file.as_str()));
                }
            }
        }

        #[test]
        fn blob_names_parse_back_to_what_built_them(
            task_id in "[A-Za-z0-9_-]{1,64}",
            kind in prop_oneof![Just("TaskOutput".to_owned()), Just("TaskLog".to_owned()), "[A-Za-z0-9 .é]{1,20}"],
            file in "[a-z0-9 $+%#é.]{1,10}(/[a-z0-9 $+%#é.]{1,10}){0,4}",
        ) {
            prop_assume!(OutputPath::new(&file).is_ok());
            let scope = task(&task_id);
            let kind = OutputKind::new(&kind).expect("generated kinds are valid");
            let name = blob_name(&scope, &kind, &path(&file)).expect("short enough");
            let parts = parse_blob_name(&name).expect("our own names parse");
            prop_assert_eq!(parts.scope, scope);
            prop_assert_eq!(parts.kind, kind);
            prop_assert_eq!(parts.file_path, file);
        }
    }
}
