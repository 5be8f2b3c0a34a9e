//! `retap diff` over the shipped recorded pairs (datasets/diff, made by
//! datasets/recipes/diff.sh; the recorder's tests make fresh ones as
//! root): repeated recordings of one workload show no change, each
//! injected change is found and nothing else, exit codes gate CI, the HTML
//! report renders in headless Chromium with the JSON's numbers, and
//! --script compares a script's globals.

use std::process::Command;

use serde_json::Value;

mod common;
use common::copy_with_manifest;

use common::run as retap;

fn diff_json(a: &str, b: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["diff", a, b, "--format", "json"];
    args.extend_from_slice(extra);
    let (code, out, err) = retap(&args);
    assert!(code == 0 || code == 1, "{args:?}: {err}");
    (code, serde_json::from_str(&out).expect("json"))
}

fn changes(v: &Value) -> Vec<(String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["metric"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn key<'a>(v: &'a Value, k: &str) -> &'a Value {
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            x["key"]
                .as_object()
                .unwrap()
                .values()
                .map(|s| s.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
                == k
        })
        .unwrap_or_else(|| panic!("no key {k}"))
}

#[test]
fn repeated_recordings_of_one_workload_show_no_change() {
    for i in 1..=5 {
        for j in i + 1..=5 {
            let (code, v) = diff_json(
                &format!("datasets/diff/base-{i}"),
                &format!("datasets/diff/base-{j}"),
                &[],
            );
            assert_eq!(changes(&v), vec![], "base-{i} vs base-{j}");
            assert_eq!(code, 0);
            assert_eq!(v["changed"], false);
            assert!(v["keys"].as_array().unwrap().len() > 10);
        }
    }
    let (code, out, _) = retap(&["diff", "datasets/diff/base-1", "datasets/diff/base-2"]);
    assert_eq!(code, 0);
    assert!(out.contains("\n  no change\n"), "{out}");
}

