//! stap's command-line options for a run, as its users pass them: -o with
//! switch_file() and -S, -t, --suppress-handler-errors, -w and -u.

mod common;
use common::dataset;

use common::run as retap;

fn files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// stap's io/switchfile.stp over 12 s of `mixed`: a line a second, a new
/// file every five, as stapio names them (FILE, then FILE.1, FILE.2). At
/// 5 s and 10 s both timers fire; the one declared first runs first.
#[test]
fn switch_file_moves_the_output_on() {
    let trace = dataset("mixed");
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("log");
    let (code, stdout, err) = retap(&[
        "run",
        "/usr/share/systemtap/examples/io/switchfile.stp",
        "-o",
        out.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    if !std::path::Path::new("/usr/share/systemtap/examples").exists() {
        retap_testkit::skip_without("systemtap-doc", "scripts/setup.sh installs it");
        return;
    }
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout, "");
    let got = files(d.path());
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["log", "log.1", "log.2"]);
    assert_eq!(
        got[0].1,
        "Begin logging\n".to_string() + &"log data\n".repeat(5)
    );
    assert_eq!(got[1].1, "log data\n".repeat(5));
    assert_eq!(got[2].1, "log data\n".repeat(2) + "End logging\n");
    // Without -o there is no file to switch: the call does nothing.
    let (code, stdout, _) = retap(&[
        "run",
        "-e",
        "probe begin { print(\"a\"); switch_file(); print(\"b\\n\") }",
    ]);
    assert_eq!((code, stdout.as_str()), (0, "ab\n"));
}

