//! User-space probes through the CLI (root): a program built here
//! (retap_testkit::uprobe_target) with known calls, probed by a stap script
//! live, over the trace the live run kept, and over a recording made
//! `--for` the script — the same text each time, the counts checked
//! against DuckDB over the same files; libc's malloc under `ls`; and the
//! errors for what cannot be probed.

mod common;
use common::{duck_at, is_root, run};
use std::path::Path;

macro_rules! need_root {
    () => {
        if !is_root() {
            return retap_testkit::skip_without(
                "root",
                "user-space probes attach BPF programs; CI runs as root",
            );
        }
    };
}

/// `retap record -o OUT -c CMD -q` with `how` (`--for SCRIPT -v`, or the
/// recorder's own options), which must succeed; what it said on stderr.
fn record(out: &str, cmd: &str, how: &[&str]) -> String {
    let mut args = vec!["record", "-o", out, "-c", cmd, "-q"];
    args.extend(how);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    err
}

/// `out` without the program's own line `line`, which it must hold once:
/// the program shares the terminal and prints when it exits, which may be
/// before, between or after the probes' lines (they print as events
/// arrive).
fn without_program_line(out: &str, line: &str) -> String {
    let mut found = 0;
    let rest: String = out
        .lines()
        .filter(|l| {
            let mine = *l == line && found == 0;
            found += usize::from(mine);
            !mine
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(found, 1, "the program's line {line:?} is not in {out}");
    rest
}

/// A script over every kind of user-space probe of the test program.
fn script(bin: &Path) -> String {
    let b = bin.display();
    format!(
        r#"global adds, sums
probe process("{b}").function("rt_add") {{ adds[ppfunc()]++; sums <<< int_arg(1) + int_arg(2) }}
probe process("{b}").function("rt_fact").return {{ printf("fact(%d) = %d\n", int_arg(1), $return) }}
probe process("{b}").function("rt_greet").return {{ printf("greet -> %s\n", user_string($return)) }}
probe process("{b}").mark("tick") {{ printf("tick %d %d %s %s\n", $arg1, $arg2, $$provider, $$name) }}
probe process("{b}").provider("retap_test").mark("name") {{ printf("name %s\n", user_string($arg1)) }}
probe end {{ foreach (f in adds) printf("%s %d\n", f, adds[f]); print(@hist_log(sums)) }}
"#
    )
}

/// What the script prints for `uprobe_target 7`.
fn expected() -> String {
    let mut s = String::new();
    for i in 0..7 {
        s.push_str(&format!("tick {i} {} retap_test tick\n", -i));
    }
    for w in ["world", "retap", "stap"] {
        s.push_str(&format!("greet -> hello {w}\nname {w}\n"));
    }
    for (n, f) in [(1, 1), (2, 2), (3, 6), (4, 24), (5, 120)] {
        s.push_str(&format!("fact({n}) = {f}\n"));
    }
    s.push_str("rt_add 7\n");
    // 3i for i in 0..7: 0, 3, 6, 9, 12, 15, 18.
    s.push_str(
        "value |-------------------------------------------------- count\n\
         \x20   0 |@                                                  1\n\
         \x20   1 |                                                   0\n\
         \x20   2 |@                                                  1\n\
         \x20   4 |@                                                  1\n\
         \x20   8 |@@@                                                3\n\
         \x20  16 |@                                                  1\n\
         \x20  32 |                                                   0\n\
         \x20  64 |                                                   0\n\n",
    );
    s
}

#[test]
fn a_program_probed_live_over_its_kept_trace_and_over_a_recording_for_the_script() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let stp = tmp.path().join("u.stp");
    std::fs::write(&stp, script(&bin)).unwrap();
    let s = stp.display().to_string();
    let cmd = format!("{} 7", bin.display());
    let keep = tmp.path().join("kept").display().to_string();

    let (code, out, err) = run(&["run", &s, "-c", &cmd, "--keep", &keep]);
    assert_eq!(code, 0, "{err}");
    // The program's own line (the sum of its additions) goes to the same
    // terminal.
    assert_eq!(without_program_line(&out, "63"), expected(), "{err}");
    let (code, again, err) = run(&["run", &s, "--trace", &keep]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, expected());

    let rec = tmp.path().join("rec").display().to_string();
    let err = record(&rec, &cmd, &["--for", &s, "-v"]);
    // Only what the script reads: no syscalls, the two strings it reads.
    assert!(err.contains("--events=uprobes "), "{err}");
    assert!(err.contains(":rt_greet:string=return"), "{err}");
    assert!(err.contains(":retap_test:name:string=arg1"), "{err}");
    let (code, offline, err) = run(&["run", &s, "--trace", &rec]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(offline, expected());

    // The same counts through DuckDB over the recording.
    let Some(rows) = duck_at(
        Path::new(&rec),
        "select regexp_extract(probe, '(function|mark)\\(\"([a-z_]+)\"\\)(.return)?$', 0), count(*) \
         from uprobes group by 1 order by 1",
    ) else {
        return;
    };
    assert_eq!(
        rows,
        vec![
            "function(\"rt_add\")|7",
            "function(\"rt_fact\").return|5",
            "function(\"rt_greet\").return|3",
            "mark(\"name\")|3",
            "mark(\"tick\")|7",
        ]
    );
}

#[test]
fn plans_over_user_probes_print_what_the_interpreter_prints() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let b = bin.display();
    let stp = tmp.path().join("agg.stp");
    std::fs::write(
        &stp,
        format!(
            r#"global n, s, by, h, m
probe process("{b}").function("rt_add") {{ n++; s += ulong_arg(1); by[pid(), execname()]++ }}
probe process("{b}").function("rt_add").return {{ h <<< $return; if ($return > m) m = $return }}
probe process("{b}").mark("tick") {{ by[tid(), "tick"] += $arg1 }}
probe end {{ printf("%d %d %d\n", n, s, m); foreach ([p, e] in by) printf("%s %d\n", e, by[p, e]); printf("%d %d %d\n", @count(h), @sum(h), @avg(h)) }}
"#
        ),
    )
    .unwrap();
    let s = stp.display().to_string();
    let rec = tmp.path().join("rec").display().to_string();
    let n = 100_000i64;
    // A ring buffer that holds all 300,000 records: under CI's load the
    // default one overflowed (2,657 dropped, counted in the manifest), and
    // the exact counts below need every call.
    record(
        &rec,
        &format!("{b} {n}"),
        &["--for", &s, "--ringbuf-size", "128M"],
    );
    let (code, planned, err) = run(&["run", &s, "--trace", &rec, "-v"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("function(\"rt_add\").return: compiled to a DataFusion plan"),
        "{err}"
    );
    let (code, interpreted, err) = run(&["run", &s, "--trace", &rec, "--interpret-only"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned, interpreted);
    let sum = n * (n - 1) / 2;
    let name = bin.file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(
        planned,
        format!(
            "{n} {sum} {}\n{name} {n}\ntick {sum}\n{n} {} {}\n",
            3 * (n - 1),
            3 * sum,
            3 * sum / n
        )
    );
}

#[test]
fn counts_of_entries_returns_and_marks_are_made_in_the_kernel_live() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let b = bin.display();
    let script = format!(
        r#"global c, m, r
probe process("{b}").function("rt_add") {{ c[execname()]++ }}
probe process("{b}").mark("tick") {{ m[tid()]++ }}
probe process("{b}").function("rt_fact").return {{ r[pid()]++ }}
probe end {{ foreach (k in c) printf("%s %d\n", k, c[k]); foreach (t in m) printf("%d\n", m[t]); foreach (p in r) printf("%d\n", r[p]) }}"#
    );
    let (code, out, err) = run(&["run", "-v", "-e", &script, "-c", &format!("{b} 20000")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("function(\"rt_add\"): counted in the kernel"),
        "{err}"
    );
    assert!(
        err.contains("mark(\"tick\"): counted in the kernel"),
        "{err}"
    );
    assert!(
        err.contains("function(\"rt_fact\").return: counted in the kernel"),
        "{err}"
    );
    let name = bin.file_name().unwrap().to_string_lossy().to_string();
    // (the program's own line first: the sum of its additions)
    assert_eq!(out, format!("599970000\n{name} 20000\n20000\n5\n"));
}

#[test]
fn user_stacks_and_addresses_are_named_from_the_processs_maps() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let b = bin.display();
    let name = bin.file_name().unwrap().to_string_lossy().to_string();
    let stp = tmp.path().join("stack.stp");
    std::fs::write(
        &stp,
        format!(
            r#"probe process("{b}").function("rt_fact") {{
  printf("%s|%s|%d\n", usymname(uaddr()), usymdata(uaddr()) , ulong_arg(1))
  if (ulong_arg(1) == 3) print(sprint_ubacktrace())
}}"#
        ),
    )
    .unwrap();
    let s = stp.display().to_string();
    let keep = tmp.path().join("kept").display().to_string();
    // Alive 300 ms more, so the recorder finds its maps (see
    // source_lines_and_modules_of_user_addresses).
    let (code, out, err) = run(&["run", &s, "-c", &format!("{b} 1 300"), "--keep", &keep]);
    assert_eq!(code, 0, "{err}");
    let out = without_program_line(&out, "0");
    let lines: Vec<&str> = out.lines().collect();
    // Five levels, each named.
    let named: Vec<&str> = lines.iter().copied().filter(|l| l.contains('|')).collect();
    assert_eq!(named.len(), 5, "{out}");
    for (l, n) in named.iter().zip((1..=5).rev()) {
        assert!(
            l.starts_with("rt_fact|rt_fact+0x0/0x") && l.ends_with(&format!(" [{b}]|{n}")),
            "{l}\n{out}"
        );
    }
    // The third's stack, unwound by frame pointers: where it fired, then
    // the return addresses (at entry its own frame is not made yet, so
    // its caller's call site is not among them: level 5's is, then
    // main's).
    let stack: Vec<&str> = lines.iter().copied().filter(|l| !l.contains('|')).collect();
    assert!(stack[0].starts_with("rt_fact+0x0 ["), "{out}");
    assert!(stack[1].starts_with("rt_fact+0x"), "{out}");
    assert!(
        stack[2].starts_with("main+0x") && stack[2].ends_with(&format!("[{name}]")),
        "{out}"
    );
    // Over the kept trace (its saved maps): the same text.
    replays_the_same(&s, &keep, &lines);
    // A recording made for the script keeps the stacks; one without them
    // cannot serve it.
    let rec = tmp.path().join("rec").display().to_string();
    let err = record(&rec, &format!("{b} 1"), &["--for", &s, "-v"]);
    assert!(err.contains(":rt_fact:stack"), "{err}");
    let bare = tmp.path().join("bare").display().to_string();
    let spec = format!("function:{b}:rt_fact");
    record(
        &bare,
        &format!("{b} 1"),
        &["--events", "processes", "--uprobe", &spec],
    );
    let (code, _, err) = run(&["run", &s, "--trace", &bare]);
    assert_eq!(code, 1);
    assert!(err.contains("was recorded without stacks"), "{err}");
}

