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

/// Scripts of every kind give over the store what they give locally.
const SCRIPTS: &[&str] = &[
    "queries/profile.stp",
    "queries/syscall_latency.stp",
    "queries/nethist.stp",
    "queries/net.stp",
    "queries/sync_count.stp",
    "queries/syslog_profile.stp",
];

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

    for script in SCRIPTS {
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
    let parquet = std::fs::read_dir(root().join("datasets/mixed/syscalls"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum::<u64>();
    // The manifest, the signatures, footers and two columns' chunks.
    assert!(
        fetched < parquet / 2,
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
            "s3://traces",
            "-e",
            "probe begin { exit() }",
        ]),
        "cannot read the trace manifest: no such object",
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
