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
    common::duck_python(script, set, sql)
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

    // The plans of `sql` over the set, as JSON.
    let plan_of = |sql: &str| {
        let mut c = common::retap();
        env(&mut c);
        let out = c
            .args(["sql", "--format", "json", arg, &format!("EXPLAIN {sql}")])
            .current_dir(common::root())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // One scan of every trace's files, each file's rows with its trace's
    // host and name, not a union of one scan per trace.
    let plan = plan_of("SELECT host, trace, count(*) FROM syscalls GROUP BY 1, 2");
    assert_eq!(plan.matches("DataSourceExec").count(), 1, "{plan}");
    assert!(!plan.contains("Union"), "{plan}");
    // Whose files' statistics answer a count without reading a row.
    let plan = plan_of("SELECT count(*), min(ts) FROM syscalls");
    assert!(plan.contains("PlaceholderRowExec"), "{plan}");
    assert!(!plan.contains("DataSourceExec"), "{plan}");

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
        err.contains(
            "no traces there (no trace.json here or below: is this a retap trace directory?)"
        ),
        "{err}"
    );
}

/// Three runs of one workload on hosts a, b, c, their clocks set so that
/// each began 50 ms after the one before: their events interleave in
/// wall-clock time. Returns the set and each trace's (host, directory,
/// wall-clock offset).
fn overlapping() -> (tempfile::TempDir, Vec<(String, std::path::PathBuf, i64)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![];
    let mut first_wall = None;
    for (i, host) in ["a", "b", "c"].iter().enumerate() {
        let to = dir.path().join(host).join("run");
        common::copy_dir(&common::dataset(&format!("diff/base-{}", i + 1)), &to);
        let m = to.join("trace.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
        let start = v["start_ns"].as_i64().unwrap();
        let wall0 = *first_wall.get_or_insert(start + v["wall_clock_offset_ns"].as_i64().unwrap());
        let wall = wall0 + i as i64 * 50_000_000 - start;
        v["host"] = serde_json::Value::String(host.to_string());
        v["wall_clock_offset_ns"] = wall.into();
        std::fs::write(&m, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        out.push((host.to_string(), to, wall));
    }
    (dir, out)
}

/// DuckDB's view of the set's syscalls: every trace's rows with its host
/// and its wall-clock time (`wall`).
fn duck_union(traces: &[(String, std::path::PathBuf, i64)]) -> String {
    traces
        .iter()
        .map(|(h, d, w)| {
            format!(
                "SELECT '{h}' AS host, ts + {w} AS wall, * FROM read_parquet('{}/syscalls/*.parquet', file_row_number=true)",
                d.display()
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn run_set(args: &[&str]) -> String {
    let (code, out, err) = common::run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

#[test]
fn a_script_runs_over_a_set_as_one_in_wall_clock_time() {
    let (set, traces) = overlapping();
    let dir = set.path().to_str().unwrap();
    let u = duck_union(&traces);

    // Per event: merged in wall-clock time, each row's host.
    let per_event = "probe syscall.pread { printf(\"%d %s %d %d\\n\", gettimeofday_ns(), hostname(), tid(), $count) }";
    let ours = run_set(&["run", "--trace", dir, "-e", per_event]);
    let Some(theirs) = duck(
        set.path(),
        &format!("SELECT wall, host, tid, arg2 FROM ({u}) WHERE syscall = 'pread64' ORDER BY wall, host, file_row_number"),
    ) else {
        return;
    };
    let theirs: Vec<String> = theirs.iter().map(|r| r.replace('|', " ")).collect();
    assert_eq!(ours.lines().collect::<Vec<_>>(), theirs);
    // The hosts do interleave.
    let hosts: Vec<&str> = ours.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    let switches = hosts.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches > 10, "{switches} host switches");

    // Keys by host and trace, and statistics of wall-clock times: plans
    // over the set's scans, each with its host and name.
    let by_host = "global c, s probe syscall.pread { c[hostname(), trace_name()]++; s[hostname()] <<< gettimeofday_us() } probe end { foreach ([h, t] in c+) printf(\"%s %s %d\\n\", h, t, c[h, t]); foreach (h in s+) printf(\"%s %d %d %d\\n\", h, @count(s[h]), @min(s[h]), @max(s[h])) }";
    let (code, ours, err) = common::run(&["run", "-v", "--trace", dir, "-e", by_host]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("syscall.pread: compiled to a DataFusion plan"),
        "{err}"
    );
    assert_eq!(
        ours,
        run_set(&["run", "--interpret-only", "--trace", dir, "-e", by_host])
    );
    let counts = duck(
        set.path(),
        &format!("SELECT host, host || '/run', count(*) FROM ({u}) WHERE syscall = 'pread64' GROUP BY ALL ORDER BY 3, 1"),
    )
    .unwrap();
    let stats = duck(
        set.path(),
        &format!("SELECT host, count(*), min(wall // 1000), max(wall // 1000) FROM ({u}) WHERE syscall = 'pread64' GROUP BY ALL ORDER BY 2, 1"),
    )
    .unwrap();
    let expected: Vec<String> = counts
        .iter()
        .chain(&stats)
        .map(|r| r.replace('|', " "))
        .collect();
    assert_eq!(ours.lines().collect::<Vec<_>>(), expected);

    // Aggregates the plans compute over every trace's files: the same as
    // the interpreter's, and DuckDB's.
    for script in [
        "global c probe syscall.pread, syscall.close { c[execname(), name]++ } probe end { foreach ([e, n] in c-) printf(\"%s %s %d\\n\", e, n, c[e, n]) }",
        "global n probe syscall.pread { n++ } probe timer.ms(100) { printf(\"%d\\n\", n); n = 0 } probe end { printf(\"end %d\\n\", n) }",
        "global h probe syscall.pread.return { h <<< gettimeofday_us() - @entry(gettimeofday_us()) } probe end { print(@hist_log(h)) }",
    ] {
        let planned = run_set(&["run", "-v", "--trace", dir, "-e", script]);
        let interpreted = run_set(&["run", "--interpret-only", "--trace", dir, "-e", script]);
        assert_eq!(planned, interpreted, "{script}");
        assert!(!planned.is_empty());
    }
    let ours = run_set(&[
        "run",
        "--trace",
        dir,
        "-e",
        "global c probe syscall.pread { c[tid()]++ } probe end { foreach (t in c+) printf(\"%d %d\\n\", t, c[t]) }",
    ]);
    let theirs = duck(
        set.path(),
        &format!("SELECT tid, count(*) FROM ({u}) WHERE syscall = 'pread64' GROUP BY 1 ORDER BY 2, min(wall)"),
    )
    .unwrap();
    assert_eq!(
        ours.lines().collect::<Vec<_>>(),
        theirs
            .iter()
            .map(|r| r.replace('|', " "))
            .collect::<Vec<_>>()
    );
}

#[test]
fn per_host_answers_need_a_run_per_trace() {
    let (set, _) = overlapping();
    let dir = set.path().to_str().unwrap();
    for (script, said) in [
        (
            "probe syscall.pread { printf(\"%d\\n\", ppid()) }",
            "ppid() answers per host",
        ),
        (
            "probe syscall.pread { printf(\"%s\\n\", symname(0)) }",
            "symname() answers per host",
        ),
        (
            "probe syscall.pread { printf(\"%d\\n\", target()) }",
            "target() answers per host",
        ),
    ] {
        let (code, _, err) = common::run(&["run", "--trace", dir, "-e", script]);
        assert_eq!(code, 1, "{script}");
        assert!(err.contains(said), "{script}: {err}");
        assert!(err.contains("run it with --per-trace"), "{err}");
    }
    let out = run_set(&[
        "run",
        "--per-trace",
        "--trace",
        dir,
        "-e",
        "global n probe syscall.pread { n++ } probe end { printf(\"%s %s %d\\n\", hostname(), trace_name(), n) }",
    ]);
    let mut expected = vec![];
    for (i, h) in ["a", "b", "c"].iter().enumerate() {
        let one = run_set(&[
            "run",
            "--trace",
            set.path().join(h).join("run").to_str().unwrap(),
            "-e",
            "global n probe syscall.pread { n++ } probe end { printf(\"%s %s %d\\n\", hostname(), trace_name(), n) }",
        ]);
        if i > 0 {
            expected.push(String::new());
        }
        expected.push(format!("==> {h}/run ({h}) <=="));
        expected.push(one.trim_end().to_string());
        assert_eq!(one.split(' ').next(), Some(*h));
    }
    assert_eq!(out.trim_end(), expected.join("\n"));
}

#[test]
fn info_of_a_set_lists_its_traces_and_sums_them() {
    let (set, _) = overlapping();
    let out = run_set(&["info", set.path().to_str().unwrap()]);
    assert!(out.contains("(3 traces, 3 hosts)"), "{out}");
    for h in ["a", "b", "c"] {
        assert!(out.contains(&format!("  {h}/run  {h}  ")), "{out}");
    }
    let rows: u64 = (1..=3)
        .map(|i| {
            let (_, one, _) = common::run(&[
                "sql",
                "--format",
                "csv",
                &format!("datasets/diff/base-{i}"),
                "SELECT count(*) FROM syscalls",
            ]);
            one.lines().nth(1).unwrap().parse::<u64>().unwrap()
        })
        .sum();
    let line = out
        .lines()
        .find(|l| l.starts_with("syscalls "))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        line.split_whitespace().nth(1),
        Some(rows.to_string().as_str()),
        "{line}"
    );
    assert!(out.contains("host      3 hosts"), "{out}");
}

#[test]
fn a_script_runs_over_a_set_in_a_bucket() {
    let Some(s3) = S3Server::start(&["fleet"]) else {
        return;
    };
    let (set, _) = overlapping();
    for h in ["a", "b", "c"] {
        let mut c = common::retap();
        s3.env(&mut c);
        let out = c
            .arg("push")
            .arg(set.path().join(h).join("run"))
            .arg(format!("s3://fleet/x/{h}/run"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    for script in [
        "probe syscall.pread { printf(\"%d %s %s %d\\n\", gettimeofday_ns(), hostname(), trace_name(), tid()) }",
        "global c probe syscall.pread, syscall.close { c[execname(), name]++ } probe end { foreach ([e, n] in c-) printf(\"%s %s %d\\n\", e, n, c[e, n]) }",
    ] {
        let local = run_set(&["run", "--trace", set.path().to_str().unwrap(), "-e", script]);
        let mut c = common::retap();
        s3.env(&mut c);
        let out = c
            .args(["run", "--trace", "s3://fleet/x", "-e", script])
            .current_dir(common::root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), local, "{script}");
        assert!(!local.is_empty(), "{script}");
    }
    // And each trace on its own.
    let mut c = common::retap();
    s3.env(&mut c);
    let out = c
        .args(["run", "--per-trace", "--trace", "s3://fleet/x", "-e", "global n probe syscall.pread { n++ } probe end { printf(\"%s %d\\n\", hostname(), n) }"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("==> a/run (a) <==\na "), "{text}");
}

/// A fleet of `runs` (shipped diff datasets), one host each, named
/// `{prefix}1`, `{prefix}2`, ...
fn fleet_of(runs: &[&str], prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, run) in runs.iter().enumerate() {
        let host = format!("{prefix}{}", i + 1);
        let to = dir.path().join(&host).join("run");
        common::copy_dir(&common::dataset(&format!("diff/{run}")), &to);
        let m = to.join("trace.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
        v["host"] = serde_json::Value::String(host);
        std::fs::write(&m, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    dir
}

#[test]
fn diff_of_two_fleets_takes_hosts_as_replicates() {
    let base = fleet_of(&["base-1", "base-2", "base-3"], "h");
    let doubled = fleet_of(&["reads2x", "reads2x", "reads2x"], "n");
    let same = fleet_of(&["base-4", "base-5", "base-1"], "s");
    let mixed = fleet_of(&["reads2x", "reads2x", "base-4"], "m");
    let p = |d: &tempfile::TempDir| d.path().to_str().unwrap().to_string();

    // Every host doubled its preads: changed, the rest not.
    let (code, out, err) = common::run(&["diff", &p(&base), &p(&doubled)]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("over hosts as replicates (3 vs 3)"), "{out}");
    let changed: Vec<&str> = out.lines().filter(|l| l.contains("CHANGED")).collect();
    assert_eq!(changed.len(), 1, "{out}");
    assert!(changed[0].contains("retap-workload pread64"), "{out}");
    assert!(changed[0].contains("count 4506 → 9006, ×2.00"), "{out}");

    // Three other runs of the same workload: nothing changed.
    let (code, out, err) = common::run(&["diff", &p(&base), &p(&same)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 changed"), "{out}");

    // Two hosts of three doubled: the count test is Welch's t on the
    // hosts' log rates, here with 2 degrees of freedom (the base hosts
    // agree exactly), whose two-sided p is 1 - t / sqrt(2 + t²).
    let (code, out, _) = common::run(&["diff", "--format", "json", "--all", &p(&base), &p(&mixed)]);
    assert!(code == 0 || code == 1);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["hosts"], serde_json::json!([3, 3]));
    let key = d["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key"]["syscall"] == "pread64")
        .unwrap();
    let Some(counts) = duck(
        base.path(),
        &format!(
            "SELECT count(*) FROM read_parquet('{}/*/run/syscalls/*.parquet', filename=true) WHERE syscall = 'pread64' GROUP BY filename ORDER BY 1",
            mixed.path().display()
        ),
    ) else {
        return;
    };
    let new: Vec<f64> = counts
        .iter()
        .map(|c| (c.parse::<f64>().unwrap() + 0.5).ln())
        .collect();
    let base_rate = (1502.0f64 + 0.5).ln();
    let mean = new.iter().sum::<f64>() / 3.0;
    let var = new.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0;
    let t = (mean - base_rate) / (var / 3.0).sqrt();
    let expected = 1.0 - t.abs() / (2.0 + t * t).sqrt();
    let got = key["count"]["p"].as_f64().unwrap();
    assert!(
        (got - expected).abs() < 1e-6,
        "p {got}, expected {expected}"
    );
    assert!(got > 0.001, "two hosts of three is not beyond noise: {got}");

    // A set against a trace, or a set of one host: refused.
    let (code, _, err) = common::run(&["diff", &p(&base), "datasets/diff/base-4"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("compare a set of traces with a set"), "{err}");
    let one = fleet_of(&["base-1"], "x");
    let (_, _, err) = common::run(&["diff", &p(&base), &p(&one)]);
    assert!(err.contains("1 host: hosts are the replicates"), "{err}");
}

/// Traces of different recorder builds and kernels in one set: mixed and
/// web were recorded before the syscalls table gained its path and socket
/// address columns, kmem after (with tracepoint tables the others lack,
/// on another kernel build). The union takes every column, null where a
/// trace has none; each difference is said; a script runs over all three
/// as one, its plans answering as the interpreter does.
#[test]
fn traces_of_different_recorders_and_kernels_are_one_set() {
    let dir = tempfile::tempdir().unwrap();
    for d in ["mixed", "kmem", "web"] {
        common::copy_dir(&common::dataset(d), &dir.path().join(d));
    }
    let set = dir.path().to_str().unwrap();
    let q = "SELECT trace, count(*) AS n, count(path) AS p, count(DISTINCT path) AS dp FROM syscalls GROUP BY 1 ORDER BY 1";
    let (code, out, err) = common::run(&["sql", "--format", "csv", set, q]);
    assert_eq!(code, 0, "{err}");
    for said in [
        "kernels differ: 6.18.44-fc-v1098 (1), 6.18.44-fc-v657 (2)",
        "table syscalls: columns not in every trace's, null in the others': path (1 of 3), path2 (1 of 3), sa_addr (1 of 3)",
        "tables in 1 of 3 traces only: block.block_plug,",
        "tables in 2 of 3 traces only: block, net, samples",
    ] {
        assert!(err.contains(said), "{said:?} not in:\n{err}");
    }
    let Some(want) = duck(
        dir.path(),
        "SELECT t, count(*), count(path), count(DISTINCT path) FROM (\
         SELECT 'mixed' AS t, NULL AS path FROM read_parquet('$set/mixed/syscalls/*.parquet') \
         UNION ALL SELECT 'web', NULL FROM read_parquet('$set/web/syscalls/*.parquet') \
         UNION ALL SELECT 'kmem', path FROM read_parquet('$set/kmem/syscalls/*.parquet')) \
         GROUP BY 1 ORDER BY 1",
    ) else {
        return;
    };
    assert_eq!(rows(&out), want);
    assert!(want
        .iter()
        .any(|r| r.starts_with("kmem|") && !r.ends_with("|0")));

    let script = "global n, b probe syscall.* { n[trace_name(), execname()]++ } \
                  probe syscall.read.return { if (retval > 0) b[trace_name()] += retval } \
                  probe end { foreach ([t, e] in n- limit 12) printf(\"%s %s %d\\n\", t, e, n[t, e]); \
                  foreach (t+ in b) printf(\"%s %d\\n\", t, b[t]) }";
    let planned = run_set(&["run", "--trace", set, "-e", script]);
    let interpreted = run_set(&["run", "--interpret-only", "--trace", set, "-e", script]);
    assert_eq!(planned, interpreted);
    for t in ["kmem ", "mixed ", "web "] {
        assert!(planned.contains(t), "{t}: {planned}");
    }
}

/// Seventy synthetic traces over the same seconds (seeds 1-70, their
/// clocks equal), as one set: 280 files whose rows interleave. The interpreter's point filters (syscall.read takes some
/// rows of each batch) are worked out per batch and kept while the batch
/// is in use, for far more batches than the cache's first sweep: counts
/// by execname of reads and write returns equal DuckDB's over the files.
#[test]
fn many_overlapping_files_are_filtered_as_one() {
    let dir = tempfile::tempdir().unwrap();
    for i in 1..=70 {
        let to = dir.path().join(format!("h{i}")).join("run");
        let (code, _, err) = common::run(&[
            "synth",
            "-o",
            to.to_str().unwrap(),
            "--seed",
            &i.to_string(),
            "--events",
            "2000",
            "--processes",
            "7",
            "--rows-per-file",
            "500",
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let set = dir.path().to_str().unwrap();
    let script = "global r, w probe syscall.read { r[execname()]++ } \
                  probe syscall.write.return { w[execname()] <<< retval } \
                  probe end { foreach (e in r+) printf(\"%s %d\\n\", e, r[e]) \
                  foreach (e in w+) printf(\"%s %d %d\\n\", e, @count(w[e]), @sum(w[e])) }";
    let out = run_set(&["run", "--interpret-only", "-e", script, "--trace", set]);
    let sql = |name: &str, what: &str| {
        format!(
            "SELECT execname, {what} FROM read_parquet('$set/*/run/syscalls/*.parquet') \
             WHERE syscall = '{name}' GROUP BY 1 ORDER BY 2, 1"
        )
    };
    let Some(reads) = duck(dir.path(), &sql("read", "count(*)")) else {
        return;
    };
    let writes = duck(dir.path(), &sql("write", "count(*), sum(ret)")).unwrap();
    let lines: Vec<String> = out.lines().map(|l| l.replace(' ', "|")).collect();
    assert!(reads.len() > 1 && writes.len() > 1, "{reads:?} {writes:?}");
    assert_eq!(lines, [reads, writes].concat(), "{out}");
    // And the plans agree.
    assert_eq!(run_set(&["run", "-e", script, "--trace", set]), out);
}
