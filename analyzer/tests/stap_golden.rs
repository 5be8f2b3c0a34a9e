//! Golden tests for the front end, kept as readable case files under
//! tests/golden/: `=== name`, the script, `---`, the expected output.
//! grammar.txt holds -p1's canonical form (which must also parse back to
//! the same tree), errors.txt the exact diagnostics of bad scripts, and
//! elaborate.txt -p2's output. `RETAP_BLESS=1 cargo test` rewrites the
//! expected parts after a deliberate change; review the diff.

use std::path::Path;

use retap_analyzer::stap::elaborate::{elaborate, pretty, ElabOptions};
use retap_analyzer::stap::printer::print_script;
use retap_analyzer::stap::source::render_all;
use retap_analyzer::stap::{self, PpEnv};

struct Case {
    name: String,
    input: String,
    expected: String,
}

fn load(file: &str) -> (String, Vec<Case>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut header = String::new();
    let mut cases = vec![];
    let mut cur: Option<Case> = None;
    let mut in_expected = false;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("=== ") {
            if let Some(c) = cur.take() {
                cases.push(c);
            }
            cur = Some(Case {
                name: name.trim().to_string(),
                input: String::new(),
                expected: String::new(),
            });
            in_expected = false;
            continue;
        }
        match &mut cur {
            None => header.push_str(line),
            Some(c) if line == "---\n" && !in_expected => in_expected = true,
            Some(c) if in_expected => c.expected.push_str(line),
            Some(c) => c.input.push_str(line),
        }
    }
    cases.extend(cur);
    (header, cases)
}

fn bless(file: &str, header: &str, cases: &[Case], actual: &[String]) {
    let mut out = header.to_string();
    for (c, a) in cases.iter().zip(actual) {
        out.push_str(&format!("=== {}\n{}---\n{}", c.name, c.input, a));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    std::fs::write(path, out).unwrap();
}

fn env() -> PpEnv {
    PpEnv {
        kernel_release: "6.18.44-fc-v657".into(),
        arch: "x86_64".into(),
        args: vec!["7".into(), "read".into(), "x".into()],
    }
}

fn run_golden(file: &str, f: impl Fn(&Case) -> String) {
    let (header, cases) = load(file);
    let actual: Vec<String> = cases.iter().map(&f).collect();
    if std::env::var_os("RETAP_BLESS").is_some() {
        bless(file, &header, &cases, &actual);
        return;
    }
    let mut failures = vec![];
    for (c, a) in cases.iter().zip(&actual) {
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

#[test]
fn grammar_cases_print_canonically_and_round_trip() {
    let (_, cases) = load("grammar.txt");
    assert!(cases.len() >= 150, "{} grammar cases", cases.len());
    run_golden("grammar.txt", |c| {
        let (p, diags) = stap::parse(&format!("{}.stp", c.name), &c.input, &env());
        if !diags.is_empty() {
            return format!("UNEXPECTED ERRORS\n{}", render_all(&diags, &p.map));
        }
        let printed = print_script(&p.script);
        let (again, d2) = stap::parse("<canonical>", &printed, &env());
        if !d2.is_empty() || again.script != p.script {
            return format!("ROUND TRIP FAILED\n{printed}");
        }
        printed
    });
}

/// Pass 1, then (if clean) pass 2 with no trace; the rendered diagnostics.
fn diagnose(name: &str, input: &str) -> String {
    let (p, diags) = stap::parse(&format!("{name}.stp"), input, &env());
    if !diags.is_empty() {
        return render_all(&diags, &p.map);
    }
    let opts = ElabOptions {
        arch: "x86_64".into(),
        signatures: None,
        tables: None,
    };
    let (_, errors, _) = elaborate(&p.script, &opts);
    if errors.is_empty() {
        return "NO ERROR\n".into();
    }
    render_all(&errors, &p.map)
}

#[test]
fn bad_scripts_get_exact_messages() {
    let (_, cases) = load("errors.txt");
    assert!(cases.len() >= 50, "{} error cases", cases.len());
    run_golden("errors.txt", |c| diagnose(&c.name, &c.input));
    for c in &cases {
        assert!(
            !c.expected.starts_with("NO ERROR"),
            "{} must be an error",
            c.name
        );
    }
}

#[test]
fn elaborated_programs() {
    run_golden("elaborate.txt", |c| {
        let (p, diags) = stap::parse(&format!("{}.stp", c.name), &c.input, &env());
        if !diags.is_empty() {
            return render_all(&diags, &p.map);
        }
        let opts = ElabOptions {
            arch: "x86_64".into(),
            signatures: None,
            tables: None,
        };
        let (prog, errors, _) = elaborate(&p.script, &opts);
        if !errors.is_empty() {
            return render_all(&errors, &p.map);
        }
        pretty::render(&prog, &p.script)
    });
}
