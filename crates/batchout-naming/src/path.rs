//! Output paths: the `<path>` part of a blob name, after the kind.
//!
//! An [`OutputPath`] is always canonical: relative, `/`-separated, with no empty,
//! `.` or `..` segment, no `\` and no control character. So it can be joined to a
//! local directory without ever leaving it, and a blob name built from it never
//! climbs.

use std::fmt;
use std::path::PathBuf;

use crate::NamingError;

/// The longest blob name Azure accepts, in characters. An output path is at most
/// this long; the whole blob name (task id and kind included) is checked by
/// [`crate::blob_name`].
pub const MAX_BLOB_NAME_LEN: usize = 1024;

/// A canonical destination path of an output, such as `out/results.txt`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputPath(String);

impl OutputPath {
    /// Accepts a path that is already canonical, such as a path read back from
    /// storage. Nothing is rewritten.
    ///
    /// # Errors
    ///
    /// [`NamingError::InvalidPath`] when the path is empty, longer than 1,024
    /// characters, absolute, has an empty, `.` or `..` segment, a `\`, or a control
    /// character.
    pub fn new(path: &str) -> Result<Self, NamingError> {
        let invalid = |reason: &str| NamingError::InvalidPath {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if path.is_empty() {
            return Err(invalid("it is empty"));
        }
        let chars = path.chars().count();
        if chars > MAX_BLOB_NAME_LEN {
            return Err(NamingError::InvalidPath {
                path: abbreviate(path),
                reason: format!(
                    "it is {chars} characters long; blob names are at most {MAX_BLOB_NAME_LEN}"
                ),
            });
        }
        if path.chars().any(char::is_control) {
            return Err(invalid("it contains a control character"));
        }
        if path.contains('\\') {
            return Err(invalid("it contains '\\'; stored paths use '/' only"));
        }
        if is_absolute(path) {
            return Err(invalid("it is absolute"));
        }
        for segment in path.split('/') {
            match segment {
                "" => return Err(invalid("it has an empty segment ('//' or a trailing '/')")),
                "." | ".." => return Err(invalid("it has a '.' or '..' segment")),
                _ => {}
            }
        }
        Ok(Self(path.to_owned()))
    }

    /// The conventions' transform of a local path, relative to the working
    /// directory, into the stored path: `\` becomes `/`, leading `../` segments
    /// are dropped (`../stdout.txt` is `stdout.txt`), `.` and empty segments are
    /// removed and an inner `..` cancels the segment before it.
    ///
    /// # Errors
    ///
    /// [`NamingError::InvalidPath`] when the path is absolute (give an explicit
    /// destination instead), climbs above its start after a real segment
    /// (`a/../../x`), names nothing, or is otherwise invalid (see [`OutputPath::new`]).
    pub fn from_local(path: &str) -> Result<Self, NamingError> {
        Self::normalise(path, Leading::Drop)
    }

    /// An explicit destination, as given to `save --as`: `\` becomes `/`, `.` and
    /// empty segments are removed; it must not be absolute nor contain `..`.
    ///
    /// # Errors
    ///
    /// [`NamingError::InvalidPath`] as for [`OutputPath::new`], and for any `..`.
    pub fn destination(path: &str) -> Result<Self, NamingError> {
        Self::normalise(path, Leading::Refuse)
    }

    fn normalise(path: &str, leading: Leading) -> Result<Self, NamingError> {
        let invalid = |reason: &str| NamingError::InvalidPath {
            path: abbreviate(path),
            reason: reason.to_owned(),
        };
        if path.chars().any(char::is_control) {
            return Err(invalid(
                "it contains a control character, which a blob name cannot hold; rename the file, or give an explicit destination",
            ));
        }
        let slashed = path.replace('\\', "/");
        if is_absolute(&slashed) {
            return Err(invalid(
                "an absolute path cannot name an output; give a path relative to the working directory, or an explicit destination",
            ));
        }
        let mut kept: Vec<&str> = Vec::new();
        let mut at_start = true;
        for segment in slashed.split('/') {
            match segment {
                "" | "." => {}
                ".." if at_start && leading == Leading::Drop => {}
                ".." if leading == Leading::Refuse => {
                    return Err(invalid(
                        "a destination cannot contain '..'; name the stored path from the kind's root",
                    ));
                }
                ".." => {
                    if kept.pop().is_none() {
                        return Err(invalid(
                            "it climbs above its starting folder; give an explicit destination instead",
                        ));
                    }
                }
                name => {
                    at_start = false;
                    kept.push(name);
                }
            }
        }
        if kept.is_empty() {
            return Err(invalid("it names no file; give the path of a file"));
        }
        Self::new(&kept.join("/"))
    }

    /// The path, `/`-separated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments of the path.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last segment: the file's name.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The path as a relative local path. Joined to a directory, it always stays
    /// inside it.
    pub fn to_relative_path_buf(&self) -> PathBuf {
        self.segments().collect()
    }

    /// This path below a folder path, e.g. `logs` + `a.txt` is `logs/a.txt`.
    ///
    /// # Errors
    ///
    /// [`NamingError::InvalidPath`] when the joined path is too long.
    pub fn under(&self, folder: &OutputPath) -> Result<Self, NamingError> {
        Self::new(&format!("{}/{}", folder.0, self.0))
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Leading {
    /// Drop leading `..` segments (the conventions' rule for local paths).
    Drop,
    /// Refuse any `..` (explicit destinations).
    Refuse,
}

/// A path that starts at a root: `/x`, or a Windows drive (`C:`).
fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

/// Keeps error messages readable for very long inputs.
fn abbreviate(path: &str) -> String {
    const KEEP: usize = 80;
    if path.chars().count() <= KEEP {
        path.to_owned()
    } else {
        let head: String = path.chars().take(KEEP).collect();
        format!("{head}…")
    }
}

impl fmt::Display for OutputPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for OutputPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn local(path: &str) -> String {
        OutputPath::from_local(path)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"))
            .0
    }

    #[test]
    fn leading_parent_segments_are_dropped() {
        assert_eq!(local("../stdout.txt"), "stdout.txt");
        assert_eq!(local("../../a/b.txt"), "a/b.txt");
        assert_eq!(local("../../x/y"), "x/y");
        assert_eq!(local("./../x"), "x");
    }

    #[test]
    fn backslashes_become_slashes() {
        assert_eq!(local("out\\sub\\a.txt"), "out/sub/a.txt");
        assert_eq!(local("..\\stderr.txt"), "stderr.txt");
    }

    #[test]
    fn dot_and_empty_segments_are_removed_and_inner_parents_cancel() {
        assert_eq!(local("./a//b/./c.txt"), "a/b/c.txt");
        assert_eq!(local("a/x/../b.txt"), "a/b.txt");
        assert_eq!(local("a/b/"), "a/b");
    }

    #[test]
    fn a_path_that_climbs_after_a_real_segment_is_refused() {
        let err = OutputPath::from_local("a/../../x").unwrap_err();
        assert!(err.to_string().contains("climbs above"), "{err}");
    }

    #[test]
    fn absolute_paths_are_refused() {
        for abs in ["/etc/passwd", "\\x\\y", "C:\\data\\x", "c:/x"] {
            let err = OutputPath::from_local(abs).expect_err(abs);
            assert!(err.to_string().contains("absolute"), "{abs}: {err}");
        }
    }

    #[test]
    fn paths_naming_nothing_are_refused() {
        for empty in ["", ".", "..", "../..", "./", "a/.."] {
            assert!(OutputPath::from_local(empty).is_err(), "{empty:?}");
        }
    }

    #[test]
    fn destinations_refuse_parent_segments() {
        assert_eq!(
            OutputPath::destination("./out\\x.txt")
                .expect("valid")
                .as_str(),
            "out/x.txt"
        );
        assert!(OutputPath::destination("../x").is_err());
        assert!(OutputPath::destination("a/../x").is_err());
        assert!(OutputPath::destination("/x").is_err());
    }

    #[test]
    fn canonical_paths_refuse_anything_that_could_climb_or_confuse() {
        for bad in [
            "", "..", "../x", "a/../b", "/x", "a//b", "a/", "./a", "a\\b", "a\0b", "a\nb", "C:x",
        ] {
            assert!(OutputPath::new(bad).is_err(), "{bad:?}");
        }
        for good in [
            "a",
            "a/b.txt",
            "$weird name+%#/é.txt",
            "...",
            "a..b/.hidden",
        ] {
            assert_eq!(OutputPath::new(good).expect(good).as_str(), good);
        }
    }

    #[test]
    fn length_limit_counts_characters() {
        assert!(OutputPath::new(&"é".repeat(1024)).is_ok());
        let err = OutputPath::new(&"a".repeat(1025)).unwrap_err();
        assert!(err.to_string().contains("1025 characters"), "{err}");
        assert!(err.to_string().len() < 300, "long inputs are abbreviated");
    }

    #[test]
    fn file_name_and_local_path() {
        let p = OutputPath::new("a/b/c.txt").expect("valid");
        assert_eq!(p.file_name(), "c.txt");
        assert_eq!(
            p.to_relative_path_buf(),
            PathBuf::from("a").join("b").join("c.txt")
        );
        let folder = OutputPath::new("logs").expect("valid");
        assert_eq!(p.under(&folder).expect("valid").as_str(), "logs/a/b/c.txt");
    }

    proptest! {
        #[test]
        fn normalisation_never_climbs_is_never_empty_and_is_canonical(
            segments in proptest::collection::vec(
                prop_oneof!["\\.\\.", "\\.", "", "[a-z$ +%#é]{1,6}", "\\\\"], 0..12),
        ) {
            let path = segments.join("/");
            if let Ok(out) = OutputPath::from_local(&path) {
                prop_assert!(!out.as_str().is_empty());
                prop_assert!(out.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
                prop_assert!(!out.as_str().starts_with('/'));
                prop_assert!(!out.as_str().contains('\\'));
                // Canonical: normalising again changes nothing.
                prop_assert_eq!(OutputPath::new(out.as_str()), Ok(out.clone()));
                prop_assert_eq!(OutputPath::from_local(out.as_str()), Ok(out.clone()));
            }
        }

        #[test]
        fn destinations_never_climb_are_never_empty_and_refuse_any_parent_segment(
            segments in proptest::collection::vec(
                prop_oneof!["\\.\\.", "\\.", "", "[a-z$ +%#é]{1,6}", "\\\\", "[A-Za-z]:"], 0..12),
        ) {
            let path = segments.join("/");
            let has_parent = path.replace('\\', "/").split('/').any(|s| s == "..");
            match OutputPath::destination(&path) {
                Ok(out) => {
                    prop_assert!(!has_parent, "{:?} has '..' yet gave {:?}", path, out);
                    prop_assert!(out.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
                    prop_assert!(!is_absolute(out.as_str()));
                    prop_assert_eq!(OutputPath::new(out.as_str()), Ok(out.clone()));
                }
                Err(e) => {
                    let invalid_path = matches!(e, NamingError::InvalidPath { .. });
                    prop_assert!(invalid_path, "{}", e);
                }
            }
        }

        #[test]
        fn long_paths_are_refused_never_cut_short(
            segments in proptest::collection::vec("[a-zé]{1,300}", 1..12),
            parents in 0usize..3,
        ) {
            let path = format!("{}{}", "../".repeat(parents), segments.join("/"));
            let kept = segments.join("/");
            match OutputPath::from_local(&path) {
                Ok(out) => {
                    prop_assert_eq!(out.as_str(), kept.as_str(), "nothing dropped but the leading '../'");
                    prop_assert!(out.as_str().chars().count() <= MAX_BLOB_NAME_LEN);
                }
                Err(e) => {
                    prop_assert!(kept.chars().count() > MAX_BLOB_NAME_LEN, "{}", e);
                    prop_assert!(e.to_string().contains("characters long"), "{}", e);
                }
            }
        }

        #[test]
        fn any_text_is_accepted_only_as_a_safe_relative_path(text in any::<String>()) {
            if let Ok(out) = OutputPath::from_local(&text) {
                let local = out.to_relative_path_buf();
                prop_assert!(local.is_relative());
                prop_assert!(local.components().all(|c| matches!(c, std::path::Component::Normal(_))));
                prop_assert!(out.as_str().chars().count() <= MAX_BLOB_NAME_LEN);
            }
        }
    }
}
