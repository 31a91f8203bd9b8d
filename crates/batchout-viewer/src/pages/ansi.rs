//! Terminal colours in logs, shown as colours: SGR escape sequences
//! (`ESC [ … m`) become spans with classes (the page's policy forbids
//! inline styles); every other escape sequence is dropped, and a carriage
//! return that redraws a line (a progress bar) shows what was drawn last.

use std::fmt::Write;

use super::html::Esc;

/// The colours and weight in effect, carried from line to line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn classes(&self) -> String {
        let mut classes = Vec::new();
        if let Some(fg) = self.fg {
            classes.push(format!("f{fg}"));
        }
        if let Some(bg) = self.bg {
            classes.push(format!("b{bg}"));
        }
        for (on, name) in [
            (self.bold, "bo"),
            (self.dim, "di"),
            (self.italic, "it"),
            (self.underline, "un"),
        ] {
            if on {
                classes.push(name.to_owned());
            }
        }
        classes.join(" ")
    }

    /// Applies the parameters of one SGR sequence.
    fn apply(&mut self, params: &str) {
        let mut codes = params.split([';', ':']).map(|p| {
            if p.is_empty() {
                0
            } else {
                p.parse::<u16>().unwrap_or(u16::MAX)
            }
        });
        while let Some(code) = codes.next() {
            match code {
                0 => *self = Self::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some((code - 30) as u8),
                90..=97 => self.fg = Some((code - 90 + 8) as u8),
                39 => self.fg = None,
                40..=47 => self.bg = Some((code - 40) as u8),
                100..=107 => self.bg = Some((code - 100 + 8) as u8),
                49 => self.bg = None,
                38 | 48 => {
                    // 256 colours (5;N) keep their first 16; true colour
                    // (2;R;G;B) is dropped, its values skipped.
                    let colour = match codes.next() {
                        Some(5) => codes.next().filter(|n| *n < 16).map(|n| n as u8),
                        Some(2) => {
                            codes.nth(2);
                            None
                        }
                        _ => None,
                    };
                    if code == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Appends `line` (one line, without its newline) to `out` as HTML, its
/// text escaped and its colours as spans; `style` is what the line starts
/// with, and is left as the line ends.
pub(crate) fn render_line(out: &mut String, line: &str, style: &mut Style) {
    // A carriage return redraws the line: what follows the last one is what
    // a terminal would show (unless nothing follows it).
    let line = line.trim_end_matches('\r');
    let line = line.rsplit('\r').next().unwrap_or(line);
    let mut open = false;
    let start_span = |out: &mut String, style: &Style, open: &mut bool| {
        if *open {
            out.push_str("</span>");
            *open = false;
        }
        let classes = style.classes();
        if !classes.is_empty() {
            let _ = write!(out, "<span class=\"{classes}\">");
            *open = true;
        }
    };
    start_span(out, style, &mut open);
    let mut rest = line;
    while let Some(at) = rest.find('\u{1b}') {
        let _ = write!(out, "{}", Esc(&rest[..at]));
        let after = &rest[at + 1..];
        rest = if let Some(csi) = after.strip_prefix('[') {
            // CSI: parameters and intermediates, then one final byte.
            let end = csi
                .find(|c: char| ('\u{40}'..='\u{7e}').contains(&c))
                .unwrap_or(csi.len());
            if csi[end..].starts_with('m') {
                style.apply(&csi[..end]);
                start_span(out, style, &mut open);
            }
            csi.get(end + 1..).unwrap_or("")
        } else if let Some(osc) = after.strip_prefix(']') {
            // OSC (a title, a hyperlink): up to BEL or ESC \.
            match osc.find(['\u{7}', '\u{1b}']) {
                Some(end) if osc[end..].starts_with('\u{1b}') => osc.get(end + 2..).unwrap_or(""),
                Some(end) => &osc[end + 1..],
                None => "",
            }
        } else {
            // A two-character escape.
            after
                .get(after.chars().next().map_or(0, char::len_utf8)..)
                .unwrap_or("")
        };
    }
    let _ = write!(out, "{}", Esc(rest));
    if open {
        out.push_str("</span>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(line: &str) -> String {
        let mut out = String::new();
        render_line(&mut out, line, &mut Style::default());
        out
    }

    #[test]
    fn colours_become_classes_and_text_stays_escaped() {
        assert_eq!(
            render("\u{1b}[1;31mERROR\u{1b}[0m <b>done</b>"),
            "<span class=\"f1 bo\">ERROR</span> &lt;b&gt;done&lt;/b&gt;"
        );
        assert_eq!(
            render("\u{1b}[92mok\u{1b}[39m"),
            "<span class=\"f10\">ok</span>"
        );
        assert_eq!(
            render("\u{1b}[38;5;4mblue"),
            "<span class=\"f4\">blue</span>"
        );
        assert_eq!(render("\u{1b}[38;2;1;2;3mrgb"), "rgb");
    }

    #[test]
    fn other_escapes_are_dropped_and_redraws_show_the_last() {
        assert_eq!(render("a\u{1b}[2Kb\u{1b}]0;title\u{7}c"), "abc");
        assert_eq!(render(" 10%\r 50%\r100%"), "100%");
        assert_eq!(render("line\r"), "line");
        assert_eq!(render("cut \u{1b}["), "cut ");
    }

    #[test]
    fn a_style_carries_to_the_next_line() {
        let mut style = Style::default();
        let mut out = String::new();
        render_line(&mut out, "\u{1b}[33mwarn", &mut style);
        out.clear();
        render_line(&mut out, "still", &mut style);
        assert_eq!(out, "<span class=\"f3\">still</span>");
    }
}
