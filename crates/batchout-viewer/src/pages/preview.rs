//! How a file is shown, from its name: images inline, CSV and TSV as a
//! table of their first rows, JSON pretty-printed, archives and other
//! binary formats as a download, and anything else as text (which the text
//! view still refuses to show when its bytes are not text).

use std::fmt::Write;

use super::html::Esc;

/// How a file is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    Image,
    Table(u8),
    Json,
    Binary,
    Text,
}

/// The most rows of a table shown.
pub(crate) const TABLE_ROWS: usize = 500;
/// The most bytes read for a table.
pub(crate) const TABLE_BYTES: u64 = 256 * 1024;
/// The largest JSON file pretty-printed; a larger one is shown as text.
pub(crate) const JSON_BYTES: u64 = 1024 * 1024;

const IMAGES: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "ico", "avif",
];
const BINARY: &[&str] = &[
    "zip",
    "gz",
    "tgz",
    "bz2",
    "xz",
    "zst",
    "7z",
    "tar",
    "rar",
    "pdf",
    "exe",
    "dll",
    "so",
    "bin",
    "dat",
    "npy",
    "npz",
    "h5",
    "hdf5",
    "nc",
    "parquet",
    "arrow",
    "feather",
    "pkl",
    "pickle",
    "pt",
    "pth",
    "onnx",
    "safetensors",
    "mp4",
    "mov",
    "avi",
    "mkv",
    "webm",
    "mp3",
    "wav",
    "flac",
    "ogg",
    "iso",
    "img",
    "class",
    "jar",
    "whl",
    "db",
    "sqlite",
    "xlsx",
    "docx",
    "pptx",
    "tif",
    "tiff",
];

/// How the file at `path` is shown.
pub(crate) fn view_of(path: &str) -> View {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "csv" => View::Table(b','),
        "tsv" | "tab" => View::Table(b'\t'),
        "json" | "ipynb" | "geojson" => View::Json,
        e if IMAGES.contains(&e) => View::Image,
        e if BINARY.contains(&e) => View::Binary,
        _ => View::Text,
    }
}

/// The first rows of delimited text (`"` quotes, `""` for a quote inside
/// them) as an HTML table, its first row as the header; `complete` says
/// whether `text` is the whole file, else its last, cut row is left out.
pub(crate) fn table(text: &str, delimiter: u8, complete: bool) -> String {
    let mut rows = parse_rows(text, char::from(delimiter));
    if !complete && rows.len() > 1 {
        rows.pop();
    }
    let shown = rows.len().min(TABLE_ROWS + 1);
    let mut out = String::from("<div class=\"table-wrap\"><table class=\"csv\" id=\"csv\">");
    for (i, row) in rows.iter().take(shown).enumerate() {
        let cell = if i == 0 { "th" } else { "td" };
        out.push_str(if i == 0 { "<thead><tr>" } else { "<tr>" });
        for value in row {
            let _ = write!(out, "<{cell}>{}</{cell}>", Esc(value));
        }
        out.push_str(if i == 0 {
            "</tr></thead><tbody>"
        } else {
            "</tr>"
        });
    }
    out.push_str("</tbody></table></div>");
    if rows.len() > shown || !complete {
        let _ = write!(
            out,
            "<p class=\"dim\">The first {} rows; download the file for all of them.</p>",
            shown.saturating_sub(1)
        );
    }
    out
}

fn parse_rows(text: &str, delimiter: char) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, c) if c == delimiter => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field).trim_end_matches('\r').to_owned());
                rows.push(std::mem::take(&mut row));
                if rows.len() > TABLE_ROWS {
                    return rows;
                }
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// JSON pretty-printed, or `None` when `bytes` is not JSON.
pub(crate) fn pretty_json(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_choose_the_view() {
        assert_eq!(view_of("plots/Loss.PNG"), View::Image);
        assert_eq!(view_of("a.tsv"), View::Table(b'\t'));
        assert_eq!(view_of("results.csv"), View::Table(b','));
        assert_eq!(view_of("m.json"), View::Json);
        assert_eq!(view_of("model.onnx"), View::Binary);
        assert_eq!(view_of("stdout.txt"), View::Text);
        assert_eq!(view_of("Makefile"), View::Text);
    }

    #[test]
    fn csv_quotes_and_escapes_are_kept_as_values() {
        let html = table("name,note\r\na,\"x, \"\"y\"\"\"\n<b>,2\n", b',', true);
        assert!(html.contains("<th>name</th><th>note</th>"), "{html}");
        assert!(
            html.contains("<td>a</td><td>x, &quot;y&quot;</td>"),
            "{html}"
        );
        assert!(html.contains("<td>&lt;b&gt;</td><td>2</td>"), "{html}");
        // A cut file leaves out its cut last row.
        let cut = table("a,b\n1,2\n3,", b',', false);
        assert!(
            cut.contains("<td>1</td>") && !cut.contains("<td>3</td>"),
            "{cut}"
        );
    }

    #[test]
    fn json_is_pretty_printed_and_other_text_is_not() {
        assert_eq!(
            pretty_json(b"{\"a\":[1,2]}").as_deref(),
            Some("{\n  \"a\": [\n    1,\n    2\n  ]\n}")
        );
        assert_eq!(pretty_json(b"not json"), None);
    }
}
