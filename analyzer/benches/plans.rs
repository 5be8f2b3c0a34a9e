//! One script over one trace, run again and again inside one warm process:
//! retap's time for a query the way an embedded engine's is measured
//! (DuckDB's `duckdb.sql(...)` in a Python process that already has DuckDB
//! loaded). Everything from the script's text to its last output byte is
//! inside the timing — passes 1–5, the DataFusion session, reading the
//! Parquet footers and schemas, planning and execution — only the process
//! start and the dynamic loader are not. `benches/plan_bench.py` runs it
//! next to DuckDB; the fresh-process figures stay in that table too.
//!
//!   cargo bench -p retap-analyzer --bench plans -- [--interpret-only] SCRIPT TRACE [REPEAT]
//!
//! `--interpret-only` times the interpreter the same way, so the two engines
//! of retap are compared like for like too.
//!
//! Prints `best_seconds median_seconds` on stdout. Every run's output must
//! equal the first's, or the bench fails.

use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use retap_analyzer::run::{run, Note, RunRequest};

fn main() {
    let interpret_only = std::env::args().any(|a| a == "--interpret-only");
    // cargo bench passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let (script, trace) = match (args.first(), args.get(1)) {
        (Some(s), Some(t)) => (PathBuf::from(s), PathBuf::from(t)),
        _ => {
            eprintln!(
                "usage: cargo bench -p retap-analyzer --bench plans -- [--interpret-only] SCRIPT TRACE [REPEAT]"
            );
            std::process::exit(2);
        }
    };
    let repeat: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(10);
    // On tmpfs where there is one: truncating a file on a disk took 140 us
    // a run, more than `retap run` spends writing to its stdout.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let out = dir.join(format!("retap-plans-bench-{}.out", std::process::id()));
    let req = RunRequest {
        script_path: Some(script),
        trace: Some(trace),
        output: Some(out.clone()),
        last_pass: 5,
        interpret_only,
        // A plan that fails would time the interpreter instead.
        strict_plans: true,
        ..Default::default()
    };
    let mut first: Option<Vec<u8>> = None;
    let mut times = vec![];
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let mut notes = |n: Note| {
            if let Note::Warning(w) = n {
                eprintln!("WARNING: {w}");
            }
        };
        if let Err(e) = run(&req, &mut notes) {
            eprintln!("{}", e.message);
            std::process::exit(1);
        }
        times.push(t.elapsed().as_secs_f64());
        let got = std::fs::read(&out).expect("the run's output file");
        match &first {
            None => first = Some(got),
            Some(f) => assert!(*f == got, "a repeated run printed something else"),
        }
    }
    let _ = std::fs::remove_file(&out);
    times.sort_by(f64::total_cmp);
    println!("{:.6} {:.6}", times[0], times[times.len() / 2]);
}
