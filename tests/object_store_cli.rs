//! Traces in object storage: `retap push` copies shipped datasets into a
//! real S3-compatible server (s3s-fs on loopback, installed by
//! scripts/setup.sh), and `info`, `run` (plans, the interpreter, per-event
//! printf, timers, histograms), `sql` and `diff` over `s3://` give what
//! they give over the local copies, byte for byte; a run fetches less than
//! the trace holds; bad URLs, endpoints, credentials, buckets and missing
//! objects are clear errors.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::root;
use retap_testkit::S3Server;

fn retap_at(s3: &S3Server, args: &[&str]) -> (i32, String, String) {
    let mut c = common::retap();
    s3.env(&mut c);
    run_cmd(c.args(args))
}

fn run_cmd(c: &mut Command) -> (i32, String, String) {
    let out = c.current_dir(root()).output().expect("run retap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn push(s3: &S3Server, dataset: &str, url: &str) {
    let (code, out, err) = retap_at(s3, &["push", dataset, url]);
    assert_eq!(code, 0, "push {dataset}: {err}");
    assert!(out.starts_with("pushed "), "{out}");
}

/// Every file of the dataset is in the bucket, byte for byte.
fn assert_copied(local: &Path, stored: &Path) {
    for e in std::fs::read_dir(local).unwrap() {
        let p = e.unwrap().path();
        let there = stored.join(p.file_name().unwrap());
        if p.is_dir() {
            assert_copied(&p, &there);
        } else {
            assert_eq!(
                std::fs::read(&p).unwrap(),
                std::fs::read(&there).unwrap_or_default(),
                "{} differs in the store",
                p.display()
            );
        }
    }
}

const INLINE: &[&str] = &[
    // Per-event output, interpreted (fd is not a plan column).
    "probe syscall.read { printf(\"%d %s %d\\n\", gettimeofday_us(), execname(), fd) }",
    // Timers between events, and an aggregate printed by one.
    "global n probe syscall.* { n[execname()]++ } probe timer.ms(2000) { foreach (k in n- limit 2) printf(\"%s %d\\n\", k, n[k]); delete n }",
    // A histogram of latencies, computed by a plan.
    "global h probe syscall.*.return { h <<< gettimeofday_us() - @entry(gettimeofday_us()) } probe end { print(@hist_log(h)) }",
];

#[test]
fn traces_in_a_bucket_read_as_local_ones() {
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    push(&s3, "datasets/mixed", "s3://traces/hosts/web1/mixed");
    assert_copied(
        &root().join("datasets/mixed"),
        &s3.root.join("traces/hosts/web1/mixed"),
    );
    let url = "s3://traces/hosts/web1/mixed";

    // info: the same but for the trace's name.
    let (code, remote, err) = retap_at(&s3, &["info", url]);
    assert_eq!(code, 0, "{err}");
    let (_, local, _) = common::run(&["info", "datasets/mixed"]);
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&remote), body(&local));
    assert!(
        remote.starts_with(&format!("trace     {url} (complete)")),
        "{remote}"
    );
    let (code, out, err) = retap_at(&s3, &["info", "--verify", url]);
    assert_eq!(code, 0, "{out}{err}");

    for script in common::QUERY_SCRIPTS {
        let (code, remote, err) = retap_at(&s3, &["run", "--trace", url, script]);
        assert_eq!(code, 0, "{script}: {err}");
        let (_, local, _) = common::run(&["run", "--trace", "datasets/mixed", script]);
        assert_eq!(remote, local, "{script}");
        assert!(!remote.is_empty(), "{script}");
    }
    for text in INLINE {
        let (code, remote, err) = retap_at(&s3, &["run", "--trace", url, "-e", text]);
        assert_eq!(code, 0, "{text}: {err}");
        let (_, local, _) = common::run(&["run", "--trace", "datasets/mixed", "-e", text]);
        assert_eq!(remote, local, "{text}");
        assert!(remote.lines().count() > 3, "{text}: {remote}");
    }

    // sql, with the store's trace under a name and unqualified.
    let q = "SELECT execname, syscall, count(*) AS n, sum(dur_ns) AS d FROM syscalls GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 20";
    let (code, remote, err) = retap_at(&s3, &["sql", url, q]);
    assert_eq!(code, 0, "{err}");
    let (_, local, _) = common::run(&["sql", "datasets/mixed", q]);
    assert_eq!(remote, local);
    let (code, named, err) = retap_at(
        &s3,
        &["sql", &format!("web={url}"), "SELECT count(*) FROM web.net"],
    );
    assert_eq!(code, 0, "{err}");
    let (_, mine, _) = common::run(&["sql", "datasets/mixed", "SELECT count(*) FROM net"]);
    assert_eq!(named, mine);

    // diff: two recordings in the store against the same two on disk.
    push(&s3, "datasets/diff/base-1", "s3://traces/diff/base-1");
    push(&s3, "datasets/diff/reads2x", "s3://traces/diff/reads2x");
    let (rc, remote, err) = retap_at(
        &s3,
        &[
            "diff",
            "s3://traces/diff/base-1",
            "s3://traces/diff/reads2x",
        ],
    );
    let (lc, local, _) = common::run(&["diff", "datasets/diff/base-1", "datasets/diff/reads2x"]);
    assert_eq!(rc, lc, "{err}");
    assert_eq!(
        remote
            .replace("s3://traces/diff/", "")
            .replace("s3://traces/diff", ""),
        local.replace("datasets/diff/", ""),
    );
    assert!(remote.contains("CHANGED"), "{remote}");
}

