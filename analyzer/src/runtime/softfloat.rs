//! stap 4.8's floating-point tapset (`fp_*`, `string_to_fp`, ...): doubles
//! carried in longs as their bit patterns, computed as stap's runtime
//! computes them with Berkeley SoftFloat in its specialization (default
//! NaN 0x7FF8000000000000, NaN operands propagated with signaling ones
//! quieted, float-to-int overflow to the extreme of its sign and NaN to
//! 0), and its own decimal conversions, quirks kept: `fp_to_string` rounds
//! the last digit without carrying (0.96 to one place is "0.10") and
//! shifts as x86 does for exponents it was not written for.
//!
//! Arithmetic on non-NaN operands is IEEE 754 with round-to-nearest-even,
//! which the machine's own f64 gives exactly as SoftFloat does; what the
//! hardware would do differently (its default NaN, NaN propagation) is
//! decided here. `analyzer/tests/softfloat.rs` holds it to stap's runtime
//! source compiled as an oracle.

/// SoftFloat's default NaN in stap's specialization.
pub const DEFAULT_NAN: u64 = 0x7FF8_0000_0000_0000;
const QUIET: u64 = 0x0008_0000_0000_0000;

fn is_nan(a: u64) -> bool {
    (a & 0x7FF0_0000_0000_0000) == 0x7FF0_0000_0000_0000 && (a & 0x000F_FFFF_FFFF_FFFF) != 0
}

fn is_signaling(a: u64) -> bool {
    (a & 0x7FF8_0000_0000_0000) == 0x7FF0_0000_0000_0000 && (a & 0x0007_FFFF_FFFF_FFFF) != 0
}

/// SoftFloat's NaN propagation: a signaling operand, quieted, first;
/// else the first NaN.
fn propagate(a: u64, b: u64) -> u64 {
    if is_signaling(a) || is_signaling(b) {
        return (if is_signaling(a) { a } else { b }) | QUIET;
    }
    if is_nan(a) {
        a
    } else {
        b
    }
}

fn binary(a: u64, b: u64, f: impl Fn(f64, f64) -> f64) -> u64 {
    if is_nan(a) || is_nan(b) {
        return propagate(a, b);
    }
    let r = f(f64::from_bits(a), f64::from_bits(b));
    // (an invalid operation: inf - inf, 0 * inf, 0 / 0, inf / inf)
    if r.is_nan() {
        DEFAULT_NAN
    } else {
        r.to_bits()
    }
}

pub fn add(a: u64, b: u64) -> u64 {
    binary(a, b, |x, y| x + y)
}

pub fn sub(a: u64, b: u64) -> u64 {
    binary(a, b, |x, y| x - y)
}

pub fn mul(a: u64, b: u64) -> u64 {
    binary(a, b, |x, y| x * y)
}

pub fn div(a: u64, b: u64) -> u64 {
    binary(a, b, |x, y| x / y)
}

/// IEEE 754 remainder: x - n*y with n the integer nearest x/y, ties to
/// even; exact.
pub fn rem(a: u64, b: u64) -> u64 {
    if is_nan(a) || is_nan(b) {
        return propagate(a, b);
    }
    let (x, y) = (f64::from_bits(a), f64::from_bits(b));
    if x.is_infinite() || y == 0.0 {
        return DEFAULT_NAN;
    }
    if y.is_infinite() {
        return a;
    }
    let ay = y.abs();
    // |x| mod 2|y| (fmod is exact) says the quotient's parity.
    let twice = 2.0 * ay;
    let a1 = if twice.is_finite() {
        x.abs() % twice
    } else {
        x.abs()
    };
    let (mut r, odd) = if a1 >= ay {
        (a1 - ay, true)
    } else {
        (a1, false)
    };
    // r in [0, |y|): round the quotient to nearest, ties to even.
    let half_up = if r > ay - r { true } else { r == ay - r && odd };
    if half_up {
        r -= ay;
    }
    let r = if x.is_sign_negative() { -r } else { r };
    r.to_bits()
}

pub fn sqrt(a: u64) -> u64 {
    if is_nan(a) {
        return propagate(a, 0);
    }
    let x = f64::from_bits(a);
    if x < 0.0 {
        return DEFAULT_NAN;
    }
    x.sqrt().to_bits()
}

pub fn eq(a: u64, b: u64) -> bool {
    f64::from_bits(a) == f64::from_bits(b)
}

pub fn le(a: u64, b: u64) -> bool {
    f64::from_bits(a) <= f64::from_bits(b)
}

pub fn lt(a: u64, b: u64) -> bool {
    f64::from_bits(a) < f64::from_bits(b)
}

