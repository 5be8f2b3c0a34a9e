//! Fuzzing passes 1 and 2 with generated scripts: mutations of real scripts
//! (the golden cases, the shipped queries and stap's examples), token soup
//! from the stap vocabulary, and deep nesting. Every input must come back
//! as a tree or as diagnostics: no panic, no stack overflow, no hang.
//!
//! CI runs 20 000 inputs; the million-input run in BENCHMARKS.md is
//!   RETAP_FUZZ_CASES=1000000 cargo test --release -p retap-analyzer \
//!     --test stap_fuzz -- --nocapture

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use retap_analyzer::stap::elaborate::{elaborate, ElabOptions};
use retap_analyzer::stap::{self, PpEnv};

/// xorshift64*: deterministic, so a failure reproduces from its case number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const VOCAB: &[&str] = &[
    "probe",
    "global",
    "function",
    "if",
    "else",
    "for",
    "foreach",
    "in",
    "limit",
    "while",
    "break",
    "continue",
    "next",
    "return",
    "delete",
    "try",
    "catch",
    "private",
    "string",
    "long",
    "begin",
    "end",
    "syscall",
    "*",
    "read",
    "return",
    "timer",
    "ms",
    "s",
    "profile",
    "netdev",
    "receive",
    "kernel",
    "function",
    "trace",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ";",
    ".",
    "=",
    "+=",
    "-=",
    ".=",
    "<<<",
    "++",
    "--",
    "+",
    "-",
    "/",
    "%",
    "<<",
    ">>",
    "&",
    "|",
    "^",
    "~",
    "!",
    "&&",
    "||",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "=~",
    "!~",
    "?",
    ":",
    "@count",
    "@sum",
    "@avg",
    "@min",
    "@max",
    "@variance",
    "@hist_log",
    "@hist_linear",
    "@entry",
    "@defined",
    "@cast",
    "@define",
    "$1",
    "@1",
    "$#",
    "$fd",
    "%(",
    "%?",
    "%:",
    "%)",
    "%{",
    "%}",
    "x",
    "y",
    "a",
    "s",
    "name",
    "fd",
    "length",
    "retval",
    "execname()",
    "pid()",
    "printf",
    "print",
    "\"%d\\n\"",
    "\"str\"",
    "0",
    "1",
    "42",
    "0x10",
    "-1",
    "18446744073709551615",
    "99999999999999999999",
    "\"",
    "#",
    "//",
    "/*",
    "*/",
    "\n",
    "kernel_v",
    "arch",
    "\"x86_64\"",
    "exit()",
    "@hist_log(s)",
    "a[x]",
    "[x, y]",
];

