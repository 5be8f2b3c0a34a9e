//! Golden case files shared by the test suites: `=== name`, the input,
//! `---`, the expected output; text before the first case is a header.

use std::path::{Path, PathBuf};

pub struct Case {
    pub name: String,
    pub input: String,
    pub expected: String,
}

fn path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file)
}

pub fn load(file: &str) -> (String, Vec<Case>) {
    let text = std::fs::read_to_string(path(file)).unwrap();
    let mut header = String::new();
    let mut cases: Vec<Case> = vec![];
    let mut in_expected = false;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("=== ") {
            cases.push(Case {
                name: name.trim().into(),
                input: String::new(),
                expected: String::new(),
            });
            in_expected = false;
            continue;
        }
        match cases.last_mut() {
            None => header.push_str(line),
            Some(_) if line == "---\n" && !in_expected => in_expected = true,
            Some(c) if in_expected => c.expected.push_str(line),
            Some(c) => c.input.push_str(line),
        }
    }
    (header, cases)
}

/// Rewrites the file with `expected[i]` as case i's expected part.
pub fn bless(file: &str, header: &str, cases: &[Case], expected: &[&String]) {
    let mut out = header.to_string();
    for (c, a) in cases.iter().zip(expected) {
        out.push_str(&format!("=== {}\n{}---\n{}", c.name, c.input, a));
    }
    std::fs::write(path(file), out).unwrap();
}

/// Compares every case, or rewrites the file under RETAP_BLESS=1.
pub fn check(file: &str, actual: &[String], keep_expected: impl Fn(&Case) -> bool) {
    let (header, cases) = load(file);
    if std::env::var_os("RETAP_BLESS").is_some() {
        let exp: Vec<&String> = cases
            .iter()
            .zip(actual)
            .map(|(c, a)| if keep_expected(c) { &c.expected } else { a })
            .collect();
        bless(file, &header, &cases, &exp);
        return;
    }
    let mut failures = vec![];
    for (c, a) in cases.iter().zip(actual) {
        if *a != c.expected {
            failures.push(format!(
                "case {}:\n--- expected\n{}--- actual\n{}",
                c.name, c.expected, a
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n{} of {} cases differ",
        failures.join("\n"),
        failures.len(),
        cases.len()
    );
}
