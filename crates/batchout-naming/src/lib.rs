//! The Batch File Conventions naming standard, as pure code.
//!
//! This crate is the contract between batchout, Microsoft's .NET library
//! `Microsoft.Azure.Batch.Conventions.Files` and the Azure portal: given a job id, a
//! task id and a kind, everyone must arrive at the same container and blob names,
//! byte for byte. Nothing here does I/O or is async, so every rule can be tested
//! exhaustively.
//!
//! - [`JobId`] and [`TaskId`]: ids validated as Azure Batch validates them (job
//!   ids include those of jobs a job schedule makes, `nightly:job-7`).
//! - [`ContainerName`]: the job output container (`job-…`), see [`ContainerName::for_job`].
//! - [`OutputKind`]: `TaskOutput`, `TaskLog`, … or a custom kind.
//! - [`OutputPath`]: the destination path of a file inside a kind, normalised from a
//!   local path by the conventions' rules, and never able to climb.
//! - [`Scope`], [`kind_prefix`], [`blob_name`], [`parse_blob_name`]: blob names and
//!   listing prefixes, and the way back from a blob name to (task, kind, path).
//!
//! ```
//! use batchout_naming::{blob_name, ContainerName, JobId, OutputKind, OutputPath, Scope, TaskId};
//!
//! let job = JobId::new("my-_EVEN_MORE_-terrific-job")?;
//! assert_eq!(
//!     ContainerName::for_job(&job).as_str(),
//!     "job-my-even-more-te-68b05a7d8aa6aa65b9a6892c667a6c406a16ad65"
//! );
//!
//! let scope = Scope::Task(TaskId::new("analysis-309")?);
//! let path = OutputPath::from_local("../stdout.txt")?;
//! assert_eq!(blob_name(&scope, &OutputKind::TaskLog, &path)?, "analysis-309/$TaskLog/stdout.txt");
//! # Ok::<(), batchout_naming::NamingError>(())
//! ```

mod blob;
mod container;
mod error;
mod ids;
mod kind;
mod path;

pub use blob::{BlobNameParts, Scope, blob_name, kind_prefix, parse_blob_name, scope_prefix};
pub use container::ContainerName;
pub use error::NamingError;
pub use ids::{JobId, MAX_ID_LEN, MAX_JOB_ID_LEN, TaskId};
pub use kind::OutputKind;
pub use path::{MAX_BLOB_NAME_LEN, OutputPath};
