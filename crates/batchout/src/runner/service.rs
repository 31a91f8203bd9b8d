//! The Batch service's own output files: a task's `outputFiles`, named by the
//! conventions.
//!
//! A pool whose nodes run no batchout can still have the Batch service upload
//! a task's files when the task ends. This module turns the rules `run` takes
//! ([`OutputRule`]: a pattern, a kind, a condition) into the `outputFiles`
//! elements of the Batch REST API, with destinations that follow the
//! conventions, so what the service uploads is found by batchout, the portal
//! and the .NET library like anything batchout saved itself:
//!
//! - a pattern with a wildcard (`*`, `**`, `?`, `[`) gets the kind's folder,
//!   `{taskId}/${Kind}` (`${Kind}` for the job), as its `path`: the service
//!   treats the path of a wildcard pattern as a virtual folder and puts each
//!   match below it by its path relative to the pattern's fixed folder, which
//!   is how [`crate::pattern`] names matches too;
//! - a single file gets the whole blob name, `{taskId}/${Kind}/{file}`, the
//!   file named as `save FILE` names it (`../stdout.txt` as `stdout.txt`).
//!
//! Nothing here does I/O: the container URL, signed or not, is the caller's.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use batchout_naming::{ContainerName, OutputPath, Scope, TaskId, blob_name, kind_prefix};
use batchout_store::azure::config;
use serde::{Serialize, Serializer};

use super::{OutputRule, UploadCondition};
use crate::{Error, Result, SecretUrl};

/// The container permissions the Batch service needs to upload output files:
/// write, as the Batch REST reference requires of `containerUrl`'s SAS. Write
/// alone lets Put Blob and Put Block create and replace blobs; the service
/// needs to read, list or delete nothing.
pub const UPLOAD_PERMISSIONS: &str = "w";

/// The pattern of the default log rule: the task's `stdout.txt` and
/// `stderr.txt`, which Batch writes one level above the working directory.
pub const LOG_PATTERN: &str = "../std*.txt";

/// The default log rule: [`LOG_PATTERN`] as `TaskLog`, uploaded whatever the
/// exit code (as `run` stores the logs).
pub fn log_rule() -> OutputRule {
    OutputRule {
        pattern: LOG_PATTERN.to_owned(),
        kind: batchout_naming::OutputKind::TaskLog,
        condition: UploadCondition::Completion,
    }
}

impl UploadCondition {
    /// The Batch REST API's name of the condition (`uploadOptions.uploadCondition`):
    /// `taskSuccess`, `taskFailure` or `taskCompletion`.
    pub fn service_name(self) -> &'static str {
        match self {
            Self::Success => "taskSuccess",
            Self::Failure => "taskFailure",
            Self::Completion => "taskCompletion",
        }
    }
}

