//! contrib/retap-record.service: systemd accepts it, and so does the
//! recorder's command line.

use std::process::Command;

use clap::Parser;
use retap_recorder::cli::RecordArgs;

fn unit() -> String {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/retap-record.service"
    );
    std::fs::read_to_string(p).unwrap()
}

/// ExecStart's words (continuation lines joined, single quotes honoured).
fn exec_start(unit: &str) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

#[test]
fn the_units_command_line_is_the_recorders() {
    let words = exec_start(&unit());
    assert_eq!(words[0], "/usr/local/bin/retap-record");
    let args = RecordArgs::try_parse_from(&words).unwrap_or_else(|e| panic!("{e}"));
    assert!(args.flight.is_some() && args.max_size.is_some() && args.snapshot_when.is_some());
}

#[test]
fn systemd_accepts_the_unit() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        return retap_testkit::skip_without("systemd-analyze", "apt-get install systemd");
    };
    assert!(out.status.success());
    // The unit as installed, with the binary where it was built.
    let tmp = tempfile::tempdir().unwrap();
    let text = unit().replace(
        "/usr/local/bin/retap-record",
        env!("CARGO_BIN_EXE_retap-record"),
    );
    let path = tmp.path().join("retap-record.service");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
}
