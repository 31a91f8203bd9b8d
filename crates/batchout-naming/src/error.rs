//! The one error type of the naming rules.

/// Why an id, kind, path or name was refused.
///
/// Every message names the offending input and says what would be accepted, so it
/// can be shown to a user as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamingError {
    /// A job or task id that Azure Batch would not accept.
    #[error("invalid {what} id {id:?}: {reason}")]
    InvalidId {
        /// `"job"` or `"task"`.
        what: &'static str,
        /// The id as given.
        id: String,
        /// What is wrong with it, and what Batch accepts.
        reason: String,
    },
    /// A kind that cannot be used in a blob name.
    #[error("invalid kind {kind:?}: {reason}")]
    InvalidKind {
        /// The kind as given.
        kind: String,
        /// What is wrong with it, and what would be accepted.
        reason: String,
    },
    /// A kind used at the wrong level: a task kind for a job output or the other way round.
    #[error("kind {kind} is a {belongs_to} kind: {hint}")]
    KindScope {
        /// The kind.
        kind: String,
        /// `"job"` or `"task"`.
        belongs_to: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// A path that cannot become a stored output path.
    #[error("invalid output path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it, and what to do.
        reason: String,
    },
}
