//! Pass 5 golden cases (tests/golden/run.txt): stdout, stderr and exit
//! status of each script, run in-process over no trace or a shipped
//! dataset. `RETAP_BLESS=1` rewrites the expected parts; review the diff
//! (the printf matrix is generated with independent expectations by
//! tools/gen_printf_cases.py, not blessed).

use std::path::Path;

use retap_analyzer::runtime::{self, Limits, RunOptions};
use retap_analyzer::stap::elaborate::{elaborate, ElabOptions};
use retap_analyzer::stap::source::render_all;
use retap_analyzer::stap::{self, PpEnv};
use retap_analyzer::trace::Trace;

mod common;

/// Runs a case as `retap run` would; returns stdout + stderr + status.
pub fn run_case(name: &str, input: &str) -> String {
    let mut trace_name = None;
    let mut args: Vec<String> = vec![];
    let mut defines = vec![];
    for line in input.lines() {
        if let Some(t) = line.strip_prefix("# trace: ") {
            trace_name = Some(t.trim().to_string());
        } else if let Some(a) = line.strip_prefix("# args: ") {
            args = a.split_whitespace().map(String::from).collect();
        } else if let Some(d) = line.strip_prefix("# define: ") {
            let (k, v) = d.trim().split_once('=').unwrap();
            defines.push((k.to_string(), v.to_string()));
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let trace = trace_name.map(|t| Trace::open(&root.join("datasets").join(t)).unwrap());
    let env = PpEnv {
        macros: Default::default(),
        kernel_release: "6.18.0".into(),
        arch: "x86_64".into(),
        args,
    };
    let (p, diags) = stap::parse(&format!("{name}.stp"), input, &env);
    if !diags.is_empty() {
        return format!("--- stderr\n{}", render_all(&diags, &p.map));
    }
    let sigs = None;
    let opts = ElabOptions {
        arch: "x86_64".into(),
        signatures: sigs,
        tables: trace
            .as_ref()
            .map(|t| t.tables.iter().map(|f| f.table).collect()),
        syscall_strings: false,
        socket_addresses: false,
        ..ElabOptions::no_trace("x86_64")
    };
    let (prog, errors, _) = elaborate(&p.script, &opts);
    if !errors.is_empty() {
        return format!("--- stderr\n{}", render_all(&errors, &p.map));
    }
    let mut out: Vec<u8> = vec![];
    let outcome = {
        let sink: Box<dyn std::io::Write> = Box::new(&mut out);
        let limits = Limits::from_defines(&defines).unwrap();
        runtime::run(
            &prog,
            &p.map,
            trace.as_ref(),
            &RunOptions {
                limits,
                seed: 1,
                ..Default::default()
            },
            sink,
        )
        .unwrap()
    };
    let mut s = String::from_utf8_lossy(&out).into_owned();
    if !outcome.stderr.is_empty() {
        s.push_str("--- stderr\n");
        for l in &outcome.stderr {
            s.push_str(l);
        }
    }
    if outcome.errors > 0 {
        s.push_str("--- exit 1\n");
    }
    s
}

#[test]
fn pass5_golden_cases() {
    let (_, cases) = common::load("run.txt");
    let actual: Vec<String> = cases.iter().map(|c| run_case(&c.name, &c.input)).collect();
    // The printf matrix keeps its independent expectations when blessing.
    common::check("run.txt", &actual, |c| c.name == "printf_matrix");
}
