//! Glob patterns with the Batch service's output-file semantics.
//!
//! `*`, `**`, `?`, `[abc]`, `[a-z]` and `[!abc]`; `*` and `?` never cross a `/`;
//! `**` is a whole segment that spans any number of folders; dot-files and
//! dot-folders match only when the dot is written (`.*`, `.git/*`), and `**` never
//! enters them. A pattern's fixed prefix (the leading segments without a
//! wildcard) is the folder the matches are taken relative to: `out/**/*.txt`
//! stores `out/a/b.txt` as `a/b.txt`, and a plain file name is stored by its name.
//! This is how the Batch service names the blobs of `outputFiles`, so
//! `save --pattern` and `run --output` agree with it.
//!
//! The matcher is our own: the `glob` crate's leading-dot option refuses patterns
//! that start with a literal dot (`.h*` matched nothing), which Batch accepts.

use std::path::{Path, PathBuf};

use batchout_naming::OutputPath;

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

/// The regular files a pattern matches, in sorted order. Links to files are
/// followed; links to folders are not entered.
///
/// # Errors
///
/// [`Error::BadPattern`] for a malformed pattern; [`Error::BadSource`] for a match
/// whose name is not UTF-8 or a folder that cannot be read; [`Error::Naming`] for
/// a match whose name cannot be stored.
pub fn expand(pattern: &str) -> Result<Vec<Match>> {
    let bad = |reason: &str| Error::BadPattern {
        pattern: pattern.to_owned(),
        reason: reason.to_owned(),
    };
    if pattern.is_empty() {
        return Err(bad("it is empty"));
    }
    let (base, wild) = split_fixed_prefix(pattern);
    let segments: Vec<Segment> = wild
        .iter()
        .map(|s| Segment::parse(s).map_err(&bad))
        .collect::<Result<_>>()?;
    if segments.is_empty() {
        return Err(bad(
            "it names a folder; add a file name or a wildcard, such as DIR/*",
        ));
    }
    let root = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base.clone()
    };
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let max_depth = if segments.iter().any(|s| matches!(s, Segment::AnyDepth)) {
        usize::MAX
    } else {
        segments.len()
    };
    let walker = walkdir::WalkDir::new(&root)
        .min_depth(1)
        .max_depth(max_depth)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            !entry.file_type().is_dir() || entry.depth() == 0 || {
                let parts = components(entry.path(), &root);
                matches(&segments, &parts, true)
            }
        });
    let mut found = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| Error::BadSource {
            path: e.path().map(Path::to_owned).unwrap_or_else(|| root.clone()),
            reason: format!("cannot read it while matching {pattern:?}: {e}"),
        })?;
        // A regular file is known from its folder's listing; only a link
        // is looked at (to see whether it leads to a file).
        let kind = entry.file_type();
        if !(kind.is_file() || kind.is_symlink() && entry.path().is_file()) {
            continue;
        }
        let parts = components(entry.path(), &root);
        if !matches(&segments, &parts, false) {
            continue;
        }
        let below = entry.path().strip_prefix(&root).unwrap_or(entry.path());
        if below.to_str().is_none() {
            return Err(Error::BadSource {
                path: entry.path().to_owned(),
                reason: "its name is not valid UTF-8, which blob names must be; rename it".into(),
            });
        }
        let relative = parts.join("/");
        let source = if base.as_os_str().is_empty() {
            PathBuf::from(&relative)
        } else {
            base.join(&relative)
        };
        found.push(Match {
            source,
            relative: OutputPath::new(&relative)?,
        });
    }
    Ok(found)
}

/// Splits a pattern into its fixed folder and the segments from the first
/// wildcard on. A pattern without any wildcard names a file: its folder is the
/// fixed part and its name the one segment.
fn split_fixed_prefix(pattern: &str) -> (PathBuf, Vec<&str>) {
    let is_wild = |segment: &str| segment.contains(['*', '?', '[']);
    let segments: Vec<&str> = pattern.split(['/', '\\']).collect();
    let fixed = segments.iter().take_while(|s| !is_wild(s)).count();
    let keep = if fixed == segments.len() {
        fixed.saturating_sub(1)
    } else {
        fixed
    };
    let mut base = PathBuf::new();
    if pattern.starts_with(['/', '\\']) {
        base.push("/");
    }
    for segment in &segments[..keep] {
        if !segment.is_empty() && *segment != "." {
            base.push(segment);
        }
    }
    let wild = segments[keep..]
        .iter()
        .copied()
        .filter(|s| !s.is_empty())
        .collect();
    (base, wild)
}

/// The names of `path`'s components below `root` (lossy for non-UTF-8 names,
/// which [`expand`] then refuses).
fn components(path: &Path, root: &Path) -> Vec<String> {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of folders, none of them hidden.
    AnyDepth,
    /// A name pattern for one path component.
    Name(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Segment {
    fn parse(text: &str) -> std::result::Result<Self, &'static str> {
        if text == "**" {
            return Ok(Self::AnyDepth);
        }
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => {
                    if chars.peek() == Some(&'*') {
                        return Err("'**' must be a whole segment, as in a/**/b");
                    }
                    Token::AnyRun
                }
                '?' => Token::AnyChar,
                '[' => {
                    let negated = matches!(chars.peek(), Some('!') | Some('^'));
                    if negated {
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        if c == ']' && !ranges.is_empty() {
                            closed = true;
                            break;
                        }
                        if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    ranges.push((c, c));
                                    ranges.push(('-', '-'));
                                    closed = true;
                                    break;
                                }
                                Some(end) if end >= c => ranges.push((c, end)),
                                Some(_) => return Err("a character range runs backwards"),
                                None => break,
                            }
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    if !closed {
                        return Err("a '[' is not closed by ']'");
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            };
            tokens.push(token);
        }
        Ok(Self::Name(tokens))
    }
}

