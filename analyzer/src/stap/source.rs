//! Script text, byte spans into it, and diagnostics that point back at it.
//!
//! Every diagnostic renders the way stap's do — kind, message, what was seen,
//! `file:line:col` — followed by the source line and a caret, so that a user
//! can find the fault without counting columns.

use std::fmt::Write as _;

/// A byte range in one source file. Spans never decide whether two trees are
/// the same program (see the `PartialEq` impl): the round-trip test compares
/// a parse of the canonical print with the original, whose layouts differ.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub file: u32,
    pub lo: u32,
    pub hi: u32,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl Span {
    pub fn new(file: u32, lo: usize, hi: usize) -> Span {
        Span {
            file,
            lo: lo as u32,
            hi: hi as u32,
        }
    }
    pub fn to(self, end: Span) -> Span {
        Span {
            file: self.file,
            lo: self.lo,
            hi: end.hi.max(self.lo),
        }
    }
}

pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (columns count characters, as stap's do).
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        (line + 1, col)
    }

    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map(|e| e - 1)
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches('\r')
    }
}

/// All the text a run has seen: the script file or `-e` text, and the
/// synthetic sources that command-line arguments are lexed from.
#[derive(Default)]
pub struct SourceMap {
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> u32 {
        self.files.push(SourceFile::new(name.into(), text.into()));
        (self.files.len() - 1) as u32
    }

    pub fn file(&self, id: u32) -> &SourceFile {
        &self.files[id as usize]
    }

    pub fn location(&self, span: Span) -> String {
        let f = self.file(span.file);
        let (l, c) = f.line_col(span.lo as usize);
        format!("{}:{}:{}", f.name, l, c)
    }

    pub fn snippet(&self, span: Span) -> &str {
        let f = self.file(span.file);
        let lo = (span.lo as usize).min(f.text.len());
        let hi = (span.hi as usize).clamp(lo, f.text.len());
        &f.text[lo..hi]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    ParseError,
    SemanticError,
    Warning,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::ParseError => "parse error",
            Severity::SemanticError => "semantic error",
            Severity::Warning => "WARNING",
        }
    }
}

/// One problem in a script, with where it is.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// stap's "saw: operator '{'" — what the parser found instead.
    pub saw: Option<String>,
    pub span: Span,
}

impl Diagnostic {
    pub fn parse(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::ParseError,
            message: message.into(),
            saw: None,
            span,
        }
    }
    pub fn semantic(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::SemanticError,
            message: message.into(),
            saw: None,
            span,
        }
    }
    pub fn warning(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            saw: None,
            span,
        }
    }

    /// `parse error: expected ')' saw: '{' at x.stp:4:17`, then the source
    /// line and a caret under the column.
    pub fn render(&self, map: &SourceMap) -> String {
        let mut out = String::new();
        let _ = write!(out, "{}: {}", self.severity.label(), self.message);
        if let Some(saw) = &self.saw {
            let _ = write!(out, " saw: {saw}");
        }
        let f = map.file(self.span.file);
        let (line, col) = f.line_col(self.span.lo as usize);
        let _ = writeln!(out, " at {}:{}:{}", f.name, line, col);
        let (text, caret) = excerpt(f.line_text(line), col - 1);
        let _ = writeln!(out, "     source: {text}");
        let _ = writeln!(out, "             {}^", " ".repeat(caret));
        out
    }
}

/// Lines wider than this are shown as a window around the column.
const WIDEST_LINE: usize = 160;

/// The line as shown under a diagnostic (tabs as spaces, as stap does)
/// and the caret's column in it. A very long line (a generated script's)
/// is cut to [`WIDEST_LINE`] characters around the column, marked `...`
/// where cut, so an error does not print megabytes.
fn excerpt(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line
        .chars()
        .map(|c| if c == '\t' { ' ' } else { c })
        .collect();
    if chars.len() <= WIDEST_LINE {
        return (chars.into_iter().collect(), col);
    }
    let from = col
        .saturating_sub(WIDEST_LINE / 2)
        .min(chars.len() - WIDEST_LINE);
    let to = from + WIDEST_LINE;
    let mut text = String::new();
    let mut caret = col - from;
    if from > 0 {
        text.push_str("...");
        caret += 3;
    }
    text.extend(&chars[from..to]);
    if to < chars.len() {
        text.push_str("...");
    }
    (text, caret)
}

/// Renders every diagnostic and stap's closing count ("2 parse errors.").
pub fn render_all(diags: &[Diagnostic], map: &SourceMap) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.render(map));
    }
    let parse = diags
        .iter()
        .filter(|d| d.severity == Severity::ParseError)
        .count();
    let sem = diags
        .iter()
        .filter(|d| d.severity == Severity::SemanticError)
        .count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if parse > 0 {
        let _ = writeln!(out, "{parse} parse error{}.", plural(parse));
    }
    if sem > 0 {
        let _ = writeln!(out, "{sem} semantic error{}.", plural(sem));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_lands_under_the_column() {
        let mut m = SourceMap::default();
        let id = m.add("x.stp", "probe begin {\n  if (x {\n}");
        let d = Diagnostic {
            saw: Some("'{'".into()),
            ..Diagnostic::parse("expected ')'", Span::new(id, 22, 23))
        };
        assert_eq!(
            d.render(&m),
            "parse error: expected ')' saw: '{' at x.stp:2:9\n     source:   if (x {\n                     ^\n"
        );
    }
}
