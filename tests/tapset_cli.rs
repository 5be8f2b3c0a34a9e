//! The tapset library as users meet it: scripts calling stap's library
//! functions and aliases with no definition of their own, the bytes they
//! print (stap's), `-I DIR` and `-p2 -v`.

mod common;
use common::dataset;

use common::run as retap;

fn ok(args: &[&str]) -> String {
    let (code, out, err) = retap(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

/// What `script` prints over the shipped dataset `name`.
fn over(name: &str, script: &str) -> String {
    ok(&[
        "run",
        "-e",
        script,
        "--trace",
        dataset(name).to_str().unwrap(),
    ])
}

/// Select Graphic Rendition is ESC [ background ; foreground [; attribute] m
/// in stap's ansi tapset; the cursor sequences are its own.
#[test]
fn ansi_escapes() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { ansi_clear_screen(); ansi_set_color(31); ansi_set_color(32, 40); \
         ansi_set_color(33, 41, 1); ansi_set_color3(34, 42, 0); ansi_set_color2(35, 43); \
         ansi_reset_color(); ansi_cursor_move(3, 7); ansi_cursor_hide(); ansi_cursor_show(); \
         ansi_cursor_save(); ansi_cursor_restore(); ansi_new_line() }",
    ]);
    assert_eq!(
        out,
        "\x1b[1;1H\x1b[J\x1b[31m\x1b[40;32m\x1b[41;33;1m\x1b[42;34m\x1b[43;35m\x1b[0;0m\
         \x1b[7;3H\x1b[>5I\x1b[>5h\x1b[s\x1b[u\n"
    );
}

#[test]
fn argv_and_argc_hold_the_script_arguments() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { printf(\"%d [%s] [%s] [%s] %d\\n\", argc, argv[1], argv[2], argv_3, strlen(argv[4])) }",
        "x",
        "y z",
    ]);
    assert_eq!(out, "2 [x] [y z] [] 0\n");
    // Set before every begin probe, whatever its priority.
    let out = ok(&[
        "run",
        "-e",
        "probe begin(-1000) { println(argv[1]) }",
        "first",
    ]);
    assert_eq!(out, "first\n");
}

#[test]
fn oneshot_runs_once_then_end() {
    let out = ok(&[
        "run",
        "-e",
        "probe oneshot { println(\"once\") } probe end { println(\"end\") }",
    ]);
    assert_eq!(out, "once\nend\n");
}

