//! `retap record --for SCRIPT`: a recording made for a script holds only
//! what the script reads, and the script prints over it what it prints
//! over a full recording of the same workload (retap-workload's calls are
//! known). Recording needs root: CI runs these as root.

mod common;
use common::{is_root, workload};
use common::{retap, run};
use std::path::Path;

fn script(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `retap record ARGS`: (exit code, stderr).
fn record(args: &[&str]) -> (i32, String) {
    let out = retap().arg("record").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stap(trace: &Path, script: &str) -> String {
    let t = trace.display().to_string();
    let (code, out, err) = run(&["run", "--trace", &t, script]);
    assert_eq!(code, 0, "{err}");
    out
}

fn sql(trace: &Path, q: &str) -> String {
    let t = trace.display().to_string();
    let (code, out, err) = run(&["sql", &t, "--format", "csv", q]);
    assert_eq!(code, 0, "{err}");
    out
}

/// Bytes of the trace's files.
fn size(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() { size(&e.path()) } else { m.len() };
    }
    n
}

fn tables(dir: &Path) -> Vec<String> {
    let mut t: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    t.sort();
    t
}

const COUNTS: &str = r#"global n, opened
probe syscall.write, syscall.sync { n[name]++ }
probe syscall.openat { if (isinstr(filename, "file-")) opened[filename]++ }
probe end {
  foreach (k+ in n) printf("%s %d\n", k, n[k])
  foreach (f+ in opened) printf("%s %d\n", f, opened[f])
}
"#;

#[test]
fn a_recording_made_for_a_script_prints_what_a_full_one_does() {
    if !is_root() {
        return retap_testkit::skip_without("root", "recording needs it; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let cmd = format!(
        "{} calls --write 40 --sync 3 --paths 4 --dir {}",
        workload().display(),
        files.display()
    );
    let s = script(tmp.path(), "counts.stp", COUNTS);
    let (full, made_for) = (tmp.path().join("full"), tmp.path().join("for"));
    let (code, err) = record(&["-o", &full.display().to_string(), "-q", "-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_dir_all(&files).unwrap();
    std::fs::create_dir(&files).unwrap();
    let (code, err) = record(&[
        "--for",
        &s,
        "-v",
        "-o",
        &made_for.display().to_string(),
        "-q",
        "-c",
        &cmd,
    ]);
    assert_eq!(code, 0, "{err}");
    // -v says what it chose, and why.
    for said in [
        "table syscalls: probe syscall.write",
        "syscalls sync: probe syscall.sync",
        "syscalls openat: probe syscall.openat",
        "file names: probe syscall.openat reads them",
        "--events=syscalls --syscalls=openat,sync,write",
    ] {
        assert!(err.contains(said), "{said:?} not in:\n{err}");
    }
    // The same text over both, with the workload's exact counts: 40
    // writes to /dev/null and one of its report; 4 files opened by name.
    let want = stap(&full, &s);
    assert_eq!(stap(&made_for, &s), want);
    let mut expect = String::from("sync 3\nwrite 41\n");
    for i in 0..4 {
        expect.push_str(&format!("\"{}/file-{i}\" 1\n", files.display()));
    }
    assert_eq!(want, expect);
    // Only what the script reads: one table, three syscalls.
    assert_eq!(tables(&made_for), ["syscalls"]);
    assert_eq!(
        sql(
            &made_for,
            "select distinct syscall from syscalls order by 1"
        ),
        "syscall\nopenat\nsync\nwrite\n"
    );
    assert!(
        size(&made_for) * 4 < size(&full),
        "{} vs {} bytes",
        size(&made_for),
        size(&full)
    );
}

#[test]
fn file_names_stacks_and_tracepoints_are_recorded_only_when_read() {
    if !is_root() {
        return retap_testkit::skip_without("root", "recording needs it; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let cmd = format!("{} calls --write 5", workload().display());
    // No file name read: none recorded, though openat is.
    let s = script(
        tmp.path(),
        "opens.stp",
        "global n probe syscall.openat, syscall.write { n[name]++ } \
         probe end { foreach (k+ in n) printf(\"%s %d\\n\", k, n[k]) }",
    );
    let t = tmp.path().join("no-names");
    let (code, err) = record(&[
        "--for",
        &s,
        "-v",
        "-o",
        &t.display().to_string(),
        "-q",
        "-c",
        &cmd,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("--string-max=0"), "{err}");
    assert!(
        err.contains("no file names: no probe reads a syscall's file name"),
        "{err}"
    );
    assert_eq!(
        sql(
            &t,
            "select count(*) > 0 as opened, count(path) as names from syscalls \
             where syscall = 'openat'"
        ),
        "opened,names\ntrue,0\n"
    );
    // A tracepoint whose stack is read, and the process tree: their
    // tables, the stack recorded, and nothing else.
    let s = script(
        tmp.path(),
        "switch.stp",
        "global n, parent probe kernel.trace(\"sched:sched_switch\") { if (pid() == target()) { n[backtrace() != \"\"]++; parent |= ppid() > 0 } } \
         probe end { foreach (b in n) printf(\"%d %d\\n\", b, n[b] > 0); printf(\"parent %d\\n\", parent) }",
    );
    let t = tmp.path().join("switch");
    let (code, err) = record(&[
        "--for",
        &s,
        "-v",
        "-o",
        &t.display().to_string(),
        "-q",
        "-c",
        &format!("{} calls --sleep-ms 20", workload().display()),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "--events=processes --tracepoints=sched:sched_switch --stacks=sched:sched_switch"
        ),
        "{err}"
    );
    assert_eq!(tables(&t), ["processes", "sched.sched_switch", "symbols"]);
    // The workload slept: switched out, each time with a kernel stack; its
    // parent known from the process tree.
    assert_eq!(stap(&t, &s), "1 1\nparent 1\n");
}

#[test]
fn what_a_recording_cannot_serve_is_refused_before_anything_is_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let o = out.display().to_string();
    // Options --for chooses itself.
    let s = script(tmp.path(), "w.stp", "probe syscall.write { }");
    let (code, err) = record(&["--for", &s, "--events", "syscalls", "-o", &o]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--events and --for cannot be used together"),
        "{err}"
    );
    if !is_root() {
        return retap_testkit::skip_without("root", "recording needs it; CI runs as root");
    }
    // Located errors with a caret, from passes 1-2.
    let cases = [
        (
            "probe begin { system(\"ls\") }",
            "semantic error: function 'system' is not available: it runs a command on the traced machine at ",
        ),
        (
            "%{ int x; %}\nprobe begin { }",
            "parse error: embedded C code (%{ %}) is not supported",
        ),
        (
            "probe kernel.function(\"do_sys_open\") { }",
            "is not a system call entry",
        ),
        ("probe syscall.write { x = }", "parse error: "),
    ];
    for (text, said) in cases {
        let s = script(tmp.path(), "bad.stp", text);
        let (code, err) = record(&["--for", &s, "-o", &o]);
        assert_eq!(code, 1, "{text}");
        assert!(err.contains(said), "{text}:\n{err}");
        assert!(err.contains(&format!("{s}:1:")), "{text}:\n{err}");
        assert!(err.contains('^'), "{text}:\n{err}");
        assert!(!out.exists(), "{text}: a trace directory was made");
    }
    // vfs needs kprobes or fentry: this kernel has neither (a production
    // kernel records it).
    let s = script(tmp.path(), "vfs.stp", "global n\nprobe vfs.read { n++ }");
    let (code, err) = record(&["--for", &s, "-o", &o, "-c", "true"]);
    if Path::new("/sys/bus/event_source/devices/kprobe/type").exists() {
        assert_eq!(code, 0, "{err}");
    } else {
        assert_eq!(code, 1);
        assert!(
            err.contains(
                "semantic error: vfs.read cannot be recorded on this kernel: needs fentry/fexit or kprobes, and this kernel lacks both"
            ),
            "{err}"
        );
        assert!(err.contains(&format!("{s}:2:1")), "{err}");
        assert!(!out.exists());
    }
}

#[test]
fn without_root_the_error_says_to_record_as_root() {
    if !is_root() {
        return retap_testkit::skip_without("root", "the test drops root to see the error");
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = script(tmp.path(), "w.stp", "probe syscall.write { }");
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&s, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_retap"))
        .args(["record", "--for", &s, "-o", "/tmp/retap-never"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "retap record: recording needs root, or the CAP_BPF and CAP_PERFMON capabilities \
         (this process has neither); run it with sudo\n"
    );
}
