//! `retap sql --cluster`: a real Apache DataFusion Ballista scheduler and
//! two executors, each a `retap cluster` process of its own, answer SQL
//! over traces in a real S3-compatible server (s3s-fs) and on local disk
//! exactly as a local session does; a cluster that does not answer is a
//! clear error.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use retap_testkit::S3Server;

/// Ports no other server of this test process was given (see
/// [`retap_testkit::unused_port`]).
fn free_port() -> u16 {
    retap_testkit::unused_port()
}

/// A scheduler and two executors, stopped when dropped.
struct Cluster {
    url: String,
    procs: Vec<Child>,
    /// Each process's stderr, shown when the cluster does not answer.
    logs: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

impl Cluster {
    fn logs(&self) -> String {
        let mut all = String::new();
        for name in ["scheduler", "executor0", "executor1"] {
            let text = std::fs::read_to_string(self.logs.path().join(name)).unwrap_or_default();
            all += &format!("--- {name}:\n{text}");
        }
        all
    }
}

fn spawn(s3: &S3Server, args: &[String], log: &std::path::Path) -> Child {
    let mut c = common::retap();
    s3.env(&mut c);
    c.args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("retap cluster")
}

/// Waits until `addr` accepts a TCP connection.
fn listening(addr: &str, deadline: Instant, c: &Cluster) {
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens at {addr}:\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cluster(s3: &S3Server) -> Cluster {
    let deadline = Instant::now() + Duration::from_secs(120);
    let bind = format!("127.0.0.1:{}", free_port());
    let mut c = Cluster {
        url: format!("df://{bind}"),
        procs: vec![],
        logs: tempfile::tempdir().unwrap(),
    };
    c.procs.push(spawn(
        s3,
        &[
            "cluster".into(),
            "scheduler".into(),
            "--bind".into(),
            bind.clone(),
        ],
        &c.logs.path().join("scheduler"),
    ));
    let mut flights = vec![];
    for i in 0..2 {
        let flight = format!("127.0.0.1:{}", free_port());
        let p = spawn(
            s3,
            &[
                "cluster".into(),
                "executor".into(),
                "--scheduler".into(),
                bind.clone(),
                "--bind".into(),
                flight.clone(),
                "--grpc-port".into(),
                free_port().to_string(),
                "--concurrent-tasks".into(),
                "2".into(),
            ],
            &c.logs.path().join(format!("executor{i}")),
        );
        c.procs.push(p);
        flights.push(flight);
    }
    // Started together: the executors wait for the scheduler.
    listening(&bind, deadline, &c);
    for f in &flights {
        listening(f, deadline, &c);
    }
    // Ready once a query through it answers.
    loop {
        let (code, out, err) = sql(
            s3,
            &[
                "--cluster",
                &c.url,
                "--cluster-timeout",
                "10",
                "datasets/disk",
                "SELECT count(*) FROM syscalls",
            ],
        );
        if code == 0 && out.lines().count() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not answer: {err}\n{}",
            c.logs()
        );
        let ended = c.procs.iter_mut().find_map(|p| p.try_wait().ok().flatten());
        if let Some(status) = ended {
            panic!("a cluster process ended ({status}):\n{}", c.logs());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    c
}

fn sql(s3: &S3Server, args: &[&str]) -> (i32, String, String) {
    let mut c = common::retap();
    s3.env(&mut c);
    let out = c
        .arg("sql")
        .args(["--format", "csv"])
        .args(args)
        .current_dir(common::root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What the SQL tests ask, as shapes: grouping, joins of a table with
/// itself, windows, filters on strings and numbers, sorting with limits.
const QUERIES: &[&str] = &[
    "SELECT execname, syscall, count(*) AS n, sum(dur_ns) AS d, max(ret) AS r FROM syscalls GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
    "SELECT pid, count(*) AS n FROM syscalls WHERE execname = 'python3' AND dur_ns > 1000 GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 20",
    "SELECT direction, count(*) AS n, sum(length) AS b FROM net GROUP BY 1 ORDER BY 1",
    "SELECT a.execname, count(*) AS n FROM syscalls a JOIN processes p ON a.pid = p.pid GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    "SELECT execname, syscall, dur_ns, rank() OVER (PARTITION BY execname ORDER BY dur_ns DESC, ts) AS r FROM syscalls WHERE syscall = 'read' ORDER BY 1, 4, 3 LIMIT 30",
    "SELECT min(ts), max(ts), count(DISTINCT pid) FROM syscalls",
];

#[test]
fn a_ballista_cluster_answers_as_a_local_session() {
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    let mut c = common::retap();
    s3.env(&mut c);
    let out = c
        .args(["push", "datasets/mixed", "s3://traces/mixed"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cl = cluster(&s3);
    for q in QUERIES.iter().chain(common::SQL_QUERIES) {
        let (_, local, err) = sql(&s3, &["datasets/mixed", q]);
        assert!(local.lines().count() > 1, "{q}: {err}");
        for trace in ["s3://traces/mixed", "datasets/mixed"] {
            let (code, remote, err) = sql(&s3, &["--cluster", &cl.url, trace, q]);
            assert_eq!(code, 0, "{trace} {q}: {err}");
            assert_eq!(remote, local, "{trace}: {q}");
        }
    }
    // Two traces as schemas.
    let q = "SELECT (SELECT count(*) FROM a.syscalls) AS x, (SELECT count(*) FROM b.syscalls) AS y";
    let (_, local, _) = sql(&s3, &["a=datasets/mixed", "b=datasets/disk", q]);
    let (code, remote, err) = sql(
        &s3,
        &[
            "--cluster",
            &cl.url,
            "a=s3://traces/mixed",
            "b=datasets/disk",
            q,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(remote, local);

    // What lives in the session travels with the plan: the manifest
    // tables, tables without files, the helpers bound to the traces'
    // clocks; and sets of traces, each table the union over them.
    let set_queries = [
        "SELECT host, trace, execname, count(*) AS n, sum(dur_ns) AS d FROM syscalls GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT 40",
        "SELECT trace, host, kernel FROM manifest ORDER BY 1",
        "SELECT trace, table_name, events, bytes FROM manifest_tables ORDER BY 1, 2",
        "SELECT trace, errno_str(ret) AS e, count(*) AS n FROM syscalls WHERE ret < 0 GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
        "SELECT trace, hist_log_bucket(dur_ns) AS b, count(*) AS n FROM syscalls GROUP BY 1, 2 ORDER BY 1, 2",
        // (no trace of the set recorded packets)
        "SELECT count(*) AS n, max(length) AS m FROM net",
    ];
    for e in std::fs::read_dir(common::root().join("datasets/diff")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let mut c = common::retap();
        s3.env(&mut c);
        let out = c
            .arg("push")
            .arg(format!("datasets/diff/{name}"))
            .arg(format!("s3://traces/fleet/{name}"))
            .current_dir(common::root())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    for q in set_queries {
        let (code, local, err) = sql(&s3, &["datasets/diff", q]);
        assert_eq!(code, 0, "{q}: {err}");
        assert!(local.lines().count() > 1, "{q}: {local}");
        for set in ["datasets/diff", "s3://traces/fleet"] {
            let (code, remote, err) = sql(&s3, &["--cluster", &cl.url, set, q]);
            assert_eq!(code, 0, "{set} {q}: {err}");
            assert_eq!(remote, local, "{set}: {q}");
        }
    }
    let one_trace = [
        "SELECT wall_time(min(ts)) AS w, trace_secs(max(ts)) AS s, syscall_name(0) AS n FROM syscalls",
        "SELECT table_name, events, files FROM manifest_tables ORDER BY 1",
        "SELECT count(*) FROM vfs",
    ];
    for q in one_trace {
        let (code, local, err) = sql(&s3, &["datasets/mixed", q]);
        assert_eq!(code, 0, "{q}: {err}");
        let (code, remote, err) = sql(&s3, &["--cluster", &cl.url, "datasets/mixed", q]);
        assert_eq!(code, 0, "{q}: {err}");
        assert_eq!(remote, local, "{q}");
    }

    runs_on_the_cluster(&s3, &cl);
    let mut cl = cl;
    an_executor_dies_mid_query(&s3, &mut cl);

    // Its executors gone, a query is an error within the wait, not a
    // hang and not an answer.
    for p in &mut cl.procs[1..] {
        let _ = p.kill();
        let _ = p.wait();
    }
    let t = Instant::now();
    let (code, out, err) = sql(
        &s3,
        &[
            "--cluster",
            &cl.url,
            "--cluster-timeout",
            "5",
            "datasets/mixed",
            QUERIES[0],
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("no answer within 5 s (are the cluster's executors running?"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    // A run's plans too: an error, not a quiet local run.
    let t = Instant::now();
    let (code, out, err) = retap(
        &s3,
        &[
            "run",
            "--cluster",
            &cl.url,
            "--cluster-timeout",
            "5",
            "--trace",
            "datasets/mixed",
            "queries/profile.stp",
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "retap run: {}: no answer within 5 s (are the cluster's executors running?",
            cl.url
        )),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(30));
}

/// One executor killed while a query runs on both: the answer is the
/// local one or an error with no output, never a wrong answer.
fn an_executor_dies_mid_query(s3: &S3Server, cl: &mut Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    let (code, _, err) = retap(
        s3,
        &["synth", "-o", big.to_str().unwrap(), "--events", "3000000"],
    );
    assert_eq!(code, 0, "{err}");
    let big = big.to_str().unwrap();
    let q = "SELECT execname, syscall, count(*) AS n, sum(dur_ns) AS d, count(DISTINCT tid) AS t FROM syscalls GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2";
    let (_, local, _) = sql(s3, &[big, q]);
    assert!(local.lines().count() > 10, "{local}");
    let mut c = common::retap();
    s3.env(&mut c);
    let query = c
        .args(["sql", "--format", "csv", "--cluster", &cl.url])
        .args(["--cluster-timeout", "120", big, q])
        .current_dir(common::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let _ = cl.procs[2].kill();
    let _ = cl.procs[2].wait();
    let out = query.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if out.status.success() {
        assert_eq!(stdout, local, "{stderr}");
    } else {
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.starts_with("Error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Any retap command with the S3 server's settings, from the repository.
fn retap(s3: &S3Server, args: &[&str]) -> (i32, String, String) {
    let mut c = common::retap();
    s3.env(&mut c);
    let out = c.args(args).current_dir(common::root()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const INLINE: &[&str] = &[
    "global h probe syscall.*.return { h <<< gettimeofday_us() - @entry(gettimeofday_us()) } probe end { print(@hist_log(h)) }",
    "global h probe syscall.read.return { if (retval > 0) h[execname()] <<< retval } probe end { foreach (k in h) { printf(\"%s\\n\", k); print(@hist_linear(h[k], 0, 4096, 512)) } }",
    "global n probe syscall.* { n[execname()]++ } probe timer.ms(2000) { foreach (k in n- limit 2) printf(\"%s %d\\n\", k, n[k]); delete n }",
    "global m probe syscall.*.return { if (!(pid() in m) || retval < m[pid()]) m[pid()] = retval } probe end { foreach (p+ in m limit 10) printf(\"%d %d\\n\", p, m[p]) }",
];

/// `retap run --cluster`: the plans run on the cluster, over a trace in
/// the bucket, on disk and a set of traces, and the output is the local
/// run's byte for byte; so for a hundred generated aggregate scripts.
fn runs_on_the_cluster(s3: &S3Server, cl: &Cluster) {
    let run = |trace: &str, script: &[&str], cluster: bool| {
        let mut args = vec!["run"];
        if cluster {
            args.extend(["--cluster", &cl.url]);
        }
        args.extend(["--trace", trace]);
        args.extend(script);
        let (code, out, err) = retap(s3, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        out
    };
    for script in common::QUERY_SCRIPTS {
        let local = run("datasets/mixed", &[script], false);
        assert!(local.lines().count() > 3, "{script}: {local}");
        for trace in ["s3://traces/mixed", "datasets/mixed"] {
            assert_eq!(run(trace, &[script], true), local, "{trace} {script}");
        }
    }
    for text in INLINE {
        let local = run("datasets/mixed", &["-e", text], false);
        assert!(local.lines().count() > 3, "{text}: {local}");
        assert_eq!(run("datasets/mixed", &["-e", text], true), local, "{text}");
    }
    // A set of traces as one, keyed by trace.
    let by_trace = "global n, d probe syscall.*.return { n[trace_name(), execname()]++; d[hostname()] += gettimeofday_ns() - @entry(gettimeofday_ns()) } probe end { foreach ([t, e] in n- limit 20) printf(\"%s %s %d\\n\", t, e, n[t, e]); foreach (h in d) printf(\"%s %d\\n\", h, d[h]) }";
    let local = run("datasets/diff", &["-e", by_trace], false);
    assert!(
        local.contains("base-1 ") && local.contains("reads2x "),
        "{local}"
    );
    assert_eq!(run("datasets/diff", &["-e", by_trace], true), local);
    // -v says where the plans ran.
    let (code, _, err) = retap(
        s3,
        &[
            "run",
            "-v",
            "--cluster",
            &cl.url,
            "--trace",
            "datasets/mixed",
            "queries/profile.stp",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("plans ran on the cluster at {} in ", cl.url)),
        "{err}"
    );

    // retap diff: the GROUP BYs on the cluster, the statistics here.
    let diffs: &[&[&str]] = &[
        &["datasets/diff/base-1", "datasets/diff/reads2x"],
        &[
            "datasets/diff/base-1",
            "datasets/diff/slow",
            "--format",
            "json",
        ],
        &["datasets/diff/base-2", "datasets/diff/base-3", "--all"],
        &[
            "datasets/diff/base-1",
            "datasets/diff/reads2x",
            "--by",
            "syscall",
            "--metric",
            "latency",
        ],
        &[
            "datasets/diff/base-1",
            "datasets/diff/reads2x",
            "--script",
            "queries/profile.stp",
        ],
    ];
    for d in diffs {
        let mut args = vec!["diff"];
        args.extend(d.iter());
        let local = retap(s3, &args);
        assert!(local.0 == 0 || local.0 == 1, "{args:?}: {}", local.2);
        assert!(!local.1.is_empty(), "{args:?}");
        args.extend(["--cluster", &cl.url]);
        assert_eq!(retap(s3, &args), local, "{args:?}");
    }

    // Generated aggregate scripts (the plan compiler's differential
    // corpus) over a synthetic trace.
    let dir = tempfile::tempdir().unwrap();
    let synth = dir.path().join("t");
    let (code, _, err) = retap(
        s3,
        &[
            "synth",
            "-o",
            synth.to_str().unwrap(),
            "--events",
            "20000",
            "--processes",
            "40",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let synth = synth.to_str().unwrap();
    let mut r = retap_testkit::Rng(0x5eed_c105_7e20_0001);
    // (Some stop with stap's errors, as they do locally: an array over
    // MAXMAPENTRIES.)
    let mut clean = 0;
    for i in 0..100 {
        let script = retap_testkit::scripts::aggregate(&mut r);
        let local = retap(s3, &["run", "--trace", synth, "-e", &script]);
        let remote = retap(
            s3,
            &["run", "--cluster", &cl.url, "--trace", synth, "-e", &script],
        );
        assert_eq!(remote, local, "case {i}:\n{script}");
        clean += usize::from(local.0 == 0);
    }
    assert!(clean >= 80, "only {clean} of 100 ran to the end");
}

#[test]
fn a_cluster_that_does_not_answer_is_a_clear_error() {
    let Some(s3) = S3Server::start(&["traces"]) else {
        return;
    };
    let t = Instant::now();
    let port = free_port();
    let (code, _, err) = sql(
        &s3,
        &[
            "--cluster",
            &format!("df://127.0.0.1:{port}"),
            "datasets/disk",
            "SELECT 1",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("df://127.0.0.1:{port}")) && err.contains("scheduler"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    // An executor whose scheduler never comes: a clear error once its
    // wait is over.
    let t = Instant::now();
    let out = common::retap()
        .args(["cluster", "executor", "--scheduler"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--scheduler-wait", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "retap cluster: no scheduler at 127.0.0.1:{port} within 1 s ("
        )) && err.contains("start `retap cluster scheduler --bind"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let (code, _, err) = sql(&s3, &["--cluster", "http://x", "datasets/disk", "SELECT 1"]);
    assert_ne!(code, 0);
    assert!(err.contains("a cluster is df://HOST:PORT"), "{err}");
}
