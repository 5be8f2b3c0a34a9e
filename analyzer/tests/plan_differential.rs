//! Differential tests of the plan compiler: for the shipped queries,
//! hundreds of generated aggregate scripts and per-event printf scripts
//! over generated traces, the run with DataFusion plans prints exactly what
//! the interpreter alone prints.

use std::path::Path;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::DataType;
use retap_analyzer::plan;
use retap_analyzer::runtime::{self, Limits, RunOptions};
use retap_analyzer::stap::elaborate::{elaborate, ElabOptions};
use retap_analyzer::stap::source::render_all;
use retap_analyzer::stap::{self, PpEnv};
use retap_analyzer::synth::{synth, SynthOptions};
use retap_analyzer::trace::Trace;
use retap_analyzer::trace_set::TraceSet;
use retap_schema::rollups::Grain;
use retap_testkit::Rng;

/// (output with plans, output interpreted, probes compiled)
fn both(script: &str, trace: &Trace) -> (String, String, usize) {
    let (a, b, n, _, _) = both_noted(script, trace);
    (a, b, n)
}

/// What plans took from rollups, plan by plan.
type FromRollups = Vec<plan::FromRollups>;

/// [`both`], with what the plans said of ties a sort shows (`-v`), and
/// how many files' rows each plan took from rollups.
fn both_noted(script: &str, trace: &Trace) -> (String, String, usize, Option<String>, FromRollups) {
    let b = run_both(script, trace);
    (b.with_plans, b.interpreted, b.compiled, b.note, b.rolled)
}

/// A script run with plans and interpreted alone, and what its plans said.
struct Both {
    with_plans: String,
    interpreted: String,
    /// Probes compiled to plans.
    compiled: usize,
    /// What the plans said of ties a sort shows (`-v`).
    note: Option<String>,
    rolled: FromRollups,
    /// Files the plans left unread by their dictionaries, of those they
    /// had to scan, and row groups left unread in the files read.
    unread: (usize, usize, usize),
}

fn run_both(script: &str, trace: &Trace) -> Both {
    let env = PpEnv {
        macros: Default::default(),
        kernel_release: "6.18.0".into(),
        arch: "x86_64".into(),
        args: vec!["syslogd".into()],
    };
    let (p, d) = stap::parse("gen.stp", script, &env);
    let signatures = trace.signatures();
    assert!(d.is_empty(), "{}\n{script}", render_all(&d, &p.map));
    let opts = ElabOptions {
        arch: "x86_64".into(),
        signatures,
        tables: Some(trace.tables.iter().map(|f| f.table).collect()),
        syscall_strings: trace.manifest.string_max.is_some(),
        socket_addresses: trace.manifest.socket_addresses,
        ..ElabOptions::no_trace("x86_64")
    };
    let (prog, errors, _) = elaborate(&p.script, &opts);
    assert!(
        errors.is_empty(),
        "{}\n{script}",
        render_all(&errors, &p.map)
    );
    let go = |preload, skip, projection| {
        let mut out: Vec<u8> = vec![];
        let o = {
            let sink: Box<dyn std::io::Write> = Box::new(&mut out);
            let opts = RunOptions {
                limits: Limits::default(),
                seed: 1,
                skip,
                preload,
                snapshot: false,
                projection,
                ..Default::default()
            };
            runtime::run(&prog, &p.map, Some(trace), &opts, sink).unwrap()
        };
        let mut s = String::from_utf8_lossy(&out).into_owned();
        for l in o.stderr {
            s.push_str(&l);
        }
        (s, o.probe_hits, o.stopped_at, o.replayed)
    };
    // Each probe's hits (-v) are part of what must agree.
    let with_hits = |(s, hits, _, _): (String, Vec<(String, u64)>, Option<i64>, bool)| {
        format!("{s}--- hits {hits:?}\n")
    };
    let interpreted = with_hits(go(None, Default::default(), None));
    let compiled = plan::analyse(&prog);
    assert!(
        compiled.failed.is_empty(),
        "translating to plans failed: {:?}\n{script}",
        compiled.failed
    );
    let projection: Option<Box<dyn runtime::Projector>> =
        (!compiled.projections.is_empty()).then(|| {
            let p = plan::build_projection(&prog, &compiled.projections, trace)
                .unwrap_or_else(|e| panic!("the projection failed to build: {e}\n{script}"));
            Box::new(plan::Projected::new(p)) as Box<dyn runtime::Projector>
        });
    let session = plan::PlanSession::local(&trace.store);
    let plans = plan::build_plans(&prog, &compiled, trace, false, None, &session)
        .unwrap_or_else(|e| panic!("plans failed to build: {e}\n{script}"));
    let rolled: FromRollups = plans.iter().filter_map(|p| p.from_rollups).collect();
    let unread = plans.iter().fold((0, 0, 0), |(k, n, g), p| {
        (k + p.unread.0, n + p.unread.1, g + p.unread.2)
    });
    let mut n = compiled.probes.len();
    let mut note = None;
    let with_plans = match plan::run_plans(
        &prog,
        &compiled,
        trace,
        plans,
        Limits::default().maxmapentries,
        &session,
        false,
    ) {
        Ok((l, how)) => {
            note = how;
            let (s, mut hits, stopped, replayed) = go(Some(l), compiled.probes.clone(), projection);
            if !replayed {
                let counted = plan::probe_hits(&prog, &compiled.probes, trace, stopped)
                    .unwrap_or_else(|e| panic!("hits failed: {e}\n{script}"));
                for (pi, n) in counted {
                    hits[pi].1 += n;
                }
            }
            with_hits((s, hits, stopped, replayed))
        }
        // Overflowing arrays fall back to the interpreter by design: the
        // script did not compile.
        Err(plan::PlanError::Unsupported(why)) => {
            eprintln!("left to the interpreter: {why}");
            n = 0;
            interpreted.clone()
        }
        // Anything else is a bug in the plans, never a quiet fallback.
        Err(e) => panic!("plans failed: {e}\n{script}"),
    };
    Both {
        with_plans,
        interpreted,
        compiled: n,
        note,
        rolled,
        unread,
    }
}

#[test]
fn shipped_queries_give_the_same_output_with_plans() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut compiled_any = 0;
    for ds in ["mixed", "web"] {
        let trace = Trace::open(&root.join("datasets").join(ds)).unwrap();
        for q in std::fs::read_dir(root.join("queries")).unwrap() {
            let path = q.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let (a, b, n) = both(&text, &trace);
            assert_eq!(a, b, "{} over {ds}", path.display());
            compiled_any += n;
        }
    }
    assert!(
        compiled_any >= 6,
        "net, nethist and syscall_latency compile ({compiled_any} probes)"
    );
}