/// The link-time address of `sym` + `off` in `bin`, and binutils'
/// addr2line's "FILE:LINE" for it: the oracle for source lines.
fn addr2line_of(bin: &Path, sym: &str, off: u64) -> String {
    let nm = std::process::Command::new("nm").arg(bin).output().unwrap();
    let nm = String::from_utf8_lossy(&nm.stdout);
    let at = nm
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[2] == sym).then(|| u64::from_str_radix(f[0], 16).unwrap())
        })
        .unwrap_or_else(|| panic!("{sym} not in nm's list"));
    let o = std::process::Command::new("addr2line")
        .arg("-e")
        .arg(bin)
        .arg(format!("0x{:x}", at + off))
        .output()
        .expect("binutils' addr2line (scripts/setup.sh installs binutils)");
    // (its " (discriminator N)" tells apart blocks of one line)
    let text = String::from_utf8_lossy(&o.stdout);
    text.trim()
        .split(" (discriminator")
        .next()
        .unwrap()
        .to_string()
}

/// usymline, usymfile, usymfileline and print_ubacktrace_fileline from the
/// binary's DWARF line table, as binutils' addr2line reads it, live and
/// over the kept trace; umodname the file mapped there; without debug info
/// the lines are the address in hex, as stap gives them.
#[test]
fn source_lines_and_modules_of_user_addresses() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    for debug in [true, false] {
        let bin = retap_testkit::uprobe_target(tmp.path(), debug, false);
        let b = bin.display();
        let stp = tmp.path().join("lines.stp");
        std::fs::write(
            &stp,
            format!(
                r#"probe process("{b}").function("rt_fact") {{
  if (ulong_arg(1) == 3) {{
    printf("%s|%s|%s|%s|%x\n", usymline(uaddr()), usymfile(uaddr()), usymfileline(uaddr()), umodname(uaddr()), uaddr())
    print_ubacktrace_fileline()
  }}
}}"#
            ),
        )
        .unwrap();
        let s = stp.display().to_string();
        let keep = tmp
            .path()
            .join(format!("kept{debug}"))
            .display()
            .to_string();
        // The program stays 300 ms: its maps are read when the recorder
        // drains its first stack, which under CI's load came after a
        // program that exits at once was gone ("module cannot be found").
        let (code, out, err) = run(&["run", &s, "-c", &format!("{b} 1 300"), "--keep", &keep]);
        assert_eq!(code, 0, "{err}");
        let out = without_program_line(&out, "0");
        let lines: Vec<&str> = out.lines().collect();
        let f: Vec<&str> = lines[0].split('|').collect();
        assert_eq!(f[3], b.to_string(), "umodname: {out}");
        let frames = &lines[1..];
        assert!(frames.len() >= 3, "{out}");
        if debug {
            let want = addr2line_of(&bin, "rt_fact", 0);
            let (file, line) = want.rsplit_once(':').unwrap();
            assert!(
                file.ends_with("uprobe_target.c") && line.parse::<u32>().unwrap() > 0,
                "{want}"
            );
            assert_eq!(&f[..3], &[line, file, want.as_str()], "{out}");
            // The frames: where it fired, its caller's return address,
            // main's; each "at FILE:LINE" as addr2line names it.
            for frame in &frames[..3] {
                let (name, off) = frame
                    .split(" : ")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .and_then(|r| r.split_once("+0x"))
                    .unwrap_or_else(|| panic!("{frame}"));
                let off = u64::from_str_radix(off, 16).unwrap();
                let want = addr2line_of(&bin, name, off);
                assert!(
                    frame.ends_with(&format!(" at {want} [{b}]")),
                    "{frame}: addr2line says {want}"
                );
            }
            assert!(frames[2].contains(" : main+0x"), "{out}");
        } else {
            // No line table: the address in hex, and frames as
            // print_ubacktrace prints them.
            let hex = format!("0x{}", f[4]);
            assert_eq!(
                &f[..3],
                &[hex.as_str(), hex.as_str(), hex.as_str()],
                "{out}"
            );
            assert!(
                frames[0].contains(" : rt_fact+0x0/0x") && !frames[0].contains(" at "),
                "{out}"
            );
        }
        // Over the kept trace (its saved maps): the same text.
        replays_the_same(&s, &keep, &lines);
    }
}

