//! retap's floating-point tapset against stap's own: systemtap-common's
//! runtime/softfloat.c (what stap's `fp_*` functions call) compiled here
//! with the C compiler as an oracle (tests/softfloat/oracle.c includes it)
//! and asked the same questions as `runtime::softfloat`: special values,
//! thousands of random bit patterns and decimals, every rounding mode,
//! `fp_to_string`'s precisions and `string_to_fp`'s texts.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use retap_analyzer::runtime::softfloat as sf;

const RUNTIME: &str = "/usr/share/systemtap/runtime";

fn compiler() -> Option<&'static str> {
    ["cc", "gcc", "clang"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn specials() -> Vec<u64> {
    let mut v: Vec<u64> = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        2.5,
        -2.5,
        3.5,
        0.1,
        0.96,
        3.0,
        7.0,
        10.0,
        123456.789,
        -987.654321,
        std::f64::consts::PI,
        std::f64::consts::E,
        1e-5,
        1e-300,
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::INFINITY,
        f64::NEG_INFINITY,
        9_223_372_036_854_775_808.0,
        -9_223_372_036_854_775_808.0,
        9_223_372_036_854_774_784.0,
        4503599627370496.5,
        1e15 + 0.25,
    ]
    .iter()
    .map(|x: &f64| x.to_bits())
    .collect();
    v.extend([
        1,                     // the smallest subnormal
        0x7FF8_0000_0000_0000, // quiet NaN
        0xFFF8_0000_0000_0001, // negative quiet NaN, a payload
        0x7FF0_0000_0000_0001, // signaling NaN
        0xFFF4_0000_0000_0000, // negative signaling NaN
    ]);
    v
}

/// Values: the specials, random bit patterns, and random "ordinary"
/// numbers (an integer over a power of ten).
fn values(rng: &mut Rng, n: usize) -> Vec<u64> {
    let mut v = specials();
    for _ in 0..n {
        v.push(rng.next());
        let int = (rng.next() % 2_000_000_000) as i64 - 1_000_000_000;
        let scale = 10f64.powi((rng.next() % 12) as i32);
        v.push((int as f64 / scale).to_bits());
    }
    v
}

#[test]
fn the_floating_point_tapset_computes_what_stap_s_runtime_does() {
    let Some(cc) = compiler() else {
        return retap_testkit::skip_without("a C compiler", "the oracle is stap's C runtime");
    };
    if !Path::new(RUNTIME).join("softfloat.c").exists() {
        return retap_testkit::skip_without(
            "systemtap-common's runtime",
            "setup.sh installs systemtap-common",
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("oracle");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/softfloat/oracle.c");
    let built = Command::new(cc)
        .args(["-O2", "-w", "-I", RUNTIME, "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let vals = values(&mut rng, 1500);
    // (question for the oracle, retap's answer)
    let mut cases: Vec<(String, String)> = vec![];
    let hex = |v: u64| format!("{v:016x}");
    for (i, &a) in vals.iter().enumerate() {
        let b = vals[(i * 7 + 3) % vals.len()];
        for (op, r) in [
            ("add", sf::add(a, b)),
            ("sub", sf::sub(a, b)),
            ("mul", sf::mul(a, b)),
            ("div", sf::div(a, b)),
            ("rem", sf::rem(a, b)),
        ] {
            cases.push((format!("{op} {a:x} {b:x}"), hex(r)));
        }
        for (op, r) in [
            ("eq", sf::eq(a, b)),
            ("le", sf::le(a, b)),
            ("lt", sf::lt(a, b)),
        ] {
            cases.push((format!("{op} {a:x} {b:x}"), (r as i32).to_string()));
        }
        cases.push((format!("sqrt {a:x}"), hex(sf::sqrt(a))));
        cases.push((format!("eq {a:x} {a:x}"), (sf::eq(a, a) as i32).to_string()));
        for mode in [0u64, 1, 2, 3, 4, 5, 6, 7, 256] {
            cases.push((
                format!("toi64 {a:x} {mode:x}"),
                sf::to_i64(a, mode as i64).to_string(),
            ));
        }
        cases.push((format!("fromi64 {a:x}"), hex(sf::from_i64(a as i64))));
        cases.push((format!("f32 {:x}", a as u32), hex(sf::f32_to_f64(a as i64))));
        for prec in [-1i64, 0, 1, 2, 3, 6, 12] {
            cases.push((
                format!("tostr {a:x} {:x}", prec as u64),
                sf::to_string(a, prec, 511),
            ));
        }
    }
    // Remainders whose quotient is halfway between two integers (ties to
    // even), and other exact edges.
    for (x, y) in [
        (5.0f64, 2.0f64),
        (7.0, 2.0),
        (3.0, 2.0),
        (1.0, 2.0),
        (-5.0, 2.0),
        (-7.0, 2.0),
        (9.0, -2.0),
        (0.5, 1.0),
        (1.5, 1.0),
        (2.5, 1.0),
        (-2.5, 1.0),
        (6.0, 4.0),
        (10.0, 4.0),
        (1e300, 3.0),
        (f64::MAX, f64::MAX / 3.0),
        (f64::MAX, 0.75 * f64::MAX),
        (4.0, f64::INFINITY),
        (-0.0, 1.0),
    ] {
        let (a, b) = (x.to_bits(), y.to_bits());
        cases.push((format!("rem {a:x} {b:x}"), hex(sf::rem(a, b))));
    }
    let mut texts: Vec<String> = [
        "",
        "-",
        "+",
        ".",
        "0",
        "1",
        "-1.5",
        "3.25e2",
        "1e-5",
        "1E+3",
        "12.5e-2",
        "abc",
        "1.2.3",
        "1e",
        "1e+",
        "9999999999999999999999",
        "1e400",
        "1e-400",
        "0.000001",
        "-0",
        " 1",
        "1 ",
        "0.1",
        "123456789.987654321",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..1000 {
        let int = rng.next() % 1_000_000_000;
        let frac = rng.next() % 1_000_000;
        let exp = (rng.next() % 40) as i64 - 20;
        texts.push(format!("{int}.{frac:06}"));
        texts.push(format!("-{int}.{frac}e{exp}"));
    }
    for t in &texts {
        let want = match sf::from_str(t) {
            Some(v) => hex(v),
            None => "invalid".into(),
        };
        cases.push((format!("fromstr {t}"), want));
    }

    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = cases.iter().map(|(q, _)| format!("{q}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(got.len(), cases.len());
    let wrong: Vec<String> = cases
        .iter()
        .zip(&got)
        .filter(|((_, ours), theirs)| ours != *theirs)
        .map(|((q, ours), theirs)| format!("{q}: stap {theirs}, retap {ours}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong[..wrong.len().min(40)].join("\n")
    );
}