#[test]
fn generated_aggregate_scripts_give_the_same_output_with_plans() {
    let cases: usize = std::env::var("RETAP_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let traces: Vec<Trace> = (0..3u64)
        .map(|i| {
            let d = dir.path().join(format!("t{i}"));
            let opts = SynthOptions {
                events: 5_000 + 4_000 * i,
                seed: 11 + i,
                processes: [12, 40, 200][i as usize],
                seconds: 2.0,
                rows_per_file: 3_000,
                checksums: true,
                ..Default::default()
            };
            synth(&d, &opts).unwrap();
            Trace::open(&d).unwrap()
        })
        .collect();
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let mut compiled = 0;
    for i in 0..cases {
        let script = retap_testkit::scripts::aggregate(&mut r);
        let trace = &traces[i % traces.len()];
        let (a, b, n) = both(&script, trace);
        assert_eq!(a, b, "case {i} differs:\n{script}");
        compiled += usize::from(n > 0);
    }
    assert!(
        compiled * 10 >= cases * 9,
        "only {compiled} of {cases} scripts compiled to plans"
    );
}

/// Timestamps cut to 50 ms put hundreds of rows at one time, within and
/// across files, entries and returns alike: elements first seen at one
/// time must still come out in the interpreter's order (time, file, row;
/// returns after rows), found by the plans, not left to the interpreter.
#[test]
fn elements_first_seen_at_one_time_come_in_the_interpreters_order() {
    let cases: usize = std::env::var("RETAP_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(200, |n: usize| n / 2);
    let dir = tempfile::tempdir().unwrap();
    let traces: Vec<Trace> = (0..2u64)
        .map(|i| {
            let d = dir.path().join(format!("c{i}"));
            let opts = SynthOptions {
                events: 6_000,
                seed: 31 + i,
                processes: [25, 150][i as usize],
                seconds: 2.0,
                rows_per_file: [1_500, 2_500][i as usize],
                checksums: false,
                ..Default::default()
            };
            synth(&d, &opts).unwrap();
            coarsen_times(&d, 50_000_000);
            Trace::open(&d).unwrap()
        })
        .collect();
    // Both as one set: files of two traces, named alike, in one scan.
    let mut traces = traces;
    let mut set = TraceSet::open(dir.path()).unwrap().merged().unwrap();
    let tables: Vec<_> = set.tables.iter().map(|f| f.table).collect();
    set.check(&tables);
    traces.push(set);
    // Kept in insertion order and printed whole: every element's place.
    let fixed = [
        "global c\nprobe syscall.* { c[pid(), execname()]++ }\nprobe end { foreach ([p, e] in c) printf(\"%d %s %d\\n\", p, e, c[p, e]) }\n",
        "global c\nprobe syscall.*.return { c[execname(), name] <<< retval }\n",
        "global c\nprobe syscall.* { c[tid()]++ }\nprobe syscall.*.return { if (retval < 0) c[tid()]-- }\n",
        "global c\nprobe syscall.* { c[pid()]++ }\nprobe end { foreach (p in c-) printf(\"%d %d\\n\", p, c[p]) }\n",
        // Limited sorts: ties at the cut and inside what is shown (plans
        // run again keeping first firing times, which tie too).
        "global c\nprobe syscall.* { c[pid()]++ }\nprobe end { foreach (p in c- limit 5) printf(\"%d %d\\n\", p, c[p]) }\n",
        "global c\nprobe syscall.* { c[execname(), name] <<< 1 }\nprobe end { foreach ([e, n] in c+ limit 4) printf(\"%s %s %d\\n\", e, n, @count(c[e, n])) }\n",
        "global c\nprobe syscall.* { c[tid()]++ }\nprobe end { foreach (p in c+ limit 0) printf(\"%d\\n\", p) print(\"none\\n\") }\n",
        // Elements first seen in one row: in the order of the statements,
        // then of the probes (and their points) that made them.
        "global c\nprobe syscall.* { c[tid() * 2 + 1]++; c[pid() * 2]++ }\nprobe end { foreach (k in c) printf(\"%d %d\\n\", k, c[k]) }\n",
        "global c\nprobe syscall.read, syscall.* { c[name, execname()] <<< 1 }\nprobe syscall.* { c[execname(), name] <<< 2 }\nprobe end { foreach ([a, b] in c) printf(\"%s %s %d\\n\", a, b, @sum(c[a, b])) }\n",
        "global c\nprobe syscall.*.return { c[tid()]++ }\nprobe syscall.* { c[-pid()]++ }\nprobe syscall.*.return { c[-tid() - 1000000]++ }\nprobe end { foreach (k in c) printf(\"%d %d\\n\", k, c[k]) }\n",
    ];
    let mut limited_ties = 0;
    for (i, script) in fixed.iter().enumerate() {
        for trace in &traces {
            let (a, b, n, note, _) = both_noted(script, trace);
            assert_eq!(a, b, "fixed case {i} differs:\n{script}");
            assert!(n > 0, "fixed case {i} left to the interpreter:\n{script}");
            // Over the set, whose two traces' files begin together,
            // entries' plans say where each element first fired in the
            // pass that counts it: no rows are read again for the order.
            if trace.members.len() > 1 && !script.contains(".return") {
                let note = note.as_deref().unwrap_or("");
                assert!(
                    !note.contains("read again for the order"),
                    "fixed case {i}: {note}\n{script}"
                );
                // (Nor after a limited sort's plans ran again up to a
                // bound for its ties' first firing times: they said where.)
                limited_ties += usize::from(note.contains("has ties where it is shown"));
            }
        }
    }
    assert!(limited_ties > 0, "no limited sort showed ties over the set");
    let mut r = Rng(0x71e5_0fa1_10ce_0001);
    let mut compiled = 0;
    for i in 0..cases {
        let script = retap_testkit::scripts::aggregate(&mut r);
        let (a, b, n) = both(&script, &traces[i % traces.len()]);
        assert_eq!(a, b, "case {i} differs:\n{script}");
        compiled += usize::from(n > 0);
    }
    assert!(
        compiled * 10 >= cases * 9,
        "only {compiled} of {cases} scripts compiled to plans over ties"
    );
}

/// Files none of whose values of a column the probe's guards pass, by
/// the column's dictionary pages (or, over a set, by the file's trace's
/// host or name), are left unread; the rest print what the interpreter
/// prints from every row. mixed and web are recordings of different
/// workloads: `dd` ran only in mixed's file, `readlink` only in one of
/// web's two. Over two copies of web (files beginning together, so an
/// entry's plan numbers its files for the order elements came in), the
/// files read keep their numbers among all.
#[test]
fn files_whose_dictionaries_no_row_passes_are_left_unread() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    let dir = tempfile::tempdir().unwrap();
    retap_testkit::copy_dir(&root.join("mixed"), &dir.path().join("set/mixed"));
    retap_testkit::copy_dir(&root.join("web"), &dir.path().join("set/web"));
    retap_testkit::copy_dir(&root.join("web"), &dir.path().join("twins/x"));
    retap_testkit::copy_dir(&root.join("web"), &dir.path().join("twins/y"));
    let opened = |d: &str| {
        let mut set = TraceSet::open(&dir.path().join(d))
            .unwrap()
            .merged()
            .unwrap();
        let tables: Vec<_> = set.tables.iter().map(|f| f.table).collect();
        set.check(&tables);
        set
    };
    // Times cut to 50 ms: elements of both copies, and of both probes
    // below, first seen at one time.
    for t in ["x", "y"] {
        coarsen_times(&dir.path().join("twins").join(t), 50_000_000);
    }
    let (set, twins) = (opened("set"), opened("twins"));
    let web = Trace::open(&root.join("web")).unwrap();
    let host = set.members[0].0.clone();
    let per_element = |guard: &str| {
        format!(
            "global c\nprobe syscall.* {{ if ({guard}) c[trace_name(), pid(), name]++ }}\n\
             probe end {{ foreach ([t, p, n] in c) printf(\"%s %d %s %d\\n\", t, p, n, c[t, p, n]) \
             print(\"end\\n\") }}\n"
        )
    };
    let by_count = |guard: &str| {
        format!(
            "global c\nprobe syscall.* {{ if ({guard}) c[execname(), name]++ }}\n\
             probe end {{ foreach ([e, n] in c-) printf(\"%s %s %d\\n\", e, n, c[e, n]) }}\n"
        )
    };
    // One array counted by two probes: one process's rows, and bash's.
    let beside_bash = |name: &str| {
        format!(
            "global c\nprobe syscall.* {{ if (execname() == \"{name}\") c[trace_name(), pid()]++ }}\n\
             probe syscall.* {{ if (execname() == \"bash\") c[trace_name(), pid()] += 2 }}\n\
             probe end {{ foreach ([t, p] in c) printf(\"%s %d %d\\n\", t, p, c[t, p]) }}\n"
        )
    };
    // (script, trace, files left unread of those to scan, row groups of
    // the rest left unread)
    let cases: Vec<(String, &Trace, (usize, usize, usize))> = vec![
        (per_element("execname() == \"dd\""), &set, (2, 3, 0)),
        (by_count("execname() == \"readlink\""), &set, (2, 3, 7)),
        (by_count("execname() == \"readlink\""), &web, (1, 2, 7)),
        (
            per_element("execname() == \"readlink\" || execname() == \"dd\""),
            &set,
            (1, 3, 7),
        ),
        (by_count("execname() != \"python3\""), &set, (0, 3, 6)),
        (by_count("execname() == \"postgres\""), &set, (3, 3, 0)),
        (per_element("execname() == \"postgres\""), &web, (2, 2, 0)),
        (by_count("!(execname() == \"dd\")"), &set, (0, 3, 0)),
        // (Both recorded on one host.)
        (
            by_count(&format!(
                "hostname() == \"{host}\" && execname() == \"bash\""
            )),
            &set,
            (0, 3, 6),
        ),
        (
            by_count(&format!("hostname() != \"{host}\"")),
            &set,
            (3, 3, 0),
        ),
        (by_count("trace_name() == \"mixed\""), &set, (2, 3, 0)),
        (
            by_count("trace_name() == \"web\" && execname() == \"dd\""),
            &set,
            (3, 3, 0),
        ),
        (
            per_element("execname() == \"readlink\" && pid() > 0"),
            &twins,
            (2, 4, 14),
        ),
        (
            per_element("execname() == \"readlink\""),
            &twins,
            (2, 4, 14),
        ),
        // Two plans, one reading all four files, one two of them: their
        // places of elements seen at one time compare file by file.
        (beside_bash("readlink"), &twins, (2, 8, 26)),
        // rm ran in the last of web's first file's eight row groups alone,
        // bash in the first and the last: the files' row numbers count
        // the row groups left unread.
        (beside_bash("rm"), &twins, (2, 8, 26)),
        (
            "global c\nprobe syscall.read { if (execname() == \"readlink\") c[pid()]++ }\n\
             probe end { foreach (p in c) printf(\"%d %d\\n\", p, c[p]) }\n"
                .to_string(),
            &web,
            (1, 2, 7),
        ),
    ];
    for (i, (script, trace, unread)) in cases.iter().enumerate() {
        let b = run_both(script, trace);
        assert_eq!(b.with_plans, b.interpreted, "case {i} differs:\n{script}");
        assert!(
            b.compiled > 0,
            "case {i} left to the interpreter:\n{script}"
        );
        assert_eq!(b.unread, *unread, "case {i}: files left unread:\n{script}");
    }
}

/// Limited value sorts that show ties order the tied elements by first
/// firings read again from the rows up to a 64th, then an 8th of the
/// trace, then all of it. A return fires at `ts + dur_ns`: with
/// durations stretched to seconds, an element's first firing among the
/// first rows is often not its first at all (a later row returns
/// sooner), which a bound that trusted it would get wrong. Both the
/// short reads and the whole one are taken.
#[test]
fn ties_of_limited_sorts_are_ordered_from_as_few_rows_as_hold_them() {
    let dir = tempfile::tempdir().unwrap();
    let traces: Vec<Trace> = [1, 300_000]
        .iter()
        .map(|stretch| {
            let d = dir.path().join(format!("s{stretch}"));
            let opts = SynthOptions {
                events: 20_000,
                seed: 77,
                processes: 400,
                seconds: 4.0,
                rows_per_file: 2_000,
                checksums: false,
                ..Default::default()
            };
            synth(&d, &opts).unwrap();
            if *stretch > 1 {
                map_times(&d, |ts| ts, |dur| dur * stretch);
            }
            Trace::open(&d).unwrap()
        })
        .collect();
    let scripts = [
        "global c\nprobe syscall.* { c[pid()]++ }\nprobe end { foreach (p in c- limit 40) printf(\"%d %d\\n\", p, c[p]) }\n",
        "global c\nprobe syscall.*.return { c[tid()]++ }\nprobe end { foreach (t in c- limit 40) printf(\"%d %d\\n\", t, c[t]) }\n",
        "global c\nprobe syscall.*.return { c[execname(), tid()] <<< retval }\nprobe end { foreach ([e, t] in c+ limit 60) printf(\"%s %d %d\\n\", e, t, @count(c[e, t])) }\n",
        "global c\nprobe syscall.* { c[tid()] <<< 1 }\nprobe syscall.*.return { c[tid()] <<< 2 }\nprobe end { foreach (t in c @sum- limit 40) printf(\"%d %d\\n\", t, @sum(c[t])) }\n",
        // Every element ties and fires early: shown in first firing order.
        "global c\nprobe syscall.*.return { c[execname()] <<< 1 }\nprobe end { foreach (k in c @min+ limit 6) printf(\"%s\\n\", k) }\n",
        "global c\nprobe syscall.* { c[execname()] <<< 1 }\nprobe end { foreach (k in c @min+ limit 6) printf(\"%s\\n\", k) }\n",
    ];
    let (mut short, mut whole) = (0, 0);
    for script in scripts {
        for trace in &traces {
            let (a, b, n, note, _) = both_noted(script, trace);
            assert_eq!(a, b, "differs over {}:\n{script}", trace.dir.display());
            assert!(n > 0, "left to the interpreter:\n{script}");
            let note = note.unwrap_or_else(|| panic!("no ties shown:\n{script}"));
            short += usize::from(note.contains("read again up to there"));
            whole += usize::from(note.contains("plans ran again"));
        }
    }
    assert!(short > 0 && whole > 0, "{short} short reads, {whole} whole");
}

/// Arrays the end probe sees only through sorts with a limit are given to
/// the interpreter with only the elements those show: whatever the ties
/// at the limit (every count equal, first firings at one time), the two
/// directions, two sorts of one array, statistics read by extractor and
/// histogram in the loop, limits of none and of more than there are,
/// the output is the interpreter's, and `-v` says how many were loaded.
#[test]
fn arrays_seen_only_through_limited_sorts_load_what_they_show() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("t");
    let opts = SynthOptions {
        events: 30_000,
        seed: 5,
        processes: 700,
        seconds: 3.0,
        rows_per_file: 4_000,
        checksums: false,
        ..Default::default()
    };
    synth(&d, &opts).unwrap();
    let together = dir.path().join("together");
    synth(&together, &opts).unwrap();
    coarsen_times(&together, 1_000_000_000);
    let traces = [Trace::open(&d).unwrap(), Trace::open(&together).unwrap()];
    let scripts: &[(&str, Option<usize>)] = &[
        ("global c\nprobe syscall.* { c[pid(), execname()]++ }\nprobe end { foreach ([p, n] in c- limit 10) printf(\"%s %d %d\\n\", n, p, c[p, n]) }\n", Some(10)),
        ("global c\nprobe syscall.* { c[pid()]++ }\nprobe end { foreach (p in c+ limit 25) printf(\"%d %d\\n\", p, c[p]) }\n", Some(25)),
        // Every value ties: shown in creation order.
        ("global s\nprobe syscall.* { s[pid()] <<< 1 }\nprobe end { foreach (t in s @min- limit 7) printf(\"%d\\n\", t) }\n", Some(7)),
        ("global c\nprobe syscall.* { c[execname(), pid()]++ }\nprobe end { foreach ([e, p] in c- limit 3) printf(\"%s %d\\n\", e, p); foreach ([e, p] in c+ limit 4) printf(\"%s %d %d\\n\", e, p, c[e, p]) }\n", None),
        ("global s\nprobe syscall.*.return { s[pid()] <<< retval }\nprobe end { foreach (p in s @count- limit 5) { printf(\"%d %d %d\\n\", p, @count(s[p]), @max(s[p])); print(@hist_log(s[p])) } }\n", Some(5)),
        ("global s\nprobe syscall.*.return { s[execname()] <<< tid() }\nprobe end { foreach (e in s @sum+ limit 2) printf(\"%s %d\\n\", e, @sum(s[e])) }\n", Some(2)),
        ("global s\nprobe syscall.*.return { s[pid()] <<< 0 - tid() }\nprobe end { foreach (p in s @sum- limit 4) printf(\"%d %d\\n\", p, @sum(s[p])); foreach (p in s @max- limit 2) printf(\"%d\\n\", p) }\n", None),
        ("global c\nprobe syscall.* { c[pid()]++ }\nprobe end { foreach (p in c- limit 0) printf(\"%d\\n\", p); print(\"none\\n\") }\n", Some(0)),
        ("global m\nprobe syscall.*.return { if (tid() > m[pid()]) m[pid()] = tid() }\nprobe end { foreach (p in m- limit 3) printf(\"%d %d\\n\", p, m[p]) }\n", Some(3)),
        ("global c\nprobe syscall.* { c[uid()]++ }\nprobe end { foreach (u in c- limit 100000) printf(\"%d %d\\n\", u, c[u]) }\n", None),
        // Read otherwise too: every element loaded.
        ("global c\nprobe syscall.* { c[pid()]++ }\nprobe end { foreach (p in c- limit 5) printf(\"%d\\n\", p); printf(\"%d\\n\", [1] in c) }\n", None),
    ];
    let mut pruned = 0;
    for (script, loaded) in scripts {
        for trace in &traces {
            let (a, b, n, note, _) = both_noted(script, trace);
            assert_eq!(a, b, "differs over {}:\n{script}", trace.dir.display());
            assert!(n > 0, "left to the interpreter:\n{script}");
            let said = note.as_deref().and_then(|n| {
                n.lines()
                    .find(|l| l.contains("seen only through sorts with a limit"))
                    .map(str::to_string)
            });
            match (loaded, said) {
                (Some(k), Some(l)) => {
                    assert!(l.contains(&format!("the {k} of its ")), "{l}\n{script}");
                    pruned += 1;
                }
                (Some(_), None) => panic!("all loaded:\n{script}"),
                (None, _) => {}
            }
        }
    }
    assert_eq!(pruned, 2 * scripts.iter().filter(|s| s.1.is_some()).count());
    // An array over its size overflows where the interpreter says,
    // however few elements a sort shows: the plans count them all.
    let small = "global c[50]\nprobe syscall.* { c[pid()]++ }\nprobe end { foreach (p in c- limit 5) printf(\"%d %d\\n\", p, c[p]) }\n";
    let (a, b, n, _, _) = both_noted(small, &traces[0]);
    assert_eq!(a, b);
    assert_eq!(n, 0, "an overflowing array was loaded from plans:\n{a}");
    assert!(a.contains("MAXMAPENTRIES") || a.contains("overflow"), "{a}");
}