/// `f64_to_i64(a, mode, exact)`: SoftFloat's rounding modes (0 nearest
/// even, 1 toward zero, 2 down, 3 up, 4 nearest away from zero; any other
/// toward zero), the mode taken as a byte as stap casts it; overflow to the
/// extreme of the sign, NaN to 0. `exact` only raises a flag stap ignores.
pub fn to_i64(a: u64, mode: i64) -> i64 {
    if is_nan(a) {
        return 0;
    }
    let x = f64::from_bits(a);
    let r = match mode as u8 {
        0 => x.round_ties_even(),
        2 => x.floor(),
        3 => x.ceil(),
        4 => x.round(),
        _ => x.trunc(),
    };
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if r >= TWO_63 {
        i64::MAX
    } else if r < -TWO_63 {
        i64::MIN
    } else {
        r as i64
    }
}

pub fn from_i64(v: i64) -> u64 {
    (v as f64).to_bits()
}

/// `f32_to_f64` of the long's low 32 bits; a NaN keeps its sign and
/// payload, quieted.
pub fn f32_to_f64(v: i64) -> u64 {
    let a = v as u32;
    if (a & 0x7F80_0000) == 0x7F80_0000 && (a & 0x007F_FFFF) != 0 {
        let sign = u64::from(a >> 31) << 63;
        return sign | DEFAULT_NAN | ((u64::from(a) << 41) >> 12);
    }
    f64::from(f32::from_bits(a)).to_bits()
}

/// `fp_to_string(fp, precision)`: stap's runtime `f64_to_str`, whose
/// integer part is the significand shifted by the exponent (x86 takes
/// shift counts modulo 64, so numbers below 2^-11 or at and above 2^53
/// print what that makes) and whose last decimal is rounded from the next
/// one without carrying. `max` bounds the text (stap's MAXSTRINGLEN).
pub fn to_string(a: u64, precision: i64, max: usize) -> String {
    let sign = a >> 63 != 0;
    let biased = (a >> 52) & 0x7FF;
    let mut sig = a & 0x000F_FFFF_FFFF_FFFF;
    if biased != 0 {
        sig |= 0x0010_0000_0000_0000;
    }
    let exp = biased as i64 - 1023;
    let shift = (52 - exp).rem_euclid(64) as u32;
    let mut out = String::new();
    if sign {
        out.push('-');
    }
    out.push_str(&sig.wrapping_shr(shift).to_string());
    out.push('.');
    let base = 1u64.wrapping_shl(shift);
    let mut f = sig & base.wrapping_sub(1);
    let mut i = 0;
    while i < precision - 1 {
        i += 1;
        f = f.wrapping_mul(10);
        out.push_str(&(f / base).to_string());
        f %= base;
        if out.len() >= max {
            break;
        }
    }
    f = f.wrapping_mul(10);
    // (ints in stap's runtime, then printed as unsigned longs)
    let mut last = (f / base) as i32;
    f %= base;
    let mut after = 0i32;
    if f != 0 {
        f = f.wrapping_mul(10);
        after = (f / base) as i32;
    }
    if after >= 5 {
        last = last.wrapping_add(1);
    }
    out.push_str(&(last as i64 as u64).to_string());
    out.truncate(max);
    out
}

/// `string_to_fp`: stap's runtime `str_to_f64`, digit by digit in
/// doubles (value*10 + digit; the point's digits counted into a power of
/// ten; an exponent multiplying or dividing it by ten that many times).
/// None where stap reports "invalid format" (text left over).
pub fn from_str(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let ten = 10.0f64.to_bits();
    let mut i = 0;
    let sign = if at(0) == b'-' { -1i64 } else { 1 };
    if at(0) == b'-' || at(0) == b'+' {
        i += 1;
    }
    let mut value = 0u64; // (0.0's bits)
    while at(i).is_ascii_digit() {
        value = add(mul(value, ten), from_i64((at(i) - b'0') as i64));
        i += 1;
    }
    if at(i) == b'.' {
        i += 1;
    }
    let mut power = 1.0f64.to_bits();
    while at(i).is_ascii_digit() {
        value = add(mul(value, ten), from_i64((at(i) - b'0') as i64));
        power = mul(power, ten);
        i += 1;
    }
    if at(i) == b'e' || at(i) == b'E' {
        i += 1;
        let negative = at(i) == b'-';
        if at(i) == b'-' || at(i) == b'+' {
            i += 1;
        }
        let mut count = 0u64; // the exponent, as a double
        while at(i).is_ascii_digit() {
            count = add(mul(count, ten), from_i64((at(i) - b'0') as i64));
            i += 1;
        }
        // Ten that many times; once the power is 0 or infinite (after a
        // few hundred) more steps change nothing, so they stop there.
        let mut n = f64::from_bits(count);
        while n != 0.0 {
            power = if negative {
                mul(power, ten)
            } else {
                div(power, ten)
            };
            n -= 1.0;
            let p = f64::from_bits(power);
            if p == 0.0 || p.is_infinite() {
                break;
            }
        }
    }
    if i == b.len() {
        Some(mul(from_i64(sign), div(value, power)))
    } else {
        None
    }
}