/// A header the service sends with each upload (`uploadHeaders`), such as
/// `x-ms-blob-content-type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadHeader {
    /// The header's name.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl FromStr for UploadHeader {
    type Err = Error;

    /// Parses `NAME=VALUE` (the value may be empty and may hold `=`).
    fn from_str(text: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidOption {
            option: "upload header",
            reason: format!("{text:?}: {reason}"),
        };
        let Some((name, value)) = text.split_once('=') else {
            return Err(invalid(
                "write it as NAME=VALUE, e.g. x-ms-blob-content-type=text/plain",
            ));
        };
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(invalid(
                "a header's name is letters, digits and !#$%&'*+-.^_`|~, and not empty",
            ));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(invalid("a header's value cannot hold control characters"));
        }
        Ok(Self {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// The container the service uploads to, and how it signs in: a SAS in the
/// URL, or a pool's user-assigned managed identity and a URL without one.
#[derive(Debug, Clone)]
pub struct ServiceContainer {
    url: SecretUrl,
    identity: Option<IdentityReference>,
    headers: Vec<UploadHeader>,
}

impl ServiceContainer {
    /// A container SAS URL batchout signed (see
    /// [`crate::JobOutputs::access_url`] with [`UPLOAD_PERMISSIONS`]).
    pub fn signed(url: SecretUrl) -> Self {
        Self {
            url,
            identity: None,
            headers: Vec::new(),
        }
    }

    /// A container SAS URL the user gave, kept as it is.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when it is not the URL of `container`, has no
    /// SAS, or has one without write permission (`sp` without `w`).
    pub fn given(url: &str, container: &ContainerName) -> Result<Self> {
        let shown = config::redact_url(url);
        let target = parse_container_url(url, container)?;
        let config::Credential::Sas(token) = &target.credential else {
            return Err(Error::InvalidOption {
                option: "container URL",
                reason: format!(
                    "{shown} carries no SAS; the Batch service signs in with one (give a container SAS URL with write permission) or with a pool's managed identity"
                ),
            });
        };
        if let Some(permissions) = token.field("sp")
            && !permissions.contains('w')
        {
            return Err(Error::InvalidOption {
                option: "container URL",
                reason: format!(
                    "its SAS allows {permissions:?}, and the Batch service needs write (w) to upload"
                ),
            });
        }
        Ok(Self::signed(SecretUrl::new(url.to_owned(), shown)))
    }

    /// A pool's user-assigned managed identity, and the container's URL,
    /// any SAS in it dropped: the identity signs in.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when the URL is not that of `container`.
    pub fn with_identity(
        url: &str,
        identity: IdentityReference,
        container: &ContainerName,
    ) -> Result<Self> {
        let plain = url.split(['?', '#']).next().unwrap_or(url);
        parse_container_url(plain, container)?;
        Ok(Self {
            url: SecretUrl::new(plain.to_owned(), plain.to_owned()),
            identity: Some(identity),
            headers: Vec::new(),
        })
    }

    /// The same container, the service sending `headers` with each upload.
    pub fn with_headers(mut self, headers: Vec<UploadHeader>) -> Self {
        self.headers = headers;
        self
    }
}

/// Parses a container URL with the store's own parser, and checks that it
/// names `container`.
fn parse_container_url(url: &str, container: &ContainerName) -> Result<config::AzureTarget> {
    let invalid = |reason: String| Error::InvalidOption {
        option: "container URL",
        reason,
    };
    let no_env = |_: &str| None;
    let target = config::from_url(url, &no_env).map_err(|e| invalid(e.to_string()))?;
    match &target.container {
        Some(named) if named == container => Ok(target),
        Some(named) => Err(invalid(format!(
            "{} is container {named}, but the job's outputs live in {container}",
            config::redact_url(url)
        ))),
        None => Err(invalid(format!(
            "{} names no container; give the job's container URL, ending in /{container}",
            config::redact_url(url)
        ))),
    }
}

/// One element of a task's `outputFiles`, in the Batch REST API's shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFile {
    /// Which files, relative to the task's working directory.
    pub file_pattern: String,
    /// Where they go.
    pub destination: OutputFileDestination,
    /// When they go.
    pub upload_options: UploadOptions,
}

/// `destination` of an [`OutputFile`].
#[derive(Debug, Clone, Serialize)]
pub struct OutputFileDestination {
    /// The blob container destination, the only kind Batch has.
    pub container: ContainerDestination,
}

/// `destination.container` of an [`OutputFile`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDestination {
    /// The container's URL, with its SAS unless an identity signs in. Its
    /// `Debug` shows the SAS redacted; only the JSON carries it.
    #[serde(serialize_with = "expose")]
    pub container_url: SecretUrl,
    /// The blob name (a single file) or virtual folder (a wildcard pattern).
    pub path: String,
    /// The pool's user-assigned identity that signs in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_reference: Option<IdentityReference>,
    /// Headers sent with each upload.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upload_headers: Vec<UploadHeader>,
}

/// `identityReference` of a [`ContainerDestination`]: a pool's user-assigned
/// managed identity, by its ARM resource id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityReference {
    resource_id: String,
}

