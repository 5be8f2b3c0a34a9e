//! `retap sql`: results equal DuckDB's over the same Parquet files, the
//! stap helpers agree with the interpreter, errors are one clear line, and
//! the shell loop (piped, as a terminal session would feed it) keeps going
//! after errors.

use std::io::Write;
use std::process::{Command, Stdio};

mod common;
use common::{copy_with_manifest, duck, root};

fn retap_in(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = common::retap()
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run retap");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn retap(args: &[&str]) -> (i32, String, String) {
    retap_in(args, "")
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = retap(args);
    assert_eq!(code, 0, "retap {args:?}: {err}");
    out
}

/// What the reference interpreter prints for `script` over a dataset.
fn interpret(dataset: &str, script: &str) -> String {
    ok(&[
        "run",
        "--trace",
        &format!("datasets/{dataset}"),
        "--interpret-only",
        "-e",
        script,
    ])
}

/// retap's CSV rows (header dropped), fields joined by '|'.
fn retap_rows(dataset: &str, sql: &str) -> Vec<String> {
    let out = ok(&[
        "sql",
        &format!("datasets/{dataset}"),
        "--format",
        "csv",
        sql,
    ]);
    out.lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>().join("|"))
        .collect()
}

fn same_field(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

#[test]
fn results_equal_duckdbs_on_the_same_files() {
    for dataset in ["mixed", "web"] {
        for q in common::SQL_QUERIES {
            let Some(want) = duck(dataset, q) else { return };
            let got = retap_rows(dataset, q);
            assert_eq!(
                got.len(),
                want.len(),
                "{dataset}: {q}\nretap {got:?}\nduckdb {want:?}"
            );
            assert!(!got.is_empty(), "{dataset}: {q} returned nothing");
            for (g, w) in got.iter().zip(&want) {
                let (gf, wf): (Vec<&str>, Vec<&str>) =
                    (g.split('|').collect(), w.split('|').collect());
                assert!(
                    gf.len() == wf.len() && gf.iter().zip(&wf).all(|(a, b)| same_field(a, b)),
                    "{dataset}: {q}\nretap  {g}\nduckdb {w}"
                );
            }
        }
    }
}

#[test]
fn helpers_agree_with_the_interpreter_and_the_recorder() {
    // errno_str(ret) groups exactly as stap's errno_str(retval) does.
    let sql = retap_rows(
        "mixed",
        "SELECT errno_str(ret) AS e, count(*) FROM syscalls WHERE ret < 0 GROUP BY 1 ORDER BY 1",
    );
    let stap = interpret(
        "mixed",
        "global e probe syscall.*.return { if (retval < 0) e[errno_str(retval)]++ } \
         probe end { foreach (k+ in e) printf(\"%s|%d\\n\", k, e[k]) }",
    );
    assert!(sql.len() >= 3, "{sql:?}");
    assert_eq!(sql.join("\n") + "\n", stap);

    // hist_log_bucket(v) puts every value in the row @hist_log prints it in.
    let sql = retap_rows(
        "mixed",
        "SELECT hist_log_bucket(length) AS b, count(*) FROM net GROUP BY 1 ORDER BY 1",
    );
    let stap = interpret(
        "mixed",
        "global h probe netdev.transmit, netdev.receive { h <<< length } probe end { print(@hist_log(h)) }",
    );
    let rows: Vec<String> = stap
        .lines()
        .filter_map(|l| {
            let (v, rest) = l.split_once('|')?;
            let count = rest.trim_start_matches('@').trim();
            let v = v.trim();
            (v.parse::<i64>().is_ok() && count != "0").then(|| format!("{v}|{count}"))
        })
        .collect();
    assert!(rows.len() >= 3, "{stap}");
    assert_eq!(sql, rows);

    // syscall_name(nr) names every row as the recorder did; wall_time is
    // ts plus the manifest's clock offset, to the nanosecond.
    for ds in ["mixed", "web", "make-libbpf"] {
        let r = retap_rows(
            ds,
            "SELECT count(*) FILTER (WHERE syscall_name(nr) <> syscall), \
                    count(*) FILTER (WHERE CAST(wall_time(ts) AS BIGINT) <> ts + (SELECT wall_clock_offset_ns FROM manifest)), \
                    count(*) FILTER (WHERE abs(trace_secs(ts) - (ts - (SELECT start_ns FROM manifest)) / 1e9) > 1e-6), \
                    count(*) FROM syscalls",
        );
        let f: Vec<&str> = r[0].split('|').collect();
        assert_eq!(&f[..3], &["0", "0", "0"], "{ds}: {r:?}");
        assert_ne!(f[3], "0");
    }
}

#[test]
fn errors_are_one_clear_line_and_the_exit_status_is_1() {
    for (sql, want) in [
        ("SELEC 1", "Error: syntax error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"),
        ("SELECT * FROM nope", "Error: unknown table nope (tables: syscalls, processes, net, block, samples, vfs, uprobes, manifest, manifest_tables)"),
        ("SELECT nope FROM syscalls", "Error: No field named nope."),
        ("SELECT errno_str('x')", "Error:"),
    ] {
        let (code, out, err) = retap(&["sql", "datasets/mixed", sql]);
        assert_eq!(code, 1, "{sql}");
        assert_eq!(out, "", "{sql}");
        assert_eq!(err.lines().count(), 1, "{sql}: {err}");
        assert!(err.starts_with(want), "{sql}: {err}");
    }
    let (code, _, err) = retap(&["sql", "no/such/dir", "SELECT 1"]);
    assert_eq!(code, 1);
    assert_eq!(err, "retap sql: no/such/dir: no such trace directory\n");
    let (code, _, err) = retap(&["sql", "datasets/mixed", "--format", "parquet", "SELECT 1"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "retap sql: --format parquet writes a file: give it with -o FILE"
    );
}

#[test]
fn the_shell_loop_runs_dot_commands_multiline_statements_and_survives_errors() {
    let input = ".tables\n.schema net\nSELECT count(*)\n  FROM net;\nSELECT bad;\n.nonsense\n\
                 .format csv\nSELECT 1 AS x; SELECT 'a;b' AS y;\n.timer on\nSELECT 2 AS z;\n.timer off\n\
                 .format json\nSELECT 3 AS w\n";
    let (code, out, err) = retap_in(&["sql", "datasets/mixed"], input);
    assert_eq!(code, 1, "two statements failed");
    assert_eq!(
        err,
        "Error: No field named bad.\nError: unknown command .nonsense (.help lists them)\n"
    );
    assert!(out.starts_with(
        "block  manifest  manifest_tables  net  processes  samples  syscalls  uprobes  vfs\n"
    ));
    assert!(
        out.contains("│ length      │ uint32      │ NO      │"),
        "{out}"
    );
    assert!(out.contains("│    17224 │"), "{out}");
    assert!(
        out.contains("x\n1\ny\na;b\nz\n2\nRun Time (s): real "),
        "{out}"
    );
    assert!(out.ends_with("[{\"w\":3}]\n"), "{out}");
}

#[test]
fn several_traces_are_schemas_and_outputs_round_trip() {
    let out = ok(&[
        "sql",
        "base=datasets/mixed",
        "new=datasets/web",
        "--format",
        "csv",
        "SELECT (SELECT count(*) FROM base.syscalls) AS b, (SELECT count(*) FROM new.syscalls) AS n, \
                (SELECT host FROM new.manifest) AS h",
    ]);
    let want_b: u64 = ok(&[
        "sql",
        "datasets/mixed",
        "--format",
        "csv",
        "SELECT count(*) FROM syscalls",
    ])
    .lines()
    .nth(1)
    .unwrap()
    .parse()
    .unwrap();
    let row: Vec<&str> = out.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[0].parse::<u64>().unwrap(), want_b);
    assert!(row[1].parse::<u64>().unwrap() > 100_000);

    // Parquet out, read back by DuckDB.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("o.parquet");
    ok(&[
        "sql",
        "datasets/mixed",
        "--format",
        "parquet",
        "-o",
        p.to_str().unwrap(),
        "SELECT execname, count(*) AS n FROM syscalls GROUP BY 1",
    ]);
    let want = duck(
        "mixed",
        "SELECT execname, count(*) AS n FROM syscalls GROUP BY 1 ORDER BY 2 DESC, 1",
    );
    if let Some(want) = want {
        let got = duck(
            "mixed",
            &format!("SELECT * FROM '{}' ORDER BY 2 DESC, 1", p.display()),
        )
        .unwrap();
        assert_eq!(got, want);
    }

    // Long results are elided with a note, as DuckDB does.
    let out = ok(&[
        "sql",
        "datasets/mixed",
        "SELECT ts FROM syscalls ORDER BY ts",
    ]);
    assert!(out.contains("│ 39413 rows (40 shown)  1 column │"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains('·')).count(), 3);
    let out = ok(&[
        "sql",
        "datasets/mixed",
        "--max-rows",
        "0",
        "SELECT ts FROM syscalls",
    ]);
    assert_eq!(out.lines().count(), 39413 + 5);
}

/// The interactive shell on a real terminal (a pty from Python's pty
/// module): prompts, a statement over two lines, an error that leaves the
/// session alive, .timer, Ctrl-D, and the history file.
#[test]
fn the_interactive_shell_on_a_terminal() {
    let driver = r#"
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "sql", "datasets/mixed"])
out = b""
def drain(t):
    global out
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
for line in [b"SELECT count(*)\r", b"  FROM net;\r", b"SELECT nope;\r", b".timer on\r", b"SELECT 41 + 1 AS answer;\r", b"\x04"]:
    drain(1.0)
    os.write(fd, line)
