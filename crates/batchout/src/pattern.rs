//! Glob patterns with the Batch service's output-file semantics.
//!
//! `*`, `**`, `?`, `[abc]` and `[!abc]`; `*` never crosses a `/`; dot-files and
//! dot-folders match only when the dot is written. A pattern's fixed prefix (the
//! leading segments without a wildcard) is the folder the matches are taken
//! relative to: `out/**/*.txt` stores `out/a/b.txt` as `a/b.txt`, and a plain
//! file name is stored by its name. This is how the Batch service names the blobs
//! of `outputFiles`, so `save --pattern` and `run --output` agree with it.

use std::path::{Path, PathBuf};

use batchout_naming::OutputPath;
use glob::MatchOptions;

use crate::{Error, Result};

/// One file a pattern matched: where it is, and its path below the pattern's
/// fixed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The local file.
    pub source: PathBuf,
    /// Its stored path, relative to the pattern's fixed prefix.
    pub relative: OutputPath,
}

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// The regular files a pattern matches, in sorted order.
///
/// # Errors
///
/// [`Error::BadPattern`] for a malformed pattern; [`Error::BadSource`] for a match
/// whose name is not UTF-8 or cannot be read; [`Error::Naming`] for a match whose
/// name cannot be stored.
pub fn expand(pattern: &str) -> Result<Vec<Match>> {
    let bad = |reason: String| Error::BadPattern {
        pattern: pattern.to_owned(),
        reason,
    };
    if pattern.is_empty() {
        return Err(bad("it is empty".into()));
    }
    let base = fixed_prefix(pattern);
    let paths = glob::glob_with(pattern, OPTIONS).map_err(|e| bad(e.to_string()))?;
    let mut matches = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| Error::BadSource {
            path: e.path().to_owned(),
            reason: format!("cannot read it while matching the pattern: {}", e.error()),
        })?;
        if !path.is_file() {
            continue;
        }
        let relative = relative_name(&base, &path)?;
        matches.push(Match {
            source: path,
            relative,
        });
    }
    matches.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(matches)
}

/// The leading segments of a pattern that hold no wildcard, as a folder. A
/// pattern without any wildcard names a file: its folder is the prefix.
fn fixed_prefix(pattern: &str) -> PathBuf {
    let is_wild = |segment: &str| segment.contains(['*', '?', '[']);
    let segments: Vec<&str> = pattern.split(['/', '\\']).collect();
    let fixed = segments.iter().take_while(|s| !is_wild(s)).count();
    let keep = if fixed == segments.len() {
        fixed.saturating_sub(1)
    } else {
        fixed
    };
    let mut base = PathBuf::new();
    if pattern.starts_with('/') {
        base.push("/");
    }
    for segment in &segments[..keep] {
        if !segment.is_empty() {
            base.push(segment);
        }
    }
    base
}

fn relative_name(base: &Path, path: &Path) -> Result<OutputPath> {
    let below = if base.as_os_str().is_empty() {
        path
    } else {
        path.strip_prefix(base).unwrap_or(path)
    };
    let text = below.to_str().ok_or_else(|| Error::BadSource {
        path: path.to_owned(),
        reason: "its name is not valid UTF-8, which blob names must be; rename it".into(),
    })?;
    Ok(OutputPath::from_local(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_prefix_stops_at_the_first_wildcard() {
        assert_eq!(fixed_prefix("out/**/*.txt"), PathBuf::from("out"));
        assert_eq!(fixed_prefix("*.txt"), PathBuf::new());
        assert_eq!(fixed_prefix("../std*.txt"), PathBuf::from(".."));
        assert_eq!(fixed_prefix("out/a.txt"), PathBuf::from("out"));
        assert_eq!(fixed_prefix("a.txt"), PathBuf::new());
        assert_eq!(fixed_prefix("/data/x/*.bin"), PathBuf::from("/data/x"));
        assert_eq!(fixed_prefix("a\\b\\*.txt"), PathBuf::from("a").join("b"));
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in ["a.txt", "b.log", ".hidden.txt", "sub/c.txt", "sub/deep/d.txt", ".git/e.txt"] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&path, file).expect("write");
        }
        dir
    }

    fn names(dir: &Path, pattern: &str) -> Vec<String> {
        let full = format!("{}/{pattern}", dir.display());
        expand(&full)
            .expect("pattern expands")
            .into_iter()
            .map(|m| m.relative.to_string())
            .collect()
    }

    #[test]
    fn star_does_not_cross_folders_and_skips_dot_files() {
        let dir = tree();
        assert_eq!(names(dir.path(), "*.txt"), ["a.txt"]);
    }

    #[test]
    fn double_star_keeps_the_structure_below_the_fixed_prefix() {
        let dir = tree();
        assert_eq!(names(dir.path(), "**/*.txt"), ["a.txt", "sub/c.txt", "sub/deep/d.txt"]);
        assert_eq!(names(dir.path(), "sub/**/*.txt"), ["c.txt", "deep/d.txt"]);
    }

    #[test]
    fn dot_files_match_when_the_dot_is_written() {
        let dir = tree();
        assert_eq!(names(dir.path(), ".*.txt"), [".hidden.txt"]);
        assert_eq!(names(dir.path(), ".git/*"), ["e.txt"]);
    }

    #[test]
    fn classes_and_question_marks() {
        let dir = tree();
        assert_eq!(names(dir.path(), "[ab].*"), ["a.txt", "b.log"]);
        assert_eq!(names(dir.path(), "[!a].???"), ["b.log"]);
    }

    #[test]
    fn a_plain_file_is_stored_by_its_name() {
        let dir = tree();
        assert_eq!(names(dir.path(), "sub/c.txt"), ["c.txt"]);
        assert!(names(dir.path(), "missing.txt").is_empty());
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(matches!(expand("[a"), Err(Error::BadPattern { .. })));
        assert!(matches!(expand(""), Err(Error::BadPattern { .. })));
    }
}