/// Stopwatches run in trace time: started at begin (the trace's start),
/// stopped by the third one-second timer.
#[test]
fn stopwatches_in_trace_time() {
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "global n
         probe begin { start_stopwatch(\"a\") }
         probe timer.s(1) {
           n++
           if (n == 3) {
             stop_stopwatch(\"a\")
             printf(\"%d %d %d\\n\", read_stopwatch_s(\"a\"), read_stopwatch_ms(\"a\"), read_stopwatch_us(\"a\"))
             start_stopwatch(\"b\")
           }
           if (n == 5) {
             printf(\"%d %d %d\\n\", read_stopwatch_ms(\"a\"), read_stopwatch_ms(\"b\"), read_stopwatch_ns(\"c\"))
             delete_stopwatch(\"b\")
             printf(\"%d\\n\", read_stopwatch_ns(\"b\"))
             exit()
           }
         }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out, "3 3000 3000000\n3000 2000 0\n0\n");
}

/// Entries indent before the line, returns after; the time is
/// microseconds since the outermost entry.
#[test]
fn indent_depth_and_time() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { printf(\"%s|\\n\", indent(1)); printf(\"%s|\\n\", indent(1)); \
         printf(\"%s|\\n\", indent(-1)); printf(\"%s|\\n\", indent(-1)); \
         printf(\"%d %d\\n\", indent_depth(1), indent_depth(-1)) }",
    ]);
    assert_eq!(out, "     0 :|\n     0 : |\n     0 : |\n     0 :|\n0 0\n");
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "global n probe timer.ms(1500) { printf(\"%s|\\n\", indent(n++ ? -1 : 1)); if (n == 2) exit() }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out, "     0 :|\n1500000 :|\n");
}

/// thread_indent names the thread as execname(tid); checked against
/// DuckDB's reading of the same rows: the first completed openat, its
/// entry and its return.
#[test]
fn thread_indent_names_the_thread() {
    let Some(rows) = common::duck(
        "mixed",
        "select execname, tid, ts, dur_ns from syscalls where syscall = 'openat' \
         and ret is not null order by ts limit 1",
    ) else {
        return;
    };
    let f: Vec<&str> = rows[0].split('|').collect();
    let (comm, tid, ts, dur): (&str, &str, i64, i64) =
        (f[0], f[1], f[2].parse().unwrap(), f[3].parse().unwrap());
    let m = retap_schema::Manifest::load(&dataset("mixed")).unwrap();
    let us = |ns: i64| (ns + m.wall_clock_offset_ns) / 1000;
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "global t
         probe syscall.openat { if (tid() == $1 && !t) { t = gettimeofday_ns(); printf(\"%s>\\n\", thread_indent(1)) } }
         probe syscall.openat.return { if (tid() == $1 && t) { printf(\"%s<\\n\", thread_indent(-1)); exit() } }",
        tid,
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let who = format!("{comm}({tid})");
    assert_eq!(
        out,
        format!("{:>6} {who}:>\n{:>6} {who}:<\n", 0, us(ts + dur) - us(ts))
    );
}

#[test]
fn include_directories_and_verbose_list_the_files_linked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("double.stp"),
        "function double(x) { return 2 * x }\n",
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = retap(&[
        "run",
        "-v",
        "-I",
        d,
        "-e",
        "probe oneshot { println(double(21)) }",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "42\n");
    assert!(err.contains("2 library file(s)"), "{err}");
    assert!(
        err.contains(&format!("  library: {d}/double.stp\n")),
        "{err}"
    );
    assert!(err.contains("  library: <tapset>/oneshot.stp\n"), "{err}");
    // Without -I the function is unknown, as any other.
    let (code, _, err) = retap(&["run", "-e", "probe oneshot { println(double(21)) }"]);
    assert_eq!(code, 1);
    assert!(err.contains("unresolved function 'double'"), "{err}");
    // A library file with an error: the error points into it.
    std::fs::write(dir.path().join("broken.stp"), "function f( {\n").unwrap();
    let (code, _, err) = retap(&["run", "-I", d, "-e", "probe begin { }"]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{d}/broken.stp:1:")), "{err}");
}

/// nd_syscall-style argument functions over the recorded registers,
/// against DuckDB's reading of the same rows.
#[test]
fn argument_registers_as_c_types() {
    let Some(rows) = common::duck(
        "mixed",
        "select CASE WHEN (arg0 & 4294967295) >= 2147483648 THEN (arg0 & 4294967295) - 4294967296 \
         ELSE arg0 & 4294967295 END, arg0 & 4294967295, arg1, arg2 \
         from syscalls where syscall = 'read' order by ts limit 3",
    ) else {
        return;
    };
    let out = over(
        "mixed",
        "global n probe syscall.read { if (n < 3) printf(\"%d|%d|%d|%d\\n\", int_arg(1), uint_arg(1), pointer_arg(2), u64_arg(3)); n++ } probe end { }",
    );
    let want: String = rows.iter().map(|r| format!("{r}\n")).collect();
    assert!(out.starts_with(&want), "{out}\nwant\n{want}");
    let trace = dataset("mixed");
    // Only syscall and user-space function probes have registers; six
    // of them; none can be set.
    let (code, _, err) = retap(&["run", "-e", "probe begin { println(int_arg(1)) }"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("ERROR: argument registers are recorded for syscall and user-space function probes only"),
        "{err}"
    );
    let (code, _, err) = retap(&[
        "run",
        "-e",
        "probe syscall.read { println(ulong_arg(7)); exit() }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("argument 7 out of range (a syscall has 6)"),
        "{err}"
    );
    let (code, _, err) = retap(&[
        "run",
        "-e",
        "probe syscall.read { set_int_arg(1, 0) }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("function 'set_int_arg' is not available: it writes the traced function's arguments; a recording is read-only at <input>:1:22"),
        "{err}"
    );
}

#[test]
fn device_numbers() {
    let Some(rows) = common::duck(
        "mixed",
        "select dev >> 20, dev & 1048575, devname from block order by ts limit 1",
    ) else {
        return;
    };
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "probe ioblock.request { printf(\"%d|%d|%s|%d\\n\", MAJOR(dev), MINOR(dev), devname, MKDEV(MAJOR(dev), MINOR(dev)) == dev); exit() }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out, format!("{}|1\n", rows[0]));
}

/// docs/tapset.md is generated from stap's tapset reference by asking
/// this retap about every function, alias and macro; it must say what
/// retap answers today.
#[test]
fn the_tapset_page_is_current() {
    if !std::path::Path::new("/usr/share/man/man3/function::pid.3stap.gz").exists() {
        retap_testkit::skip_without(
            "systemtap-doc's man pages",
            "scripts/setup.sh installs systemtap-doc",
        );
        return;
    }
    let out = std::process::Command::new("python3")
        .args(["tools/tapset_doc.py", "--check", "--retap"])
        .arg(env!("CARGO_BIN_EXE_retap"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Network byte order on little-endian machines, against Rust's own
/// byte swaps.
#[test]
fn byte_order() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { printf(\"%x %x %x %x %x %x\\n\", htons(0x1234), htonl(0x12345678), \
         htonll(0x0102030405060708), ntohl(htonl(0xdeadbeef)), ntohs(0x10000abcd), htonl(0x80)) }",
    ]);
    assert_eq!(
        out,
        format!(
            "{:x} {:x} {:x} {:x} {:x} {:x}\n",
            0x1234u16.swap_bytes(),
            0x12345678u32.swap_bytes(),
            0x0102030405060708u64.swap_bytes(),
            0xdeadbeefu32,
            0xabcdu16.swap_bytes(),
            0x80u32.swap_bytes()
        )
    );
}

/// `probe prometheus` and @prometheus_dump_array*: one exposition line per
/// element, keys quoted and escaped; checked against DuckDB's counts of
/// the same rows.
#[test]
fn prometheus_exposition() {
    let Some(rows) = common::duck(
        "mixed",
        "select 'calls{comm=\"' || execname || '\",name=\"' || syscall || '\"} ' || count(*) \
         from syscalls group by execname, syscall order by 1",
    ) else {
        return;
    };
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "global c[10000] probe syscall_any { c[execname(), syscall_name(syscall_nr)]++ } \
         probe prometheus { @prometheus_dump_array2(c, \"calls\", \"comm\", \"name\") }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    let mut want: Vec<&str> = rows.iter().map(|s| s.as_str()).collect();
    want.sort();
    let first_difference = lines.iter().zip(&want).find(|(a, b)| a != b);
    assert!(
        lines.len() == want.len() && first_difference.is_none(),
        "{} lines, DuckDB {}; first difference {first_difference:?}",
        lines.len(),
        want.len()
    );
    // Mapping functions, quoting and escaping, the unquoted form.
    let out = ok(&[
        "run",
        "-e",
        "global a function twice:string(v) { return sprint(v * 2) } \
         function up:string(s) { return \"<\" . s . \">\" } \
         probe begin { a[\"x\\\"y\", 1] = 5; a[\"tab\\tz\", 2] = 7 } \
         probe prometheus { @prometheus_dump_array2_map(a, \"m\", \"k\", \"n\", twice, up, sprint) \
         @prometheus_dump_array2_map_unquoted(a, \"u\", \"k\", \"n\", sprint, up, sprint) \
         $value .= \"# done\\n\" }",
    ]);
    assert_eq!(
        out,
        "m{k=\"<x\\\"y>\",n=\"1\"} 10\nm{k=\"<tab\\tz>\",n=\"2\"} 14\n\
         u{k=<x\"y>,n=2} 5\nu{k=<tab\tz>,n=2} 7\n# done\n"
            .replace("u{k=<x\"y>,n=2}", "u{k=<x\"y>,n=1}")
    );
}

/// The json tapset: metrics declared, values written by `probe
/// json_data`, both files printed once as valid JSON; the value is
/// DuckDB's count of the same rows.
#[test]
fn json_metrics() {
    let Some(rows) = common::duck(
        "mixed",
        "select count(*) from syscalls where syscall = 'read'",
    ) else {
        return;
    };
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "global reads, by probe begin { json_set_prefix(\"retap\"); \
         json_add_numeric_metric(\"reads\", \"Read calls\", \"calls\"); \
         json_add_string_metric(\"top\", \"\"); json_add_array(\"procs\", \"Per process\"); \
         json_add_array_numeric_metric(\"procs\", \"reads\", \"Reads\", \"\") } \
         probe syscall.read { reads++; by[execname()]++ } \
         probe json_data { @json_output_data_start \
         @json_output_numeric_value(\"reads\", reads) \
         foreach (n in by- limit 2) { @json_output_array_numeric_value(\"procs\", n, \"reads\", by[n]) } \
         @json_output_string_value(\"top\", \"x y\") \
         @json_output_data_end }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let (data, meta) = out
        .strip_prefix("==> procfs(\"data.json\") <==\n")
        .and_then(|s| s.split_once("==> procfs(\"metadata.json\") <==\n"))
        .unwrap_or_else(|| panic!("{out}"));
    let data: serde_json::Value =
        serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let meta: serde_json::Value =
        serde_json::from_str(meta).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(data["reads"].to_string(), rows[0]);
    assert_eq!(data["procs"].as_array().unwrap().len(), 2);
    assert_eq!(data["top"], "x y");
    assert_eq!(meta["prefix"], "retap");
    assert_eq!(meta["metrics"][0]["units"], "calls");
    assert_eq!(meta["metrics"][2]["index"], "/__id");
    assert_eq!(meta["metrics"][2]["metrics"][0]["pointer"], "/reads");
    // stap's checks, as runtime errors.
    let (code, _, err) = retap(&[
        "run",
        "-e",
        "probe begin { json_add_numeric_metric(\"a\", \"\", \"\"); json_add_numeric_metric(\"a\", \"\", \"\") }",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("ERROR: Metric 'a' already exists"), "{err}");
}

/// procfs read probes: `$value` is written with = and .=, holds up to
/// .maxsize (else MAXSTRINGLEN) and is printed once, before `end`.
#[test]
fn procfs_files_are_read_once_at_the_end() {
    let out = ok(&[
        "run",
        "-e",
        "probe end { println(\"end\") } probe procfs(\"x\").read { $value = \"a\"; $value .= \"bcdef\\n\" }",
    ]);
    assert_eq!(out, "abcdef\nend\n");
    let out = ok(&[
        "run",
        "-e",
        "probe procfs.read.maxsize(4) { $value = \"abcdef\" } probe procfs(\"y\").read { \
         for (i = 0; i < 600; i++) $value .= \"z\"; $value .= \"\\n\" }",
    ]);
    assert_eq!(
        out,
        format!(
            "==> procfs(\"command\") <==\nabc==> procfs(\"y\") <==\n{}",
            "z".repeat(511)
        )
    );
    let (_, _, err) = retap(&[
        "run",
        "-e",
        "probe procfs.read.maxsize(4) { $value = \"abcdef\" }",
    ]);
    assert!(
        err.contains("WARNING: procfs file's $value is full (4 bytes); the rest was cut, as stap cuts it (raise .maxsize(N)) near <input>:1:32"),
        "{err}"
    );
    for (script, said) in [
        (
            "probe procfs(\"x\").write { println($value) }",
            "probe point procfs(\"x\").write cannot be served: procfs(\"x\").write takes what a user writes to /proc/systemtap/...; nothing writes to a recording at <input>:1:7",
        ),
        (
            "probe procfs(\"x\").read, begin { $value = \"a\" }",
            "target variable '$value' cannot be written: a recording is read-only at <input>:1:33",
        ),
        (
            "probe procfs(\"x\").read { $value += 1 }",
            "a procfs file's $value takes = and .= (it is a string)",
        ),
        (
            "probe begin { $value = \"a\" }",
            "target variable '$value' cannot be written",
        ),
    ] {
        common::refused(&["run", "-e", script], said);
    }
}

/// Macro libraries: stap's @prints, a `-I` directory's `.stpm` (listed by
/// -v, its errors located in it), the script's own @define first.
#[test]
fn macro_libraries() {
    let out = ok(&[
        "run",
        "-e",
        "global s probe begin { s[\"a\"] <<< 3; s[\"a\"] <<< 5; s[\"b\"] <<< 1; @prints1(s) @prints(s[\"b\"]) }",
    ]);
    assert_eq!(
        out,
        "[a] @count=2 @min=3 @max=5 @sum=8 @avg=4\n[b] @count=1 @min=1 @max=1 @sum=1 @avg=1\n\
         @count=1 @min=1 @max=1 @sum=1 @avg=1\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.stpm"),
        "@define twice(x) %( (2 * @x) %)\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.stpm"),
        "@define broken %( 1 %)\nprobe begin { }\n",
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = retap(&[
        "run",
        "-v",
        "-I",
        d,
        "-e",
        "probe begin { println(@twice(21)) }",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "42\n");
    assert!(err.contains(&format!("  library: {d}/mine.stpm")), "{err}");
    let out = ok(&[
        "run",
        "-I",
        d,
        "-e",
        "@define twice(x) %( (3 * @x) %) probe begin { println(@twice(2)) }",
    ]);
    assert_eq!(out, "6\n");
    let (code, _, err) = retap(&["run", "-I", d, "-e", "probe begin { println(@broken) }"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "parse error: a macro library file holds only @define's saw: keyword 'probe' at {d}/bad.stpm:2:1"
        )),
        "{err}"
    );
    let (code, _, err) = retap(&["run", "-e", "probe begin { println(@nosuch(1)) }"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown macro or operator '@nosuch'"), "{err}");
    let (code, _, err) = retap(&[
        "run",
        "-e",
        "probe begin { println(@cast_sizeof(\"struct task_struct\")) }",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("read kernel memory"), "{err}");
}

/// Pure library functions against stap's documented output.
#[test]
fn conversions_and_names() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { printf(\"%s|%s|%s|%s\\n\", msecs_to_string(123456), usecs_to_string(61000001), \
         nsecs_to_string(5), cputime_to_string(2500000000)); \
         printf(\"[%s][%s][%s][%s][%s]\\n\", bytes_to_string(512), bytes_to_string(1536), \
         bytes_to_string(15 * 1048576 + 524288), bytes_to_string(5 * 1048576), bytes_to_string(200 * 1073741824)); \
         printf(\"%d %d %s %s %s %s\\n\", rlimit_from_str(\"RLIMIT_NOFILE\"), rlimit_from_str(\"NOFILE\"), \
         signal_str(9), signal_str(29), signal_str(32), signal_str(40)); \
         printf(\"%s %s %s %d %d %s\\n\", ip_ntop(0x0100007f), format_ipaddr(0x0101a8c0, 2), \
         format_ipaddr(1, 1), usrdev2kerndev(0x801), remote_id(), tz_name()); \
         printf(\"%d %d %d\\n\", strpos(\"abcabc\", \"ca\"), strpos(\"abc\", \"x\"), strpos(\"abc\", \"\")); \
         if (\"abc123def\" =~ \"([a-z]+)([0-9]+)\") printf(\"%s|%s|%s\\n\", matched(1), matched(2), matched_str()) }",
    ]);
    assert_eq!(
        out,
        "2m3.456s|1m1.000001s|0m0.000000005s|0m2.500s\n\
         [  512][1.50K][15.5M][5.00M][ 200G]\n\
         7 -1 KILL IO/POLL RTMIN RTMIN+8\n\
         127.0.0.1 192.168.1.1 *unknown address family* 8388609 -1 UTC\n\
         2 -1 0\n\
         abc|123|abc123\n"
    );
    // stap's errors, at the call.
    for (script, said) in [
        (
            "probe begin { assert(1 == 2, \"no\") }",
            "ERROR: no near identifier 'error'",
        ),
        ("probe begin { assert(0) }", "ERROR: Assertion failed"),
        (
            "probe begin { regparm(7) }",
            "ERROR: For x86_64, regparm value must be in the range 0-6.",
        ),
        (
            "probe begin { println(matched(1)) }",
            "ERROR: matched(): no successful regular expression match in this probe",
        ),
        (
            "probe begin { if (\"a\" =~ \"a\") println(matched(1)) }",
            "ERROR: matched(1): the expression has 0 subexpression(s)",
        ),
        (
            "probe begin { println(format_ipaddr(1, 10)) }",
            "an IPv6 address is read from kernel memory",
        ),
    ] {
        common::refused(&["run", "-e", script], said);
    }
}

/// Speculative output, abort() (end still runs, try/catch does not
/// catch it), and the target set over the recording's forks.
#[test]
fn speculation_abort_and_target_set() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { a = speculation(); b = speculation(); speculate(a, \"a1 \"); speculate(b, \"b1 \"); \
         speculate(a, \"a2\\n\"); discard(b); commit(a); commit(b); \
         try { abort(); println(\"not after abort\") } catch { println(\"not caught\") } } \
         probe begin(1) { println(\"not a later begin\") } probe end { println(\"end\") }",
    ]);
    assert_eq!(out, "a1 a2\nend\n");
    // bash (the recording's first process) is the target: the set is it
    // and every process it forked, as DuckDB finds them in the fork rows.
    let Some(rows) = common::duck(
        "mixed",
        "select count(*) from processes where event = 'fork' and pid = 18288",
    ) else {
        return;
    };
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-x",
        "18288",
        "-e",
        "global n probe kprocess.exec { if (target_set_pid(pid())) n++ } probe end { println(n) }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.trim(), rows[0]);
}

/// Backtraces as strings: the same frames print_backtrace prints, in
/// stap's simple form; returnval() is the recorded return value.
#[test]
fn backtrace_strings_and_returnval() {
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "probe timer.profile { print(sprint_backtrace()); print(\"--\\n\"); print_backtrace(); print(\"--\\n\"); \
         print(sprint_stack(backtrace())); exit() }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    assert_eq!(parts[0], parts[2]);
    let full: Vec<&str> = parts[1].lines().collect();
    let simple: Vec<&str> = parts[0].lines().collect();
    assert_eq!(full.len(), simple.len());
    assert!(!simple.is_empty());
    for (f, s) in full.iter().zip(&simple) {
        // " 0xADDR : name+0xOFF/0xSIZE [kernel]" against "name+0xOFF [kernel]"
        let (_, sym) = f.split_once(" : ").unwrap();
        let (name_off, rest) = sym.split_once('/').unwrap();
        let module = &rest[rest.find(" [").unwrap()..];
        assert_eq!(*s, format!("{name_off}{module}"));
    }
    let Some(rows) = common::duck(
        "mixed",
        "select ret from syscalls where syscall = 'read' and ret is not null order by ts limit 1",
    ) else {
        return;
    };
    let out = ok(&[
        "run",
        "-e",
        "probe syscall.read.return { println(returnval()); exit() }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.trim(), rows[0]);
}

/// Queue statistics over trace time, on a request whose times are
/// known: it waits from 1 s to 2 s and is served until 4 s.
#[test]
fn queue_statistics() {
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "global n probe timer.ms(1000) { n++; if (n == 1) { qsq_start(\"q\"); qs_wait(\"q\") } \
         if (n == 2) qs_run(\"q\"); if (n == 4) { qs_done(\"q\"); qsq_print(\"q\"); exit() } }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    // 3 s elapsed: 1 s waiting (33%), 2 s served (66%), one request done.
    assert_eq!(
        out,
        "q: 0.333 ops/s, 0.333 qlen, 3000000 await, 2000000 svctm, 33% wait, 66% util\n"
    );
}

/// Wrong argument types to library functions and natives: located at
/// the argument, naming the parameter.
#[test]
fn library_calls_with_wrong_types() {
    for (script, said) in [
        (
            "probe begin { ansi_set_color(\"x\") }",
            "semantic error: type mismatch (long vs. string): parameter 1 of 'ansi_set_color' at <input>:1:30",
        ),
        (
            "probe begin { msecs_to_string(\"x\") }",
            "semantic error: type mismatch (long vs. string): parameter 1 of 'msecs_to_string' at <input>:1:31",
        ),
        (
            "probe begin { strpos(1, \"a\") }",
            "semantic error: type mismatch (string vs. long): argument of strpos() at <input>:1:22",
        ),
        (
            "probe begin { @prometheus_dump_array1(1) }",
            "parse error: macro @prometheus_dump_array1 expects 3 argument(s), got 1 at <input>:1:15",
        ),
    ] {
        common::refused(&["run", "-e", script], said);
    }
}

/// cmdline_arg(s) split the recorded command line (DuckDB reads the same
/// exec row) at its spaces.
#[test]
fn command_line_arguments() {
    let Some(rows) = common::duck(
        "mixed",
        "select pid || '|' || argv from processes where event = 'exec' and argv like '% % %' \
         order by ts limit 1",
    ) else {
        return;
    };
    let (pid, argv) = rows[0].split_once('|').unwrap();
    let args: Vec<&str> = argv.split(' ').collect();
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        &format!(
            "probe syscall.exit_group {{ if (pid() == {pid}) {{ printf(\"%s|%s|%s|%s|%s\\n\", \
             cmdline_arg(0), cmdline_arg(2), cmdline_arg(99), cmdline_args(1, -1, \",\"), \
             cmdline_args(0, 1, \" \")); exit() }} }}"
        ),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(
        out,
        format!(
            "{}|{}||{}|{} {}\n",
            args[0],
            args[2],
            args[1..].join(","),
            args[0],
            args[1]
        )
    );
}

/// print_syms is print_stack's output for the same addresses; symdata
/// and modname name the first frame as print_stack's line does.
#[test]
fn symbols_of_addresses() {
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "probe timer.profile { s = backtrace(); print_stack(s); print(\"--\\n\"); print_syms(s); \
         print(\"--\\n\"); print(sprint_syms(s)); print(\"--\\n\"); a = strtol(tokenize(s, \" \"), 16); \
         printf(\"%s|%s\\n\", symdata(a), modname(a)); exit() }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    assert_eq!(parts[0], parts[1]);
    let first_full = parts[0].lines().next().unwrap();
    let (_, data) = first_full.split_once(" : ").unwrap();
    let module = &data[data.rfind('[').unwrap() + 1..data.len() - 1];
    assert_eq!(parts[3], format!("{data}|{module}\n"));
    assert_eq!(parts[2].lines().count(), parts[0].lines().count(), "{out}");
}

/// Signal sets, sigaction flags and handlers as text (%p is %#x).
#[test]
fn signal_texts() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { printf(\"[%s] [%s] [%s] [%s] [%s] [%s] [%s]\\n\", sigset_mask_str((1 << 1) | (1 << 14) | (1 << 63)), \
         sigset_mask_str(0), sa_flags_str(0x14000004), sa_flags_str(0), sa_handler_str(0), sa_handler_str(-1), \
         sa_handler_str(0x401000)) }",
    ]);
    assert_eq!(
        out,
        "[2,15,64] [] [SIGINFO|RESTART|RESTORER] [] [default] [error] [0x401000]\n"
    );
}

/// A sample's frames one at a time, as backtrace() lists them; stacks
/// are refused where no stack is recorded.
#[test]
fn stack_frames() {
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "probe timer.profile { printf(\"%s\\n0x%x 0x%x\\n%s\\n%s\\n0x%x\\n\", backtrace(), stack(0), stack(2), \
         callers(2), callers(-1), caller_addr()); exit() }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let lines: Vec<&str> = out.lines().collect();
    let frames: Vec<&str> = lines[0].split(' ').collect();
    assert!(frames.len() >= 3, "{out}");
    assert_eq!(lines[1], format!("{} {}", frames[0], frames[2]));
    assert_eq!(lines[2], format!("{} {}", frames[1], frames[2]));
    assert_eq!(lines[3], frames[1..].join(" "));
    assert_eq!(lines[4], frames[1]);
    let (code, _, err) = retap(&[
        "run",
        "-e",
        "probe timer.profile { println(stack(1000)) }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("frame(s), not a frame 1000"), "{err}");
    let (code, _, err) = retap(&[
        "run",
        "-e",
        "probe syscall.read { println(callers(1)) }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "callers() needs a recorded stack: only timer.profile probes (CPU samples) and tracepoints recorded with --stacks have one"
        ),
        "{err}"
    );
}

/// stap's shorter forms: tokenize(delim) goes on as strsep (empty tokens
/// too; the two-argument form skips them), ctime() is now's; and
/// vm_fault_contains's kinds of fault.
#[test]
fn shorter_forms_and_fault_kinds() {
    let trace = dataset("mixed");
    let out = ok(&[
        "run",
        "-e",
        "probe begin { printf(\"[%s][%s][%s][%s][%s]\\n\", tokenize(\"a  b,c\", \" ,\"), tokenize(\" ,\"), \
         tokenize(\" ,\"), tokenize(\" ,\"), tokenize(\" ,\")); \
         printf(\"[%s][%s][%s][%s]\\n\", tokenize(\"a  b,c\", \" ,\"), tokenize(\"\", \" ,\"), \
         tokenize(\"\", \" ,\"), tokenize(\"\", \" ,\")); \
         printf(\"%d\\n\", ctime() == ctime(gettimeofday_s())); \
         printf(\"%d%d%d%d%d\\n\", vm_fault_contains(1, 0), vm_fault_contains(2, 1), vm_fault_contains(0, 2), \
         vm_fault_contains(4, 2), vm_fault_contains(4, 3)) }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out, "[a][][b][c][]\n[a][b][c][]\n1\n11101\n");
}

/// The floating-point tapset: doubles as their bits in longs, computed
/// as stap's runtime computes them (held to it bit for bit by
/// analyzer/tests/softfloat.rs); here as scripts call them, with its
/// quirks (the last decimal rounded without carrying) and its error.
#[test]
fn floating_point_functions() {
    let out = ok(&[
        "run",
        "-e",
        r#"probe begin {
  a = string_to_fp("3.25"); b = long_to_fp(2)
  printf("%s %s %s\n", fp_to_string(fp_mul(a, b), 3), fp_to_string(fp_sqrt(b), 5),
         fp_to_string(fp_sub(a, fp_div(a, b)), 4))
  printf("%d %d %d %d\n", fp_to_long(fp_div(a, b), 0, 0), fp_to_long(a, 3, 0),
         fp_to_long(fp_rem(long_to_fp(7), b), 1, 0), fp_to_long(string_to_fp("-2.5"), 4, 0))
  printf("%d %d %d %d\n", fp_lt(b, a), fp_le(a, a), fp_eq(a, b), fp_eq(long_to_fp(0), string_to_fp("-0")))
  printf("%s %s %x\n", fp_to_string(string_to_fp("0.96"), 1), fp_to_string(fp_add(a, b), 0),
         fp32_to_fp64(0x40490fdb))
}"#,
    ]);
    assert_eq!(
        out,
        "6.500 1.41421 1.6250\n2 4 -1 -3\n1 1 0 1\n0.10 5.3 400921fb60000000\n"
    );
    let (code, _, err) = retap(&[
        "run",
        "-e",
        r#"probe begin { println(string_to_fp("1.5x")) }"#,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("ERROR: invalid format near identifier 'string_to_fp' at <input>:1:"),
        "{err}"
    );
}

/// Sockets' numbers as names and back (stap's socket tapset): protocols by
/// their /etc/protocols keyword, families, states and types by the kernel's
/// constants without AF_/SS_/SOCK_; "UNDEF" and -1 for what has no name.
#[test]
fn socket_numbers_and_names() {
    let out = ok(&[
        "run",
        "-e",
        "probe begin { \
         printf(\"%s %s %s %s %s %s %s\\n\", sock_prot_num2str(0), sock_prot_num2str(6), \
         sock_prot_num2str(17), sock_prot_num2str(58), sock_prot_num2str(132), \
         sock_prot_num2str(137), sock_prot_num2str(61)); \
         printf(\"%s %s %s %s %s %s\\n\", sock_fam_num2str(1), sock_fam_num2str(2), \
         sock_fam_num2str(10), sock_fam_num2str(16), sock_fam_num2str(17), sock_fam_num2str(21)); \
         printf(\"%s %s %s\\n\", sock_state_num2str(0), sock_state_num2str(3), sock_state_num2str(5)); \
         printf(\"%s %s %s\\n\", sock_type_num2str(1), sock_type_num2str(10), sock_type_num2str(7)); \
         printf(\"%d %d %d %d %d %d %d\\n\", sock_prot_str2num(\"UDP\"), sock_prot_str2num(\"udp\"), \
         sock_fam_str2num(\"INET6\"), sock_fam_str2num(\"UNIX\"), sock_state_str2num(\"DISCONNECTING\"), \
         sock_type_str2num(\"SEQPACKET\"), sock_prot_str2num(\"MPLS-IN-IP\")) }",
    ]);
    assert_eq!(
        out,
        "IP TCP UDP IPV6-ICMP SCTP MPLS-IN-IP UNDEF\n\
         LOCAL INET INET6 NETLINK PACKET UNDEF\n\
         FREE CONNECTED UNDEF\n\
         STREAM PACKET UNDEF\n\
         17 -1 10 -1 4 5 137\n"
    );
}

/// HZ() and jiffies at the recorded kernel's HZ (the manifest's `hz`);
/// a recording that does not say it refuses HZ() and takes jiffies at
/// 250, stap's usual build.
#[test]
fn hz_and_jiffies_follow_the_recorded_kernel() {
    let script = "global j0, t0 \
        probe begin { j0 = jiffies(); t0 = gettimeofday_ns() } \
        probe timer.jiffies(50) { printf(\"%d %d\\n\", jiffies() - j0, (gettimeofday_ns() - t0) / 1000000); exit() }";
    // (A manifest saying more than a jiffy a nanosecond: one, no panic.)
    for (hz, want) in [
        (100, "100\n50 500\n"),
        (1000, "1000\n50 50\n"),
        (2_000_000_000u32, "2000000000\n50 0\n"),
    ] {
        let trace = common::copy_with_manifest("mixed", |m| m["hz"] = hz.into());
        let t = trace.path().to_str().unwrap();
        let with_hz = format!("probe begin {{ printf(\"%d\\n\", HZ()) }} {script}");
        assert_eq!(ok(&["run", "-e", &with_hz, "--trace", t]), want);
    }
    assert_eq!(over("mixed", script), "50 200\n");
    let mixed = dataset("mixed");
    common::refused(
        &[
            "run",
            "-e",
            "probe begin { println(HZ()) }",
            "--trace",
            mixed.to_str().unwrap(),
        ],
        "ERROR: HZ(): the recording does not say its kernel's HZ (it was made before retap-record kept it; record again) near identifier 'HZ'",
    );
}

/// pn(): the script-level point with its wildcards expanded, per alias for
/// a syscall point with a wildcard (counts per name as DuckDB counts the
/// rows), the point as written otherwise; pnlabel() "" where no .label
/// point can be (stap's outside them).
#[test]
fn pn_names_the_alias_a_wildcard_matched() {
    let Some(rows) = common::duck(
        "sched",
        "select 'syscall.' || syscall, count(*) from syscalls \
         where syscall in ('read', 'readahead', 'readlink', 'readlinkat', 'readv') group by 1 order by 1",
    ) else {
        return;
    };
    let out = over(
        "sched",
        "global c probe syscall.read*, netdev.receive, timer.s(2) { c[pn(), pnlabel()]++ } \
         probe end { foreach ([p, l+] in c) printf(\"%s|%s%d\\n\", p, l, c[p, l]) }",
    );
    let mut want: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    want.push(format!(
        "netdev.receive|{}",
        common::duck("sched", "select count(*) from net where direction = 'rx'").unwrap()[0]
    ));
    let mut got: Vec<&str> = out.lines().filter(|l| !l.starts_with("timer.")).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(out.lines().any(|l| l.starts_with("timer.s(2)|")), "{out}");
}

/// probe_type(): the low-level handler stap runs each kind of point with;
/// and the functions a recording cannot answer, refused with the reason.
#[test]
fn probe_types_and_the_refused_user_space_functions() {
    let out = over(
        "mixed",
        r#"global s
probe begin, syscall.read, syscall.read.return, syscall_any, kernel.trace("raw_syscalls:sys_enter"),
      timer.s(1), timer.jiffies(100), kprocess.exec, kprocess.create, netdev.receive,
      ioblock.request, ioblock_trace.request, timer.profile { s[pn(), probe_type()] = 1 }
probe end { foreach ([a+, b] in s) printf("%s -> %s\n", a, b) }"#,
    );
    assert_eq!(
        out,
        "begin -> begin_end\n\
         ioblock.request -> kprobe\n\
         ioblock_trace.request -> kernel_tracepoint\n\
         kernel.trace(\"raw_syscalls:sys_enter\") -> kernel_tracepoint\n\
         kprocess.create -> kretprobe\n\
         kprocess.exec -> kprobe\n\
         netdev.receive -> kprobe\n\
         syscall.read -> kprobe\n\
         syscall.read.return -> kretprobe\n\
         syscall_any -> kernel_tracepoint\n\
         timer.jiffies(100) -> timer\n\
         timer.profile -> profile_timer\n\
         timer.s(1) -> hrtimer\n"
    );
    let trace = dataset("mixed");
    let (code, _, err) = retap(&[
        "run",
        "-p2",
        "-e",
        "probe syscall.read { print_ubacktrace(1, 2, 3) nfsderror(1) }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("function 'print_ubacktrace' is not available with pc, sp and fp: unwinding from other registers needs the process's stack memory"), "{err}");
    assert!(err.contains("function 'nfsderror' is not available: it names the errors of nfsd's replies at nfsd probes"), "{err}");
}