/// A run reads footers and the column chunks it needs, not the trace:
/// counting by name reads two dictionary columns of the syscalls table.
#[test]
fn a_run_fetches_only_what_it_reads() {
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    push(&s3, "datasets/mixed", "s3://traces/mixed");
    let text = "global c probe syscall.* { c[execname()]++ } probe end { foreach (k in c- limit 3) printf(\"%s %d\\n\", k, c[k]) }";
    let (code, out, err) = retap_at(
        &s3,
        &["run", "-v", "--trace", "s3://traces/mixed", "-e", text],
    );
    assert_eq!(code, 0, "{err}");
    let (_, local, _) = common::run(&["run", "--trace", "datasets/mixed", "-e", text]);
    assert_eq!(out, local);
    let fetched = |err: &str| -> u64 {
        let line = err
            .lines()
            .find(|l| l.starts_with("Object storage: "))
            .unwrap_or_else(|| panic!("no fetch count in -v:\n{err}"));
        line.trim_start_matches("Object storage: ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let parquet = std::fs::read_dir(root().join("datasets/mixed/syscalls"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum::<u64>();
    // The manifest, the signatures, footers and two columns' chunks.
    let run = fetched(&err);
    assert!(
        run < parquet / 2,
        "fetched {run} bytes for a trace whose syscalls files are {parquet}"
    );
    // retap sql -v says the same of a query reading one column.
    let q = "SELECT execname, count(*) AS n FROM syscalls GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3";
    let (code, out, err) = retap_at(&s3, &["sql", "-v", "s3://traces/mixed", q]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, common::run(&["sql", "datasets/mixed", q]).1);
    let by_sql = fetched(&err);
    assert!(
        by_sql > 0 && by_sql < parquet / 2,
        "sql fetched {by_sql} bytes for a trace whose syscalls files are {parquet}"
    );
    let (_, _, err) = common::run(&["sql", "-v", "datasets/mixed", q]);
    assert!(!err.contains("Object storage"), "{err}");
}

/// A plan answered from rollups reads them from the bucket, each a
/// ranged request into its file after the rows: the answer is the local
/// one, and the run fetches footers and rollups, a few percent of the
/// files.
#[test]
fn rollups_are_read_from_the_bucket() {
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("t");
    let d = local.to_str().unwrap();
    let synth = [
        "synth",
        "-o",
        d,
        "--events",
        "200000",
        "--rows-per-file",
        "100000",
    ];
    let (code, _, err) = common::run(&synth);
    assert_eq!(code, 0, "{err}");
    push(&s3, d, "s3://traces/synth");
    let text = "global c probe syscall.* { c[execname()]++ } \
                probe end { foreach (k in c- limit 3) printf(\"%s %d\\n\", k, c[k]) }";
    let (code, out, err) = retap_at(
        &s3,
        &["run", "-v", "--trace", "s3://traces/synth", "-e", text],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("2 of 2 files answered from the rollups they carry"),
        "{err}"
    );
    let (_, mine, _) = common::run(&["run", "--no-rollups", "--trace", d, "-e", text]);
    assert_eq!(out, mine);
    assert_eq!(out.lines().count(), 3, "{out}");
    let line = err
        .lines()
        .find(|l| l.starts_with("Object storage: "))
        .unwrap_or_else(|| panic!("no fetch count in -v:\n{err}"));
    let fetched: u64 = line
        .trim_start_matches("Object storage: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let parquet = std::fs::read_dir(local.join("syscalls"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum::<u64>();
    assert!(
        fetched < parquet / 20,
        "fetched {fetched} bytes for a trace whose syscalls files are {parquet}"
    );
}

#[test]
fn bad_stores_are_clear_errors() {
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    push(&s3, "datasets/diff/base-1", "s3://traces/t");
    let fails = |c: &mut Command, said: &str| {
        let (code, out, err) = run_cmd(c);
        assert_ne!(code, 0, "{said}: {out}");
        assert!(err.contains(said), "expected {said:?} in:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
    };
    let cmd = |args: &[&str]| {
        let mut c = common::retap();
        s3.env(&mut c);
        c.args(args);
        c
    };
    fails(
        &mut cmd(&["info", "s3://nobucket/t"]),
        "the bucket does not exist",
    );
    fails(
        &mut cmd(&["info", "s3://traces/elsewhere"]),
        "s3://traces/elsewhere: no trace there (nothing under that prefix)",
    );
    fails(
        &mut cmd(&[
            "run",
            "--trace",
            "s3://traces/t/syscalls",
            "-e",
            "probe begin { exit() }",
        ]),
        "s3://traces/t/syscalls: no traces there (no trace.json here or below: is this a retap trace directory?)",
    );
    fails(
        &mut cmd(&["info", "gs://traces/t"]),
        "unsupported URL scheme",
    );
    fails(&mut cmd(&["info", "s3:///t"]), "no bucket name");
    let mut c = cmd(&["info", "s3://traces/t"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    fails(&mut c, "no S3 credentials: set AWS_ACCESS_KEY_ID");
    let mut c = cmd(&["info", "s3://traces/t"]);
    c.env("AWS_SECRET_ACCESS_KEY", "wrong");
    fails(&mut c, "access denied: the credentials were refused");
    // Flags over the environment.
    let mut c = cmd(&["--s3-secret-access-key", "wrong", "info", "s3://traces/t"]);
    c.env("AWS_SECRET_ACCESS_KEY", s3.secret_key);
    fails(&mut c, "access denied");
    fails(
        &mut cmd(&["push", "datasets", "s3://traces/x"]),
        "datasets: not a trace directory (no trace.json)",
    );
    fails(
        &mut cmd(&["push", "datasets/nothing", "s3://traces/x"]),
        "datasets/nothing: No such file",
    );

    // A file the manifest names but the store lacks: said, never silent.
    push(&s3, "datasets/diff/base-1", "s3://traces/torn");
    let gone = s3.root.join("traces/torn/syscalls/part-000000.parquet");
    std::fs::remove_file(&gone).expect("the pushed file");
    let (_, out, _) = run_cmd(&mut cmd(&["info", "s3://traces/torn"]));
    assert!(
        out.contains("torn/syscalls/part-000000.parquet: missing: the manifest names it"),
        "{out}"
    );
    let (code, _, err) = run_cmd(&mut cmd(&[
        "run",
        "--trace",
        "s3://traces/torn",
        "-e",
        "global n probe syscall.* { n++ } probe end { print(n) }",
    ]));
    assert!(
        err.contains("missing: the manifest names it"),
        "{code} {err}"
    );

    // The server gone: an error naming the store, within seconds.
    s3.stop();
    let t = std::time::Instant::now();
    fails(
        &mut cmd(&["info", "s3://traces/t"]),
        "cannot reach the object store",
    );
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
    let mut c = cmd(&["info", "s3://traces/t"]);
    c.env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    fails(&mut c, "cannot reach the object store");
}

/// The trace in the store holds every getppid the workload made, and
/// every file its manifest names.
fn assert_complete(s3: &S3Server, url: &str, calls: u64) {
    let (code, out, err) = retap_at(
        s3,
        &[
            "sql",
            "--format",
            "csv",
            url,
            "SELECT count(*) FROM syscalls WHERE syscall = 'getppid' AND execname = 'retap-workload'",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().nth(1),
        Some(calls.to_string().as_str()),
        "{out}"
    );
    assert!(!err.contains("missing"), "{err}");
    let (_, info, _) = retap_at(s3, &["info", url]);
    assert!(info.contains("(complete)"), "{info}");
    assert!(!info.contains("missing"), "{info}");
}

fn record_args(url: &str, spool: &Path, calls: u64, rate: u64) -> Vec<String> {
    let w = common::workload();
    [
        "record",
        "-o",
        url,
        "--spool",
        spool.to_str().unwrap(),
        "--events",
        "syscalls,processes",
        "--rotate-every",
        "1s",
        // (100,000 calls/s while other tests load the machine: a ring of
        // 8 MB filled once, 41,042 events lost, and the count fell short.)
        "--ringbuf-size",
        "64M",
        "-q",
        "-c",
        &format!("{} loop getppid {calls} {rate}", w.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn a_recording_goes_straight_to_the_store() {
    if !common::is_root() {
        return retap_testkit::skip_without("root", "recording needs it; CI runs as root");
    }
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let args = record_args("s3://traces/web1/r1", &spool, 300_000, 100_000);
    let (code, _, err) = retap_at(&s3, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("uploaded "), "{err}");
    assert!(!spool.exists(), "the spool is removed once all is up");
    assert_complete(&s3, "s3://traces/web1/r1", 300_000);
    // Every file of the manifest, byte for byte where the manifest says.
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s3.root.join("traces/web1/r1/trace.json")).unwrap(),
    )
    .unwrap();
    let mut files = 0;
    for t in m["tables"].as_object().unwrap().values() {
        for f in t["files"].as_array().unwrap() {
            let p = s3
                .root
                .join("traces/web1/r1")
                .join(f["path"].as_str().unwrap());
            assert_eq!(
                std::fs::metadata(&p).map(|m| m.len()).ok(),
                f["bytes"].as_u64(),
                "{}",
                p.display()
            );
            files += 1;
        }
    }
    assert!(files >= 4, "{files} files");

    // Options that keep files on the recording machine are refused.
    let (code, _, err) = retap_at(
        &s3,
        &[
            "record",
            "-o",
            "s3://traces/x",
            "--flight",
            "10s",
            "-c",
            "true",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("--flight keeps files on this machine's disk"),
        "{err}"
    );
}

#[test]
fn a_store_that_goes_away_mid_recording_loses_nothing() {
    if !common::is_root() {
        return retap_testkit::skip_without("root", "recording needs it; CI runs as root");
    }
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let args = record_args("s3://traces/r2", &spool, 400_000, 100_000);
    let mut c = common::retap();
    s3.env(&mut c);
    let child = c
        .args(&args)
        .current_dir(common::root())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Some files go up, then the server stops for the rest of the run.
    std::thread::sleep(Duration::from_millis(2500));
    s3.stop();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let push = format!("retap push {} s3://traces/r2", spool.display());
    assert!(err.contains(&push), "{err}");
    assert!(spool.join("trace.json").exists());
    // The store back, the printed command finishes the upload.
    s3.restart();
    let (code, _, err) = retap_at(&s3, &["push", spool.to_str().unwrap(), "s3://traces/r2"]);
    assert_eq!(code, 0, "{err}");
    assert_complete(&s3, "s3://traces/r2", 400_000);
}