#[test]
fn twice_the_reads_is_found_and_nothing_else() {
    let (code, v) = diff_json("datasets/diff/base-1", "datasets/diff/reads2x", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        changes(&v),
        vec![("retap-workload pread64".to_string(), "count".to_string())]
    );
    let k = key(&v, "retap-workload pread64");
    assert_eq!(k["base"]["count"], 1502);
    assert_eq!(k["new"]["count"], 3002);
    let r = k["count"]["ratio"].as_f64().unwrap();
    assert!((r - 2.0).abs() < 0.01, "{r}");
    // Bytes doubled with the calls, but bytes per call did not change.
    assert_eq!(
        k["new"]["bytes"].as_i64().unwrap() - k["base"]["bytes"].as_i64().unwrap(),
        1500 * 4096
    );
    assert_eq!(
        k["base"]["bytes_per_call"]["p50"],
        k["new"]["bytes_per_call"]["p50"]
    );
    // Gating on latency only: nothing changed there.
    let (code, v) = diff_json(
        "datasets/diff/base-1",
        "datasets/diff/reads2x",
        &["--metric", "latency"],
    );
    assert_eq!((code, changes(&v)), (0, vec![]));
    // By execname alone, the total moves by 1500 of ~2200 calls, and the
    // process's latency mix shifts towards short preads (its p90 was a
    // sleep and is now a read): both are real for that key.
    let (code, v) = diff_json(
        "datasets/diff/base-1",
        "datasets/diff/reads2x",
        &["--by", "execname"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        changes(&v),
        vec![
            ("retap-workload".to_string(), "count".to_string()),
            ("retap-workload".to_string(), "latency".to_string())
        ]
    );
}

#[test]
fn one_ms_more_sleep_is_found_and_nothing_else() {
    let (code, v) = diff_json("datasets/diff/base-1", "datasets/diff/slow", &[]);
    assert_eq!(code, 1);
    assert_eq!(
        changes(&v),
        vec![(
            "retap-workload clock_nanosleep".to_string(),
            "latency".to_string()
        )]
    );
    let k = key(&v, "retap-workload clock_nanosleep");
    let (b, n) = (
        k["base"]["latency_ns"]["p50"].as_f64().unwrap(),
        k["new"]["latency_ns"]["p50"].as_f64().unwrap(),
    );
    assert!((n - b - 1e6).abs() < 0.1e6, "p50 {b} -> {n}");
    assert_eq!(k["base"]["count"], k["new"]["count"]);
    assert!(k["latency_test"]["cliffs_delta"].as_f64().unwrap() > 0.99);
    // A threshold above the change hides it.
    let (code, _) = diff_json(
        "datasets/diff/base-1",
        "datasets/diff/slow",
        &["--threshold", "1.5"],
    );
    assert_eq!(code, 0);
}

#[test]
fn the_html_report_renders_in_chromium_with_the_jsons_numbers() {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(chromium) = chromium else {
        return retap_testkit::skip_without("chromium", "scripts/setup.sh installs it");
    };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("r.html");
    let (code, out, err) = retap(&[
        "diff",
        "datasets/diff/base-1",
        "datasets/diff/slow",
        "--format",
        "json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let dom = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "the page's script did not finish"
    );
    assert!(dom.contains("1 key(s) changed"));
    // Charts: one bar per key in the ratio chart, latency histograms.
    assert!(dom.matches("<rect class=\"bar\"").count() >= 15);
    assert!(dom.matches("class=\"bar base\"").count() >= 6);
    assert!(dom.matches("class=\"bar new\"").count() >= 6);
    // Every key's row holds the JSON's numbers.
    let keys = v["keys"].as_array().unwrap();
    for k in keys {
        let name: Vec<&str> = k["key"]
            .as_object()
            .unwrap()
            .values()
            .map(|s| s.as_str().unwrap())
            .collect();
        let name = name.join(" ");
        let at = dom
            .find(&format!("data-key=\"{name}\""))
            .unwrap_or_else(|| panic!("no row for {name}"));
        let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
        let cell = |field: &str| -> String {
            let p = row.find(&format!("data-field=\"{field}\"")).unwrap();
            let s = &row[p..];
            let s = &s[s.find('>').unwrap() + 1..];
            s[..s.find('<').unwrap()].to_string()
        };
        assert_eq!(cell("base.count"), k["base"]["count"].to_string(), "{name}");
        assert_eq!(cell("new.count"), k["new"]["count"].to_string(), "{name}");
        assert_eq!(
            cell("count.ratio"),
            format!("{:.2}", k["count"]["ratio"].as_f64().unwrap()),
            "{name}"
        );
        for f in ["base", "new"] {
            if let Some(p50) = k[f]["latency_ns"]["p50"].as_f64() {
                assert_eq!(
                    cell(&format!("{f}.p50")).parse::<f64>().unwrap(),
                    p50,
                    "{name}"
                );
            }
        }
    }
    assert_eq!(dom.matches("<tr class=\"changed\" data-key=").count(), 1);
}

#[test]
fn a_scripts_globals_are_compared_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("count.stp");
    std::fs::write(
        &script,
        "global calls, lat\n\
         probe syscall.*.return { calls[name]++; lat[name] <<< gettimeofday_ns() - @entry(gettimeofday_ns()) }\n\
         probe end { foreach (n in calls- limit 3) printf(\"%s %d\\n\", n, calls[n]) }\n",
    )
    .unwrap();
    let s = script.to_str().unwrap();
    // stap calls pread64 "pread"; its count doubled in both globals. Means
    // of a few hundred ns moving by more than 25% are real but below the
    // 20 µs that this script's units (ns) make interesting.
    let floor = ["--script", s, "--min-mean-change", "20000"];
    let (code, v) = diff_json("datasets/diff/base-1", "datasets/diff/reads2x", &floor);
    assert_eq!(code, 1);
    assert_eq!(
        changes(&v),
        vec![
            ("calls \"pread\"".to_string(), "count".to_string()),
            ("lat \"pread\"".to_string(), "count".to_string())
        ]
    );
    let (_, v) = diff_json(
        "datasets/diff/base-1",
        "datasets/diff/reads2x",
        &["--script", s],
    );
    assert!(
        changes(&v).len() > 2,
        "without the floor, small mean shifts count"
    );
    let (code, v) = diff_json("datasets/diff/base-1", "datasets/diff/slow", &floor);
    assert_eq!(code, 1);
    assert_eq!(
        changes(&v),
        vec![("lat \"clock_nanosleep\"".to_string(), "mean".to_string())]
    );
    let (code, v) = diff_json("datasets/diff/base-1", "datasets/diff/base-2", &floor);
    assert_eq!((code, changes(&v)), (0, vec![]));
}

#[test]
fn bad_arguments_are_clear_errors_with_exit_status_2() {
    for (args, want) in [
        (
            vec!["diff", "datasets/diff/base-1", "datasets/diff/nope"],
            "retap diff: datasets/diff/nope: no such trace directory",
        ),
        (
            vec![
                "diff",
                "datasets/diff/base-1",
                "datasets/diff/slow",
                "--by",
                "colour",
            ],
            "retap diff: --by colour: the syscalls table has no such column",
        ),
        (
            vec![
                "diff",
                "datasets/diff/base-1",
                "datasets/diff/slow",
                "--table",
                "nope",
            ],
            "retap diff: unknown table \"nope\"",
        ),
        (
            vec![
                "diff",
                "datasets/diff/base-1",
                "datasets/diff/slow",
                "--min-latency",
                "3 parsecs",
            ],
            "retap diff: --min-latency 3 parsecs",
        ),
    ] {
        let (code, out, err) = retap(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(out, "");
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
}

#[test]
fn keys_that_appear_or_vanish_are_listed() {
    let (code, out, _) = retap(&[
        "diff",
        "datasets/mixed",
        "datasets/make-libbpf",
        "--by",
        "execname",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("  appeared: cc1 ("), "{out}");
    assert!(out.contains("  vanished: python3 (24370)"), "{out}");
    let (_, v) = diff_json(
        "datasets/mixed",
        "datasets/make-libbpf",
        &["--by", "execname"],
    );
    assert!(v["appeared"].as_array().unwrap().iter().any(|k| k == "cc1"));
    assert!(v["vanished"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "syslogd"));
    // Devices: block requests by device and kind.
    let (_, v) = diff_json(
        "datasets/disk",
        "datasets/mixed",
        &["--table", "block", "--by", "devname,rwbs"],
    );
    assert_eq!(v["table"], "block");
    assert!(v["vanished"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k == "vda RS"));
}

#[test]
fn a_trace_with_losses_is_compared_with_a_warning() {
    let lossy = copy_with_manifest("diff/base-2", |m| {
        m["tables"]["syscalls"]["dropped"] = 50.into();
    });
    let (code, out, err) = retap(&[
        "diff",
        "datasets/diff/base-1",
        lossy.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("WARNING: the new trace lost 50 events (ring buffer full); its counts are low by that much"),
        "{out}"
    );
    let (_, v) = diff_json("datasets/diff/base-1", lossy.path().to_str().unwrap(), &[]);
    assert_eq!(v["new"]["dropped"], 50);
}

/// On a terminal a long scan shows a progress bar on stderr; through a
/// pipe nothing but the report is written.
#[test]
fn a_progress_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (d, seed) in [(&a, "3"), (&b, "4")] {
        let (code, _, err) = retap(&[
            "synth",
            "-o",
            d.to_str().unwrap(),
            "--events",
            "600000",
            "--seed",
            seed,
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let driver = r#"
import os, pty, sys, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    r, _, _ = select.select([fd], [], [], 20)
    if not r:
        break
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
"#;
    let out = Command::new("python3")
        .args(["-c", driver, env!("CARGO_BIN_EXE_retap"), "diff"])
        .arg(&a)
        .arg(&b)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("scanning ") && text.contains(" events ["),
        "{text}"
    );
    assert!(text.contains("keys compared"), "{text}");
    let (_, out, err) = retap(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(
        !err.contains("scanning") && !out.contains("scanning"),
        "{err}"
    );
    assert!(out.contains("keys compared"));
}
