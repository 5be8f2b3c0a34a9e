//! User-space probes recorded end to end: a program built here
//! (retap_testkit::uprobe_target) calls known functions and passes known
//! USDT marks a known number of times; every row of the uprobes table is
//! checked through DuckDB (the independent reader). Root: BPF.

mod common;
use common::*;

use std::path::Path;

/// Every probe the tests attach to the program at `bin`.
fn specs(bin: &Path) -> Vec<String> {
    let b = bin.display();
    vec![
        format!("function:{b}:rt_add"),
        format!("return:{b}:rt_add"),
        format!("return:{b}:rt_fact"),
        format!("return:{b}:rt_greet:string=return"),
        format!("return:{b}:rt_nap"),
        format!("mark:{b}:retap_test:tick"),
        format!("mark:{b}:retap_test:guarded"),
        format!("mark:{b}:retap_test:name:string=arg1"),
        format!("mark:{b}:retap_test:many"),
    ]
}

#[test]
fn functions_returns_and_marks_are_recorded_exactly() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let dir = tmp.path().join("t");
    let n: i64 = 1000;
    let mut args: Vec<String> = vec!["--events".into(), "processes".into(), "-q".into()];
    for s in specs(&bin) {
        args.push("--uprobe".into());
        args.push(s);
    }
    args.push("-c".into());
    args.push(format!("{} {n}", bin.display()));
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = record(&dir, &argv);
    // The program's own answer: the sum of rt_add's returns.
    let printed: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(printed, 3 * n * (n - 1) / 2);

    let m = manifest(&dir);
    assert_eq!(m["state"], "complete");
    assert_eq!(m["uprobes"].as_array().unwrap().len(), 9);
    assert_eq!(m["tables"]["uprobes"]["dropped"], 0);
    let pid = m["filters"]["command_pid"].as_i64().unwrap();
    let p = |kind: &str, name: &str| {
        let b = bin.display();
        match kind {
            "function" => format!("process(\"{b}\").function(\"{name}\")"),
            "return" => format!("process(\"{b}\").function(\"{name}\").return"),
            _ => format!("process(\"{b}\").provider(\"retap_test\").mark(\"{name}\")"),
        }
    };
    let q = |sql: &str| duck(&dir, sql);
    // Every row is the program's, and every probe fired as often as it ran.
    assert_eq!(
        q(&format!(
            "select count(*) from uprobes where pid <> {pid} or tid <> {pid}"
        )),
        vec!["0"]
    );
    let count = |probe: &str| {
        q(&format!(
            "select count(*) from uprobes where probe = '{probe}'"
        ))
    };
    // Entries: the argument registers (i, 2i); no return value.
    assert_eq!(
        q(&format!(
            "select count(*), sum(arg0), sum(arg1), count(ret), count(dur_ns), count(user_string) \
             from uprobes where probe = '{}'",
            p("function", "rt_add")
        )),
        vec![format!("{n}|{}|{}|0|0|0", n * (n - 1) / 2, n * (n - 1))]
    );
    // Returns: 3i, with the entry's registers, after the entry.
    assert_eq!(
        q(&format!(
            "select count(*), sum(ret), sum(arg0), min(dur_ns) > 0, count(*) filter (where ret <> 3 * arg0) \
             from uprobes where probe = '{}'",
            p("return", "rt_add")
        )),
        vec![format!("{n}|{}|{}|True|0", 3 * n * (n - 1) / 2, n * (n - 1) / 2)]
    );
    // Each return is paired with its own entry: call i's entry row (a
    // probe of its own at the same address) is at its return's
    // ts - dur_ns.
    assert_eq!(
        q(&format!(
            "select count(*) from uprobes r join uprobes e on e.arg0 = r.arg0 \
             where r.probe = '{}' and e.probe = '{}' and abs(r.ts - r.dur_ns - e.ts) < 1000000",
            p("return", "rt_add"),
            p("function", "rt_add")
        )),
        vec![n.to_string()]
    );
    // Recursion: five levels, each return its own (innermost first).
    assert_eq!(
        q(&format!(
            "select string_agg(arg0::varchar || '->' || ret::varchar, ' ' order by ts) \
             from uprobes where probe = '{}'",
            p("return", "rt_fact")
        )),
        vec!["1->1 2->2 3->6 4->24 5->120"]
    );
    // Durations: rt_nap sleeps 2 ms.
    let nap = q(&format!(
        "select ret, dur_ns >= 2000000, dur_ns < 1000000000 from uprobes where probe = '{}'",
        p("return", "rt_nap")
    ));
    assert_eq!(nap, vec!["2000|True|True"]);
    // A returned string, read when the function returned.
    assert_eq!(
        q(&format!(
            "select string_agg(user_string, ',' order by ts) from uprobes where probe = '{}'",
            p("return", "rt_greet")
        )),
        vec!["hello world,hello retap,hello stap"]
    );
    // Marks: their arguments decoded from the notes (i, -i); a string
    // argument; "guarded" fires only because its semaphore was set.
    assert_eq!(
        q(&format!(
            "select count(*), sum(arg0), sum(arg1), max(arg2) from uprobes where probe = '{}'",
            p("mark", "tick")
        )),
        vec![format!("{n}|{}|{}|0", n * (n - 1) / 2, -(n * (n - 1) / 2))]
    );
    assert_eq!(
        q(&format!(
            "select count(*), sum(arg0) from uprobes where probe = '{}'",
            p("mark", "guarded")
        )),
        vec![format!("{n}|{}", 10 * n * (n - 1) / 2)]
    );
    assert_eq!(
        q(&format!(
            "select string_agg(user_string, ',' order by ts) from uprobes where probe = '{}'",
            p("mark", "name")
        )),
        vec!["world,retap,stap"]
    );
    // A mark's twelve arguments (stap's limit), the last one the loop's N.
    assert_eq!(
        q(&format!(
            "select arg0, arg5, arg6, arg10, arg11 from uprobes where probe = '{}'",
            p("mark", "many")
        )),
        vec![format!("1|6|7|11|{n}")]
    );
    // A function's rows have six registers; the rest are 0.
    assert_eq!(
        q(&format!(
            "select max(arg6), max(arg11) from uprobes where probe = '{}'",
            p("function", "rt_add")
        )),
        vec!["0|0"]
    );
    assert_eq!(count(&p("function", "rt_nap")), vec!["0"], "not attached");
    assert_eq!(
        q("select count(*) from uprobes")
            .first()
            .unwrap()
            .parse::<i64>()
            .unwrap(),
        m["tables"]["uprobes"]["events"].as_i64().unwrap()
    );
}

#[test]
fn bad_user_probes_are_refused_with_the_reason() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let b = bin.display().to_string();
    for (spec, says) in [
        (
            "function:/nonexistent/prog:f".to_string(),
            "/nonexistent/prog: no such file",
        ),
        (
            format!("function:{b}:no_such_function"),
            "cannot attach process",
        ),
        (
            format!("mark:{b}:retap_test:no_such_mark"),
            "cannot attach process",
        ),
        ("function:relative:f".to_string(), "must be absolute"),
        (format!("entry:{b}:f"), "a user probe is function:PATH:NAME"),
    ] {
        let out = attempt(
            &tmp.path().join("t"),
            &["--uprobe", &spec, "--duration", "1"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{spec} was accepted");
        assert!(err.contains(says), "{spec}: {err}");
        let _ = std::fs::remove_dir_all(tmp.path().join("t"));
    }
    let out = attempt(
        &tmp.path().join("t"),
        &["--events", "uprobes", "--duration", "1"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("say which with --uprobe"));
}
