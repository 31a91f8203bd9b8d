//! `output-files`: the Batch service's `outputFiles` for a task (or a whole
//! task body), named by the conventions. The JSON is made by
//! [`batchout::runner::service`]; this module only chooses the container URL.

use std::io::{self, Write};

use batchout::runner::OutputRule;
use batchout::runner::service::{
    self, IdentityReference, ServiceContainer, TaskBody, UploadHeader,
};
use batchout::{ContainerName, JobId, Scope, StoreError, TaskId};

use crate::config::{self, Context};
use crate::exit::UsageError;
use crate::print::Printer;

/// The arguments of `output-files`, as given.
pub struct OutputFilesRequest<'a> {
    /// `--job`.
    pub job: Option<&'a str>,
    /// `--task`; none for the job's own outputs.
    pub task: Option<&'a str>,
    /// `--rule`s.
    pub rules: &'a [String],
    /// Whether the default log rule is added (not `--no-logs`).
    pub logs: bool,
    /// `--container-url`.
    pub container_url: Option<&'a str>,
    /// `--identity`.
    pub identity: Option<&'a str>,
    /// `--expiry` of a signed URL.
    pub expiry: &'a str,
    /// `--header`s.
    pub headers: &'a [String],
    /// `--command`: print a whole task body.
    pub command: Option<&'a str>,
}

/// Prints the `outputFiles` (or task body) as JSON; warnings go to stderr
/// (not with `-q`).
/// `store` is the `--store` flag; `context` opens the store, which only a
/// URL batchout signs needs.
pub async fn output_files(
    store: Option<&str>,
    context: impl FnOnce() -> anyhow::Result<Context>,
    request: OutputFilesRequest<'_>,
    printer: &Printer,
) -> anyhow::Result<()> {
    let job = config::job_id(request.job)?;
    let scope = match request.task {
        Some(task) => Scope::Task(TaskId::new(task).map_err(UsageError::from_naming)?),
        None => Scope::Job,
    };
    let mut rules = request
        .rules
        .iter()
        .map(|rule| rule.parse::<OutputRule>())
        .collect::<Result<Vec<_>, _>>()?;
    if request.logs && matches!(scope, Scope::Task(_)) {
        rules.push(service::log_rule());
    }
    if rules.is_empty() {
        return Err(UsageError::new(
            "no rules, so nothing to upload: give --rule PATTERN[:KIND[:CONDITION]] (without --task, of a job kind, e.g. out/*.txt:JobOutput)",
        )
        .into());
    }
    let headers = request
        .headers
        .iter()
        .map(|header| header.parse::<UploadHeader>())
        .collect::<Result<Vec<_>, _>>()?;
    let identity = request.identity.map(IdentityReference::new).transpose()?;
    let container = ContainerName::for_job(&job);
    let destination = match (identity, request.container_url) {
        (Some(identity), Some(url)) => ServiceContainer::with_identity(url, identity, &container)?,
        (Some(identity), None) => {
            let context = context()?;
            let url = context.store.container_url(&container)?.ok_or_else(|| {
                UsageError::new(format!(
                    "the store ({}) is a local directory, which the Batch service cannot reach; name the Azure store (--store URL or a connection string), or give --container-url",
                    context.store
                ))
            })?;
            ServiceContainer::with_identity(&url, identity, &container)?
        }
        (None, Some(url)) => ServiceContainer::given(url, &container)?,
        (None, None) => signed(&context()?, store, job, request.expiry, printer).await?,
    }
    .with_headers(headers);

    let made = service::output_files(&scope, &rules, &destination)?;
    for warning in &made.warnings {
        printer.warn(format!("warning: {warning}"));
    }
    let mut out = io::stdout().lock();
    match (request.command, scope) {
        (Some(command), Scope::Task(task)) => {
            serde_json::to_writer_pretty(&mut out, &TaskBody::new(&task, command, made.files))
        }
        _ => serde_json::to_writer_pretty(&mut out, &made.files),
    }
    .map_err(io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// A container SAS URL that lets the service write, signed with the store's
/// key or, signed in with Entra ID, a user delegation key (7 days at most:
/// a warning says when that is sooner than asked); a store that cannot sign
/// one is told what to give instead.
async fn signed(
    context: &Context,
    store: Option<&str>,
    job: JobId,
    expiry: &str,
    printer: &Printer,
) -> anyhow::Result<ServiceContainer> {
    let valid_for = humantime::parse_duration(expiry).map_err(|e| {
        UsageError::new(format!(
            "--expiry {expiry:?} is not a duration ({e}); write it as 7d, 12h or 90m"
        ))
    })?;
    let outputs = context.job(job);
    let asked = std::time::SystemTime::now() + valid_for;
    match outputs
        .access_url(service::UPLOAD_PERMISSIONS, valid_for)
        .await
    {
        Ok(url) => {
            if let Some(warning) = super::share::shortened(&url, asked, "--expiry") {
                printer.warn(warning);
            }
            Ok(ServiceContainer::signed(url))
        }
        Err(batchout::Error::Store(StoreError::Unsupported { .. })) => {
            let why = if batchout::configured_is_local(store) {
                format!(
                    "the store ({}) is a local directory, which the Batch service cannot upload to",
                    context.store
                )
            } else {
                format!(
                    "the store ({}) cannot sign a container SAS URL: that needs the account key or an Entra ID token",
                    context.store
                )
            };
            Err(UsageError::new(format!(
                "{why}; give --container-url URL (the job's container SAS URL with write permission, as `batchout sas --job {} --permissions w` prints it where the key or a token is), or --identity RESOURCE_ID (a user-assigned identity of the pool that may write to the container)",
                outputs.job_id()
            ))
            .into())
        }
        Err(e) => Err(e.into()),
    }
}
