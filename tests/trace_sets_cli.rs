//! Many traces as one: a directory (or bucket prefix) holding traces is a
//! set, and `retap sql` shows each table as the union over it with `host`
//! and `trace` columns. Checked against DuckDB over the same files, locally
//! and through a real S3-compatible server.

mod common;

use std::path::Path;
use std::process::Command;

use retap_testkit::S3Server;

/// A set of three shipped traces on two hosts: web1/mixed, web2/base-1,
/// web2/reads2x (hosts written into the copies' manifests).
fn fleet() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (host, dataset, name) in [
        ("web1", "mixed", "mixed"),
        ("web2", "diff/base-1", "base-1"),
        ("web2", "diff/reads2x", "reads2x"),
    ] {
        let to = dir.path().join(host).join(name);
        common::copy_dir(&common::dataset(dataset), &to);
        let m = to.join("trace.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
        v["host"] = serde_json::Value::String(host.into());
        std::fs::write(&m, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    dir
}

/// Rows of DuckDB's answer to `sql` (fields joined by '|'), with `$set`
/// replaced by the set's directory. None when DuckDB is missing.
fn duck(set: &Path, sql: &str) -> Option<Vec<String>> {
    let script = r#"
import duckdb, sys
sql = sys.argv[2].replace("$set", sys.argv[1])
for row in duckdb.connect().sql(sql).fetchall():
    print('|'.join('NULL' if v is None else str(v) for v in row))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(set)
        .arg(sql)
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'duckdb'") {
            retap_testkit::skip_without("DuckDB", "python3 -m pip install duckdb");
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

/// retap sql's CSV rows (header dropped), fields joined by '|'.
fn rows(out: &str) -> Vec<String> {
    out.lines().skip(1).map(|l| l.replace(',', "|")).collect()
}

const BY_TRACE: &str = "SELECT host, trace, execname, count(*) AS n, sum(dur_ns) AS d FROM syscalls GROUP BY host, trace, execname ORDER BY host, trace, execname";

/// The same question of DuckDB: the trace is the file's directory under
/// the set, the host what the trace's manifest says (its first part here).
const DUCK_BY_TRACE: &str = "SELECT split_part(t, '/', 1) AS host, t AS trace, execname, count(*), sum(dur_ns) FROM (SELECT regexp_extract(filename, '^$set/(.*)/syscalls/[^/]*$', 1) AS t, execname, dur_ns FROM read_parquet('$set/*/*/syscalls/*.parquet', filename=true)) GROUP BY ALL ORDER BY 1, 2, 3";

fn check_set(arg: &str, dir: &Path, env: &dyn Fn(&mut Command)) {
    let mut c = common::retap();
    env(&mut c);
    let out = c
        .args(["sql", "--format", "csv", arg, BY_TRACE])
        .current_dir(common::root())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let ours = rows(&String::from_utf8_lossy(&out.stdout));
    let Some(theirs) = duck(dir, DUCK_BY_TRACE) else {
        return;
    };
    assert_eq!(ours, theirs);
    assert!(ours.iter().any(|r| r.starts_with("web1|web1/mixed|")));
    assert!(ours.iter().any(|r| r.starts_with("web2|web2/reads2x|")));
    // The tables only the mixed trace recorded are said, once.
    assert!(
        err.contains("tables in 1 of 3 traces only: block, net, samples"),
        "{err}"
    );

    let mut c = common::retap();
    env(&mut c);
    let out = c
        .args([
            "sql",
            "--format",
            "csv",
            arg,
            "SELECT trace, host, format_version FROM manifest ORDER BY trace",
        ])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(
        rows(&String::from_utf8_lossy(&out.stdout)),
        [
            "web1/mixed|web1|1",
            "web2/base-1|web2|1",
            "web2/reads2x|web2|1"
        ]
    );
}

#[test]
fn a_directory_of_traces_is_one_set_in_sql() {
    let set = fleet();
    let arg = set.path().to_str().unwrap();
    check_set(arg, set.path(), &|_| {});
    // Named, next to a single trace.
    let (code, out, err) = common::run(&[
        "sql",
        "--format",
        "csv",
        &format!("fleet={arg}"),
        "one=datasets/mixed",
        "SELECT (SELECT count(*) FROM fleet.net) AS a, (SELECT count(*) FROM one.net) AS b, (SELECT count(DISTINCT host) FROM fleet.syscalls) AS c",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rows(&out), ["17224|17224|2"]);
}

#[test]
fn a_prefix_of_traces_is_one_set_in_sql() {
    let Some(s3) = S3Server::start(&["fleet"]) else {
        return;
    };
    let set = fleet();
    for t in ["web1/mixed", "web2/base-1", "web2/reads2x"] {
        let mut c = common::retap();
        s3.env(&mut c);
        let out = c
            .args(["push"])
            .arg(set.path().join(t))
            .arg(format!("s3://fleet/prod/{t}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    check_set("s3://fleet/prod", set.path(), &|c| s3.env(c));
    let mut c = common::retap();
    s3.env(&mut c);
    let out = c
        .args(["sql", "s3://fleet/nothing", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no trace there"),
        "{out:?}"
    );
}

#[test]
fn a_directory_without_traces_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    let (code, _, err) = common::run(&["sql", dir.path().to_str().unwrap(), "SELECT 1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no traces there (no trace.json at any depth)"),
        "{err}"
    );
}