/// -S 1,2: FILE.0 onwards, a new file once one holds more than 1 MiB
/// (checked between handlers' output), the newest two kept.
#[test]
fn size_rotation_keeps_the_newest_files() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("big");
    // 3,000 lines of 1,000 bytes from one handler each: 1,048 lines fill
    // a file past 1 MiB, the next line starts the next file.
    let (code, _, err) = retap(&[
        "run",
        "-S",
        "1,2",
        "-o",
        out.to_str().unwrap(),
        "-e",
        "global i probe timer.ms(1) { printf(\"%0999d\\n\", i++); if (i == 3000) exit() }",
        "--trace",
        dataset("mixed").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let got = files(d.path());
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["big.1", "big.2"]);
    let lines = |s: &str| s.lines().count();
    // 1,049 lines a file (1,048 reach 1,048,000 <= 1 MiB; the 1,049th
    // makes it pass), so: 0..1049, 1049..2098, 2098..3000.
    assert_eq!(lines(&got[0].1), 1049);
    assert_eq!(
        got[0].1.lines().next().unwrap().trim_start_matches('0'),
        "1049"
    );
    assert_eq!(lines(&got[1].1), 3000 - 2 * 1049);
    let (code, _, err) = retap(&["run", "-S", "1", "-e", "probe begin { }"]);
    assert_eq!(code, 1);
    assert!(err.contains("-S needs -o FILE"), "{err}");
    let (code, _, err) = retap(&["run", "-S", "0", "-o", "/dev/null", "-e", "probe begin { }"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("-S 0: the size is a whole number of megabytes, above 0"),
        "{err}"
    );
}

/// -t: a line per probe that ran, its hits as the recording has them
/// (DuckDB counts the same rows), interpreted handlers timed in ns.
#[test]
fn timing_report() {
    let Some(rows) = common::duck(
        "mixed",
        "select count(*) from syscalls where syscall = 'read'",
    ) else {
        return;
    };
    let trace = dataset("mixed");
    let (code, _, err) = retap(&[
        "run",
        "-t",
        "-e",
        "global n, m probe syscall.read { n++ } probe syscall.read { m[tid()] = n } probe end { }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "----- probe hit report: ");
    let n = &rows[0];
    assert!(
        lines[1].starts_with(&format!("syscall.read (<input>:1:13), hits: {n}, ns: "))
            && lines[1].ends_with(", from: syscall.read, index: 0"),
        "{err}"
    );
    assert!(lines[2].contains(&format!("hits: {n}, ns: ")), "{err}");
    assert!(
        lines[3].starts_with("end (<input>:1:76), hits: 1, ns: "),
        "{err}"
    );
    // A plan-computed probe says so.
    let (_, _, err) = retap(&[
        "run",
        "-t",
        "-e",
        "global n probe syscall.read { n++ } probe end { println(n) }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!(
            "syscall.read (<input>:1:10), hits: {n}, computed by a plan, from: syscall.read, index: 0"
        )),
        "{err}"
    );
}

/// --suppress-handler-errors: an array over its limit ends the handler,
/// not the run; the rest of the handler does not run.
#[test]
fn suppressed_handler_errors() {
    let trace = dataset("mixed");
    let script = "global a[2], n probe syscall.read { a[pid()] = 1; n++ } probe end { println(n) }";
    let (code, _, err) = retap(&["run", "-e", script, "--trace", trace.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("ERROR: Array overflow"), "{err}");
    let Some(rows) = common::duck(
        "mixed",
        "with p as (select distinct pid, min(ts) t from syscalls where syscall = 'read' \
         group by pid order by t limit 2) \
         select count(*) from syscalls where syscall = 'read' and pid in (select pid from p)",
    ) else {
        return;
    };
    let (code, out, err) = retap(&[
        "run",
        "--suppress-handler-errors",
        "-v",
        "-e",
        script,
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("{}\n", rows[0])), "{out}");
    assert!(
        err.contains("--suppress-handler-errors: ")
            && err.contains("handler(s) ended by a runtime error"),
        "{err}"
    );
}

/// Elision warnings, as stap prints them; -w and -u silence them.
#[test]
fn warnings_and_w_and_u() {
    let script = "global x function f() { return 1 } probe begin { exit() }";
    let (code, _, err) = retap(&["run", "-e", script]);
    assert_eq!(code, 0);
    let caret = |col: usize| format!("{}^\n", " ".repeat(13 + col - 1));
    let source = format!("     source: {script}\n");
    assert_eq!(
        err,
        format!(
            "WARNING: Eliding unused function 'f': identifier 'f' at <input>:1:19\n{source}{}\
             WARNING: Eliding unused variable 'x': identifier 'x' at <input>:1:8\n{source}{}",
            caret(19),
            caret(8)
        )
    );
    for flag in ["-w", "-u"] {
        let (code, _, err) = retap(&["run", flag, "-e", script]);
        assert_eq!((code, err.as_str()), (0, ""), "{flag}");
    }
    // A library's unused functions are not the script's to hear about.
    let (_, _, err) = retap(&["run", "-e", "probe begin { println(ansi_new_line()) }"]);
    assert_eq!(err, "");
}

/// A recording given where a script argument goes (`retap run script.stp
/// DIR`, meaning "over DIR") is refused with the --trace to give, before
/// anything goes live: a trace, a set of traces, with -e too. A directory
/// that holds no trace is a script argument as any other.
#[test]
fn a_recording_given_as_a_script_argument_is_refused_with_the_fix() {
    let trace = dataset("mixed");
    let set = tempfile::tempdir().unwrap();
    let member = set.path().join("host1").join("run1");
    std::fs::create_dir_all(&member).unwrap();
    std::fs::copy(trace.join("trace.json"), member.join("trace.json")).unwrap();
    let set = set.path().to_str().unwrap().to_string();
    let trace = trace.to_str().unwrap().to_string();
    for args in [
        // (-T: were it to go live, it would end)
        vec!["run", "-T", "2", "queries/profile.stp", trace.as_str()],
        vec!["run", "-e", "probe begin { exit() }", "x", trace.as_str()],
        vec!["run", "-T", "2", "queries/profile.stp", set.as_str()],
    ] {
        let (code, out, err) = retap(&args);
        let dir = args.last().unwrap();
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(
            err,
            format!(
                "retap run: {dir} is a recording, given as a script argument ($1, @1...); \
                 to run the script over it, give --trace {dir} (without --trace the script runs live)\n"
            ),
            "{args:?}"
        );
    }
    // Not a recording: an argument as any other (-p2 stops before live).
    let plain = tempfile::tempdir().unwrap();
    let (code, _, err) = retap(&[
        "run",
        "-p2",
        "-e",
        "probe begin { println(@1) exit() }",
        plain.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
}
