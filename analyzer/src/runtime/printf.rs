//! printf as stap 4.8's runtime does it (runtime/vsprintf.c): every
//! integer is 64-bit, `%p` is `%#x`, `%#x` of 0 is `0x0`, `%#o` always
//! gets its leading 0, `%s` with the `0` flag emits a NUL, `%c` with `#`
//! escapes, `%b` writes raw little-endian bytes, a negative `*` width
//! left-justifies.

use crate::stap::elaborate::format::{Conv, Flags, Format, Piece, Width};

use super::value::Value;

/// Appends the formatted output as bytes (`%b` and `%c` can produce
/// non-UTF-8 bytes, which stap writes as they are).
pub fn format(fmt: &Format, args: &[Value], out: &mut Vec<u8>) {
    let mut next = args.iter();
    let mut arg = || next.next().cloned().unwrap_or(Value::Int(0));
    for p in &fmt.pieces {
        match p {
            Piece::Lit(s) => out.extend_from_slice(s.as_bytes()),
            Piece::Conv {
                flags,
                width,
                precision,
                conv,
            } => {
                let mut flags = *flags;
                let width: i64 = match width {
                    None => -1,
                    Some(Width::Fixed(n)) => *n as i64,
                    Some(Width::Star) => {
                        let mut w = arg().int();
                        if w < 0 {
                            w = w.saturating_neg();
                            flags.left = true;
                        }
                        w.min(MAX_FIELD)
                    }
                };
                let precision: i64 = match precision {
                    None => -1,
                    Some(Width::Fixed(n)) => *n as i64,
                    Some(Width::Star) => arg().int().clamp(0, MAX_FIELD),
                };
                match conv {
                    Conv::Percent => out.push(b'%'),
                    Conv::Str => string(arg().str().as_bytes(), width, precision, flags, out),
                    Conv::Memory(_) => string(arg().str().as_bytes(), width, precision, flags, out),
                    Conv::Char => character(arg().int() as u8, width, flags, out),
                    Conv::Binary => binary(arg().int(), width, precision, flags, out),
                    Conv::Signed => number(
                        arg().int() as u64,
                        10,
                        width,
                        precision,
                        flags,
                        true,
                        false,
                        out,
                    ),
                    Conv::Unsigned => number(
                        arg().int() as u64,
                        10,
                        width,
                        precision,
                        flags,
                        false,
                        false,
                        out,
                    ),
                    Conv::Octal => number(
                        arg().int() as u64,
                        8,
                        width,
                        precision,
                        flags,
                        false,
                        false,
                        out,
                    ),
                    Conv::HexLower => number(
                        arg().int() as u64,
                        16,
                        width,
                        precision,
                        flags,
                        false,
                        false,
                        out,
                    ),
                    Conv::HexUpper => number(
                        arg().int() as u64,
                        16,
                        width,
                        precision,
                        flags,
                        false,
                        true,
                        out,
                    ),
                    Conv::Pointer => {
                        flags.alt = true;
                        number(
                            arg().int() as u64,
                            16,
                            width,
                            precision,
                            flags,
                            false,
                            false,
                            out,
                        )
                    }
                }
            }
        }
    }
}

/// stap clamps widths to its print buffer (STP_BUFFER_SIZE, 8 KiB).
const MAX_FIELD: i64 = 8192;