/// `script` over the trace a live run kept prints the live run's lines.
fn replays_the_same(script: &str, keep: &str, lines: &[&str]) {
    let (code, again, err) = run(&["run", script, "--trace", keep]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        again,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>()
    );
}

#[test]
fn process_and_thread_begins_and_ends_of_a_program() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let w = common::workload().display().to_string();
    let script = format!(
        r#"probe process("{w}").begin {{ printf("begin %d\n", pid()) }}
probe process("{w}").thread.begin {{ printf("thread.begin %d %d\n", pid(), tid() != pid()) }}
probe process("{w}").thread.end {{ printf("thread.end %d %d\n", pid(), tid() != pid()) }}
probe process("{w}").end {{ printf("end %d\n", pid()) }}
probe process("/nonexistent-but-absolute").begin {{ println("never") }}"#
    );
    let keep = tmp.path().join("kept").display().to_string();
    // A process that forks a child (which exits at once) and makes a
    // thread.
    let cmd = format!("{w} calls --fork-exit 3 --pingpong 3");
    // -p2 first: /nonexistent-but-absolute is not on this machine.
    let (code, _, err) = run(&["run", "-p2", "-e", &script]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent-but-absolute: no such file"),
        "{err}"
    );
    let script = script.lines().take(4).collect::<Vec<_>>().join("\n");
    let (code, out, err) = run(&["run", "-e", &script, "-c", &cmd, "--keep", &keep]);
    assert_eq!(code, 0, "{err}");
    let said = |k: &str| -> i64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in {out}"))
            .parse()
            .unwrap()
    };
    let (pid, child) = (said("pid"), said("child_pid"));
    // The forked child begins and ends as its own process (its ids in the
    // context); the thread is the process's.
    let want = format!(
        "begin {pid}\nbegin {child}\nend {child}\nthread.begin {pid} 1\nthread.end {pid} 1\nend {pid}\n"
    );
    let printed: String = out
        .lines()
        .filter(|l| !l.contains('='))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(printed, want, "{out}");
    // Over the kept trace, the same; and plans leave these probes to the
    // interpreter, which follows the process tree.
    let (code, again, err) = run(&["run", "-v", "-e", &script, "--trace", &keep]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, want);
    assert!(err.contains("follows the programs processes run"), "{err}");
}