impl IdentityReference {
    /// The identity with ARM resource id `resource_id`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] when it is not the resource id of a
    /// user-assigned identity.
    pub fn new(resource_id: &str) -> Result<Self> {
        let lower = resource_id.to_ascii_lowercase();
        if !lower.starts_with("/subscriptions/")
            || !lower.contains("/providers/microsoft.managedidentity/userassignedidentities/")
        {
            return Err(Error::InvalidOption {
                option: "identity",
                reason: format!(
                    "{resource_id:?} is not the resource id of a user-assigned identity; it reads /subscriptions/SUB/resourceGroups/GROUP/providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME"
                ),
            });
        }
        Ok(Self {
            resource_id: resource_id.to_owned(),
        })
    }

    /// The resource id.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }
}

/// `uploadOptions` of an [`OutputFile`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadOptions {
    /// `taskSuccess`, `taskFailure` or `taskCompletion`.
    #[serde(serialize_with = "condition")]
    pub upload_condition: UploadCondition,
}

/// A task as `POST /jobs/{jobId}/tasks` (and `az batch task create
/// --json-file`) takes it: its id, command line and output files.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskBody {
    /// The task id.
    pub id: String,
    /// The command line.
    pub command_line: String,
    /// The output files.
    pub output_files: Vec<OutputFile>,
}

impl TaskBody {
    /// The body of task `task`, running `command_line`, uploading `output_files`.
    pub fn new(
        task: &TaskId,
        command_line: impl Into<String>,
        output_files: Vec<OutputFile>,
    ) -> Self {
        Self {
            id: task.to_string(),
            command_line: command_line.into(),
            output_files,
        }
    }
}

fn expose<S: Serializer>(url: &SecretUrl, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(url.expose())
}

fn condition<S: Serializer>(
    condition: &UploadCondition,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(condition.service_name())
}

/// The output files of `rules` for `scope`, and warnings about them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceOutputFiles {
    /// One per rule, in the rules' order.
    pub files: Vec<OutputFile>,
    /// What may not do what the rules seem to say (environment variables in
    /// a pattern, `\` in a pattern for a Linux node).
    pub warnings: Vec<String>,
}

/// The `outputFiles` that upload the files of `rules` as the outputs of
/// `scope` into `container`.
///
/// # Errors
///
/// [`Error::InvalidOption`] for a rule whose kind belongs to the other level
/// (a task kind for the job, a job kind for a task); [`Error::BadPattern`]
/// for a pattern the conventions cannot name (an absolute single file, a
/// path that climbs, a folder, `.` or `..` after a wildcard).
pub fn output_files(
    scope: &Scope,
    rules: &[OutputRule],
    container: &ServiceContainer,
) -> Result<ServiceOutputFiles> {
    let mut files = Vec::with_capacity(rules.len());
    let mut warnings = Vec::new();
    for rule in rules {
        check_scope(scope, rule)?;
        warnings.extend(warn(&rule.pattern));
        files.push(OutputFile {
            file_pattern: rule.pattern.clone(),
            destination: OutputFileDestination {
                container: ContainerDestination {
                    container_url: container.url.clone(),
                    path: destination(scope, rule)?,
                    identity_reference: container.identity.clone(),
                    upload_headers: container.headers.clone(),
                },
            },
            upload_options: UploadOptions {
                upload_condition: rule.condition,
            },
        });
    }
    Ok(ServiceOutputFiles { files, warnings })
}

/// Refuses a rule whose kind belongs to the other level, saying what to write.
fn check_scope(scope: &Scope, rule: &OutputRule) -> Result<()> {
    if scope.check_kind(&rule.kind).is_ok() {
        return Ok(());
    }
    let (kind, pattern) = (&rule.kind, &rule.pattern);
    let reason = match scope {
        Scope::Job => format!(
            "{:?} stores {kind}, a task kind, but without a task the rules are for the job's own outputs; name the task, or store a job kind, e.g. {pattern}:JobOutput",
            rule.to_string()
        ),
        Scope::Task(task) => format!(
            "{:?} stores {kind}, a job kind, but these rules are for task {task}; give job kinds without a task, or store a task kind, e.g. {pattern}:TaskOutput",
            rule.to_string()
        ),
    };
    Err(Error::InvalidOption {
        option: "output rule",
        reason,
    })
}

