//! Pass 1a: characters to tokens. Comments (`#`, `//`, `/* */`) vanish,
//! string escapes are decoded here, and `%{ ... %}` embedded C becomes one
//! token so the parser can refuse it with a clear message.

use super::source::{Diagnostic, Span};

#[derive(Clone, Debug, PartialEq)]
pub enum TokKind {
    Ident,
    /// The number's source text; the parser converts (and range-checks) it.
    Number,
    /// Decoded string contents.
    Str,
    Op,
    /// `%{ ... %}` (the text between the delimiters).
    Embedded,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: TokKind,
    pub text: String,
    pub span: Span,
    /// Whitespace or a comment came between this token and the previous one;
    /// probe point components glue adjacent tokens (`syscall.open*`).
    pub spaced: bool,
    /// A newline came before this token: declarations that start a line are
    /// where the parser resynchronises after an error.
    pub line_start: bool,
}

impl Token {
    pub fn is_op(&self, op: &str) -> bool {
        self.kind == TokKind::Op && self.text == op
    }
    pub fn is_ident(&self, name: &str) -> bool {
        self.kind == TokKind::Ident && self.text == name
    }
    /// How stap shows a token after "saw:".
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            TokKind::Ident if is_keyword(&self.text) => "keyword",
            TokKind::Ident => "identifier",
            TokKind::Number => "number",
            TokKind::Str => "string",
            TokKind::Op => "operator",
            TokKind::Embedded => "embedded-code",
        };
        let shown = match self.kind {
            TokKind::Str => escape_for_display(&self.text),
            TokKind::Embedded => "%{...%}".to_string(),
            _ => self.text.clone(),
        };
        format!("{kind} '{shown}'")
    }
}

pub fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "probe"
            | "global"
            | "function"
            | "if"
            | "else"
            | "for"
            | "foreach"
            | "in"
            | "limit"
            | "return"
            | "delete"
            | "while"
            | "break"
            | "continue"
            | "next"
            | "string"
            | "long"
            | "try"
            | "catch"
            | "private"
    )
}

fn escape_for_display(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                o.push_str(&format!("\\{:03o}", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// Quotes a string as a stap literal that lexes back to the same contents.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", escape_for_display(s))
}

const OPS3: [&str; 3] = ["<<<", "<<=", ">>="];
const OPS2: [&str; 26] = [
    "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "&=", "^=", "|=", ".=", "&&", "||", "++",
    "--", "->", "<<", ">>", "=~", "!~", "%(", "%?", "%:", "%)",
];
const OPS1: &str = "+-*/%&|^~!<>=?:.,;()[]{}";

/// Lexes one source file. Errors are collected, not fatal: the lexer skips
/// the bad character and goes on so that later errors are reported too.
pub fn lex(file: u32, text: &str, diags: &mut Vec<Diagnostic>) -> Vec<Token> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let mut spaced = true;
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            spaced = true;
            line_start |= c == b'\n';
            i += 1;
            continue;
        }
        if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            spaced = true;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let start = i;
            i += 2;
            loop {
                if i + 1 >= b.len() {
                    diags.push(Diagnostic::parse(
                        "unterminated comment",
                        Span::new(file, start, start + 2),
                    ));
                    i = b.len();
                    break;
                }
                if b[i] == b'*' && b[i + 1] == b'/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
            spaced = true;
            continue;
        }
        let start = i;
        let at_line_start = std::mem::take(&mut line_start);
        let tok = |kind, text: String, end: usize, spaced| Token {
            kind,
            text,
            span: Span::new(file, start, end),
            spaced,
            line_start: at_line_start,
        };
        if c == b'%' && b.get(i + 1) == Some(&b'{') {
            let body_start = i + 2;
            match text[body_start..].find("%}") {
                Some(off) => {
                    let end = body_start + off + 2;
                    out.push(tok(
                        TokKind::Embedded,
                        text[body_start..body_start + off].to_string(),
                        end,
                        spaced,
                    ));
                    i = end;
                }
                None => {
                    diags.push(Diagnostic::parse(
                        "embedded code block is missing its closing '%}'",
                        Span::new(file, start, start + 2),
                    ));
                    i = b.len();
                }
            }
            spaced = false;
            continue;
        }
        if (c == b'$' || c == b'@') && b.get(i + 1) == Some(&b'#') {
            out.push(tok(
                TokKind::Ident,
                text[i..i + 2].to_string(),
                i + 2,
                spaced,
            ));
            i += 2;
            spaced = false;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'@' {
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            out.push(tok(TokKind::Ident, text[start..i].to_string(), i, spaced));
            spaced = false;
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(tok(TokKind::Number, text[start..i].to_string(), i, spaced));
            spaced = false;
            continue;
        }
        if c == b'"' {
            match lex_string(text, i + 1) {
                Ok((s, end)) => {
                    out.push(tok(TokKind::Str, s, end, spaced));
                    i = end;
                }
                Err(end) => {
                    diags.push(Diagnostic::parse(
                        "Could not find matching closing quote",
                        Span::new(file, start, start + 1),
                    ));
                    i = end;
                }
            }
            spaced = false;
            continue;
        }
        let rest = &text[i..];
        if let Some(op) = OPS3
            .iter()
            .chain(OPS2.iter())
            .find(|op| rest.starts_with(**op))
        {
            out.push(tok(TokKind::Op, op.to_string(), i + op.len(), spaced));
            i += op.len();
            spaced = false;
            continue;
        }
        if OPS1.as_bytes().contains(&c) {
            out.push(tok(TokKind::Op, (c as char).to_string(), i + 1, spaced));
            i += 1;
            spaced = false;
            continue;
        }
        let ch = rest.chars().next().unwrap_or('?');
        diags.push(Diagnostic::parse(
            format!("unexpected character '{}'", ch.escape_default()),
            Span::new(file, i, i + ch.len_utf8()),
        ));
        i += ch.len_utf8();
        spaced = true;
    }
    out
}

