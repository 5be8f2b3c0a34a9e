//! printf format strings, parsed once in pass 2 (so argument counts and
//! types are checked before anything runs, as stap does) and rendered by the
//! runtime.

use super::ir::Ty;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags {
    pub left: bool,
    pub plus: bool,
    pub space: bool,
    pub alt: bool,
    pub zero: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    Fixed(usize),
    /// `*`: taken from the argument list.
    Star,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    Signed,
    Unsigned,
    Octal,
    HexLower,
    HexUpper,
    Char,
    Str,
    Pointer,
    /// `%b`: the value's bytes, raw (width 1, 2, 4 or 8; default 8).
    Binary,
    /// `%m`/`%M`: kernel memory at an address; refused (nothing to read).
    Memory(bool),
    Percent,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Conv {
        flags: Flags,
        width: Option<Width>,
        precision: Option<Width>,
        conv: Conv,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Format {
    pub pieces: Vec<Piece>,
}

impl Format {
    /// The argument types this format consumes, in order (`*` widths are
    /// longs before their value).
    pub fn arg_types(&self) -> Vec<Ty> {
        let mut v = vec![];
        for p in &self.pieces {
            if let Piece::Conv {
                width,
                precision,
                conv,
                ..
            } = p
            {
                if *width == Some(Width::Star) {
                    v.push(Ty::Long);
                }
                if *precision == Some(Width::Star) {
                    v.push(Ty::Long);
                }
                match conv {
                    Conv::Percent => {}
                    Conv::Str | Conv::Memory(_) => v.push(Ty::Str),
                    _ => v.push(Ty::Long),
                }
            }
        }
        v
    }
}

/// Parses a format; the error says what is wrong, for a semantic error at
/// the format string.
pub fn parse(fmt: &str) -> Result<Format, String> {
    let b: Vec<char> = fmt.chars().collect();
    let mut pieces = vec![];
    let mut lit = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != '%' {
            lit.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i >= b.len() {
            return Err("format string ends with a lone '%'".into());
        }
        if b[i] == '%' {
            lit.push('%');
            i += 1;
            continue;
        }
        let mut flags = Flags::default();
        while i < b.len() {
            match b[i] {
                '-' => flags.left = true,
                '+' => flags.plus = true,
                ' ' => flags.space = true,
                '#' => flags.alt = true,
                '0' => flags.zero = true,
                _ => break,
            }
            i += 1;
        }
        let number = |i: &mut usize| -> Option<Width> {
            if *i < b.len() && b[*i] == '*' {
                *i += 1;
                return Some(Width::Star);
            }
            let start = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            if *i == start {
                None
            } else {
                let s: String = b[start..*i].iter().collect();
                Some(Width::Fixed(s.parse().unwrap_or(usize::MAX)))
            }
        };
        let width = number(&mut i);
        let mut precision = None;
        if i < b.len() && b[i] == '.' {
            i += 1;
            precision = Some(number(&mut i).unwrap_or(Width::Fixed(0)));
        }
        while i < b.len() && matches!(b[i], 'l' | 'L' | 'h' | 'z' | 'j' | 't') {
            i += 1;
        }
        let Some(&c) = b.get(i) else {
            return Err("format string ends inside a conversion".into());
        };
        i += 1;
        let conv = match c {
            'd' | 'i' => Conv::Signed,
            'u' => Conv::Unsigned,
            'o' => Conv::Octal,
            'x' => Conv::HexLower,
            'X' => Conv::HexUpper,
            'c' => Conv::Char,
            's' => Conv::Str,
            'p' => Conv::Pointer,
            'b' => Conv::Binary,
            'm' => Conv::Memory(false),
            'M' => Conv::Memory(true),
            other => return Err(format!("invalid or missing conversion specifier '{other}'")),
        };
        if for_width(width) > 4096 || for_width(precision) > 4096 {
            return Err("width or precision too large".into());
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(Piece::Conv {
            flags,
            width,
            precision,
            conv,
        });
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(Format { pieces })
}

fn for_width(w: Option<Width>) -> usize {
    match w {
        Some(Width::Fixed(n)) => n,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_width_precision() {
        let f = parse("a%-15s|%08.3x%%%*d").unwrap();
        assert_eq!(f.pieces.len(), 6);
        assert_eq!(f.arg_types(), vec![Ty::Str, Ty::Long, Ty::Long, Ty::Long]);
        assert!(parse("%q").is_err());
        assert!(parse("abc%").is_err());
        assert_eq!(parse("%lld%llu").unwrap().arg_types().len(), 2);
    }
}