drain(3)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.stdout.write("\nEXIT %d\n" % os.waitstatus_to_exitcode(status))
"#;
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args(["-c", driver, env!("CARGO_BIN_EXE_retap")])
        .env("HOME", home.path())
        .current_dir(root())
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("retap sql over mixed"), "{text}");
    assert!(
        text.contains("retap> ") && text.contains("   ...> "),
        "{text}"
    );
    assert!(text.contains("│    17224 │"), "{text}");
    assert!(text.contains("Error: No field named nope."), "{text}");
    assert!(
        text.contains("│     42 │") && text.contains("Run Time (s): real "),
        "{text}"
    );
    // One statement failed: the exit status says so, as in non-interactive use.
    assert!(text.trim_end().ends_with("EXIT 1"), "{text}");
    let history = std::fs::read_to_string(home.path().join(".retap_history")).unwrap();
    assert!(history.contains("SELECT 41 + 1 AS answer;"), "{history}");
}

/// Torn and unreadable files are named and left out, every intact row is
/// still queried, and the recording's losses are shown.
#[test]
fn damage_and_losses_are_shown_and_intact_rows_still_queried() {
    let dir = copy_with_manifest("mixed", |m| {
        m["tables"]["syscalls"]["dropped"] = 123.into();
    });
    std::fs::write(
        dir.path().join("syscalls/part-000009.parquet.tmp"),
        b"PAR1 half",
    )
    .unwrap();
    std::fs::write(dir.path().join("syscalls/part-000010.parquet"), b"garbage").unwrap();
    let (code, out, err) = retap(&[
        "sql",
        dir.path().to_str().unwrap(),
        "--format",
        "csv",
        "SELECT count(*) AS n FROM syscalls",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "n\n39413\n");
    assert!(err.contains("part-000009.parquet.tmp: torn"), "{err}");
    assert!(
        err.contains("part-000010.parquet: unreadable Parquet file"),
        "{err}"
    );
    assert!(
        err.contains("WARNING: 123 events lost: syscalls 123 (ring buffer full)"),
        "{err}"
    );
    let (_, out, _) = retap(&[
        "sql",
        dir.path().to_str().unwrap(),
        "--format",
        "csv",
        "SELECT table_name, dropped FROM manifest_tables WHERE dropped > 0",
    ]);
    assert_eq!(out, "table_name,dropped\nsyscalls,123\n");
}