#[test]
fn user_memory_words_and_strings_kept_where_the_probe_fired() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let b = bin.display();
    let stp = tmp.path().join("mem.stp");
    std::fs::write(
        &stp,
        format!(
            r#"probe process("{b}").function("rt_greet").return {{
  printf("%d %d %d %s\n", user_char($return), user_short($return), user_long($return), user_string($return))
}}"#
        ),
    )
    .unwrap();
    let s = stp.display().to_string();
    // "hello wo", "hello re", "hello st" as little-endian longs.
    let word = |w: &[u8]| i64::from_le_bytes(w[..8].try_into().unwrap());
    let want: String = ["hello world", "hello retap", "hello stap"]
        .iter()
        .map(|g| format!("104 25960 {} {g}\n", word(g.as_bytes())))
        .collect();
    let keep = tmp.path().join("kept").display().to_string();
    let (code, out, err) = run(&["run", &s, "-c", &format!("{b} 1"), "--keep", &keep]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(without_program_line(&out, "0"), want);
    let rec = tmp.path().join("rec").display().to_string();
    let err = record(&rec, &format!("{b} 1"), &["--for", &s, "-v"]);
    assert!(err.contains(":rt_greet:string=return:long=return"), "{err}");
    for t in [&keep, &rec] {
        let (code, again, err) = run(&["run", &s, "--trace", t]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(again, want);
    }
    let Some(rows) = duck_at(
        Path::new(&rec),
        "select string_agg(user_long::varchar, ',' order by ts) from uprobes",
    ) else {
        return;
    };
    let longs: Vec<String> = ["hello world", "hello retap", "hello stap"]
        .iter()
        .map(|g| word(g.as_bytes()).to_string())
        .collect();
    assert_eq!(rows, vec![longs.join(",")]);
}

#[test]
fn libc_malloc_under_ls_as_a_histogram_live_and_offline() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("kept").display().to_string();
    let script = r#"global sizes
probe process("/bin/ls").library("libc.so.6").function("malloc") { sizes <<< ulong_arg(1) }
probe end { printf("mallocs %d\n", @count(sizes)); print(@hist_log(sizes)) }"#;
    let (code, out, err) = run(&["run", "-e", script, "-c", "ls /usr", "--keep", &keep]);
    assert_eq!(code, 0, "{err}");
    let printed = out
        .split_once("mallocs ")
        .map(|(_, rest)| rest.to_string())
        .expect("the end probe printed");
    let n: u64 = printed.lines().next().unwrap().parse().unwrap();
    assert!(n > 10, "ls calls malloc more than that: {out}");
    let (code, again, err) = run(&["run", "-e", script, "--trace", &keep]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, format!("mallocs {printed}"));
    // Every call is ls's, and DuckDB counts as many.
    let Some(rows) = duck_at(
        Path::new(&keep),
        "select count(*), count(distinct pid) from uprobes",
    ) else {
        return;
    };
    assert_eq!(rows, vec![format!("{n}|1")]);
}

