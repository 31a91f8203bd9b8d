//! The pieces every page is made of: escaped text, URLs built from stored
//! names, figures people read (sizes, times), and the page around a view.
//!
//! Stored names are untrusted: every one goes into a page through
//! [`Esc`] (text) or [`segment`] (a URL), never as it is.

use std::fmt::{self, Display, Write};
use std::time::{Duration, SystemTime};

use axum::response::Html;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Text made safe for HTML, in an element or a quoted attribute.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                // Control characters other than tab would show as nothing,
                // or break a line: shown as the symbols for them.
                c if c.is_control() && c != '\t' => {
                    let symbol = char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{FFFD}');
                    f.write_char(if (c as u32) < 0x20 {
                        symbol
                    } else {
                        '\u{FFFD}'
                    })?;
                }
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// What a URL path segment may hold as it is: the unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A name as one URL path segment: `/`, `?`, `#`, `%` and everything else
/// outside the unreserved characters percent-encoded.
pub(crate) fn segment(name: &str) -> impl Display + '_ {
    utf8_percent_encode(name, SEGMENT)
}

/// A stored path as URL path segments: each encoded, joined by `/`.
pub(crate) fn path_segments(path: &str) -> String {
    path.split('/')
        .map(|s| segment(s).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// A query value, percent-encoded.
pub(crate) fn query_value(value: &str) -> impl Display + '_ {
    utf8_percent_encode(value, SEGMENT)
}

/// A size as people read it: `0 B`, `512 B`, `1.5 KiB`, `2.0 GiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A time as an HTML `<time>`: the moment in UTC, to the second, with how
/// long ago it was as its title.
pub(crate) fn time(at: Option<SystemTime>) -> String {
    let Some(at) = at else {
        return "<span class=\"dim\">—</span>".into();
    };
    let stamp = humantime::format_rfc3339_seconds(at).to_string();
    let shown = stamp.replace('T', " ").replace('Z', " UTC");
    let ago = SystemTime::now()
        .duration_since(at)
        .map(|d| format!("{} ago", duration(Duration::from_secs(d.as_secs()))))
        .unwrap_or_default();
    format!("<time datetime=\"{stamp}\" title=\"{ago}\">{shown}</time>")
}

/// A duration as people read it, to the second: `0s`, `42s`, `1h 2m 3s`.
pub(crate) fn duration(span: Duration) -> String {
    let secs = span.as_secs();
    if secs == 0 && span.as_millis() > 0 {
        return format!("{}ms", span.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// One step of the trail at the top of a page: its text and where it goes.
pub(crate) struct Crumb {
    pub(crate) text: String,
    pub(crate) href: String,
}

impl Crumb {
    pub(crate) fn new(text: impl Into<String>, href: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            href: href.into(),
        }
    }
}

/// A whole page: the trail to it, its title, and its body (already HTML).
pub(crate) fn page(title: &str, trail: &[Crumb], body: &str) -> Html<String> {
    let mut out = String::with_capacity(body.len() + 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · batchout</title>\
         <link rel=\"stylesheet\" href=\"/assets/viewer.css\">\
         <script src=\"/assets/viewer.js\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/\">batchout</a><nav class=\"trail\">",
        Esc(title)
    );
    for crumb in trail {
        let _ = write!(
            out,
            "<span class=\"sep\">/</span><a href=\"{}\">{}</a>",
            Esc(&crumb.href),
            Esc(&crumb.text)
        );
    }
    let _ = write!(out, "</nav></header><main>{body}</main></body></html>");
    Html(out)
}

/// The URL of a job's page.
pub(crate) fn job_href(job: &str) -> String {
    format!("/jobs/{}", segment(job))
}

/// The URL of a task's page, or of one of its kinds.
pub(crate) fn task_href(job: &str, task: &str, kind: Option<&str>) -> String {
    let mut href = format!("{}/tasks/{}", job_href(job), segment(task));
    if let Some(kind) = kind {
        let _ = write!(href, "/{}", segment(kind));
    }
    href
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_cannot_make_markup_or_break_lines() {
        let shown = Esc("<script>alert('x')</script>&\"\u{0}\r\n\u{1b}[31m\t").to_string();
        assert_eq!(
            shown,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;\u{2400}\u{240d}\u{240a}\u{241b}[31m\t"
        );
    }

    #[test]
    fn names_in_urls_stay_one_segment() {
        assert_eq!(segment("a/b?c#d%e f").to_string(), "a%2Fb%3Fc%23d%25e%20f");
        assert_eq!(segment("nightly:job-7").to_string(), "nightly%3Ajob-7");
        assert_eq!(path_segments("dir/a b/é.txt"), "dir/a%20b/%C3%A9.txt");
    }

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(3723)), "1h 2m 3s");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
    }
}
