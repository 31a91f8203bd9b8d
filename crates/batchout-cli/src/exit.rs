//! Exit codes, and which errors are the user's input rather than a failure.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure: storage, network, file system, or something asked for is missing |
//! | 2 | usage: bad arguments, ids, kinds, paths or patterns |
//! | 75 | `run`/`track`: the command succeeded, but its outputs or logs could not all be stored; retry the task |
//!
//! `run` and `track` otherwise exit with their command's own code, or 128 + N
//! when it was killed by signal N.

use std::fmt;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// The operation failed.
pub const FAILURE: u8 = 1;
/// The command line or its values were invalid.
pub const USAGE: u8 = 2;
/// `run`/`track`: the command succeeded but its outputs could not all be
/// stored; retry the task. (75 is `EX_TEMPFAIL` of sysexits.h: try again later.)
pub const PERSIST_FAILED: u8 = 75;

/// An error in what the user typed. Exits with [`USAGE`].
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    /// A usage error with a message that says what to do.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// A naming rule broken by an argument, with the command line's way out.
    pub fn from_naming(error: batchout::NamingError) -> Self {
        match naming_hint(&error) {
            Some(hint) => Self(format!("{error} ({hint})")),
            None => Self(error.to_string()),
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code for an error.
pub fn code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<UsageError>() {
            return USAGE;
        }
        if let Some(e) = cause.downcast_ref::<batchout::Error>()
            && e.is_invalid_input()
        {
            return USAGE;
        }
        if let Some(batchout::StoreError::InvalidSetting { .. }) = cause.downcast_ref() {
            return USAGE;
        }
    }
    FAILURE
}

/// Whether the error is only a closed standard output (`batchout ls | head`),
/// which is not a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, leaving out a cause whose text the
/// message already holds (library errors often name their cause themselves),
/// then what to do about it on the command line, where that is a flag or a
/// command the library cannot name.
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
    }
    if let Some(hint) = error.chain().find_map(command_line_hint) {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    text
}

/// The command line's way out of a broken naming rule.
fn naming_hint(error: &batchout::NamingError) -> Option<&'static str> {
    match error {
        batchout::NamingError::InvalidPath { .. } => {
            Some("save and track name an output with --as DEST")
        }
        batchout::NamingError::KindScope {
            belongs_to: "task", ..
        } => Some("--task TASK names the task"),
        _ => None,
    }
}

/// The command line's own way out of an error the library reports.
fn command_line_hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use batchout::{NamingError, StoreError};
    let store = cause.downcast_ref::<StoreError>().or_else(|| {
        match cause.downcast_ref::<batchout::Error>()? {
            batchout::Error::Store(e) => Some(e),
            _ => None,
        }
    });
    let naming = cause.downcast_ref::<NamingError>().or_else(|| {
        match cause.downcast_ref::<batchout::Error>()? {
            batchout::Error::Naming(e) => Some(e),
            _ => None,
        }
    });
    if let Some(e) = store {
        return match e {
            StoreError::GaveUp { deadline: None, .. } => Some("--retries N allows more attempts"),
            StoreError::GaveUp { .. } => Some("--deadline allows more time"),
            StoreError::ChecksumMismatch { .. } => Some("--no-verify fetches it anyway"),
            StoreError::Credential { .. } => Some(
                "--auth chooses how to sign in; --identity-client-id chooses a user-assigned identity",
            ),
            _ => None,
        };
    }
    if let Some(e) = naming {
        return naming_hint(e);
    }
    match cause.downcast_ref::<batchout::Error>()? {
        batchout::Error::OutputNotFound { .. } => Some("`batchout ls` lists them"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::AlreadyExists, "File exists");
        let error = anyhow::Error::new(io).context("cannot create folder x: File exists");
        assert_eq!(describe(&error), "cannot create folder x: File exists");
        let error = anyhow::anyhow!("inner").context("outer");
        assert_eq!(describe(&error), "outer: inner");
    }
}
