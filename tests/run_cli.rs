//! `retap run` as users type it: -p1/-p2, -e, script arguments, --trace
//! checks, and the exit status and stderr of bad scripts.

mod common;
use common::{copy_dir, copy_with_manifest, dataset};

use common::run as retap;

#[test]
fn p1_prints_the_canonical_form_of_e_text_with_arguments() {
    let (code, out, err) = retap(&[
        "run",
        "-p1",
        "-e",
        "probe syscall.$1 { if (pid() == $2) printf(\"%s\\n\", @1) }",
        "read",
        "1234",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "probe syscall.read {\n  if (pid() == 1234) printf(\"%s\\n\", \"read\");\n}\n"
    );
}

#[test]
fn p2_resolves_points_against_the_trace() {
    let (code, out, err) = retap(&[
        "run",
        "-p2",
        "queries/profile.stp",
        "--trace",
        "datasets/web",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("syscalllist:long[long, string]"), "{out}");
    assert!(out.contains("# syscall.* -> table syscalls"), "{out}");
    assert!(
        out.contains("# timer.ms(10000) -> every 10000000000 ns of trace time"),
        "{out}"
    );
}

#[test]
fn a_point_needing_a_table_the_trace_lacks_is_named() {
    let dir = copy_with_manifest("disk", |m| {
        m["tables"].as_object_mut().unwrap().remove("net");
    });
    let (code, _, err) = retap(&[
        "run",
        "-p2",
        "queries/nethist.stp",
        "--trace",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("netdev.receive needs the net table; this trace was recorded with --events"),
        "{err}"
    );
}

#[test]
fn parse_errors_exit_1_with_location_and_caret() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("profile.stp");
    std::fs::write(
        &script,
        "global c\nprobe syscall.* {\n  c[execname()]++\n  if (c {\n}\n",
    )
    .unwrap();
    let (code, out, err) = retap(&["run", "-p2", script.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    let want = format!(
        "parse error: expected ')' saw: operator '{{' at {}:4:9\n     source:   if (c {{\n                     ^\n",
        script.display()
    );
    assert!(err.starts_with(&want), "{err}");
}

#[test]
fn verbose_reports_pass_times() {
    let (code, _, err) = retap(&["run", "-v", "-p2", "queries/net.stp"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Pass 1: parsed user script"), "{err}");
    assert!(err.contains("Pass 2: analyzed script: 4 probe(s)"), "{err}");
}

const COUNT_ALL: &str = "global n; probe syscall.* { n++ } probe end { printf(\"%d\\n\", n) }";

#[test]
fn missing_and_empty_trace_dirs_are_named() {
    let (code, out, err) = retap(&["run", "-e", COUNT_ALL, "--trace", "/nonexistent/trace"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "retap: /nonexistent/trace: no such trace directory\n");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = retap(&[
        "run",
        "-e",
        COUNT_ALL,
        "--trace",
        empty.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    // A directory without a manifest could be a set of traces: there are
    // none below it either.
    assert!(
        err.contains("no traces there (no trace.json here or below"),
        "{err}"
    );
    assert!(err.contains("is this a retap trace directory?"), "{err}");
}

#[test]
fn newer_format_versions_are_refused() {
    let dir = copy_with_manifest("disk", |m| m["format_version"] = serde_json::json!(99));
    let (code, _, err) = retap(&[
        "run",
        "-e",
        COUNT_ALL,
        "--trace",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "trace format version 99 is newer than this retap understands (1); upgrade retap"
        ),
        "{err}"
    );
}

#[test]
fn a_table_the_trace_lacks_is_named_at_run_time() {
    let dir = copy_with_manifest("disk", |m| {
        m["tables"].as_object_mut().unwrap().remove("syscalls");
    });
    let (code, _, err) = retap(&[
        "run",
        "-e",
        COUNT_ALL,
        "--trace",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("semantic error: syscall.* needs the syscalls table; this trace was recorded with --events block,net,processes,samples"),
        "{err}"
    );
}

#[test]
fn a_torn_file_is_reported_and_the_rest_analysed() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&dataset("mixed"), dir.path());
    let whole = {
        let (code, out, err) = retap(&[
            "run",
            "-e",
            COUNT_ALL,
            "--trace",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        out.trim().parse::<i64>().unwrap()
    };
    // A second syscalls file that the recorder never finished, and one
    // that is not Parquet at all.
    std::fs::write(
        dir.path().join("syscalls/part-000009.parquet.tmp"),
        b"PAR1 half written",
    )
    .unwrap();
    std::fs::write(dir.path().join("syscalls/part-000010.parquet"), b"garbage").unwrap();
    let (code, out, err) = retap(&[
        "run",
        "-e",
        COUNT_ALL,
        "--trace",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim().parse::<i64>().unwrap(),
        whole,
        "every intact row still counted"
    );
    assert!(err.contains("part-000009.parquet.tmp: torn"), "{err}");
    assert!(
        err.contains("part-000010.parquet: unreadable Parquet file"),
        "{err}"
    );
}

#[test]
fn output_file_verbose_counts_and_seeded_randomize() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out.txt");
    let script = "global n; probe timer.ms(500).randomize(200) { n++ } probe netdev.receive { } \
                  probe end { printf(\"%d timer firings\\n\", n) }";
    let (code, out, err) = retap(&[
        "run",
        "-v",
        "-o",
        out_path.to_str().unwrap(),
        "-e",
        script,
        "--trace",
        "datasets/mixed",
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty(), "output went to the file");
    let first = std::fs::read_to_string(&out_path).unwrap();
    assert!(first.ends_with(" timer firings\n"), "{first}");
    assert!(err.contains("Pass 5: run completed in"), "{err}");
    assert!(err.contains("netdev.receive: "), "{err}");
    let again = dir.path().join("again.txt");
    retap(&[
        "run",
        "-o",
        again.to_str().unwrap(),
        "-e",
        script,
        "--trace",
        "datasets/mixed",
        "--seed",
        "7",
    ]);
    assert_eq!(
        std::fs::read_to_string(again).unwrap(),
        first,
        "same seed, same firings"
    );
}

#[test]
fn runtime_errors_exit_1_and_say_where() {
    let (code, out, err) = retap(&[
        "run",
        "-e",
        "global n\nprobe syscall.* { n++; if (n == 100) printf(\"%d\\n\", 1 / (n - 100)) }\nprobe end { printf(\"%d\\n\", n) }",
        "--trace",
        "datasets/mixed",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out, "100\n",
        "the script stops at the error; end still runs"
    );
    assert!(
        err.starts_with("ERROR: division by 0 near operator '/' at <input>:2:55\n"),
        "{err}"
    );
    assert!(
        err.contains("WARNING: Number of errors: 1, skipped probes: 0"),
        "{err}"
    );
}

#[test]
fn timer_profile_runs_on_recorded_samples() {
    let (code, out, err) = retap(&[
        "run",
        "-e",
        "global s; probe timer.profile { s[user_mode()]++ } probe end { foreach (m+ in s) printf(\"%d %d\\n\", m, s[m]) }",
        "--trace",
        "datasets/mixed",
    ]);
    assert_eq!(code, 0, "{err}");
    let total: i64 = out
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dataset("mixed").join("trace.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(total, m["tables"]["samples"]["events"].as_i64().unwrap());
}

/// Runs a script (`-e TEXT` or a file) over `dir` with plans (-v) and with
/// --interpret-only: both must succeed and print the same. Returns that
/// output and the plans run's stderr.
fn same_as_interpreter(script: &[&str], dir: &str) -> (String, String) {
    let run = |extra: &str| {
        let mut args = vec!["run", extra];
        args.extend_from_slice(script);
        args.extend_from_slice(&["--trace", dir]);
        let (code, out, err) = retap(&args);
        assert_eq!(code, 0, "{err}");
        (out, err)
    };
    let (plans, err) = run("-v");
    let (interp, _) = run("--interpret-only");
    assert_eq!(plans, interp, "{script:?} over {dir}");
    (plans, err)
}

/// Runs `script` over the mixed dataset with plans (-v must say its event
/// probe compiled) and with --interpret-only; both must print the same.
fn compiled_output_matches_interpreter(script: &str) -> String {
    let (plans, err) = same_as_interpreter(&["-e", script], "datasets/mixed");
    assert!(
        err.contains("syscall.*.return: compiled to a DataFusion plan"),
        "{err}"
    );
    plans
}

/// The running-maximum idiom compiles to a plan (max over the rows that
/// would assign) and prints what the interpreter prints.
#[test]
fn a_running_maximum_compiles_and_matches_the_interpreter() {
    let s = "global m, n probe syscall.*.return { if (execname() != \"bash\") { \
             if (gettimeofday_us() - @entry(gettimeofday_us()) > m[name]) m[name] = gettimeofday_us() - @entry(gettimeofday_us()) } \
             if (n < retval) n = retval } \
             probe end { foreach (k in m- limit 5) printf(\"%s %d\\n\", k, m[k]); printf(\"n=%d\\n\", n) }";
    let out = compiled_output_matches_interpreter(s);
    assert_eq!(out.lines().count(), 6, "{out}");
}

/// The running-minimum idiom (`!(k in m) || e < m[k]`) compiles too.
#[test]
fn a_running_minimum_compiles_and_matches_the_interpreter() {
    let s = "global lo probe syscall.*.return { if (!([execname()] in lo) || retval < lo[execname()]) lo[execname()] = retval } \
             probe end { foreach (k in lo+ limit 4) printf(\"%s %d\\n\", k, lo[k]) }";
    let out = compiled_output_matches_interpreter(s);
    assert_eq!(out.lines().count(), 4, "{out}");
}

/// A probe that prints per event runs as an ordered projection (-v says
/// so, -p4 shows its plan) and prints, line for line, what the interpreter
/// prints, with begin before and end after, over every shipped dataset;
/// so do an entry-side and a return-side printing probe together, while
/// printing probes of two tables stay in the interpreter, with the reason.
#[test]
fn per_event_printf_runs_as_an_ordered_projection() {
    let script = "probe begin { printf(\"start\\n\") } \
                  probe syscall.openat { if (pid() > 100) printf(\"%-16s %6d %s %d\\n\", execname(), pid(), name, tid()) } \
                  global n probe syscall.read { n++ } \
                  probe end { printf(\"reads %d\\n\", n) }";
    for ds in ["make-libbpf", "web", "disk", "mixed"] {
        let (plans, err) = same_as_interpreter(&["-e", script], &format!("datasets/{ds}"));
        assert!(
            err.contains("syscall.openat: compiled to an ordered DataFusion projection"),
            "{err}"
        );
        assert!(
            plans.starts_with("start\n") && plans.contains("\nreads "),
            "{ds}"
        );
        assert!(
            plans.lines().count() > 100,
            "{ds}: {} lines",
            plans.lines().count()
        );
    }
    let (code, p4, err) = retap(&["run", "-p4", "-e", script, "--trace", "datasets/web"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        p4.contains("printf per event, in firing order") && p4.contains("FilterExec"),
        "{p4}"
    );
    // Two printing probes of one table, one at entry and one at return:
    // one projection, lines interleaved in firing order.
    let two = "probe syscall.openat { printf(\"open %d %s\\n\", pid(), execname()) } \
               probe syscall.*.return { if (retval < 0) printf(\"fail %s %d %d\\n\", name, retval, \
               gettimeofday_ns() - @entry(gettimeofday_ns())) }";
    for ds in ["web", "mixed"] {
        let (plans, err) = same_as_interpreter(&["-e", two], &format!("datasets/{ds}"));
        assert!(
            err.contains("syscall.*.return: compiled to an ordered DataFusion projection"),
            "{err}"
        );
        assert!(plans.contains("open ") && plans.contains("fail "), "{ds}");
    }
    // Printing probes of two tables stay interpreted, with the reason.
    let tables = "probe syscall.openat { printf(\"%d\\n\", pid()) } probe netdev.receive { printf(\"%d\\n\", length) }";
    let (code, _, err) = retap(&["run", "-v", "-e", tables, "--trace", "datasets/web"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "interpreted: printf probes run as plans only when they print rows of one table"
        ),
        "{err}"
    );
}

/// One update at two points of a table (`$count` of read and write, found
/// through the trace's signatures) is one plan, one scan: -p3 shows a
/// single plan naming both points, the output is the interpreter's, and
/// -v still counts each point's own hits.
#[test]
fn one_update_at_two_points_is_one_scan_with_hits_per_point() {
    let s = "global bytes probe syscall.read, syscall.write { bytes[execname()] += $count } \
             probe end { foreach (e in bytes- limit 5) printf(\"%s %d\\n\", e, bytes[e]) }";
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "-v"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-e", s, "--trace", "datasets/web"]);
        let (code, out, err) = retap(&args);
        assert_eq!(code, 0, "{err}");
        let hits: Vec<String> = err
            .lines()
            .filter(|l| l.contains("hit(s)"))
            .map(String::from)
            .collect();
        (out, err, hits)
    };
    let (plans, err, hits) = run(&[]);
    assert!(
        err.contains("syscall.read, syscall.write: compiled to a DataFusion plan"),
        "{err}"
    );
    let (interp, _, interp_hits) = run(&["--interpret-only"]);
    assert_eq!(plans, interp);
    assert_eq!(plans.lines().count(), 5, "{plans}");
    assert_eq!(hits, interp_hits);
    assert!(
        hits.iter().any(|h| h.starts_with("  syscall.read: ")),
        "{hits:?}"
    );
    assert!(
        hits.iter().any(|h| h.starts_with("  syscall.write: ")),
        "{hits:?}"
    );
    let (code, p3, err) = retap(&["run", "-p3", "-e", s, "--trace", "datasets/web"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        p3.matches("\n# ").count() + usize::from(p3.starts_with("# ")),
        1,
        "{p3}"
    );
    assert!(
        p3.starts_with("# syscall.read, syscall.write (global bytes)"),
        "{p3}"
    );
}

/// Points that together take every value of their table's discriminating
/// column (netdev.receive and netdev.transmit: direction is rx or tx)
/// scan without filtering on it, and need not read it; one point alone, or
/// both updating differently, still tells the rows apart. Each prints
/// what the interpreter prints.
#[test]
fn points_covering_every_row_read_no_discriminating_column() {
    for (s, reads_direction) in [
        ("global h probe netdev.receive, netdev.transmit { h <<< length } probe end { print(@hist_log(h)) }", false),
        ("global h probe netdev.* { h <<< length } probe end { print(@hist_log(h)) }", false),
        ("global h probe netdev.receive { h <<< length } probe end { print(@hist_log(h)) }", true),
        ("global n probe netdev.receive { n[execname()] += length } probe netdev.transmit { n[execname()] -= length } \
          probe end { foreach (e in n- limit 5) printf(\"%s %d\\n\", e, n[e]) }", true),
    ] {
        let (out, err) = same_as_interpreter(&["-e", s], "datasets/web");
        assert!(err.contains("compiled to a DataFusion plan"), "{err}");
        assert!(!out.is_empty(), "{s}");
        let (code, p4, err) = retap(&["run", "-p4", "-e", s, "--trace", "datasets/web"]);
        assert_eq!(code, 0, "{err}");
        assert!(p4.contains("DataSourceExec"), "{p4}");
        assert_eq!(p4.contains("direction"), reads_direction, "{s}\n{p4}");
    }
}

/// Plans for arrays sorted by value with a limit read no timestamps; when
/// the sorted output would show ties (whose order is the order elements
/// appeared), the tied elements' first firing times are read again from
/// the rows up to a 64th, then an 8th of the trace, then all of it, and -v
/// says how far. A sort showing every element keeps them in the first
/// pass. Every way prints what the interpreter prints.
#[test]
fn value_sorts_with_shown_ties_read_first_firings_as_far_as_needed() {
    for (script, trace, how) in [
        (
            "global c probe syscall.* { c[execname()]++ } \
             probe end { foreach (e in c- limit 3) printf(\"%s %d\\n\", e, c[e]) }",
            "datasets/web",
            None,
        ),
        (
            "global c probe syscall.* { c[pid()]++ } \
             probe end { foreach (p in c- limit 1000) printf(\"%d %d\\n\", p, c[p]) }",
            "datasets/web",
            Some("the first firing times of its 62 tied elements are in the rows of its first 12.5% (read again up to there)"),
        ),
        // A tied element first fires late in the trace: all of it.
        (
            "global c probe syscall.* { c[execname(), pid()]++ } \
             probe end { foreach ([e, p] in c- limit 5) printf(\"%s %d %d\\n\", e, p, c[e, p]) }",
            "datasets/mixed",
            Some("plans ran again keeping first firing times"),
        ),
        // Showing every element: first firing times in the same pass, so
        // its ties cost no second run (issue 22).
        (
            "global c probe syscall.* { c[pid()]++ } \
             probe end { foreach (p in c-) printf(\"%d %d\\n\", p, c[p]) }",
            "datasets/web",
            None,
        ),
    ] {
        let (_, err) = same_as_interpreter(&["-e", script], trace);
        assert!(err.contains("plans ran in"), "{err}");
        match how {
            Some(how) => assert!(
                err.contains(&format!("has ties where it is shown: {how}")),
                "{script}\n{err}"
            ),
            None => assert!(!err.contains("has ties"), "{script}\n{err}"),
        }
    }
}

/// Listing 3 of the article reads what it updates (`count++; printf(...,
/// count, pid())`): it runs as a projection keeping the count in firing
/// order, from the global's initial value, and prints what the interpreter
/// prints.
#[test]
fn a_probe_printing_its_running_count_is_a_projection() {
    let (plans, err) = same_as_interpreter(&["queries/sync_count.stp"], "datasets/mixed");
    assert!(
        err.contains("kernel.function(\"sys_sync\"): compiled to an ordered DataFusion projection"),
        "{err}"
    );
    assert!(plans.starts_with("sys_sync called 1 times"), "{plans}");
    // A counter another event probe also updates keeps both interpreted.
    let shared =
        "global n probe syscall.openat { n++; printf(\"%d\\n\", n) } probe syscall.close { n++ }";
    let (_, err) = same_as_interpreter(&["-e", shared], "datasets/web");
    assert!(err.contains("syscall.openat: interpreted"), "{err}");
    assert!(err.contains("syscall.close: interpreted"), "{err}");
}

/// Kernel addresses in a recording's samples resolve through the kallsyms
/// saved with it (loaded only for scripts that name symbols).
#[test]
fn symname_and_print_backtrace_use_the_saved_kallsyms() {
    let script = "global n probe timer.profile { if (!user_mode() && n < 1) { n++; \
                  printf(\"%s\\n\", symname(addr())); print_backtrace() } }";
    let (code, out, err) = retap(&["run", "-e", script, "--trace", "datasets/web"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"bpf_trace_run2"), "{out}");
    assert_eq!(
        lines.get(1),
        Some(&" 0xffffffff814b85f1 : bpf_trace_run2+0x101/0x1b0 [kernel]"),
        "{out}"
    );
    assert!(lines.len() > 3, "{out}");
}

/// A scalar counter is a plan (it once failed with an Arrow error and fell
/// back quietly), and the three mixes of compiled and interpreted probes
/// that plans once got wrong (an interpreted probe reading a compiled
/// global in an array index, an extractor's key, an arithmetic key) print
/// what the interpreter prints.
#[test]
fn scalars_compile_and_interpreted_readers_keep_globals_running() {
    let (out, err) = same_as_interpreter(
        &[
            "-e",
            "global c; probe syscall.read { c++ } probe end { printf(\"%d\\n\", c) }",
        ],
        "datasets/mixed",
    );
    assert!(
        err.contains("syscall.read: compiled to a DataFusion plan"),
        "{err}"
    );
    assert!(err.contains("plans ran in"), "{err}");
    assert!(
        !err.contains("WARNING") && !err.contains("not used"),
        "{err}"
    );
    assert!(out.trim().parse::<u64>().unwrap() > 1000, "{out}");
    let mixes = [
        "global c, s probe syscall.read { c[execname()]++ } \
         probe syscall.write { s[c[\"bash\"]] <<< 1 } \
         probe end { foreach (k in s+ limit 4) printf(\"%d %d\\n\", k, @count(s[k])) }",
        "global c, s probe syscall.read { c[execname()] <<< $count } \
         probe syscall.write { s[@count(c[\"bash\"])] <<< 1 } \
         probe end { foreach (k in s) printf(\"%d %d\\n\", k, @count(s[k])) }",
        "global g0, r probe syscall.read { g0 += cpu() } \
         probe syscall.write { r[g0 % 3] <<< 1 } \
         probe end { foreach (k in r) printf(\"%d %d\\n\", k, @count(r[k])) }",
    ];
    for script in mixes {
        let (out, err) = same_as_interpreter(&["-e", script], "datasets/mixed");
        assert!(out.lines().count() >= 3, "{script}: {out}");
        assert!(!err.contains("WARNING"), "{err}");
    }
}

/// A guard no row of a file passes, by the file's dictionary pages,
/// leaves the file unread, and `-v` says so: `readlink` ran in one of
/// web's two files, in the first of its eight row groups.
#[test]
fn files_no_row_of_which_passes_the_filter_are_left_unread() {
    let script = "global c probe syscall.* { if (execname() == \"readlink\") c[name]++ } \
                  probe end { foreach (n in c- limit 3) printf(\"%s %d\\n\", n, c[n]) }";
    let (out, err) = same_as_interpreter(&["--no-rollups", "-e", script], "datasets/web");
    assert!(out.lines().count() == 3, "{out}");
    assert!(
        err.contains(
            "syscall.* (global c): 1 of 2 files left unread, and 7 row groups of the \
             rest: no value in their dictionaries passes the probe's filter"
        ),
        "{err}"
    );
    // bash ran in both files, in the first and last row groups of the
    // first; python3 in every row group.
    let bash = script.replace("readlink", "bash");
    let (_, err) = same_as_interpreter(&["--no-rollups", "-e", &bash], "datasets/web");
    assert!(
        err.contains("0 of 2 files left unread, and 6 row groups of the rest"),
        "{err}"
    );
    let python = script.replace("readlink", "python3");
    let (_, err) = same_as_interpreter(&["--no-rollups", "-e", &python], "datasets/web");
    assert!(!err.contains("left unread"), "{err}");
}

/// `retap info` counts the files with rollups, grain by grain. A file
/// whose rollup does not decode (here: the rollup by process holding the
/// finest grain's columns, as a file of another version of the format
/// might): the run says which file, reads its rows instead, and prints
/// what it prints without rollups, exit 0.
#[test]
fn a_rollup_that_does_not_decode_is_said_and_its_rows_read() {
    use retap_schema::rollups::Grain;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let d = dir.to_str().unwrap();
    let args = ["synth", "-o", d, "--events", "200000", "--no-checksums"];
    let (code, _, err) = retap(&[&args[..], &["--rows-per-file", "100000"]].concat());
    assert_eq!(code, 0, "{err}");
    let script = "global c probe syscall.* { c[execname()]++ } \
                  probe end { foreach (e in c- limit 3) printf(\"%s %d\\n\", e, c[e]) }";
    let (code, whole, err) = retap(&["run", "-v", "-e", script, "--trace", d]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("2 of 2 files answered from the rollups they carry (their groups by process)"),
        "{err}"
    );
    // `retap info` says which files carry which rollups.
    let (code, out, _) = retap(&["info", d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "rollups   syscalls: 2 of 2 files \
             (by syscall 2, by process 2, by process and syscall 2)"
        ),
        "{out}"
    );
    let (_, out, _) = retap(&["info", "datasets/mixed"]);
    assert!(out.contains("rollups   syscalls: 0 of 1 files"), "{out}");
    let f = dir.join("syscalls/part-000001.parquet");
    retap_testkit::rewrite_footer(&f, |kv| {
        let by_syscall = kv
            .iter()
            .find(|(k, _)| k == Grain::ProcessSyscall.metadata_key())
            .unwrap()
            .1
            .clone();
        for (k, v) in kv.iter_mut() {
            if k == Grain::Process.metadata_key() {
                *v = by_syscall.clone();
            }
        }
    });
    let (code, out, err) = retap(&["run", "-v", "-e", script, "--trace", d]);
    assert_eq!((code, out.as_str()), (0, whole.as_str()), "{err}");
    assert!(
        err.contains(&format!(
            "WARNING: {}: its rollup is unreadable (rollup columns are not the format's); \
             its rows were read instead",
            f.display()
        )) && err.contains("1 of 2 files answered from the rollups"),
        "{err}"
    );
    let (code, out, _) = retap(&["run", "--no-rollups", "-e", script, "--trace", d]);
    assert_eq!((code, out.as_str()), (0, whole.as_str()));
}

/// A trace damaged in one row group of the column a script reads: the run
/// prints what it could read, says which file, table and row group are
/// damaged and that the results are partial, and exits 1; `retap info
/// --verify` lists the damage (exit 1); SQL fails saying where. A plan
/// answered from the files' rollups reads no row group: it prints the
/// whole answer, as before the damage (the rollup is in the footer,
/// which the tail checksum covers).
#[test]
fn damage_is_reported_with_where_and_results_say_they_are_partial() {
    use retap_analyzer::trace::Trace;
    use retap_schema::Table;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let d = dir.to_str().unwrap();
    let (code, _, err) = retap(&["synth", "-o", d, "--events", "300000"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = retap(&["info", "--verify", d]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 file(s) with checksums checked\nno damage found"),
        "{out}"
    );
    let script = "global c probe syscall.* { c[execname()]++ } \
                  probe end { foreach (e in c- limit 3) printf(\"%s %d\\n\", e, c[e]) }";
    let (code, whole, err) = retap(&["run", "-e", script, "--trace", d]);
    assert_eq!(code, 0, "{err}");
    let t = Trace::open(&dir).unwrap();
    let f = &t.table(Table::Syscalls).unwrap().files[0];
    let meta = &f.footer.as_ref().unwrap().0;
    let schema = meta.file_metadata().schema_descr();
    let execname = (0..schema.num_columns())
        .find(|&i| schema.column(i).name() == "execname")
        .unwrap();
    let (start, len) = meta.row_group(1).column(execname).byte_range();
    let mut bytes = std::fs::read(&f.path).unwrap();
    bytes[(start + len - 9) as usize] ^= 0x04;
    std::fs::write(&f.path, &bytes).unwrap();

    let (code, out, err) = retap(&["run", "-v", "-e", script, "--trace", d]);
    assert_eq!((code, out.as_str()), (0, whole.as_str()), "{err}");
    assert!(
        err.contains("1 of 1 files answered from the rollups"),
        "{err}"
    );
    let (code, out, err) = retap(&["run", "--no-rollups", "-e", script, "--trace", d]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let name = f.path.display().to_string();
    assert!(
        err.contains(&format!(
            "WARNING: DAMAGED: {name}: table syscalls, row group 1: "
        )) && err.contains("CRC checksum mismatch")
            && err.contains(&format!(
                "WARNING: results are partial: the rows of {name} from row group 1 on were not read"
            ))
            && err.contains(&format!(
                "`retap info --verify {d}` lists every damaged part"
            )),
        "{err}"
    );
    let (code, out, _) = retap(&["info", "--verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("DAMAGED: {name}: table syscalls, row group 1: ")),
        "{out}"
    );
    let (code, _, err) = retap(&[
        "sql",
        d,
        "SELECT execname, count(*) FROM syscalls GROUP BY 1",
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains("the trace is damaged") && err.contains("row group 1"),
        "{err}"
    );
}

/// A page index that does not decode (only plans' scans read it) is
/// damage: the plan's failure is not reported as a bug, the file is named,
/// and the interpreter, which reads the rows without it, prints the whole
/// answer; `retap info --verify` lists it.
#[test]
fn a_page_index_that_does_not_decode_is_damage_the_interpreter_reads_past() {
    use retap_analyzer::trace::Trace;
    use retap_schema::Table;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let d = dir.to_str().unwrap();
    copy_dir(&dataset("mixed"), &dir);
    let script = "global c probe syscall.* { c[execname()]++ } \
                  probe end { foreach (e in c- limit 3) printf(\"%s %d\\n\", e, c[e]) }";
    let (code, whole, err) = retap(&["run", "--interpret-only", "-e", script, "--trace", d]);
    assert_eq!(code, 0, "{err}");
    let t = Trace::open(&dir).unwrap();
    let f = &t.table(Table::Syscalls).unwrap().files[0];
    let col = f.footer.as_ref().unwrap().0.row_group(0).column(0).clone();
    let (Some(at), Some(len)) = (col.column_index_offset(), col.column_index_length()) else {
        panic!("no column index: {col:?}");
    };
    let mut bytes = std::fs::read(&f.path).unwrap();
    bytes[at as usize..(at + len as i64) as usize].fill(0xff);
    std::fs::write(&f.path, &bytes).unwrap();

    let name = f.path.display().to_string();
    let said =
        format!("WARNING: DAMAGED: {name}: table syscalls: its page index does not decode (");
    for strict in ["0", "1"] {
        let out = common::retap()
            .args(["run", "--no-rollups", "-e", script, "--trace", d])
            .env("RETAP_STRICT_PLANS", strict)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), whole, "{err}");
        assert!(
            err.contains(&said) && !err.contains("a bug in retap"),
            "{err}"
        );
    }
    let (code, out, _) = retap(&["info", "--verify", d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "DAMAGED: {name}: table syscalls: its page index does not decode ("
        )),
        "{out}"
    );
}

/// -p3/-p4 show plans, which need a recording: without --trace that is a
/// clear error, not a run.
#[test]
fn plans_without_a_trace_are_a_clear_error() {
    for p in ["-p3", "-p4"] {
        let (code, out, err) = retap(&["run", p, "-e", "probe begin { printf(\"hi\\n\") }"]);
        assert_eq!(code, 1, "{err}");
        assert_eq!(out, "");
        assert!(
            err.contains("-p3/-p4 show the plans built over a recording; give --trace DIR"),
            "{err}"
        );
    }
}

/// `-G NAME=VALUE` starts a scalar global with a value, read as the
/// global's type, with plans and in the interpreter alike.
#[test]
fn g_sets_scalar_globals() {
    let (code, out, err) = retap(&[
        "run",
        "-G",
        "max=3",
        "-G",
        "who=bob",
        "-e",
        "global max = 1, who = \"x\" probe begin { printf(\"%d %s\\n\", max, who) }",
    ]);
    assert_eq!((code, out.as_str()), (0, "3 bob\n"), "{err}");
    let script = "global max, c probe syscall.read { c[execname()]++ } \
                  probe end { foreach (k in c- limit max) printf(\"%s %d\\n\", k, c[k]) }";
    let trace = dataset("mixed");
    let t = trace.to_str().unwrap();
    let (code, planned, err) = retap(&["run", "-G", "max=2", "-e", script, "--trace", t]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned.lines().count(), 2, "{planned}");
    let (_, interpreted, _) = retap(&[
        "run",
        "--interpret-only",
        "-G",
        "max=2",
        "-e",
        script,
        "--trace",
        t,
    ]);
    assert_eq!(planned, interpreted);
    for (g, why) in [
        (
            "n=abc",
            "retap run: -G n=abc: not a number, and the global is a long",
        ),
        (
            "q=1",
            "retap run: -G q=1: the script has no global of that name",
        ),
        ("a=1", "retap run: -G a=1: -G sets scalar longs and strings"),
        ("n", "retap run: -G n: give NAME=VALUE"),
    ] {
        let (code, _, err) = retap(&[
            "run",
            "-G",
            g,
            "-e",
            "global n, a probe begin { a[1] = n + 1; println(a[1]) }",
        ]);
        assert_eq!(code, 1, "{g}");
        assert!(err.starts_with(why), "{g}: {err}");
    }
}

/// ppid() and cmdline_str() answer from the processes table, which a run
/// then reads (and checks) though no probe is on it; the exec row gives
/// the parent of a process forked before recording began. Checked
/// against DuckDB's reading of the same rows.
#[test]
fn process_tree_functions_in_syscall_probes() {
    let Some(rows) = common::duck(
        "mixed",
        "select s.pid, p.ppid, p.argv from syscalls s join processes p \
         on p.pid = s.pid and p.event = 'exec' \
         where s.syscall = 'execve' and s.ret = 0 order by s.ts limit 1",
    ) else {
        return;
    };
    let trace = dataset("mixed");
    let (code, out, err) = retap(&[
        "run",
        "-e",
        "probe syscall.execve.return { if (retval == 0) { printf(\"%d|%d|%s\\n\", pid(), ppid(), cmdline_str()); exit() } }",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{}\n", rows[0]));
}

/// A recording made on aarch64 (synthetic: aarch64's syscall numbers, and
/// epoll_pwait, ppoll and pselect6 where an x86_64 program calls
/// epoll_wait, poll and select): `syscall.*` names each call as stap does
/// there, `syscall_name(syscall_nr)` reads aarch64's number table, plans
/// and the interpreter agree, and the counts are DuckDB's over the files.
#[test]
fn an_aarch64_recording_is_named_by_its_own_syscall_table() {
    use retap_analyzer::stap::elaborate::syscall_args;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a64");
    let d = dir.to_str().unwrap();
    let (code, _, err) = retap(&["synth", "-o", d, "--arch", "aarch64", "--events", "100000"]);
    assert_eq!(code, 0, "{err}");
    let script = r#"global n, bad
probe syscall.* { n[name]++ }
probe syscall_any { if (syscall_name(syscall_nr) != name) bad++ }
probe end { foreach (k in n-) printf("%s %d\n", k, n[k]); printf("mismatched %d\n", bad) }"#;
    let (code, planned, err) = retap(&["run", "-e", script, "--trace", d]);
    assert_eq!(code, 0, "{err}");
    let (code, interpreted, err) = retap(&["run", "-e", script, "--trace", d, "--interpret-only"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(planned, interpreted);
    assert!(planned.ends_with("mismatched 0\n"), "{planned}");
    for name in ["epoll_pwait", "ppoll", "pselect6", "mmap2", "fstatat"] {
        assert!(
            planned.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name}: {planned}"
        );
    }
    // stap's names in SQL: by value (epoll_create1 with no flags), then
    // the renamed ones.
    let (renamed, aliased) = common::stap_syscall_sql();
    let mut name = String::from("case");
    for (kernel, reg, v, stap) in syscall_args::names_by_value() {
        name.push_str(&format!(
            " when syscall = '{kernel}' and (arg{reg} & 4294967295) = {} then '{stap}'",
            v & 0xffff_ffff
        ));
    }
    name.push_str(&format!(" else {renamed} end"));
    let Some(rows) = common::duck_at(
        &dir,
        &format!("select {name}, count(*) from syscalls where {aliased} group by 1"),
    ) else {
        return;
    };
    let mut want: Vec<String> = rows.iter().map(|r| r.replace('|', " ")).collect();
    let mut got: Vec<String> = planned
        .lines()
        .filter(|l| !l.starts_with("mismatched"))
        .map(String::from)
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
}