fn corpus() -> Vec<String> {
    let mut v = vec![];
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for f in ["grammar.txt", "errors.txt", "elaborate.txt"] {
        let text = std::fs::read_to_string(golden.join(f)).unwrap();
        for case in text.split("=== ").skip(1) {
            let body = case.split_once('\n').map(|x| x.1).unwrap_or("");
            v.push(body.split("\n---\n").next().unwrap_or("").to_string());
        }
    }
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries");
    for e in std::fs::read_dir(queries).unwrap() {
        v.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    let examples = Path::new("/usr/share/systemtap/examples");
    if let Ok(dirs) = std::fs::read_dir(examples) {
        for d in dirs.flatten() {
            if let Ok(files) = std::fs::read_dir(d.path()) {
                for f in files.flatten() {
                    if f.path().extension().is_some_and(|x| x == "stp") {
                        v.extend(std::fs::read_to_string(f.path()).ok());
                    }
                }
            }
        }
    }
    v
}

fn generate(rng: &mut Rng, corpus: &[String]) -> String {
    match rng.below(10) {
        0..=5 => {
            // Mutate a real script at the byte or token level.
            let mut s: Vec<u8> = corpus[rng.below(corpus.len())].clone().into_bytes();
            for _ in 0..1 + rng.below(6) {
                if s.is_empty() {
                    break;
                }
                let at = rng.below(s.len());
                match rng.below(6) {
                    0 => s[at] = (rng.next() & 0x7f) as u8,
                    1 => {
                        let n = rng.below(16).min(s.len() - at);
                        s.drain(at..at + n);
                    }
                    2 => {
                        let tok = VOCAB[rng.below(VOCAB.len())].as_bytes();
                        s.splice(at..at, tok.iter().copied().chain([b' ']));
                    }
                    3 => s.truncate(at),
                    4 => {
                        let n = rng.below(32).min(s.len() - at);
                        let chunk: Vec<u8> = s[at..at + n].to_vec();
                        s.splice(at..at, chunk);
                    }
                    _ => s.insert(at, b"{}()[]\"%$@"[rng.below(10)]),
                }
            }
            String::from_utf8_lossy(&s).into_owned()
        }
        6..=7 => {
            let n = 1 + rng.below(60);
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(VOCAB[rng.below(VOCAB.len())]);
                s.push(if rng.below(4) == 0 { '\n' } else { ' ' });
            }
            s
        }
        8 => {
            // Deep nesting of one construct.
            let depth = 50 + rng.below(5000);
            let (open, close) = [
                ("(", ")"),
                ("{", "}"),
                ("-", ""),
                ("!", ""),
                ("%( $# > 0 %?", "%)"),
                ("[", "]"),
                // Chains: parsed by a loop, deep only as trees.
                ("1 + ", ""),
                ("\"s\" . ", ""),
            ][rng.below(8)];
            format!(
                "probe begin {{ x = {}1{} }}",
                open.repeat(depth),
                close.repeat(depth)
            )
        }
        _ => {
            // Valid scripts glued together.
            let mut s = String::new();
            for _ in 0..1 + rng.below(4) {
                s.push_str(&corpus[rng.below(corpus.len())]);
                s.push('\n');
            }
            s
        }
    }
}

#[test]
fn frontend_survives_generated_inputs() {
    let cases: u64 = std::env::var("RETAP_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let corpus = corpus();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2) as u64;
    let started = Instant::now();
    let results: Vec<(u64, Duration, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let corpus = &corpus;
                s.spawn(move || {
                    let mut slowest = Duration::ZERO;
                    let mut failures = vec![];
                    let mut parsed = 0u64;
                    let env = PpEnv {
                        macros: Default::default(),
                        kernel_release: "6.18.0".into(),
                        arch: "x86_64".into(),
                        args: vec!["1".into(), "read".into()],
                    };
                    let opts = ElabOptions::no_trace("x86_64");
                    let mut i = t;
                    while i < cases {
                        let mut rng = Rng(
                            0x9E37_79B9_7F4A_7C15 ^ (i + 1).wrapping_mul(0xA24B_AED4_963E_E407)
                        );
                        let input = generate(&mut rng, corpus);
                        let t0 = Instant::now();
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            let (p, diags) = stap::parse("fuzz.stp", &input, &env);
                            if diags.is_empty() {
                                let _ = elaborate(&p.script, &opts);
                                return true;
                            }
                            // Rendering must not panic either.
                            let _ = stap::source::render_all(&diags, &p.map);
                            false
                        }));
                        let took = t0.elapsed();
                        slowest = slowest.max(took);
                        match r {
                            Ok(ok) => parsed += u64::from(ok),
                            Err(_) => failures.push(format!("case {i} panicked on:\n{input}")),
                        }
                        if took > Duration::from_secs(2) {
                            failures.push(format!("case {i} took {took:?}:\n{input}"));
                        }
                        i += threads;
                    }
                    (parsed, slowest, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let parsed: u64 = results.iter().map(|r| r.0).sum();
    let slowest = results.iter().map(|r| r.1).max().unwrap_or_default();
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.2).collect();
    eprintln!(
        "{cases} generated inputs in {:.1?} ({parsed} parsed cleanly and went through pass 2); slowest {slowest:?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .take(3)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