/// Whether a pattern segment holds a wildcard, as [`crate::pattern`] reads it.
fn is_wild(segment: &str) -> bool {
    segment.contains(['*', '?', '['])
}

/// A path that starts at a root on Linux or Windows: `/x`, `\\x`, `C:`.
fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with(['/', '\\'])
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

/// The `path` of a rule's destination: the kind's folder for a wildcard
/// pattern, the whole blob name for a single file.
fn destination(scope: &Scope, rule: &OutputRule) -> Result<String> {
    let bad = |reason: String| Error::BadPattern {
        pattern: rule.pattern.clone(),
        reason,
    };
    let segments: Vec<&str> = rule.pattern.split(['/', '\\']).collect();
    let Some(first_wild) = segments.iter().position(|s| is_wild(s)) else {
        return single_file(scope, rule);
    };
    if let Some(dot) = segments[first_wild..]
        .iter()
        .find(|s| matches!(**s, "." | ".."))
    {
        return Err(bad(format!(
            "a {dot:?} segment after the first wildcard would reach the stored names; write the folder before the wildcard"
        )));
    }
    let fixed = segments[..first_wild].join("/");
    let absolute = is_absolute(&rule.pattern);
    let real = segments[..first_wild]
        .iter()
        .any(|s| !matches!(*s, "" | "." | ".."));
    // Matches are named below the fixed folder, whatever it is; but a
    // relative folder that climbs above where it starts is refused, as the
    // conventions refuse such a path.
    if !absolute
        && real
        && let Err(e) = OutputPath::from_local(&fixed)
    {
        return Err(bad(format!("its folder {fixed:?} cannot be used: {e}")));
    }
    let prefix = kind_prefix(scope, &rule.kind)?;
    Ok(prefix.trim_end_matches('/').to_owned())
}

/// The whole blob name of a single file: the file named as `save FILE`
/// names it.
fn single_file(scope: &Scope, rule: &OutputRule) -> Result<String> {
    let bad = |reason: String| Error::BadPattern {
        pattern: rule.pattern.clone(),
        reason,
    };
    if rule.pattern.ends_with(['/', '\\']) {
        return Err(bad(
            "it names a folder; match its files with a pattern such as DIR/* or DIR/**/*".into(),
        ));
    }
    let path = match crate::core::local_destination(Path::new(&rule.pattern)) {
        Ok(path) => path,
        Err(Error::Naming(_)) if is_absolute(&rule.pattern) => {
            return Err(bad(
                "it is absolute, and a single file is stored by its path relative to the working directory; name it relatively (../../x.txt is stored as x.txt), or match it with a pattern whose folder is absolute (/data/*.txt stores matches by their names below /data)".into(),
            ));
        }
        Err(Error::Naming(e)) => {
            return Err(bad(format!(
                "{e}; a single file is stored by its path relative to the working directory"
            )));
        }
        Err(e) => return Err(e),
    };
    Ok(blob_name(scope, &rule.kind, &path)?)
}

/// What a pattern may do that it does not seem to say.
fn warn(pattern: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    for c in ['$', '%'] {
        if pattern.contains(c) {
            warnings.push(format!(
                "pattern {pattern:?} holds {c:?}: the Batch service expands environment variables in file patterns ($VAR on Linux, %VAR% on Windows) before matching, so it may match other files than it reads as, while its destination here is named from the pattern as written"
            ));
        }
    }
    if pattern.contains('\\') {
        warnings.push(format!(
            "pattern {pattern:?} holds '\\', which separates folders only on Windows nodes; on Linux it is part of a file name (write '/', which both read)"
        ));
    }
    warnings
}

