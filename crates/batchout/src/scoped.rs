//! [`JobOutputs`] and [`TaskOutputs`]: the entry points, each an [`Outputs`] of
//! the right scope.

use std::ops::Deref;
use std::sync::Arc;

use batchout_naming::{JobId, Scope, TaskId};
use batchout_store::Store;

use crate::{Outputs, Result};

/// The storage of one job: its own outputs (`JobOutput`, `JobPreview`, custom
/// kinds) and access to its tasks' outputs.
///
/// Every method of [`Outputs`] is available on it.
#[derive(Debug, Clone)]
pub struct JobOutputs {
    outputs: Outputs,
}

impl JobOutputs {
    /// The outputs of `job` in `store`.
    pub fn new(store: Arc<dyn Store>, job: JobId) -> Self {
        Self {
            outputs: Outputs::new(store, job, Scope::Job),
        }
    }

    /// The outputs of one task of this job.
    pub fn task(&self, task: TaskId) -> TaskOutputs {
        TaskOutputs {
            outputs: Outputs::new(
                self.outputs.store().clone(),
                self.outputs.job_id().clone(),
                Scope::Task(task.clone()),
            ),
            task,
        }
    }

    /// The ids of the tasks that have saved outputs, sorted.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoSuchJob`] when nothing was saved for the job; store errors.
    pub async fn tasks(&self) -> Result<Vec<TaskId>> {
        let store = self.outputs.store();
        let listing = store
            .list_with_delimiter(self.outputs.container(), "")
            .await
            .map_err(|e| self.outputs.missing_job(e))?;
        let mut tasks: Vec<TaskId> = listing
            .prefixes
            .iter()
            .filter(|p| !p.starts_with('$'))
            .filter_map(|p| TaskId::new(p.trim_end_matches('/')).ok())
            .collect();
        tasks.sort();
        Ok(tasks)
    }
}

impl JobOutputs {
    /// A URL that lets a task save, list and read this job's outputs and nothing
    /// else, until `valid_for` from now: on Azure, a container SAS URL with
    /// `permissions` (default [`crate::DEFAULT_SAS_PERMISSIONS`]: read, add,
    /// create, write, list).
    ///
    /// # Errors
    ///
    /// [`crate::StoreError::Unsupported`] when the store cannot sign one (not
    /// Azure, or no account key); invalid permission letters.
    pub fn access_url(
        &self,
        permissions: &str,
        valid_for: std::time::Duration,
    ) -> Result<batchout_store::SecretUrl> {
        let expiry = std::time::SystemTime::now() + valid_for;
        Ok(self.outputs.store().container_access_url(
            self.outputs.container(),
            permissions,
            expiry,
        )?)
    }
}

impl Deref for JobOutputs {
    type Target = Outputs;
    fn deref(&self) -> &Outputs {
        &self.outputs
    }
}

/// The storage of one task: its outputs (`TaskOutput`, `TaskLog`, …, custom
/// kinds), all in its job's container.
///
/// Every method of [`Outputs`] is available on it.
#[derive(Debug, Clone)]
pub struct TaskOutputs {
    outputs: Outputs,
    task: TaskId,
}

impl TaskOutputs {
    /// The outputs of task `task` of job `job` in `store`.
    pub fn new(store: Arc<dyn Store>, job: JobId, task: TaskId) -> Self {
        JobOutputs::new(store, job).task(task)
    }

    /// The task.
    pub fn task_id(&self) -> &TaskId {
        &self.task
    }

    /// The outputs of the whole job.
    pub fn job(&self) -> JobOutputs {
        JobOutputs::new(self.outputs.store().clone(), self.outputs.job_id().clone())
    }
}

impl Deref for TaskOutputs {
    type Target = Outputs;
    fn deref(&self) -> &Outputs {
        &self.outputs
    }
}
