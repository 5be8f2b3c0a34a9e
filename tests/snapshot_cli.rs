//! `retap snapshot`: a running flight recording asked for a snapshot
//! through `retap record`'s directory, and the errors without one.

mod common;
use common::run;

#[test]
fn a_directory_without_a_recording_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display().to_string();
    let (code, _, err) = run(&["snapshot", &d]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim_end(),
        format!("retap snapshot: {d}/.retap-recorder.pid: No such file or directory (os error 2) (is a recording running there?)")
    );
    let (code, _, err) = run(&["snapshot", "999999999"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("signalling the recorder (pid 999999999): No such process"),
        "{err}"
    );
}

#[test]
fn a_flight_recording_answers_with_the_snapshot_s_path() {
    if unsafe { libc::geteuid() } != 0 {
        return retap_testkit::skip_without("root", "recording needs it; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fr");
    let d = dir.display().to_string();
    let mut rec = common::retap()
        .args([
            "record",
            "-o",
            &d,
            "--flight",
            "5s",
            "--events",
            "syscalls,processes",
            "-q",
        ])
        .args(["-c", "sleep 3"])
        .spawn()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !dir.join(".retap-recorder.pid").exists() {
        assert!(
            std::time::Instant::now() < end,
            "the recording did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let (code, out, err) = run(&["snapshot", &d]);
    assert_eq!(code, 0, "{err}");
    let snap = out.trim_end();
    assert!(snap.starts_with(&format!("{d}/snapshot-")), "{out}");
    assert!(rec.wait().unwrap().success());
    // A trace like any other.
    let (code, info, err) = run(&["info", snap]);
    assert_eq!(code, 0, "{err}");
    assert!(info.contains("(complete)"), "{info}");
    let (code, out, err) = run(&[
        "run",
        "--trace",
        snap,
        "-e",
        "global n probe syscall.* { n++ } probe end { println(n > 0) }",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1\n");
}