impl fmt::Display for ServiceContainer {
    /// The URL as it may be shown (any SAS redacted), and the identity.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.url)?;
        if let Some(identity) = &self.identity {
            write!(f, " (identity {})", identity.resource_id)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use batchout_naming::JobId;
    use serde_json::{Value, json};

    use super::*;

    const URL: &str =
        "https://acct.blob.core.windows.net/job-render?sv=2021-12-02&sr=c&sp=w&sig=SECRET";
    const IDENTITY: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uploader";

    fn container() -> ContainerName {
        ContainerName::for_job(&JobId::new("render").expect("valid"))
    }

    fn task() -> Scope {
        Scope::Task(TaskId::new("frame-7").expect("valid"))
    }

    fn sas() -> ServiceContainer {
        ServiceContainer::given(URL, &container()).expect("a container SAS URL")
    }

    fn rules(texts: &[&str]) -> Vec<OutputRule> {
        texts
            .iter()
            .map(|t| t.parse().unwrap_or_else(|e| panic!("{t}: {e}")))
            .collect()
    }

    fn json_of(scope: &Scope, texts: &[&str], container: &ServiceContainer) -> Value {
        let made = output_files(scope, &rules(texts), container).expect("valid rules");
        serde_json::to_value(&made.files).expect("serialises")
    }

    fn paths(scope: &Scope, texts: &[&str]) -> Vec<String> {
        let value = json_of(scope, texts, &sas());
        value
            .as_array()
            .expect("an array")
            .iter()
            .map(|f| {
                f["destination"]["container"]["path"]
                    .as_str()
                    .expect("a path")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_shape_is_the_batch_rest_apis() {
        let value = json_of(&task(), &["out/*.csv:TaskOutput:failure"], &sas());
        assert_eq!(
            value,
            json!([{
                "filePattern": "out/*.csv",
                "destination": {"container": {"containerUrl": URL, "path": "frame-7/$TaskOutput"}},
                "uploadOptions": {"uploadCondition": "taskFailure"}
            }])
        );
    }

    #[test]
    fn wildcards_get_the_kinds_folder_and_single_files_their_blob_name() {
        assert_eq!(
            paths(
                &task(),
                &[
                    "out/**/*.txt",
                    "frame?.png:TaskPreview",
                    "[ab].log:TaskLog",
                    "out/summary.csv",
                    "../stdout.txt:TaskLog",
                    "../../shared/x.txt",
                    "core:Dumps",
                ]
            ),
            [
                "frame-7/$TaskOutput",
                "frame-7/$TaskPreview",
                "frame-7/$TaskLog",
                "frame-7/$TaskOutput/out/summary.csv",
                "frame-7/$TaskLog/stdout.txt",
                "frame-7/$TaskOutput/shared/x.txt",
                "frame-7/$Dumps/core",
            ]
        );
        assert_eq!(
            paths(
                &Scope::Job,
                &[
                    "merged/*.txt:JobOutput",
                    "merged.txt:JobPreview",
                    "x:Custom"
                ]
            ),
            ["$JobOutput", "$JobPreview/merged.txt", "$Custom/x"]
        );
    }

    #[test]
    fn conditions_map_to_the_services_names() {
        let value = json_of(
            &task(),
            &["a", "b::failure", "c::completion", "d::success"],
            &sas(),
        );
        let names: Vec<&str> = value
            .as_array()
            .expect("array")
            .iter()
            .map(|f| f["uploadOptions"]["uploadCondition"].as_str().expect("str"))
            .collect();
        assert_eq!(
            names,
            [
                "taskSuccess",
                "taskFailure",
                "taskCompletion",
                "taskSuccess"
            ]
        );
        assert_eq!(log_rule().to_string(), "../std*.txt:TaskLog:completion");
    }

    #[test]
    fn an_identity_drops_the_sas_and_headers_are_listed() {
        let identity = IdentityReference::new(IDENTITY).expect("valid");
        let container = ServiceContainer::with_identity(URL, identity, &container())
            .expect("valid")
            .with_headers(vec![
                "x-ms-blob-content-type=text/plain".parse().expect("valid"),
            ]);
        let value = json_of(&task(), &["a.txt"], &container);
        assert_eq!(
            value[0]["destination"]["container"],
            json!({
                "containerUrl": "https://acct.blob.core.windows.net/job-render",
                "path": "frame-7/$TaskOutput/a.txt",
                "identityReference": {"resourceId": IDENTITY},
                "uploadHeaders": [{"name": "x-ms-blob-content-type", "value": "text/plain"}]
            })
        );
        assert!(IdentityReference::new("uploader").is_err());
    }

    #[test]
    fn kinds_of_the_other_level_are_refused_saying_what_to_write() {
        let err = output_files(&Scope::Job, &rules(&["out/*.txt"]), &sas()).unwrap_err();
        assert!(err.to_string().contains("out/*.txt:JobOutput"), "{err}");
        assert!(err.is_invalid_input());
        let err = output_files(&task(), &rules(&["m.txt:JobOutput"]), &sas()).unwrap_err();
        assert!(err.to_string().contains("a job kind"), "{err}");
    }

    #[test]
    fn names_the_conventions_refuse_are_refused_with_why() {
        for (pattern, why) in [
            ("/etc/passwd", "absolute"),
            ("a/../../x.txt", "climbs above"),
            ("a/../../x/*.txt", "climbs above"),
            ("out/", "names a folder"),
            ("out/*/../x.txt", "after the first wildcard"),
        ] {
            let err = output_files(&task(), &rules(&[pattern]), &sas()).expect_err(pattern);
            assert!(err.to_string().contains(why), "{pattern}: {err}");
            assert!(err.is_invalid_input(), "{pattern}");
        }
        // The folder of a pattern names no output: leading ../ and an
        // absolute folder are fine.
        assert_eq!(
            paths(&task(), &["/data/*.txt", "../../in/*.txt"]),
            ["frame-7/$TaskOutput", "frame-7/$TaskOutput"]
        );
    }

    #[test]
    fn environment_variables_and_backslashes_are_warned_about() {
        let made = output_files(
            &task(),
            &rules(&["$HOME/*.txt", "%TEMP%\\x.txt", "a.txt"]),
            &sas(),
        )
        .expect("valid");
        assert_eq!(made.warnings.len(), 3, "{:?}", made.warnings);
        assert!(made.warnings[0].contains("expands environment variables"));
        assert!(made.warnings[2].contains("only on Windows"));
    }

    #[test]
    fn a_given_url_must_be_the_jobs_container_with_a_sas_that_writes() {
        let other = "https://acct.blob.core.windows.net/job-other?sp=w&sig=SECRET";
        let err = ServiceContainer::given(other, &container()).unwrap_err();
        assert!(err.to_string().contains("job-render"), "{err}");
        let plain = "https://acct.blob.core.windows.net/job-render";
        let err = ServiceContainer::given(plain, &container()).unwrap_err();
        assert!(err.to_string().contains("carries no SAS"), "{err}");
        let read = "https://acct.blob.core.windows.net/job-render?sp=rl&sig=SECRET";
        let err = ServiceContainer::given(read, &container()).unwrap_err();
        assert!(err.to_string().contains("needs write"), "{err}");
        assert!(!err.to_string().contains("SECRET"));
        assert!(!format!("{:?} {}", sas(), sas()).contains("SECRET"));
    }

    #[test]
    fn headers_are_name_equals_value() {
        let h: UploadHeader = "x-ms-meta-a=b=c".parse().expect("valid");
        assert_eq!((h.name.as_str(), h.value.as_str()), ("x-ms-meta-a", "b=c"));
        for bad in ["novalue", "=x", "bad name=x", "a=b\nc"] {
            assert!(bad.parse::<UploadHeader>().is_err(), "{bad:?}");
        }
    }
}