/// Whether path components match the pattern segments. With `partial`, whether
/// a folder with these components could hold a match further down.
fn matches(segments: &[Segment], parts: &[String], partial: bool) -> bool {
    match (segments.first(), parts.first()) {
        (None, None) => !partial,
        (None, Some(_)) => false,
        (Some(_), None) => partial || segments.iter().all(|s| matches!(s, Segment::AnyDepth)),
        (Some(Segment::AnyDepth), Some(part)) => {
            matches(&segments[1..], parts, partial)
                || (!part.starts_with('.') && matches(segments, &parts[1..], partial))
        }
        (Some(Segment::Name(tokens)), Some(part)) => {
            name_matches(tokens, part) && matches(&segments[1..], &parts[1..], partial)
        }
    }
}

/// Whether one name matches; a leading dot must be matched by a literal dot.
fn name_matches(tokens: &[Token], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    if name.first() == Some(&'.') && tokens.first() != Some(&Token::Literal('.')) {
        return false;
    }
    tokens_match(tokens, &name)
}

/// Wildcard matching with one backtrack point for the last `*`: linear in
/// practice, never exponential.
fn tokens_match(tokens: &[Token], name: &[char]) -> bool {
    let (mut t, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(Token::AnyRun) => {
                star = Some((t, n));
                t += 1;
            }
            Some(token) if one_matches(token, name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((star_t, star_n)) => {
                    t = star_t + 1;
                    n = star_n + 1;
                    star = Some((star_t, star_n + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| *token == Token::AnyRun)
}

fn one_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::AnyChar => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::AnyRun => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_prefix(pattern: &str) -> PathBuf {
        split_fixed_prefix(pattern).0
    }

    #[test]
    fn fixed_prefix_stops_at_the_first_wildcard() {
        assert_eq!(fixed_prefix("out/**/*.txt"), PathBuf::from("out"));
        assert_eq!(fixed_prefix("*.txt"), PathBuf::new());
        assert_eq!(fixed_prefix("../std*.txt"), PathBuf::from(".."));
        assert_eq!(fixed_prefix("out/a.txt"), PathBuf::from("out"));
        assert_eq!(fixed_prefix("a.txt"), PathBuf::new());
        assert_eq!(fixed_prefix("/data/x/*.bin"), PathBuf::from("/data/x"));
        assert_eq!(fixed_prefix("a\\b\\*.txt"), PathBuf::from("a").join("b"));
        assert_eq!(split_fixed_prefix("out/**/*.txt").1, ["**", "*.txt"]);
    }

    #[test]
    fn names_match_like_the_batch_service() {
        let seg = |p: &str| match Segment::parse(p).expect("valid") {
            Segment::Name(tokens) => tokens,
            Segment::AnyDepth => panic!("not a name"),
        };
        assert!(name_matches(&seg("*.txt"), "a.txt"));
        assert!(!name_matches(&seg("*.txt"), ".a.txt"));
        assert!(name_matches(&seg(".*"), ".a.txt"));
        assert!(name_matches(&seg("a?c"), "abc"));
        assert!(!name_matches(&seg("a?c"), "ac"));
        assert!(name_matches(&seg("[a-c]x"), "bx"));
        assert!(!name_matches(&seg("[!a-c]x"), "bx"));
        assert!(name_matches(&seg("[!a-c]x"), "dx"));
        assert!(name_matches(&seg("[]]"), "]"));
        assert!(name_matches(&seg("[a-]"), "-"));
        assert!(name_matches(&seg("*a*b*"), "xxaxxbxx"));
        assert!(!name_matches(&seg("*a*b*"), "xxbxxaxx"));
        assert!(Segment::parse("a**").is_err());
        assert!(Segment::parse("[z-a]").is_err());
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for file in [
            "a.txt",
            "b.log",
            ".hidden.txt",
            "sub/c.txt",
            "sub/deep/d.txt",
            ".git/e.txt",
        ] {
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
        assert_eq!(
            names(dir.path(), "**/*.txt"),
            ["a.txt", "sub/c.txt", "sub/deep/d.txt"]
        );
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
    fn double_star_never_enters_hidden_folders() {
        let dir = tree();
        assert!(
            !names(dir.path(), "**/*")
                .iter()
                .any(|n| n.starts_with(".git"))
        );
        assert_eq!(names(dir.path(), "**/e.txt"), Vec::<String>::new());
    }

    /// Files are found from their folder's listing; links are followed only
    /// to see whether they lead to a file, and folders behind links are not
    /// entered.
    #[cfg(unix)]
    #[test]
    fn links_to_files_match_and_links_to_folders_and_fifos_do_not() {
        let dir = tree();
        let sub = dir.path().join("sub");
        std::os::unix::fs::symlink(sub.join("c.txt"), sub.join("to-file.txt")).expect("link");
        std::os::unix::fs::symlink(sub.join("deep"), sub.join("to-folder")).expect("link");
        std::os::unix::fs::symlink(sub.join("gone"), sub.join("dangling.txt")).expect("link");
        let made = std::process::Command::new("mkfifo")
            .arg(sub.join("pipe.txt"))
            .status()
            .expect("mkfifo");
        assert!(made.success());
        assert_eq!(
            names(dir.path(), "sub/**/*"),
            ["c.txt", "deep/d.txt", "to-file.txt"]
        );
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(matches!(expand("[a"), Err(Error::BadPattern { .. })));
        assert!(matches!(expand(""), Err(Error::BadPattern { .. })));
        assert!(matches!(expand("a/**b"), Err(Error::BadPattern { .. })));
    }
}