/// Files with rollups in their footers (few processes: many rows a
/// group), one file without (its rows scanned beside the others' groups),
/// and two traces as one set (each file's groups shifted in time and
/// named by host): what plans answer from the rollups is what the
/// interpreter prints from the rows, and the scripts that read only
/// pid, uid, execname and the syscall's name are answered from them.
#[test]
fn plans_answered_from_rollups_print_what_the_rows_give() {
    let cases: usize = std::env::var("RETAP_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(150, |n: usize| n * 3 / 10);
    let dir = tempfile::tempdir().unwrap();
    let made = |name: &str, seed: u64, processes: usize| {
        let d = dir.path().join("set").join(name);
        let opts = SynthOptions {
            events: 24_000,
            seed,
            processes,
            seconds: 3.0,
            rows_per_file: 6_000,
            checksums: false,
            ..Default::default()
        };
        synth(&d, &opts).unwrap();
        d
    };
    let (a, b) = (made("a", 5, 6), made("b", 6, 9));
    let mixed = dir.path().join("mixed");
    retap_testkit::copy_dir(&a, &mixed);
    // One file without rollups, one with only the rollup by syscall
    // (what a plan keyed by process reads where the coarser one is not).
    retap_testkit::rewrite_footer(&mixed.join("syscalls/part-000001.parquet"), |kv| {
        kv.retain(|(k, _)| !Grain::ALL.iter().any(|g| g.metadata_key() == k))
    });
    retap_testkit::rewrite_footer(&mixed.join("syscalls/part-000002.parquet"), |kv| {
        kv.retain(|(k, _)| k != Grain::Process.metadata_key())
    });
    let mut traces: Vec<Trace> = [&a, &b, &mixed]
        .iter()
        .map(|d| Trace::open(d).unwrap())
        .collect();
    let mut set = TraceSet::open(&dir.path().join("set"))
        .unwrap()
        .merged()
        .unwrap();
    let tables: Vec<_> = set.tables.iter().map(|f| f.table).collect();
    set.check(&tables);
    traces.push(set);
    // One trace twice, under two host names: every element of the one
    // first fires at the time of one of the other, and the rollups' first
    // rows say which came first.
    let twins = dir.path().join("twins");
    retap_testkit::copy_dir(&a, &twins.join("x"));
    retap_testkit::copy_dir(&a, &twins.join("y"));
    let m = twins.join("y/trace.json");
    let renamed = std::fs::read_to_string(&m)
        .unwrap()
        .replace("\"host\": \"synth\"", "\"host\": \"twin\"");
    std::fs::write(&m, renamed).unwrap();
    let mut twin_set = TraceSet::open(&twins).unwrap().merged().unwrap();
    let tables: Vec<_> = twin_set.tables.iter().map(|f| f.table).collect();
    twin_set.check(&tables);
    let twin_scripts = [
        "global c\nprobe syscall.* { c[hostname(), pid()]++ }\nprobe end { foreach ([h, p] in c) printf(\"%s %d %d\\n\", h, p, c[h, p]) }\n",
        "global c\nprobe syscall.{read,write} { c[hostname(), execname(), name] <<< 1 }\nprobe end { foreach ([h, e, n] in c @count- limit 9) printf(\"%s %s %s %d\\n\", h, e, n, @count(c[h, e, n])) }\n",
        "global c\nprobe syscall.* { c[hostname(), uid()]++ }\nprobe end { foreach ([h, u] in c- limit 1) printf(\"%s %d %d\\n\", h, u, c[h, u]) }\n",
    ];
    let files = |r: &FromRollups| r.iter().map(|p| p.answered).sum::<usize>();
    for (i, script) in twin_scripts.iter().enumerate() {
        let (a, b, n, _, r) = both_noted(script, &twin_set);
        let k = files(&r);
        assert_eq!(a, b, "twin case {i} differs:\n{script}");
        assert!(
            n > 0 && k > 0,
            "twin case {i}: {k} files from rollups:\n{script}"
        );
    }
    // Each with the grain its plans read.
    use Grain::{Process, ProcessSyscall, Syscall};
    let fixed = [
        (Process, "global c\nprobe syscall.* { c[pid(), execname()]++ }\nprobe end { foreach ([p, e] in c- limit 7) printf(\"%d %s %d\\n\", p, e, c[p, e]) }\n"),
        (Process, "global c\nprobe syscall.* { c[pid(), execname()]++ }\nprobe end { foreach ([p, e] in c) printf(\"%d %s %d\\n\", p, e, c[p, e]) }\n"),
        (ProcessSyscall, "global c\nprobe syscall.{read,write} { if (execname() != \"nginx\") c[name, pid()]++ }\nprobe end { foreach ([n, t] in c+) printf(\"%s %d %d\\n\", n, t, c[n, t]) }\n"),
        (Process, "global c, d\nprobe syscall.* { c[uid()]++; if (pid() > 1003) d[execname()]-- }\nprobe end { foreach (u in c) printf(\"%d %d\\n\", u, c[u]) foreach (e in d-) printf(\"%s %d\\n\", e, d[e]) }\n"),
        (Process, "global c\nprobe syscall.* { c[hostname(), execname()]++ }\nprobe end { foreach ([h, e] in c-) printf(\"%s %s %d\\n\", h, e, c[h, e]) }\n"),
        // Some syscalls, keyed by process: each
        // file's finest groups that pass, added up by process; and the
        // names of every syscall `retap synth` makes, which each file's
        // groups by syscall show every row passes.
        (Process, "global c\nprobe syscall.{read,futex} { c[execname(), pid()]++ }\nprobe end { foreach ([e, p] in c-) printf(\"%s %d %d\\n\", e, p, c[e, p]) }\n"),
        (Process, "global c\nprobe syscall.{lseek,accept4,futex,recvfrom,epoll_wait,munmap,brk,mmap,epoll_create1,select,fsync,write,clock_gettime,read,openat,close,fstat,getpid,connect,ioctl,sendto,rt_sigprocmask,poll,newfstatat,writev,nanosleep} { c[uid(), execname()]++ }\nprobe end { foreach ([u, e] in c) printf(\"%d %s %d\\n\", u, e, c[u, e]) }\n"),
        // Every element ties: shown in first firing order, the first
        // times from the rollups where every file has one.
        (Process, "global c\nprobe syscall.* { c[pid()] <<< 1 }\nprobe end { foreach (p in c @max- limit 3) printf(\"%d\\n\", p) }\n"),
        // Keyed by name, which stap takes from epoll_create1's flags (0:
        // "epoll_create"): those rows scanned, the rest from rollups.
        (Syscall, "global c\nprobe syscall.* { c[name]++ }\nprobe end { foreach (n in c-) printf(\"%s %d\\n\", n, c[n]) }\n"),
        (ProcessSyscall, "global c\nprobe syscall.* { if (execname() == \"postgres\") c[execname(), name]++ }\nprobe end { foreach ([e, n] in c- limit 10) printf(\"%s %s = %d\\n\", e, n, c[e, n]) }\n"),
        (ProcessSyscall, "global c\nprobe syscall.{epoll_create1,read} { c[pid(), name] <<< uid() }\nprobe end { foreach ([p, n] in c @sum-) printf(\"%d %s %d\\n\", p, n, @sum(c[p, n])) }\n"),
    ];
    let mut rolled = vec![0; traces.len()];
    for (i, (grain, script)) in fixed.iter().enumerate() {
        for (t, trace) in traces.iter().enumerate() {
            if script.contains("hostname") && t + 1 < traces.len() {
                continue;
            }
            let (a, b, n, note, r) = both_noted(script, trace);
            let k = files(&r);
            assert!(
                r.iter().all(|p| p.grain == *grain),
                "fixed case {i} over trace {t}: {r:?}, not by {grain:?}"
            );
            // Two syscalls' rows are each file's finest groups filtered;
            // those of every syscall in the files, none.
            let filtered: usize = r.iter().map(|p| p.filtered_finest).sum();
            if script.contains("{read,futex}") {
                assert!(filtered > 0, "fixed case {i} over trace {t}: {r:?}");
            } else if script.contains("nanosleep") {
                assert_eq!(filtered, 0, "fixed case {i} over trace {t}: {r:?}");
            }
            assert_eq!(a, b, "fixed case {i} differs over trace {t}:\n{script}");
            // Every file of these traces has epoll_create1's rows.
            if script.contains("name]") {
                let apart: Vec<_> = r.iter().map(|p| p.by_arg_scanned).collect();
                assert!(
                    apart.iter().any(|a| a.is_some_and(|n| n > 0)),
                    "fixed case {i} over trace {t}: {r:?}"
                );
            }
            if script.contains("@max") {
                let note = note.unwrap_or_default();
                assert_eq!(
                    note.contains("came with the rollups"),
                    t != 2,
                    "fixed case {i} over trace {t}: {note}"
                );
            }
            assert!(n > 0, "fixed case {i} left to the interpreter:\n{script}");
            let files = trace
                .table(retap_schema::Table::Syscalls)
                .unwrap()
                .files
                .len();
            // Every file but the one stripped of its rollups, in each plan
            // (the one without its rollup by process read by syscall).
            let want = if t == 2 { files - 1 } else { files };
            assert!(
                k > 0 && k % want == 0,
                "fixed case {i} over trace {t}: {k} files from rollups, not {want} a plan"
            );
            rolled[t] += k;
        }
    }
    // Calls named by an argument are one row in a hundred of `retap
    // synth`'s (scanned as the rest are); in a recording they are a few
    // in each file, which a reader filtering as it decodes takes: here
    // every file's epoll_create1 rows but its first dropped, its rollups
    // counted again.
    let rare = dir.path().join("rare");
    retap_testkit::copy_dir(&a, &rare);
    for f in std::fs::read_dir(rare.join("syscalls")).unwrap() {
        let mut first = true;
        retap_testkit::rewrite_rows(&f.unwrap().path(), |b| {
            let names = b.column_by_name("syscall").unwrap();
            let names = datafusion::arrow::compute::cast(names, &DataType::Utf8).unwrap();
            names
                .as_string::<i32>()
                .iter()
                .map(|n| {
                    let apart = n == Some("epoll_create1");
                    let keep = !apart || first;
                    first &= !apart;
                    Some(keep)
                })
                .collect()
        });
    }
    let mut rare = Trace::open(&rare).unwrap();
    let tables: Vec<_> = rare.tables.iter().map(|f| f.table).collect();
    rare.check(&tables);
    for (_, script) in fixed.iter().filter(|(_, s)| s.contains("name]")) {
        for (t, trace) in traces.iter().chain([&rare]).enumerate() {
            let (a, b, n, _, r) = both_noted(script, trace);
            assert_eq!(a, b, "over trace {t}:\n{script}");
            // (Each plan that scanned such rows; a plan without them
            // scanned none.)
            let scanned = |p: &plan::FromRollups| p.by_arg_scanned.is_some_and(|n| n > 0);
            assert!(n > 0 && r.iter().any(scanned), "over trace {t}: {r:?}");
            assert!(
                r.iter()
                    .all(|p| p.by_arg_filtered_decoding == (scanned(p) && t == traces.len())),
                "over trace {t}: {r:?}\n{script}"
            );
        }
    }
    // Keyed by name and filtered by process, where the trace has calls
    // named by an argument: scanned (the finest groups filtered would
    // cost more than the scan they save).
    let filtered = "global c\nprobe syscall.* { if (execname() == \"postgres\") c[name]++ }\nprobe end { foreach (n in c- limit 10) printf(\"%s = %d\\n\", n, c[n]) }\n";
    for (t, trace) in traces.iter().enumerate() {
        let (a, b, n, _, r) = both_noted(filtered, trace);
        assert_eq!(a, b, "filtered by process over trace {t}");
        assert!(n > 0 && r.is_empty(), "over trace {t}: {r:?}");
    }
    // Scripts of what rollups hold, and the general generator's (most of
    // which read more: scanned, or the interpreter's). 83 of 150 were
    // answered from rollups when this was written (69 while a name some
    // syscalls take from an argument kept a plan from them).
    let mut r = Rng(0x7011_0b5e_0000_0001);
    let mut from_rollups = 0;
    for i in 0..cases {
        let script = if i % 3 == 2 {
            retap_testkit::scripts::aggregate(&mut r)
        } else {
            rollup_script(&mut r)
        };
        let (a, b, _, _, r) = both_noted(&script, &traces[i % traces.len()]);
        assert_eq!(a, b, "case {i} differs:\n{script}");
        from_rollups += usize::from(files(&r) > 0);
    }
    assert!(
        from_rollups * 2 >= cases,
        "only {from_rollups} of {cases} generated scripts answered from rollups"
    );
}

/// A random aggregate script reading only what rollups hold: keys,
/// guards and values of pid(), uid(), execname() and the syscall's name,
/// printed whole or limited, by key or value, ties and all.
fn rollup_script(r: &mut Rng) -> String {
    let point = r.pick(&[
        "syscall.*",
        "syscall.{read,write}",
        "syscall.read",
        "syscall.{openat,close,futex}",
    ]);
    let pool: [(&str, &str); 4] = [
        ("pid()", "%d"),
        ("uid()", "%d"),
        ("execname()", "%s"),
        ("name", "%s"),
    ];
    let keys: Vec<(&str, &str)> = (0..1 + r.next() % 2)
        .map(|_| pool[(r.next() % 4) as usize])
        .collect();
    let k = keys.iter().map(|k| k.0).collect::<Vec<_>>().join(", ");
    let guard = r.pick(&[
        "",
        "if (execname() == \"nginx\") ",
        "if (pid() > 1003) ",
        "if (uid() == 0 && name != \"read\") ",
        "if (!(execname() == \"postgres\") || pid() < 1002) ",
    ]);
    let stat = r.chance(40);
    let update = if stat {
        format!(
            "c[{k}] <<< {}",
            r.pick(&["1", "pid()", "uid() + 2", "pid() * 3 - 3000"])
        )
    } else {
        format!(
            "c[{k}] {}",
            r.pick(&["++", "--", "+= pid()", "+= 7", "-= uid()"])
        )
    };
    let vars: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
    let (vs, fmt) = (
        vars.join(", "),
        keys.iter().map(|k| k.1).collect::<Vec<_>>().join(" "),
    );
    let vs_b = if keys.len() > 1 {
        format!("[{vs}]")
    } else {
        vs.clone()
    };
    let by = if stat {
        r.pick(&["", "-", "+", " @count-", " @sum+", " @min+", " @max-"])
    } else {
        r.pick(&["", "-", "+"])
    };
    let limit = r.pick(&["", " limit 3", " limit 8"]);
    let shown = if stat {
        format!("printf(\"{fmt} %d %d %d %d\\n\", {vs}, @count(c[{vs}]), @sum(c[{vs}]), @min(c[{vs}]), @max(c[{vs}]))")
    } else {
        format!("printf(\"{fmt} %d\\n\", {vs}, c[{vs}])")
    };
    // (a value sort marks the array, a key sort the key: `c-` or `k0-`)
    let (array, key_sort) = match by {
        "-" | "+" if r.chance(50) => (format!("c{by}"), ""),
        "-" | "+" => ("c".to_string(), by),
        _ => (format!("c{by}"), ""),
    };
    let vs_b = if key_sort.is_empty() {
        vs_b
    } else if keys.len() > 1 {
        format!("[{}{key_sort}, {}]", vars[0], vars[1..].join(", "))
    } else {
        format!("{vs}{key_sort}")
    };
    let hist = if stat && r.chance(30) {
        format!(" if (@count(c[{vs}]) > 0) print(@hist_log(c[{vs}]))")
    } else {
        String::new()
    };
    format!(
        "global c\nprobe {point} {{ {guard}{update} }}\nprobe end {{ foreach ({vs_b} in {array}{limit}) {{ {shown}{hist} }} }}\n"
    )
}

/// One random per-event printf script: a printf of context values under
/// an optional guard on an entry-side point, sometimes with an aggregate
/// probe (if `aggregates`) and begin/end output around it.
fn gen_printf_script(r: &mut Rng, aggregates: bool) -> String {
    let net = r.chance(25);
    let points: &[&str] = if net {
        &["netdev.receive", "netdev.transmit", "netdev.*"]
    } else {
        &[
            "syscall.*",
            "syscall.{read,write}",
            "syscall.close",
            "syscall_any",
            "syscall.*.return",
            "syscall.read.return",
            "syscall_any.return",
        ]
    };
    let mut s = String::new();
    if r.chance(50) {
        s.push_str("probe begin { printf(\"begin\\n\") }\n");
    }
    // One printing probe, or two on the same table (entry and return
    // side mixed): their lines interleave in firing order.
    let nprobes = if r.chance(35) { 2 } else { 1 };
    let (mut counters, mut return_counter) = (false, false);
    for _ in 0..nprobes {
        let point = r.pick(points);
        let ret = point.ends_with(".return");
        let mut args = vec![
            ("%d", "pid()"),
            ("%d", "tid()"),
            ("%s", "execname()"),
            ("%d", "cpu()"),
            ("%d", "uid()"),
            ("%d", "gettimeofday_ns()"),
            ("%d", "local_clock_ns()"),
            ("%d", "pid() * 3 - tid()"),
            ("%s", "\"lit\""),
            ("%d", "pid() > 1100 ? 1 : 0"),
            ("%x", "tid()"),
            ("%-12s|", "execname()"),
            ("%5d", "cpu() + 1"),
        ];
        if net {
            args.push(("%d", "length"));
            args.push(("%s", "dev_name"));
        } else if !point.starts_with("syscall_any") {
            args.push(("%s", "name"));
        }
        if ret {
            args.push(("%d", "retval"));
            args.push(("%d", "gettimeofday_ns() - @entry(gettimeofday_ns())"));
        }
        let n = 1 + (r.next() % 4) as usize;
        let chosen: Vec<(&str, &str)> = (0..n)
            .map(|_| args[(r.next() % args.len() as u64) as usize])
            .collect();
        let fmt: Vec<&str> = chosen.iter().map(|a| a.0).collect();
        let vals: Vec<&str> = chosen.iter().map(|a| a.1).collect();
        let mut printf = format!("printf(\"{}\\n\", {})", fmt.join(" "), vals.join(", "));
        // A probe reading what it updates: a running count or sum, before
        // or after the printf (which may print it).
        if r.chance(30) {
            counters = true;
            let update = r.pick(&["n++", "n--", "n += pid()", "n -= cpu() + 2"]);
            let shown = format!(
                "printf(\"{} n=%d\\n\", {}, n)",
                fmt.join(" "),
                vals.join(", ")
            );
            printf = match r.next() % 3 {
                0 => format!("{{ {update}; {shown} }}"),
                1 => format!("{{ {shown}; {update} }}"),
                _ => format!("{{ {update}; {update}; {printf} }}"),
            };
            if ret {
                return_counter = true;
            }
        }
        let mut guards = vec![
            "",
            "execname() == \"nginx\"",
            "pid() > 1100",
            "uid() == 0 && cpu() == 1",
            "!(tid() == pid())",
            "pid() % 2 == 0",
        ];
        if ret {
            guards.push("retval < 0");
        }
        let guard = r.pick(&guards);
        let body = if guard.is_empty() {
            printf
        } else {
            format!("if ({guard}) {printf}")
        };
        s.push_str(&format!("probe {point} {{ {body} }}\n"));
    }
    if counters {
        // (updated only by the printing probes: set in begin, read in end,
        // or printed at the end when nothing reads it)
        s.push_str("global n\n");
        if r.chance(50) {
            s.push_str("probe begin { n = 1000 }\n");
        }
        if r.chance(50) {
            s.push_str("probe end { printf(\"final %d\\n\", n) }\n");
        }
        if return_counter {
            s.push_str("# return counter\n");
        }
        // A counter an aggregating probe also updates: no plan may own it.
        if r.chance(20) {
            s.push_str("probe syscall.close { n++ } # shared counter\n");
        }
    }
    if aggregates && r.chance(40) {
        s.push_str("global c\nprobe syscall.read { c[execname()]++ }\n");
        s.push_str("probe end { foreach (k in c-) printf(\"%s %d\\n\", k, c[k]) }\n");
    } else if r.chance(30) {
        s.push_str("probe end { printf(\"end\\n\") }\n");
    }
    if r.chance(10) {
        // a timer keeps the printf in the interpreter: still the same output
        s.push_str("probe timer.ms(500) { printf(\"tick\\n\") }\n");
    }
    s
}

#[test]
fn generated_printf_scripts_give_the_same_output_as_projections() {
    let dir = tempfile::tempdir().unwrap();
    // The second trace's timestamps are cut to 100 ms, so hundreds of rows
    // share one within and across its files: ties must come out by file,
    // then row, as the interpreter's merge orders them.
    let traces: Vec<Trace> = [(2_000u64, None), (1_000, Some(100_000_000))]
        .iter()
        .enumerate()
        .map(|(i, &(rows_per_file, coarsen))| {
            let d = dir.path().join(format!("p{i}"));
            let opts = SynthOptions {
                events: 6_000,
                seed: 21 + i as u64,
                processes: 30,
                seconds: 2.0,
                rows_per_file,
                checksums: true,
                ..Default::default()
            };
            synth(&d, &opts).unwrap();
            if let Some(step) = coarsen {
                coarsen_times(&d, step);
            }
            Trace::open(&d).unwrap()
        })
        .collect();
    let mut r = Rng(0x9a1f_77e3_0c0d_2201);
    let mut projected = 0;
    for i in 0..120 {
        let script = gen_printf_script(&mut r, true);
        let trace = &traces[i % traces.len()];
        let (a, b, _) = both(&script, trace);
        assert_eq!(a, b, "case {i} differs:\n{script}");
        let prog = {
            let env = PpEnv {
                macros: Default::default(),
                kernel_release: "6.18.0".into(),
                arch: "x86_64".into(),
                args: vec![],
            };
            let (p, _) = stap::parse("gen.stp", &script, &env);
            let opts = ElabOptions {
                arch: "x86_64".into(),
                signatures: None,
                tables: Some(trace.tables.iter().map(|f| f.table).collect()),
                syscall_strings: false,
                socket_addresses: false,
                ..ElabOptions::no_trace("x86_64")
            };
            elaborate(&p.script, &opts).0
        };
        // Printing probes are projections when their guards translate
        // (`%` does not) and there are no timers.
        let eligible = !script.contains("timer")
            && !script.contains("% 2")
            && !script.contains("# shared counter");
        let c = plan::analyse(&prog);
        assert_eq!(
            !c.projections.is_empty(),
            eligible,
            "case {i}:\n{script}\n{:?}",
            c.interpreted
        );
        projected += usize::from(eligible);
    }
    assert!(
        projected >= 50,
        "only {projected} of 120 scripts became projections"
    );
}

/// Rewrites every file's `ts` down to the trace start plus a multiple of
/// `step` and `dur_ns` down to a multiple of it (order is kept, so each
/// file stays sorted and no row precedes the start; equal entry and
/// return times appear within and across files).
fn coarsen_times(dir: &Path, step: i64) {
    let start = Trace::open(dir).unwrap().manifest.start_ns;
    // Durations too, so that returns tie as well.
    map_times(
        dir,
        |v| start + (v - start) / step * step,
        |v| v / step * step,
    );
}

/// Rewrites every table's `ts` and `dur_ns` through these.
fn map_times(dir: &Path, ts_of: impl Fn(i64) -> i64, dur_of: impl Fn(i64) -> i64) {
    use arrow::array::{AsArray, Int64Array, RecordBatch};
    use arrow::datatypes::Int64Type;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    for table in std::fs::read_dir(dir).unwrap() {
        let table = table.unwrap().path();
        if !table.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&table).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_none_or(|e| e != "parquet") {
                continue;
            }
            // Row group by row group, each written as one.
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap()).unwrap();
            let groups = builder.metadata().num_row_groups();
            let mut batches: Vec<(usize, RecordBatch)> = vec![];
            for g in 0..groups {
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap())
                        .unwrap()
                        .with_row_groups(vec![g])
                        .build()
                        .unwrap();
                batches.extend(reader.map(|b| (g, b.unwrap())));
            }
            let schema = batches[0].1.schema();
            let ts = schema.index_of("ts").unwrap();
            let tmp = f.with_extension("tmp");
            let mut w =
                ArrowWriter::try_new(std::fs::File::create(&tmp).unwrap(), schema.clone(), None)
                    .unwrap();
            let dur = schema.index_of("dur_ns").ok();
            let mut group = 0;
            for (g, b) in batches {
                if g != group {
                    w.flush().unwrap();
                    group = g;
                }
                let t = b.column(ts).as_primitive::<Int64Type>();
                let cut: Int64Array = t.iter().map(|v| v.map(&ts_of)).collect();
                let mut cols = b.columns().to_vec();
                cols[ts] = std::sync::Arc::new(cut);
                if let Some(d) = dur {
                    let d: Int64Array = b
                        .column(d)
                        .as_primitive::<Int64Type>()
                        .iter()
                        .map(|v| v.map(&dur_of))
                        .collect();
                    cols[dur.unwrap()] = std::sync::Arc::new(d);
                }
                w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
                    .unwrap();
            }
            w.close().unwrap();
            std::fs::rename(&tmp, &f).unwrap();
        }
    }
}

