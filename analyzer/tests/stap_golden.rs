//! Golden tests for the front end, kept as readable case files under
//! tests/golden/: `=== name`, the script, `---`, the expected output.
//! grammar.txt holds -p1's canonical form (which must also parse back to
//! the same tree), errors.txt the exact diagnostics of bad scripts, and
//! elaborate.txt -p2's output. `RETAP_BLESS=1 cargo test` rewrites the
//! expected parts after a deliberate change; review the diff.

use retap_analyzer::stap::elaborate::{elaborate, pretty, ElabOptions};
use retap_analyzer::stap::printer::print_script;
use retap_analyzer::stap::source::render_all;
use retap_analyzer::stap::{self, PpEnv};

mod common;

use common::{load, Case};

fn env() -> PpEnv {
    PpEnv {
        macros: Default::default(),
        kernel_release: "6.18.44-fc-v657".into(),
        arch: "x86_64".into(),
        args: vec!["7".into(), "read".into(), "x".into()],
    }
}

fn run_golden(file: &str, f: impl Fn(&Case) -> String) {
    let (_, cases) = load(file);
    let actual: Vec<String> = cases.iter().map(&f).collect();
    common::check(file, &actual, |_| false);
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
    let opts = ElabOptions::no_trace("x86_64");
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
        let opts = ElabOptions::no_trace("x86_64");
        let (prog, errors, _) = elaborate(&p.script, &opts);
        if !errors.is_empty() {
            return render_all(&errors, &p.map);
        }
        pretty::render(&prog, &p.script)
    });
}