#[test]
fn parameters_by_name_from_debug_info() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), true, false);
    let b = bin.display();
    let script = format!(
        r#"probe process("{b}").function("rt_add") {{ printf("add %d %d\n", $a, $b) }}
probe process("{b}").function("rt_fact").return {{ printf("fact %d %d\n", $n, $return) }}
probe process("{b}").function("rt_nap") {{ printf("nap %d %s\n", $us, $$parms) }}
probe process("{b}").function("rt_fact").return {{ if ($n == 5) println($$return, " ", $$parms) }}"#
    );
    let cmd = format!("{b} 3");
    let (code, out, err) = run(&["run", "-e", &script, "-c", &cmd]);
    assert_eq!(code, 0, "{err}");
    let want = "add 0 0\nadd 1 2\nadd 2 4\nfact 1 1\nfact 2 2\nfact 3 6\nfact 4 24\nfact 5 120\nreturn=0x78 n=0x5\nnap 2000 us=0x7d0\n";
    let printed: String = out
        .lines()
        .filter(|l| !l.chars().all(|c| c.is_ascii_digit()))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(printed, want, "{err}");
    let (code, _, err) = run(&[
        "run",
        "-p2",
        "-e",
        &format!(r#"probe process("{b}").function("rt_add") {{ println($c) }}"#),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("rt_add has no parameter c (its parameters: $a, $b)"),
        "{err}"
    );
}

#[test]
fn what_cannot_be_probed_is_refused_with_its_location_and_reason() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let bin = retap_testkit::uprobe_target(tmp.path(), false, false);
    let stripped = retap_testkit::uprobe_target(tmp.path(), false, true);
    let b = bin.display().to_string();
    let st = stripped.display().to_string();
    for (script, says) in [
        (
            r#"probe process("/nonexistent/prog").function("f") {}"#.to_string(),
            "/nonexistent/prog: no such file",
        ),
        (
            format!(r#"probe process("{b}").function("rt_ad") {{}}"#),
            "no function \"rt_ad\" in",
        ),
        (
            format!(r#"probe process("{b}").function("rt_ad") {{}}"#),
            "(closest: rt_add, rt_nap, rt_fact)",
        ),
        (
            format!(r#"probe process("{st}").function("rt_add") {{}}"#),
            "has no symbol table (stripped)",
        ),
        (
            format!(r#"probe process("{b}").mark("tic") {{}}"#),
            "no mark \"tic\" in",
        ),
        (
            r#"probe process("/lib/x86_64-linux-gnu/libc.so.6").function("*") {}"#.to_string(),
            "at most 512 are probed at once",
        ),
        (
            format!(
                r#"probe process("{b}").function("rt_add") {{ println(user_string(pointer_arg(1)) . user_string(pointer_arg(2))) }}"#
            ),
            "keeps one string per firing",
        ),
        (
            format!(
                r#"probe process("{b}").function("rt_greet").return {{ println(user_long($return) + user_int(pointer_arg(1))) }}"#
            ),
            "keeps one value per firing",
        ),
        (
            format!(r#"probe process("{b}").function("rt_add") {{ println($a) }}"#),
            "has no debug info for rt_add (built without -g)",
        ),
        (
            r#"probe process.function("main") {}"#.to_string(),
            "without a path probes the program of -c CMD",
        ),
        (
            format!(r#"probe process("{b}").mark("tick") {{ println($arg3) }}"#),
            "the mark has 2 argument(s)",
        ),
    ] {
        let (code, _, err) = run(&["run", "-p2", "-e", &script]);
        assert_eq!(code, 1, "{script}: {err}");
        assert!(err.contains(says), "{script}:\n{err}");
        assert!(err.contains("<input>:1:"), "{script}: no location:\n{err}");
    }
    // A mark's twelfth argument, live.
    let (code, out, err) = run(&[
        "run",
        "-e",
        &format!(
            r#"probe process("{b}").mark("many") {{ printf("%d %d %d\n", $arg7, $arg12, @defined($arg12)) }}"#
        ),
        "-c",
        &format!("{b} 3"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("7 3 1\n"), "{out}");
    // @defined knows a mark's arguments from its note.
    let (code, out, err) = run(&[
        "run",
        "-e",
        &format!(
            r#"probe process("{b}").mark("tick") {{ printf("%d %d\n", @defined($arg2), @defined($arg3)); exit() }}"#
        ),
        "-c",
        &format!("{b} 3"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("1 0\n"), "{out}");
    // Over a trace: what it did not record, or recorded without the string.
    let rec = tmp.path().join("rec").display().to_string();
    let one = format!(r#"probe process("{b}").function("rt_greet").return {{ println($return) }}"#);
    let spec = format!("return:{b}:rt_greet");
    record(
        &rec,
        &format!("{b} 1"),
        &["--events", "processes", "--uprobe", &spec],
    );
    let (code, out, err) = run(&["run", "-e", &one, "--trace", &rec]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    for (script, says) in [
        (
            format!(r#"probe process("{b}").function("rt_fact") {{}}"#),
            "this trace did not record it",
        ),
        (
            format!(
                r#"probe process("{b}").function("rt_greet").return {{ println(user_string($return)) }}"#
            ),
            "the trace did not keep the string at the return value",
        ),
    ] {
        let (code, _, err) = run(&["run", "-e", &script, "--trace", &rec]);
        assert_eq!(code, 1, "{script}: {err}");
        assert!(err.contains(says), "{script}:\n{err}");
    }
}