/// A compiled global a mixed script reads elsewhere: how it is updated
/// (an aggregating probe on its own, a plan) and how it is read back.
struct Producer {
    update: &'static str,
    /// Long expressions reading it.
    reads: &'static [&'static str],
}

const PRODUCERS: &[Producer] = &[
    Producer {
        update: "c[execname()]++",
        reads: &["c[\"bash\"]", "c[execname()]", "c[\"nginx\"] + 1"],
    },
    Producer {
        update: "c[execname()] <<< pid() % 97",
        reads: &[
            "@count(c[\"bash\"])",
            "@sum(c[execname()])",
            "@count(c[\"java\"]) * 2",
        ],
    },
    Producer {
        update: "c += cpu()",
        reads: &["c", "c % 7"],
    },
    Producer {
        update: "c++",
        reads: &["c", "c / 3"],
    },
    Producer {
        update: "if (pid() > c) c = pid()",
        reads: &["c", "c % 5"],
    },
];

/// One random script mixing plans and the interpreter: a producer probe
/// (alone it would be a plan), an independent aggregate that stays a plan,
/// and a reader that reads the producer's global in one position an
/// expression can stand in (array index, extractor argument, `in` test,
/// foreach source and limit, function argument, condition, printf
/// argument, nested), in an event probe, a timer or a function. Plans may
/// compute only what nothing reads while events run.
fn gen_mixed_script(r: &mut Rng) -> String {
    let p = &PRODUCERS[(r.next() % PRODUCERS.len() as u64) as usize];
    let array = p.update.starts_with("c[");
    let stat = p.update.contains("<<<");
    let read = r.pick(p.reads);
    // Each position holds the read alone, so that a walk missing it is
    // caught.
    let mut positions = vec![
        format!("s[{read}] <<< 1"),
        format!("s[1] <<< {read}"),
        format!("t[{read}] = 1; s[1] <<< 1"),
        format!("t[{read}]++; s[2] <<< 1"),
        format!("s[1] <<< 1; n2 += @count(s[{read}])"),
        format!("s[pid() % 4] <<< 1; if ([{read}] in s) n2++"),
        format!("s[pid() % 3] <<< 1; foreach (k in s limit {read} % 3 + 1) n2++"),
        format!("n2 += f({read}); s[1] <<< 1"),
        format!("s[strlen(sprint({read}))] <<< 1"),
        format!("if ({read} > 3) s[1] <<< 1"),
        format!("s[{read} > 2 ? 1 : 2] <<< 1"),
        format!("if (pid() % 13 == 0) printf(\"r %d\\n\", {read})"),
        format!("s[1 + ({read}) * 2] <<< 1; if (@count(s[1 + ({read}) * 2]) != 0) n2++"),
        format!("s[pid() % 4] <<< 1; delete s[{read}]"),
        format!("s[g()] <<< 1"),
        format!("s[pid() % 4] <<< pid(); n2 += @hist_log(s[1])[{read} % 3]"),
        format!("s[1] <<< 1; while (n2 % 4 != {read} % 4) n2++"),
        format!("try {{ s[{read}] <<< 1 }} catch {{ n2++ }}"),
    ];
    if array {
        positions.push("if ([execname()] in c) s[1] <<< 1".into());
        positions.push("if (!([\"bash\"] in c)) s[3] <<< 1".into());
        positions.push("foreach (k in c limit 2) s[strlen(k)] <<< 1".into());
        if !stat {
            positions.push("foreach ([k] in c-) { if (c[k] > 5) n2++ }".into());
        }
    }
    let action = r.pick(&positions.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    let action = action.to_string();
    let reader = match r.next() % 6 {
        0 => format!("probe syscall.write {{ {action} }}"),
        1 => format!("probe syscall.close {{ {action} }}"),
        // the producer's own point, in another probe
        2 => format!("probe syscall.read {{ {action} }}"),
        3 => format!("probe timer.ms({}) {{ {action} }}", r.pick(&["300", "700"])),
        4 => format!("probe syscall.write if ({read} > 1) {{ s[5] <<< 1 }}"),
        _ => format!("probe syscall.*.return {{ if (retval > 0) {{ {action} }} }}"),
    };
    let producer_point = r.pick(&["syscall.read", "syscall.{read,futex}", "syscall.*"]);
    let mut s = String::from("global c, s, t, n2, d\n");
    // (A function reading the global keeps it from plans wherever it is
    // called from: declared only where the reader calls it.)
    if reader.contains("f(") {
        s.push_str("function f(x) { return x % 4 }\n");
    }
    if reader.contains("g()") {
        s.push_str(&format!("function g() {{ return {read} }}\n"));
    }
    s.push_str(&format!("probe {producer_point} {{ {} }}\n", p.update));
    s.push_str(&reader);
    s.push('\n');
    // Nothing reads d while events run: it stays a plan.
    s.push_str("probe syscall.openat { d[pid()]++ }\n");
    s.push_str("probe end {\n");
    s.push_str("  foreach (k in s+) printf(\"s %d %d %d\\n\", k, @count(s[k]), @sum(s[k]))\n");
    s.push_str("  foreach (k in t+) printf(\"t %d %d\\n\", k, t[k])\n");
    s.push_str("  printf(\"n2 %d\\n\", n2)\n");
    s.push_str("  foreach (k in d- limit 3) printf(\"d %d\\n\", d[k])\n");
    if array && !stat {
        s.push_str("  foreach (e in c- limit 3) printf(\"c %s %d\\n\", e, c[e])\n");
    } else if array {
        s.push_str("  foreach (e in c- limit 3) printf(\"c %s %d\\n\", e, @count(c[e]))\n");
    } else {
        s.push_str("  printf(\"c %d\\n\", c)\n");
    }
    s.push_str("}\n");
    s
}

/// Interpreted probes read compiled globals in every position an
/// expression can stand in: the output is the interpreter's, and the
/// aggregate nothing reads (d) is still a plan in nearly every script.
#[test]
fn generated_mixed_scripts_give_the_same_output_with_plans() {
    let cases: usize = std::env::var("RETAP_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let mut traces: Vec<Trace> = (0..2u64)
        .map(|i| {
            let d = dir.path().join(format!("m{i}"));
            let opts = SynthOptions {
                events: 4_000 + 3_000 * i,
                seed: 31 + i,
                processes: [15, 60][i as usize],
                seconds: 2.0,
                rows_per_file: 2_500,
                checksums: true,
                ..Default::default()
            };
            synth(&d, &opts).unwrap();
            Trace::open(&d).unwrap()
        })
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    traces.push(Trace::open(&root.join("datasets/mixed")).unwrap());
    let mut r = Rng(0x3141_5926_5358_9793);
    let mut compiled = 0;
    for i in 0..cases {
        let script = gen_mixed_script(&mut r);
        let trace = &traces[i % traces.len()];
        let (a, b, n) = both(&script, trace);
        assert_eq!(a, b, "case {i} differs:\n{script}");
        compiled += usize::from(n > 0);
    }
    assert!(
        compiled * 10 >= cases * 8,
        "only {compiled} of {cases} mixed scripts ran plans"
    );
}
