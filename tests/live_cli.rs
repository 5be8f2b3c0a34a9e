//! `retap run SCRIPT` without `--trace`: the script live, on events as
//! they happen (root). Counts against a workload whose calls are known
//! (retap-workload), the same text again over `--keep`'s trace, an entry
//! probe that fires while its syscall still blocks (and one that has its
//! open's file name then), timers in real time,
//! Ctrl-C, a killed recorder, and the errors.

mod common;
use common::{is_root, workload};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn retap() -> Command {
    common::retap()
}

/// (exit code, stdout, stderr) of `retap ARGS` from the repository root.
fn run(args: &[&str]) -> (i32, String, String) {
    common::run(args)
}

/// The lines of `out` the script printed (the workload prints `pid=N`
/// and such on the same terminal).
fn script_lines<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn workload_pid(out: &str) -> i64 {
    out.lines()
        .find_map(|l| l.strip_prefix("pid="))
        .expect("the workload says its pid")
        .parse()
        .unwrap()
}

#[test]
fn the_articles_listing_counts_a_known_workload_live_and_keep_replays_it() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("kept");
    let k = keep.display().to_string();
    let cmd = format!("{} calls --sync 3", workload().display());
    let (code, out, err) = run(&["run", "queries/sync_count.stp", "-c", &cmd, "--keep", &k]);
    assert_eq!(code, 0, "{err}");
    let pid = workload_pid(&out);
    let want: Vec<String> = (1..=3)
        .map(|n| format!("sys_sync called {n} times, currently by pid {pid}"))
        .collect();
    assert_eq!(script_lines(&out, "sys_sync"), want, "{out}");
    // The same events, kept as a trace: the same text.
    let (code, again, err) = run(&["run", "queries/sync_count.stp", "--trace", &k]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(script_lines(&again, "sys_sync"), want);

    // -c follows the command's children: a shell running the workload
    // twice makes 2 + 1 syncs, all traced, none of anyone else's.
    let w = workload().display().to_string();
    let cmd = format!("sh -c '{w} calls --sync 2; {w} calls --sync 1'");
    let (code, out, err) = run(&["run", "queries/sync_count.stp", "-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(script_lines(&out, "sys_sync").len(), 3, "{out}");
    assert!(out.contains("sys_sync called 3 times"), "{out}");

    // The latency listing: return probes with @entry, per name.
    let cmd = format!("{} calls --write 50", workload().display());
    let (code, out, err) = run(&["run", "queries/syscall_latency.stp", "-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    let write = out
        .lines()
        .find(|l| l.starts_with("write "))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(write.split_whitespace().nth(1), Some("51"), "{out}");

    // Counts per syscall name, entry and return: what the workload makes.
    let script = r#"global n, r
probe syscall.write, syscall.sync { if (pid() == target()) n[name]++ }
probe syscall.write.return { if (pid() == target() && retval > 0) r++ }
probe end { foreach (k+ in n) printf("live %s %d\n", k, n[k]); printf("live returned %d\n", r) }"#;
    let cmd = format!("{} calls --write 25 --sync 2", workload().display());
    let (code, out, err) = run(&["run", "-e", script, "-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    // 25 writes to /dev/null and one of the workload's report.
    assert_eq!(
        script_lines(&out, "live "),
        ["live sync 2", "live write 26", "live returned 26"],
        "{out}"
    );
}

/// prctl and ptrace by option and request, as stap's `_prctl_argstr` and
/// `_ptrace_argstr` show them (the expected text written from stap 4.8's
/// tapset), live and again over the kept trace.
#[test]
fn prctl_and_ptrace_show_their_arguments_as_stap_does() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let script = r#"probe syscall.prctl, syscall.ptrace { if (pid() == target()) printf("%s(%s)", name, argstr) }
probe syscall.prctl.return, syscall.ptrace.return { if (pid() == target()) printf(" = %s\n", retstr) }"#;
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("kept");
    let k = keep.display().to_string();
    let cmd = format!("{} calls --controls", workload().display());
    let (code, out, err) = run(&["run", "-e", script, "-c", &cmd, "--keep", &k]);
    assert_eq!(code, 0, "{err}");
    let want = [
        "prctl(PR_GET_DUMPABLE) = 1",
        "prctl(PR_SET_TIMERSLACK, 50000) = 0",
        "prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) = 1",
        "prctl(0x7fffffff, 0x1, 0x2, 0x3, 0x4) = -22 (EINVAL)",
        "ptrace(PTRACE_CONT, 2147483647, 0x0, SIGUSR1) = -3 (ESRCH)",
        "ptrace(PTRACE_SEIZE, 2147483647, 0x0, 0x100001) = -3 (ESRCH)",
        "ptrace(PTRACE_GETREGSET, 2147483647, NT_PRSTATUS, NULL) = -3 (ESRCH)",
        "ptrace(PTRACE_POKEDATA, 2147483647, 0x1000, 0x2000) = -3 (ESRCH)",
    ];
    let lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("prctl(") || l.starts_with("ptrace("))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(lines(&out), want, "{out}");
    let pid = workload_pid(&out).to_string();
    let (code, again, err) = run(&["run", "-e", script, "--trace", &k, "-x", &pid]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines(&again), want, "{again}");
}

#[test]
fn an_entry_probe_prints_while_its_syscall_still_blocks() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    // head blocks in read(0) until sleep exits, 6 s later; the probe fires
    // at the read's entry and exits the run long before that. (The
    // command's processes keep the output pipe open: the line is read as
    // it comes, and retap's own exit waited for.)
    let t = Instant::now();
    let mut live = retap()
        .args([
            "run",
            "-e",
            r#"probe syscall.read { if (execname() == "head" && fd == 0) { printf("read %d entered\n", fd); exit() } }"#,
            "-c",
            "sh -c 'sleep 6 | head -c1'",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line(&mut live);
    let printed = t.elapsed();
    let st = wait_within(&mut live);
    let exited = t.elapsed();
    assert!(st.success());
    assert_eq!(line, "read 0 entered\n");
    assert!(
        printed < Duration::from_secs(4),
        "printed after {printed:?}"
    );
    assert!(exited < Duration::from_secs(5), "exited after {exited:?}");
}

#[test]
fn an_entry_probe_has_the_file_name_while_its_open_still_blocks() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    // cat blocks in openat on a FIFO without a writer: the name comes with
    // the syscall's entry, not its return.
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("live-fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let script = r#"probe syscall.openat { if (isinstr(filename, "live-fifo")) { printf("%s opens %s\n", execname(), filename); exit() } }"#;
    let mut live = retap()
        .args([
            "run",
            "-e",
            script,
            "-c",
            &format!("cat {}", fifo.display()),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line(&mut live);
    // Let cat go (whether or not the run ended it).
    let w = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo);
    drop(w);
    let st = wait_within(&mut live);
    assert!(st.success());
    // (quoted: stap's openat tapset gives `filename` as user_string_quoted)
    assert_eq!(line, format!("cat opens \"{}\"\n", fifo.display()));
}

#[test]
fn dash_x_follows_one_process_until_it_exits() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    // 6000 getppid calls at 2000 a second (paced by the thousand): 2.5 s.
    let mut w = Command::new(workload())
        .args(["loop", "getppid", "6000", "2000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = w.id().to_string();
    let (code, out, err) = run(&[
        "run",
        "-x",
        &pid,
        "-e",
        r#"global n, others probe syscall.getppid { if (pid() == target()) n++ else others++ }
probe end { printf("%d %d\n", n > 100, others) }"#,
    ]);
    assert!(w.wait().unwrap().success());
    assert_eq!(code, 0, "{err}");
    // Only that process is traced, and the run ends with it.
    assert_eq!(
        out,
        "1 0
"
    );
}

#[test]
fn runtime_errors_and_limits_are_reported_as_stap_reports_them() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let cmd = format!("{} loop getppid 100", workload().display());
    let (code, out, err) = run(&[
        "run",
        "-D",
        "MAXMAPENTRIES=10",
        "-c",
        &cmd,
        "-e",
        "global a, n\nprobe syscall.getppid { a[n++] = 1 }\nprobe end { printf(\"end %d\\n\", n) }",
    ]);
    assert_eq!(code, 1, "{err}");
    // The end probe runs after the error, on the state where it stopped;
    // then the global nothing read is printed, as stap prints it.
    let mut want = String::from("end 11\n");
    for i in 0..10 {
        want.push_str(&format!("a[{i}]=1\n"));
    }
    assert_eq!(out, want, "{err}");
    assert!(
        err.contains(
            "ERROR: Array overflow, check MAXMAPENTRIES near identifier 'a' at <input>:2:"
        ),
        "{err}"
    );
    assert!(
        err.contains("WARNING: Number of errors: 1, skipped probes: 0"),
        "{err}"
    );
}

#[test]
fn timers_fire_in_real_time() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let t = Instant::now();
    let (code, out, err) = run(&[
        "run",
        "-e",
        r#"global n probe timer.ms(300) { n++; printf("tick %d\n", n); if (n == 3) exit() }"#,
    ]);
    let took = t.elapsed();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "tick 1\ntick 2\ntick 3\n");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "took {took:?}"
    );
    // -G sets a global live too.
    let (code, out, err) = run(&[
        "run",
        "-G",
        "stop=2",
        "-e",
        r#"global n, stop probe timer.ms(50) { n++; if (n == stop) { printf("%d\n", n); exit() } }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "2\n");

    // -o FILE: the output there, as each handler ends.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("out.txt");
    let f = file.display().to_string();
    let (code, out, err) = run(&[
        "run",
        "-o",
        &f,
        "-e",
        r#"probe timer.ms(100) { printf("to the file\n"); exit() }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "to the file\n");

    // -T as stap's: the run stops after it, end probes print.
    let t = Instant::now();
    let (code, out, err) = run(&[
        "run",
        "-T",
        "1",
        "-e",
        r#"global n probe timer.ms(100) { n++ } probe end { printf("ticks %d\n", n >= 5) }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "ticks 1\n");
    assert!(t.elapsed() < Duration::from_secs(5));

    // The kernel's HZ, as its configuration states it: HZ() and
    // timer.jiffies (50 jiffies) at it.
    let hz = retap_schema::kernel_config::hz().expect("CONFIG_HZ readable here");
    let t = Instant::now();
    let (code, out, err) = run(&[
        "run",
        "-e",
        r#"probe timer.jiffies(50) { printf("%d\n", HZ()); exit() }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{hz}\n"));
    assert!(t.elapsed() >= Duration::from_millis(50_000 / u64::from(hz)));
}

/// A script's time begins when the recorder's programs are attached, as
/// stap's begins once its probes are registered: a 300 ms timer over a
/// workload that starts then (-c's command is released once attached)
/// counts its first 300 ms of calls, live and over the kept trace, as
/// DuckDB counts the rows up to the manifest's attached_ns + 300 ms.
/// Counted from the recorder's start (its set-up takes 0.3-0.5 s) it saw
/// next to none.
#[test]
fn timers_count_from_when_the_recorder_attached() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("kept").display().to_string();
    let cmd = format!("{} loop getppid 100000 50000", workload().display());
    let script = r#"global n probe syscall.getppid { n++ } probe timer.ms(300) { printf("%d\n", n); exit() }"#;
    let (code, out, err) = run(&["run", "-e", script, "-c", &cmd, "--keep", &keep]);
    assert_eq!(code, 0, "{err}");
    let live: i64 = out.trim().parse().unwrap_or_else(|_| panic!("{out}"));
    let m = retap_schema::manifest::Manifest::load(Path::new(&keep)).unwrap();
    let attached = m.attached_ns.expect("the recorder says when it attached");
    assert!(attached > m.start_ns, "{attached} {}", m.start_ns);
    // 50k calls a second for 300 ms: thousands, not next to none.
    assert!(live > 2000, "{live}");
    let (code, again, err) = run(&["run", "-e", script, "--trace", &keep]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, out);
    let Some(rows) = common::duck_at(
        Path::new(&keep),
        "select count(*) from syscalls where syscall = 'getppid' and ts <= $start + 300000000",
    ) else {
        return;
    };
    assert_eq!(rows, [live.to_string()]);
}

/// The pids of `parent`'s children whose command line matches `pattern`.
fn children(parent: u32, pattern: &str) -> Vec<i32> {
    let out = Command::new("pgrep")
        .args(["-P", &parent.to_string(), "-f", "--", pattern])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `child`'s exit status, waited for at most a minute (a run that does
/// not stop fails the test rather than hanging CI).
/// The first line a live run prints, as soon as it comes.
fn first_line(live: &mut std::process::Child) -> String {
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(live.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    line
}

fn wait_within(child: &mut std::process::Child) -> std::process::ExitStatus {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the live run did not stop within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A piped live run's exit status, stdout and stderr, waited for at most
/// a minute.
fn ended(live: &mut std::process::Child) -> (std::process::ExitStatus, String, String) {
    let st = wait_within(live);
    let mut out = String::new();
    if let Some(mut o) = live.stdout.take() {
        o.read_to_string(&mut out).unwrap();
    }
    let mut err = String::new();
    if let Some(mut e) = live.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (st, out, err)
}

/// The recorder streaming to `parent` (not the short-lived
/// `retap-record --can-record` checks it runs first).
/// Waits until the recorder keeping its trace in `dir` says its programs
/// are attached (the manifest's attached_ns).
fn wait_attached(dir: &Path) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let attached = std::fs::read_to_string(dir.join("trace.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|m| m["attached_ns"].is_i64());
        if attached {
            return;
        }
        assert!(
            Instant::now() < end,
            "{}: the recorder did not attach",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for_recorder(parent: u32) -> i32 {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(p) = children(parent, "retap-record .*--stream-fd").first() {
            return *p;
        }
        assert!(Instant::now() < end, "no recorder started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the recorder has attached its programs: its BPF links, as
/// open files, stop growing. A fixed pause was too short for a loaded
/// machine (an unoptimized recorder loading its programs beside other
/// tests), and a probe made before the attachment is not seen.
fn wait_until_attached(recorder: i32) {
    let links = || {
        std::fs::read_dir(format!("/proc/{recorder}/fd"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter(|l| l.to_string_lossy() == "anon_inode:bpf_link")
                    .count()
            })
            .unwrap_or(0)
    };
    let end = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = links();
        if now > 0 && now == seen {
            return;
        }
        seen = now;
        assert!(Instant::now() < end, "the recorder attached nothing");
    }
}

#[test]
fn ctrl_c_runs_the_end_probes_and_a_killed_recorder_is_reported() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let script =
        r#"global n probe syscall.clock_nanosleep { n++ } probe end { printf("end %d\n", n > 0) }"#;
    // Something sleeps meanwhile.
    let mut sleeper = Command::new("sh")
        .args([
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do sleep 0.2; done",
        ])
        .spawn()
        .unwrap();
    let mut live = retap()
        .args(["run", "-e", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let recorder = wait_for_recorder(live.id());
    std::thread::sleep(Duration::from_millis(1500));
    // SIGINT to retap alone (a terminal's Ctrl-C reaches the recorder too):
    // it stops the recorder itself.
    unsafe { libc::kill(live.id() as i32, libc::SIGINT) };
    let (st, out, err) = ended(&mut live);
    assert!(st.success(), "{st}: {err}");
    assert_eq!(out, "end 1\n");
    assert!(
        unsafe { libc::kill(recorder, 0) } != 0,
        "the recorder is still running"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    // SIGTERM likewise.
    let mut live = retap()
        .args(["run", "-e", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_recorder(live.id());
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(live.id() as i32, libc::SIGTERM) };
    let (st, out, _) = ended(&mut live);
    assert!(st.success(), "{st}");
    assert!(out.starts_with("end "), "{out}");

    // The recorder killed: the analyzer half says so and fails.
    let mut live = retap()
        .args(["run", "-e", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let recorder = wait_for_recorder(live.id());
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(recorder, libc::SIGKILL) };
    let (st, _, err) = ended(&mut live);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "retap run: the recorder (retap-record, pid {recorder}) was killed by signal 9"
        )),
        "{err}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    if !is_root() {
        return retap_testkit::skip_without("root", "the test drops root to see the error");
    }
    let (code, _, err) = run(&[
        "run",
        "-e",
        "probe syscall.read { exit() }",
        "-c",
        "/nonexistent/cmd",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("-c: /nonexistent/cmd: no such command (not a file, nor found on $PATH)"),
        "{err}"
    );
    let (code, _, err) = run(&[
        "run",
        "-e",
        "probe syscall.read { exit() }",
        "-x",
        "999999999",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("-x 999999999: no such process"), "{err}");
    // vfs where the kernel has neither kprobes nor fentry.
    if !Path::new("/sys/bus/event_source/devices/kprobe/type").exists() {
        let (code, _, err) = run(&["run", "-e", "probe vfs.read { exit() }"]);
        assert_eq!(code, 1);
        assert!(
            err.contains("vfs cannot be recorded on this kernel: needs fentry/fexit or kprobes"),
            "{err}"
        );
    }
    // Not root: begin/end scripts run, event probes say how to get them.
    let nobody = |script: &str| {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_retap"))
            .args(["run", "-e", script])
            .current_dir("/")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = nobody("probe begin { println(\"hello\") }");
    assert_eq!((code, out.as_str()), (0, "hello\n"), "{err}");
    let (code, _, err) = nobody("probe syscall.read { exit() }");
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "retap run: this script's probes need events, and tracing them live needs root \
         (or CAP_BPF and CAP_PERFMON): run it with sudo, or record as root and analyse \
         here: sudo retap record --for SCRIPT -o DIR, then retap run SCRIPT --trace DIR\n"
    );
}

#[test]
fn lost_events_are_reported_as_skipped_probes_and_fail_the_run() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    // An 8 KiB ring cannot hold a burst of 200,000 getppid calls between
    // two reads of the recorder.
    let cmd = format!("{} loop getppid 200000", workload().display());
    let (code, out, err) = run(&[
        "run",
        "-s",
        "8K",
        "-c",
        &cmd,
        "-e",
        r#"global n probe syscall.getppid { n++ } probe end { printf("seen %d\n", n < 200000) }"#,
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("seen 1\n"), "{out}");
    let skipped = err
        .lines()
        .find_map(|l| l.strip_prefix("WARNING: Number of errors: 0, skipped probes: "))
        .unwrap_or_else(|| panic!("no skipped probes line in:\n{err}"));
    assert!(skipped.parse::<u64>().unwrap() > 0, "{err}");
    assert!(err.contains("event(s) were lost"), "{err}");
}

#[test]
fn dash_p2_elaborates_against_the_running_kernel() {
    if !is_root() {
        return retap_testkit::skip_without("root", "reading the kernel's tracepoints needs it");
    }
    // A tracepoint no recording's default set holds: the kernel has it.
    let (code, out, err) = run(&[
        "run",
        "-p2",
        "-e",
        r#"probe kernel.trace("syscalls:sys_enter_getppid") { n++ } global n"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kernel.trace(\"syscalls:sys_enter_getppid\")"),
        "{out}"
    );
    let (code, out, err) = run(&[
        "run",
        "-p2",
        "-e",
        r#"probe kernel.trace("sched:sched_switch") { print($prev_pid) }"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-> table sched.sched_switch"), "{out}");
}

#[test]
fn counts_made_in_the_kernel_equal_those_of_the_streamed_events() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("kept");
    let script = r#"global c
probe syscall.write, syscall.sync { c[execname(), pid()]++ }
probe end { foreach ([e, p] in c) printf("%s %d %d\n", e, p == target(), c[e, p]) }"#;
    let cmd = format!("{} calls --write 30 --sync 2", workload().display());
    // Counted in the kernel (nothing kept): -v says so.
    let (code, counted, err) = run(&["run", "-v", "-e", script, "-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("syscall.write, syscall.sync: counted in the kernel"),
        "{err}"
    );
    // Streamed (--keep keeps the events), and over the kept trace.
    let k = keep.display().to_string();
    let (code, streamed, err) = run(&["run", "-v", "-e", script, "-c", &cmd, "--keep", &k]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("counted in the kernel"), "{err}");
    let lines = |s: &str| script_lines(s, "retap-workload ").join("\n");
    // 30 writes, the report's, 2 syncs: 33, all the command's.
    assert_eq!(lines(&counted), "retap-workload 1 33");
    assert_eq!(lines(&streamed), lines(&counted));
    let (code, replayed, err) = run(&["run", "-e", script, "--trace", &k]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines(&replayed), lines(&counted));

    // Ctrl-C ends the run before the recorder: it is stopped, and its
    // counts still reach the end probe.
    let mut live = retap()
        .args([
            "run",
            "-v",
            "-e",
            r#"global c probe syscall.clock_nanosleep { c[execname()]++ }
probe end { printf("slept %d\n", c["sleep"] > 0) }"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_attached(wait_for_recorder(live.id()));
    assert!(Command::new("sleep").arg("0.2").status().unwrap().success());
    unsafe { libc::kill(live.id() as i32, libc::SIGINT) };
    let (st, out, err) = ended(&mut live);
    assert!(st.success(), "{err}");
    assert!(
        err.contains("syscall.clock_nanosleep: counted in the kernel"),
        "{err}"
    );
    assert_eq!(out, "slept 1\n");
}

/// The article's other listings live: hello.stp, net.stp and nethist.stp
/// over a command's datagrams, and the two ten-second listings (profile.stp,
/// syslog_profile.stp) side by side while a workload runs. Each prints the
/// counts the workload makes (DuckDB's over the kept trace where the
/// workload's start-up calls make the number), and the kept trace replays
/// the same text.
#[test]
fn every_listing_of_the_article_runs_live() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let (code, out, err) = run(&["run", "queries/hello.stp"]);
    assert_eq!((code, out.as_str()), (0, "hello world\n"), "{err}");

    let tmp = tempfile::tempdir().unwrap();
    // 5 datagrams of 1000..1004 bytes to itself over lo: 5 sent, 5 received.
    let cmd = format!("{} calls --udp 5", workload().display());
    let kept = |name: &str| tmp.path().join(name).display().to_string();
    let (code, out, err) = run(&["run", "queries/net.stp", "-c", &cmd, "--keep", &kept("net")]);
    assert_eq!(code, 0, "{err}");
    let pid = workload_pid(&out);
    let table = format!("   lo retap-workload  {pid:<5}         5         5");
    assert!(out.lines().any(|l| l == table), "want {table:?} in:\n{out}");
    let (code, again, err) = run(&["run", "queries/net.stp", "--trace", &kept("net")]);
    assert_eq!(code, 0, "{err}");
    let listing = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("pid=") && !l.starts_with("udp_port="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(listing(&again), listing(&out));

    let (code, out, err) = run(&[
        "run",
        "queries/nethist.stp",
        "-c",
        &cmd,
        "--keep",
        &kept("hist"),
    ]);
    assert_eq!(code, 0, "{err}");
    // Each datagram is 1000-1004 bytes and its packet 1028-1032 with the
    // IP and UDP headers: ten packets in the 1024 bucket (there may be
    // others on lo meanwhile, never fewer).
    let bucket = out
        .lines()
        .find(|l| l.trim_start().starts_with("1024 |"))
        .unwrap_or_else(|| panic!("{out}"));
    let n: u64 = bucket.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 10, "{out}");
    let (code, again, err) = run(&["run", "queries/nethist.stp", "--trace", &kept("hist")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(listing(&again), listing(&out));

    // The ten-second listings, both at once, over one workload, under a
    // name of its own (other tests run workloads meanwhile).
    let keep_profile = kept("profile");
    let named_workload = tmp.path().join("listing-load");
    std::fs::copy(workload(), &named_workload).unwrap();
    let start = |args: &[&str]| {
        let live = retap()
            .args(args)
            .current_dir(common::root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_recorder(live.id());
        live
    };
    // (With other tests running, more processes than stap's MAXACTION lets
    // one probe print: raised as stap users raise it. Their bursts, such
    // as another test's 300,000 getppid at full speed, filled the default
    // 8 MB ring buffer of these machine-wide recordings once in CI (6,829
    // events lost): 256 MB, as stap users raise -s.)
    let mut profile = start(&[
        "run",
        "-s",
        "256",
        "-D",
        "MAXACTION=1000000",
        "queries/profile.stp",
        "--keep",
        &keep_profile,
    ]);
    let keep_syslog = kept("syslog");
    let mut syslog = start(&[
        "run",
        "-s",
        "256",
        "queries/syslog_profile.stp",
        "listing-load",
        "--keep",
        &keep_syslog,
    ]);
    // The workload starts once both recorders' programs are attached (a
    // fixed wait was too short for two 256 MB rings on a busy machine).
    wait_attached(Path::new(&keep_profile));
    wait_attached(Path::new(&keep_syslog));
    let w = Command::new(&named_workload)
        .args(["calls", "--write", "25", "--sync", "3"])
        .output()
        .unwrap();
    assert!(w.status.success());
    let pid = workload_pid(&String::from_utf8_lossy(&w.stdout));
    let (st, profiled, err) = ended(&mut profile);
    assert!(st.success(), "{st}: {err}");
    let (st, named, err) = ended(&mut syslog);
    assert!(st.success(), "{st}: {err}");

    // syslog_profile: the calls the workload makes after start-up, exactly
    // (25 writes to /dev/null and its report).
    assert!(named.starts_with("Syslog Monitoring Started (10 seconds)...\n"));
    for want in ["sync = 3", "write = 26"] {
        assert!(
            named.lines().any(|l| l == want),
            "want {want:?} in:\n{named}"
        );
    }
    // profile: the workload's line holds every syscall of the process that
    // stap's syscall.* fires on, as DuckDB counts them in the kept trace.
    let (_, probed) = common::stap_syscall_sql();
    // (Before its exec the child is the test's fork, counted under the
    // test's name.)
    let sql = format!(
        "select count(*) from syscalls where pid = {pid} and execname = 'listing-load' and {probed}"
    );
    let Some(rows) = common::duck_at(Path::new(&keep_profile), &sql) else {
        return;
    };
    let line = format!("listing-load[{pid}] = {}", rows[0]);
    assert!(
        profiled.lines().any(|l| l == line),
        "want {line:?} in:\n{profiled}"
    );
    let (code, again, err) = run(&[
        "run",
        "-D",
        "MAXACTION=1000000",
        "queries/profile.stp",
        "--trace",
        &keep_profile,
    ]);
    assert_eq!(code, 0, "{err}");
    // The same processes with the same counts. (A process whose syscall
    // ended while the stop detached its probes was once counted one more
    // live: see record_e2e's a_syscall_ending_during_the_stop_is_written.)
    let counts = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.contains(" = "))
            .map(String::from)
            .collect()
    };
    assert_eq!(
        counts(&profiled),
        counts(&again),
        "live:\n{profiled}\nreplayed:\n{again}"
    );
    assert!(
        again.lines().any(|l| l == line),
        "want {line:?} in:\n{again}"
    );
}

/// A process making syscalls as fast as it can while the recorder
/// attaches and when a timer ends the run: the count live equals the count
/// over the kept trace. (Each syscall entered after sys_enter is attached
/// is written whole, sys_exit being attached first; and the timer fires
/// once every event stamped before it has come.)
#[test]
fn a_busy_process_is_counted_alike_live_and_over_the_kept_trace() {
    if !is_root() {
        return retap_testkit::skip_without("root", "tracing live needs it; CI runs as root");
    }
    let mut busy = Command::new(workload())
        .args(["loop", "getppid", "100000000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let tmp = tempfile::tempdir().unwrap();
    let k = tmp.path().join("kept").display().to_string();
    let script = format!(
        "global n probe syscall.getppid {{ if (pid() == {}) n++ }} \
         probe timer.ms(1500) {{ printf(\"%d\\n\", n); exit() }}",
        busy.id()
    );
    // A 64 MB ring (`-s`): the tests' unoptimized recorder takes about as
    // many records a second (~260k) as the traced loop makes, so the
    // default 8 MB (~50 ms of one core's syscalls) filled whenever other
    // tests ran beside it, and lost events fail the run.
    let (code, live, err) = run(&["run", "-s", "64", "-e", &script, "--keep", &k]);
    let _ = busy.kill();
    let _ = busy.wait();
    assert_eq!(code, 0, "{err}");
    let n: u64 = live.trim().parse().unwrap_or_else(|_| panic!("{live}"));
    assert!(n > 100_000, "{live}");
    let (code, replayed, err) = run(&["run", "-e", &script, "--trace", &k]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(replayed, live);
}
