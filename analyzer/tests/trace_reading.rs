//! Reading traces without root: the shipped datasets, and damaged traces
//! built by hand (torn and corrupt files, bad manifests).

use std::path::{Path, PathBuf};

use retap_analyzer::{info, trace::Trace};
use retap_schema::manifest::ManifestProblem;
use retap_schema::{Manifest, Table};
use retap_testkit::copy_dir;

fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

#[test]
fn shipped_datasets_are_complete_and_match_their_manifests() {
    let mut seen = 0;
    for e in std::fs::read_dir(datasets()).unwrap() {
        let dir = e.unwrap().path();
        if !dir.join("trace.json").exists() {
            continue;
        }
        seen += 1;
        let t = Trace::open(&dir).unwrap();
        assert_eq!(t.manifest.state, "complete", "{}", dir.display());
        assert!(t.problems.is_empty(), "{}: {:?}", dir.display(), t.problems);
        for tf in &t.tables {
            let m = &t.manifest.tables[tf.table.name()];
            assert_eq!(tf.rows(), m.events, "{} {}", dir.display(), tf.table);
            assert_eq!(
                m.dropped + m.unpaired,
                0,
                "datasets were recorded without loss"
            );
        }
        assert!(t.table(Table::Syscalls).unwrap().rows() > 10_000);
        let text = info::render(&t);
        assert!(
            text.contains("(complete)") && !text.contains("DAMAGED"),
            "{text}"
        );
    }
    assert!(seen >= 2, "at least two datasets ship");
}

#[test]
fn torn_and_corrupt_files_are_reported_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    copy_dir(&datasets().join("disk"), &dir);
    let before = Trace::open(&dir).unwrap();
    let rows = before.table(Table::Syscalls).unwrap().rows();

    std::fs::write(
        dir.join("syscalls/.part-000009.parquet.tmp"),
        b"PAR1 half a file",
    )
    .unwrap();
    std::fs::write(dir.join("net/part-000007.parquet"), b"not parquet at all").unwrap();
    let mut m = Manifest::load(&dir).unwrap();
    m.state = "recording".into();
    m.store(&dir).unwrap();

    let t = Trace::open(&dir).unwrap();
    assert_eq!(t.table(Table::Syscalls).unwrap().rows(), rows);
    assert_eq!(t.problems.len(), 2, "{:?}", t.problems);
    let text = info::render(&t);
    assert!(text.contains("did not finish"), "{text}");
    assert!(
        text.contains(".part-000009.parquet.tmp: torn: 16 bytes never completed"),
        "{text}"
    );
    assert!(
        text.contains("net/part-000007.parquet: unreadable Parquet file"),
        "{text}"
    );
}

/// A run checks only the tables its probes read: listing a trace reads no
/// footers and finds torn files; checking a table reads its footers and
/// finds the unreadable ones, whose rows are then not counted.
#[test]
fn tables_are_checked_when_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    copy_dir(&datasets().join("web"), &dir);
    let whole = Trace::open(&dir).unwrap();
    let rows = |t: &Trace, table| t.table(table).unwrap().rows();
    std::fs::write(dir.join("syscalls/.part-000009.parquet.tmp"), b"PAR1 half").unwrap();
    std::fs::write(dir.join("net/part-000007.parquet"), b"not parquet at all").unwrap();

    let mut t = Trace::list(&dir).unwrap();
    assert!(t.tables.iter().all(|tf| !tf.checked));
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert!(t.problems[0].what.starts_with("torn"), "{:?}", t.problems);
    t.check(&[Table::Syscalls]);
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    assert_eq!(rows(&t, Table::Syscalls), rows(&whole, Table::Syscalls));
    t.check(&[Table::Syscalls, Table::Net]);
    assert_eq!(t.problems.len(), 2, "{:?}", t.problems);
    assert!(t.problems[1].path.ends_with("net/part-000007.parquet"));
    // (part-000000 is the intact one.)
    assert_eq!(rows(&t, Table::Net), rows(&whole, Table::Net));
    assert!(rows(&t, Table::Net) > 0);
}

#[test]
fn bad_trace_directories_are_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let err = Trace::open(&missing).unwrap_err();
    assert!(matches!(err.problem, ManifestProblem::NoDirectory));
    assert_eq!(
        err.to_string(),
        format!("{}: no such trace directory", missing.display())
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = Trace::open(&empty).unwrap_err();
    assert!(matches!(err.problem, ManifestProblem::Unreadable(_)));
    assert_eq!(err.path, empty.join("trace.json"));
    let err = err.to_string();
    assert!(
        err.contains("trace.json: cannot read the trace manifest")
            && err.contains("is this a retap trace directory?"),
        "{err}"
    );
    let newer = tmp.path().join("newer");
    copy_dir(&datasets().join("disk"), &newer);
    let mut m = Manifest::load(&newer).unwrap();
    m.format_version = 99;
    m.store(&newer).unwrap();
    let err = Trace::open(&newer).unwrap_err();
    assert!(matches!(err.problem, ManifestProblem::Newer(99)));
    let err = err.to_string();
    assert!(
        err.contains("trace format version 99 is newer than this retap understands"),
        "{err}"
    );
}

/// A damaged syscall_signatures.json is reported as `retap info` reports
/// a damaged file, and the rest of the trace is read; a missing one (a
/// recorder that could not read tracefs) is no problem.
#[test]
fn damaged_signatures_are_reported_not_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    copy_dir(&datasets().join("mixed"), &dir);
    let sigs = dir.join(retap_schema::signatures::FILE);
    let text = std::fs::read_to_string(&sigs).unwrap();
    assert!(Trace::open(&dir).unwrap().signatures().is_some());

    std::fs::write(&sigs, &text[..text.len() / 2]).unwrap();
    let t = Trace::open(&dir).unwrap();
    assert!(t.signatures().is_none());
    assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    let shown = info::render(&t);
    assert!(
        shown.contains(&format!(
            "DAMAGED: {}: not a valid signatures file (",
            sigs.display()
        )) && shown.contains("syscall arguments by their kernel names ($fd, ...) read as 0"),
        "{shown}"
    );
    assert!(t.table(Table::Syscalls).unwrap().rows() > 0);

    std::fs::remove_file(&sigs).unwrap();
    let t = Trace::open(&dir).unwrap();
    assert!(t.signatures().is_none() && t.problems.is_empty());
}
