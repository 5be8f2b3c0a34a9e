//! `retap sql --cluster`: a real Apache DataFusion Ballista scheduler and
//! two executors, each a `retap cluster` process of its own, answer SQL
//! over traces in a real S3-compatible server (s3s-fs) and on local disk
//! exactly as a local session does; a cluster that does not answer is a
//! clear error.

mod common;

use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use retap_testkit::S3Server;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
}

/// A scheduler and two executors, stopped when dropped.
struct Cluster {
    url: String,
    procs: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn spawn(s3: &S3Server, args: &[String]) -> Child {
    let mut c = common::retap();
    s3.env(&mut c);
    c.args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("retap cluster")
}

fn cluster(s3: &S3Server) -> Cluster {
    let sp = free_port();
    let bind = format!("127.0.0.1:{sp}");
    let mut procs = vec![spawn(
        s3,
        &[
            "cluster".into(),
            "scheduler".into(),
            "--bind".into(),
            bind.clone(),
        ],
    )];
    for _ in 0..2 {
        procs.push(spawn(
            s3,
            &[
                "cluster".into(),
                "executor".into(),
                "--scheduler".into(),
                bind.clone(),
                "--bind".into(),
                format!("127.0.0.1:{}", free_port()),
                "--grpc-port".into(),
                free_port().to_string(),
                "--concurrent-tasks".into(),
                "2".into(),
            ],
        ));
    }
    let c = Cluster {
        url: format!("df://{bind}"),
        procs,
    };
    // Ready once a query through it answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // A query taken before any executor registered waits: each try
        // gives up after 5 s.
        let (code, out, err) = sql(
            s3,
            &[
                "--cluster",
                &c.url,
                "--cluster-timeout",
                "5",
                "datasets/disk",
                "SELECT count(*) FROM syscalls",
            ],
        );
        if code == 0 && out.lines().count() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not answer: {err}"
        );
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
    for q in QUERIES {
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

    // Its executors gone, a query is an error within the wait, not a
    // hang and not an answer.
    let mut cl = cl;
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
    let (code, _, err) = sql(&s3, &["--cluster", "http://x", "datasets/disk", "SELECT 1"]);
    assert_ne!(code, 0);
    assert!(err.contains("a cluster is df://HOST:PORT"), "{err}");
    // A set through a cluster: said, not served.
    let (code, _, err) = sql(
        &s3,
        &[
            "--cluster",
            &format!("df://127.0.0.1:{port}"),
            "datasets/diff",
            "SELECT 1",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("sets of traces through a cluster are not served yet"),
        "{err}"
    );
}
