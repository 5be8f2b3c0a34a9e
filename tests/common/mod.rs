//! Helpers shared by the CLI tests (each test crate uses some of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The retap binary, as the tests run it: with plan failures fatal, so a
/// plan that fails fails the test instead of falling back to the
/// interpreter with a warning.
pub fn retap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_retap"));
    c.env("RETAP_STRICT_PLANS", "1");
    c
}

/// Runs retap from the repository root: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = retap()
        .args(args)
        .current_dir(root())
        .output()
        .expect("run retap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs retap with `args`, which must fail as a script error does (exit
/// 1) saying `said` on stderr.
pub fn refused(args: &[&str], said: &str) {
    let (code, _, err) = run(args);
    assert_eq!(code, 1, "{args:?}: {err}");
    assert!(err.contains(said), "{args:?}:\n{err}");
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Rows of a DuckDB query over a dataset (tables as views; `$start` and
/// `$stop10` are where scripts' time begins, the manifest's attached_ns
/// or else start_ns, and 10 s later), fields joined by '|'.
/// None when DuckDB is missing (setup.sh installs it), with why; under CI
/// that fails the test.
pub fn duck(dataset: &str, sql: &str) -> Option<Vec<String>> {
    duck_at(&root().join("datasets").join(dataset), sql)
}

/// [`duck`] over the trace in `dir`.
pub fn duck_at(dir: &Path, sql: &str) -> Option<Vec<String>> {
    let script = r#"
import duckdb, json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "trace.json")))
con = duckdb.connect()
for t in os.listdir(d):
    p = os.path.join(d, t)
    if os.path.isdir(p) and any(f.endswith('.parquet') for f in os.listdir(p)):
        # Tracepoint tables (SYSTEM.EVENT) by event name, as retap sql names them.
        name = t.split('.', 1)[-1]
        con.sql(f"create view {name} as select * from read_parquet('{p}/*.parquet', file_row_number=true, filename='file')")
begin = max(m.get("attached_ns", m["start_ns"]), m["start_ns"])
sql = sys.argv[2].replace("$start", str(begin)).replace("$stop10", str(begin + 10_000_000_000))
for row in con.sql(sql).fetchall():
    print('|'.join('NULL' if v is None else str(v) for v in row))
"#;
    duck_python(script, dir, sql)
}

/// Runs a DuckDB `script` with `dir` and `sql` as its arguments: the rows
/// it prints. None when DuckDB is missing (failing under CI).
pub fn duck_python(script: &str, dir: &Path, sql: &str) -> Option<Vec<String>> {
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(sql)
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'duckdb'") {
            retap_testkit::skip_without(
                "DuckDB",
                "python3 -m pip install duckdb; scripts/setup.sh does",
            );
            return None;
        }
        panic!("duckdb: {err}");
    }
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
    )
}

pub use retap_testkit::copy_dir;

pub fn dataset(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets")
        .join(name)
}

/// A copy of a shipped dataset with its manifest edited.
pub fn copy_with_manifest(
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&dataset(name), dir.path());
    let mpath = dir.path().join("trace.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&mpath).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&mpath, m.to_string()).unwrap();
    dir
}

/// SQL over the syscalls table for stap's view of a row: the name
/// `syscall.*` gives it (`getdents64` is getdents) and whether `syscall.*`
/// fires on it at all (stap 4.8 has no alias for clone3, rseq, ...). Taken
/// from retap's syscall table, which analyzer/tests/syscall_tapset.rs holds
/// to stap's own sources.
pub fn stap_syscall_sql() -> (String, String) {
    use retap_analyzer::stap::elaborate::syscall_args;
    let mut name = String::from("case syscall");
    for (kernel, stap) in syscall_args::renamed() {
        name.push_str(&format!(" when '{kernel}' then '{stap}'"));
    }
    name.push_str(" else syscall end");
    let none: Vec<String> = syscall_args::NO_ALIAS
        .iter()
        .map(|s| format!("'{s}'"))
        .collect();
    (name, format!("syscall not in ({})", none.join(", ")))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// retap-workload (a child with known calls), built beside retap by
/// `cargo test --workspace`.
pub fn workload() -> std::path::PathBuf {
    let w = Path::new(env!("CARGO_BIN_EXE_retap"))
        .parent()
        .unwrap()
        .join("retap-workload");
    assert!(
        w.exists(),
        "{} is missing: build the workspace (cargo test --workspace)",
        w.display()
    );
    w
}

/// The SQL tests' queries over datasets/mixed and web: DuckDB's answers
/// (sql_cli) and a local session's (cluster_cli) are the references.
pub const SQL_QUERIES: &[&str] = &[
    "SELECT execname, count(*) AS n FROM syscalls GROUP BY 1 ORDER BY 2 DESC, 1",
    "SELECT syscall, count(*), sum(dur_ns), min(dur_ns), max(dur_ns) FROM syscalls WHERE ret < 0 GROUP BY 1 ORDER BY 1",
    "SELECT count(*), count(ret), count(DISTINCT pid), count(DISTINCT tid) FROM syscalls",
    "SELECT dev_name, direction, count(*), sum(length), avg(length) FROM net GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT devname, rwbs, count(*), sum(bytes) FROM block GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT p.filename, count(*) AS n FROM syscalls s JOIN processes p ON s.pid = p.pid AND p.event = 'exec' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "SELECT execname, n, rank() OVER (ORDER BY n DESC) AS r FROM (SELECT execname, count(*) AS n FROM syscalls GROUP BY 1) t ORDER BY r, execname",
    "SELECT floor((ts - (SELECT min(ts) FROM syscalls)) / 1e9) AS sec, count(*) FROM syscalls GROUP BY 1 ORDER BY 1",
    "SELECT syscall, avg(dur_ns) FROM syscalls WHERE dur_ns IS NOT NULL GROUP BY 1 HAVING count(*) > 100 ORDER BY 1",
    "SELECT event, count(*) FILTER (WHERE exit_code IS NOT NULL), count(*) FROM processes GROUP BY 1 ORDER BY 1",
    // String functions a DuckDB user reaches for (DataFusion's unicode set).
    "SELECT execname, length(execname), substr(execname, 2, 3), upper(left(execname, 2)), strpos(execname, 'o') FROM syscalls GROUP BY 1 ORDER BY 1",
    // Lists: the stacks (DataFusion's nested set).
    "SELECT count(*), sum(array_length(kstack)), sum(array_length(ustack)) FROM samples",
];

/// The shipped queries/ scripts, one of each kind their plans take: keyed
/// counts and sums, statistics, both histograms, guards, timers.
pub const QUERY_SCRIPTS: &[&str] = &[
    "queries/profile.stp",
    "queries/syscall_latency.stp",
    "queries/nethist.stp",
    "queries/net.stp",
    "queries/sync_count.stp",
    "queries/syslog_profile.stp",
];
