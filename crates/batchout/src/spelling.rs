//! Finding a task's outputs whatever the case of its id.
//!
//! Batch treats ids without regard to case: `Frame7` and `frame7` are one
//! task. The conventions keep a task id's case in its blob names, and blob
//! names are case-sensitive, so outputs saved as `frame7/$TaskOutput/…` are
//! not under `Frame7/`. [`JobOutputs::task_spellings`] finds the spellings
//! they are under.
//!
//! Job ids need nothing of the kind: the container name is made from the
//! lower-cased id (hashed or not), so every spelling of a job id names the
//! same container.

use batchout_naming::TaskId;
use batchout_store::ListOptions;

use crate::{JobOutputs, Result};

impl JobOutputs {
    /// The spellings of task id `task` that outputs are stored under:
    ///
    /// - `[task]` itself when anything is stored under its exact spelling,
    ///   found by one listing of at most one name (one request);
    /// - otherwise every stored task id equal to `task` but for ASCII case,
    ///   sorted, found by one more listing: a delimited one of the
    ///   container's top level, which costs a request per 5,000 task ids
    ///   (and job kinds) on Azure. Several when the one task's outputs were
    ///   saved under several spellings; none when nothing is stored under
    ///   any.
    ///
    /// Beside an exact spelling that has outputs, others are not looked for:
    /// that would cost the whole top-level listing on every lookup.
    /// [`Self::tasks`] lists every stored spelling.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new()?.block_on(async {
    /// use batchout::{JobId, JobOutputs, OutputKind, OutputPath, TaskId, open};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let job = JobOutputs::new(open(dir.path().to_str().expect("utf-8"))?, JobId::new("render-42")?);
    /// job.task(TaskId::new("frame7")?)
    ///     .save_text(OutputKind::TaskOutput, "7", &OutputPath::new("a.txt")?)
    ///     .await?;
    /// assert_eq!(job.task_spellings(&TaskId::new("Frame7")?).await?, [TaskId::new("frame7")?]);
    /// assert_eq!(job.task_spellings(&TaskId::new("frame7")?).await?, [TaskId::new("frame7")?]);
    /// assert!(job.task_spellings(&TaskId::new("frame8")?).await?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?; Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoSuchJob`] when nothing was saved for the job; store
    /// errors.
    pub async fn task_spellings(&self, task: &TaskId) -> Result<Vec<TaskId>> {
        let core = &self.core;
        let exact = ListOptions::default()
            .with_prefix(format!("{task}/"))
            .with_max_results(1);
        let page = core
            .store
            .list_page(&core.container, &exact)
            .await
            .map_err(|e| core.missing_job(e))?;
        if !page.objects.is_empty() {
            return Ok(vec![task.clone()]);
        }
        let top = core
            .store
            .list_with_delimiter(&core.container, "")
            .await
            .map_err(|e| core.missing_job(e))?;
        let mut found: Vec<TaskId> = top
            .prefixes
            .iter()
            .map(|prefix| prefix.trim_end_matches('/'))
            .filter(|id| id.eq_ignore_ascii_case(task.as_str()))
            .filter_map(|id| TaskId::new(id).ok())
            .collect();
        found.sort();
        found.dedup();
        Ok(found)
    }
}