/// Decodes a string body starting after the opening quote. Returns the
/// contents and the index after the closing quote, or the index where the
/// line ended without one.
fn lex_string(text: &str, mut i: usize) -> Result<(String, usize), usize> {
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' => return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\n' => return Err(i),
            b'\\' if i + 1 < b.len() => {
                let e = b[i + 1];
                i += 2;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'v' => out.push(11),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'\\' | b'"' | b'\'' | b'?' => out.push(e),
                    b'\n' => {}
                    b'0'..=b'7' => {
                        let mut v: u32 = (e - b'0') as u32;
                        let mut n = 1;
                        while n < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                            v = v * 8 + (b[i] - b'0') as u32;
                            i += 1;
                            n += 1;
                        }
                        out.push(v as u8);
                    }
                    b'x' => {
                        let mut v: u32 = 0;
                        let mut n = 0;
                        while n < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                            v = v * 16 + (b[i] as char).to_digit(16).unwrap_or(0);
                            i += 1;
                            n += 1;
                        }
                        if n == 0 {
                            out.push(b'x');
                        } else {
                            out.push(v as u8);
                        }
                    }
                    // stap (like C compilers) drops the backslash of an
                    // unknown escape: "a\qb" is "aqb".
                    other => out.push(other),
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err(i)
}

/// Converts a number token's text as stap does: decimal, `0x` hex, leading-0
/// octal, parsed as unsigned 64-bit and reinterpreted (so
/// 18446744073709551615 is -1). `None` when invalid or out of range.
pub fn parse_number(s: &str) -> Option<i64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().map(|v| v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(TokKind, String)> {
        let mut d = vec![];
        let t = lex(0, s, &mut d);
        assert!(d.is_empty(), "{d:?}");
        t.into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn longest_operator_wins() {
        let t: Vec<_> = kinds("a <<< b <<= c << d")
            .into_iter()
            .map(|t| t.1)
            .collect();
        assert_eq!(t, ["a", "<<<", "b", "<<=", "c", "<<", "d"]);
    }

    #[test]
    fn escapes_decode() {
        let t = kinds(r#""a\qb\n\x41\101\t\"""#);
        assert_eq!(t[0].1, "aqb\nAA\t\"");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("18446744073709551615"), Some(-1));
        assert_eq!(parse_number("0x1F"), Some(31));
        assert_eq!(parse_number("017"), Some(15));
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("18446744073709551616"), None);
        assert_eq!(parse_number("12ab"), None);
        assert_eq!(parse_number("08"), None);
    }
}
