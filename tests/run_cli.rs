//! `retap run` as users type it: -p1/-p2, -e, script arguments, --trace
//! checks, and the exit status and stderr of bad scripts.

use std::process::Command;

fn retap(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_retap"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run retap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
    // The disk dataset was recorded with every default table; make one
    // without net by pointing at a copy whose manifest lacks it.
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/disk");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("trace.json")).unwrap()).unwrap();
    manifest["tables"].as_object_mut().unwrap().remove("net");
    std::fs::write(dir.path().join("trace.json"), manifest.to_string()).unwrap();
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
