//! The blob names of a tracked file: the destination itself, its rotations
//! (a new attempt rewrote the file) and its continuations (a blob reached the
//! store's append limit).
//!
//! The suffixes go before the last extension of the file name, so the stored
//! blobs keep the type a viewer recognises:
//!
//! | attempt | part | `stdout.txt` | `run` |
//! |---|---|---|---|
//! | 1 | 1 | `stdout.txt` | `run` |
//! | 2 | 1 | `stdout.2.txt` | `run.2` |
//! | 1 | 2 | `stdout.part2.txt` | `run.part2` |
//! | 2 | 3 | `stdout.2.part3.txt` | `run.2.part3` |
//!
//! A leading dot is not an extension: `.log` becomes `.log.2`.

use batchout_naming::{OutputKind, OutputPath};
use batchout_store::Location;

use crate::Result;
use crate::core::Core;

/// Names the blobs of one tracked destination.
#[derive(Debug, Clone)]
pub(super) struct Naming {
    outputs: Core,
    kind: OutputKind,
    path: OutputPath,
}

impl Naming {
    /// Checks that the destination itself can be named.
    pub(super) fn new(outputs: Core, kind: OutputKind, path: OutputPath) -> Result<Self> {
        outputs.location(&kind, &path)?;
        Ok(Self {
            outputs,
            kind,
            path,
        })
    }

    /// Creates the job's container, recording the job id on it.
    pub(super) async fn create_container(&self) -> batchout_store::Result<bool> {
        self.outputs.create_container().await
    }

    /// The location of `part` (from 1) of `attempt` (from 1).
    pub(super) fn location(&self, attempt: u32, part: u32) -> Result<Location> {
        let path = OutputPath::new(&variant(self.path.as_str(), attempt, part))?;
        self.outputs.location(&self.kind, &path)
    }
}

/// `path` with the attempt and part suffixes (none for 1) before the last
/// extension of its file name.
pub(super) fn variant(path: &str, attempt: u32, part: u32) -> String {
    let (folder, file) = match path.rfind('/') {
        Some(slash) => path.split_at(slash + 1),
        None => ("", path),
    };
    let (stem, extension) = match file.rfind('.') {
        Some(dot) if dot > 0 => file.split_at(dot),
        _ => (file, ""),
    };
    let mut name = format!("{folder}{stem}");
    if attempt > 1 {
        name.push_str(&format!(".{attempt}"));
    }
    if part > 1 {
        name.push_str(&format!(".part{part}"));
    }
    name.push_str(extension);
    name
}

#[cfg(test)]
mod tests {
    use super::variant;

    #[test]
    fn suffixes_go_before_the_last_extension() {
        assert_eq!(variant("stdout.txt", 1, 1), "stdout.txt");
        assert_eq!(variant("stdout.txt", 2, 1), "stdout.2.txt");
        assert_eq!(variant("stdout.txt", 1, 2), "stdout.part2.txt");
        assert_eq!(variant("stdout.txt", 2, 3), "stdout.2.part3.txt");
        assert_eq!(variant("logs/a.tar.gz", 3, 1), "logs/a.tar.3.gz");
    }

    #[test]
    fn a_name_without_extension_takes_the_suffix_at_its_end() {
        assert_eq!(variant("run", 2, 1), "run.2");
        assert_eq!(variant("out.d/run", 1, 2), "out.d/run.part2");
        assert_eq!(variant(".log", 2, 1), ".log.2");
    }
}
