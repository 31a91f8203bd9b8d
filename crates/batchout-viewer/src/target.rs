//! What a URL names, checked by the conventions before the store is asked:
//! the job, whose outputs (the job's own or a task's), the kind, the path.

use batchout::{
    ContainerName, JobId, OutputKind, OutputPath, Scope, StoreError, TaskId, blob_name, kind_prefix,
};
use batchout_store::{BlobName, Location};

use crate::ViewerError;

/// Whose outputs a URL means, and of which kind.
pub(crate) struct Kind {
    pub(crate) job: JobId,
    pub(crate) scope: Scope,
    pub(crate) kind: OutputKind,
}

impl Kind {
    /// The outputs of `kind` of the task `task` of `job`, or of the job
    /// itself when `task` is `None`.
    pub(crate) fn parse(job: &str, task: Option<&str>, kind: &str) -> Result<Self, ViewerError> {
        let job = JobId::new(job)?;
        let scope = match task {
            Some(task) => Scope::Task(TaskId::new(task)?),
            None => Scope::Job,
        };
        let kind = OutputKind::new(kind)?;
        scope.check_kind(&kind)?;
        Ok(Self { job, scope, kind })
    }

    /// The listing prefix of the kind: `$Kind/` or `task/$Kind/`.
    pub(crate) fn prefix(&self) -> Result<String, ViewerError> {
        Ok(kind_prefix(&self.scope, &self.kind)?)
    }

    /// The job's container.
    pub(crate) fn container(&self) -> ContainerName {
        ContainerName::for_job(&self.job)
    }

    /// A store error of a read of `path`: a missing blob told as a missing
    /// output, a missing container as a job with no outputs.
    pub(crate) fn read_error(&self, path: &OutputPath, error: StoreError) -> ViewerError {
        match error {
            StoreError::NotFound { .. } => ViewerError::Outputs(batchout::Error::OutputNotFound {
                kind: self.kind.to_string(),
                path: path.to_string(),
                owner: match &self.scope {
                    Scope::Job => format!("of job {}", self.job),
                    Scope::Task(task) => format!("of task {task} of job {}", self.job),
                },
            }),
            other => crate::listing::no_such_job(&self.job, other),
        }
    }

    /// Where the output at `path` of this kind is, `path` checked to be a
    /// stored path that cannot climb.
    pub(crate) fn location(&self, path: &str) -> Result<(Location, OutputPath), ViewerError> {
        let path = OutputPath::new(path)?;
        let name = blob_name(&self.scope, &self.kind, &path)?;
        let name = BlobName::new(name).map_err(|e| ViewerError::BadRequest(e.to_string()))?;
        Ok((Location::new(self.container(), name), path))
    }
}