#[allow(clippy::too_many_arguments)]
fn number(
    mut num: u64,
    base: u64,
    mut size: i64,
    mut precision: i64,
    mut flags: Flags,
    signed: bool,
    upper: bool,
    out: &mut Vec<u8>,
) {
    let digits: &[u8] = if upper {
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    } else {
        b"0123456789abcdefghijklmnopqrstuvwxyz"
    };
    if flags.left {
        flags.zero = false;
    }
    let pad = if flags.zero { b'0' } else { b' ' };
    let mut sign = 0u8;
    if signed {
        if (num as i64) < 0 {
            sign = b'-';
            num = (num as i64).wrapping_neg() as u64;
            size -= 1;
        } else if flags.plus {
            sign = b'+';
            size -= 1;
        } else if flags.space {
            sign = b' ';
            size -= 1;
        }
    }
    if flags.alt {
        if base == 16 {
            size -= 2;
        } else if base == 8 {
            size -= 1;
        }
    }
    let mut tmp = [0u8; 66];
    let mut i = 0usize;
    if num == 0 {
        tmp[0] = b'0';
        i = 1;
    } else {
        while num != 0 {
            tmp[i] = digits[(num % base) as usize];
            num /= base;
            i += 1;
        }
    }
    if i as i64 > precision {
        precision = i as i64;
    }
    size -= precision;
    if !(flags.zero || flags.left) {
        while size > 0 {
            out.push(b' ');
            size -= 1;
        }
    }
    if sign != 0 {
        out.push(sign);
    }
    if flags.alt {
        if base == 8 {
            out.push(b'0');
        } else if base == 16 {
            out.push(b'0');
            out.push(digits[33]);
        }
    }
    if !flags.left {
        while size > 0 {
            out.push(pad);
            size -= 1;
        }
    }
    while (i as i64) < precision {
        out.push(b'0');
        precision -= 1;
    }
    while i > 0 {
        i -= 1;
        out.push(tmp[i]);
    }
    while size > 0 {
        out.push(b' ');
        size -= 1;
    }
}

fn string(s: &[u8], width: i64, precision: i64, flags: Flags, out: &mut Vec<u8>) {
    let limit = if precision < 0 { MAX_FIELD } else { precision };
    // strnlen: a NUL inside the string ends it, as in C.
    let len = s
        .iter()
        .take(limit as usize)
        .position(|&b| b == 0)
        .unwrap_or_else(|| s.len().min(limit as usize));
    let mut w = width;
    if !flags.left {
        while (len as i64) < w {
            out.push(b' ');
            w -= 1;
        }
    }
    out.extend_from_slice(&s[..len]);
    while (len as i64) < w {
        out.push(b' ');
        w -= 1;
    }
    if flags.zero {
        out.push(0);
    }
}

fn char_size(c: u8, flags: Flags) -> i64 {
    let printable = (0x20..0x7f).contains(&c);
    if flags.alt && (!printable || c == b'\'' || c == b'\\') {
        match c {
            7 | 8 | 12 | b'\n' | b'\r' | b'\t' | 11 | b'\'' | b'\\' => 2,
            _ => 4,
        }
    } else {
        1
    }
}

fn character(c: u8, width: i64, flags: Flags, out: &mut Vec<u8>) {
    let size = char_size(c, flags);
    let mut w = width;
    if !flags.left {
        while w > size {
            out.push(b' ');
            w -= 1;
        }
    }
    if size == 1 {
        out.push(c);
    } else {
        out.push(b'\\');
        let esc = match c {
            7 => Some(b'a'),
            8 => Some(b'b'),
            12 => Some(b'f'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' => Some(b't'),
            11 => Some(b'v'),
            b'\'' => Some(b'\''),
            b'\\' => Some(b'\\'),
            _ => None,
        };
        match esc {
            Some(e) => out.push(e),
            None => {
                out.push(b'0' + ((c >> 6) & 3));
                out.push(b'0' + ((c >> 3) & 7));
                out.push(b'0' + (c & 7));
            }
        }
    }
    while w > size {
        out.push(b' ');
        w -= 1;
    }
}

fn binary_precision(p: i64) -> i64 {
    if matches!(p, -1 | 1 | 2 | 4 | 8) {
        p
    } else {
        -1
    }
}

fn binary(num: i64, mut width: i64, precision: i64, flags: Flags, out: &mut Vec<u8>) {
    let mut precision = binary_precision(precision);
    if width == -1 {
        if precision == -1 {
            width = 8;
            precision = 8;
        } else {
            width = precision;
        }
    } else if precision == -1 {
        precision = binary_precision(width);
        if precision == -1 {
            precision = 8;
        }
    }
    if !flags.left {
        while precision < width {
            out.push(0);
            width -= 1;
        }
    }
    let bytes = num.to_le_bytes();
    let n = match precision {
        1 | 2 | 4 => precision as usize,
        _ => 8,
    };
    out.extend_from_slice(&bytes[..n]);
    while precision >= 0 && width >= 0 && precision < width {
        out.push(0);
        width -= 1;
    }
}
