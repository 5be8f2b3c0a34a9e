//! Every tracepoint of the running kernel: its format is read, checked
//! against what the BPF side can copy, and a synthetic record of it is
//! decoded into its table's columns. Those refused are listed with why;
//! the test fails if any is refused for a reason not known here.

use std::sync::Arc;

use retap_recorder::batches::TableRows;
use retap_recorder::records::Hdr;
use retap_recorder::tracepoints;
use retap_schema::Table;

#[test]
fn every_tracepoint_of_this_kernel_decodes() {
    let fs = match tracepoints::tracefs() {
        Ok(fs) => fs,
        Err(e) => {
            return retap_testkit::skip_without("tracefs", &format!("{e}; CI runs as root"));
        }
    };
    let all = tracepoints::available(&fs).unwrap();
    assert!(all.len() > 100, "only {} tracepoints?", all.len());
    let mut refused = Vec::new();
    let mut decoded = 0;
    for name in &all {
        let (sys, ev) = name.split_once(':').unwrap();
        let f = match tracepoints::read_format(&fs, sys, ev) {
            Ok(f) => f.intern(),
            Err(e) => {
                refused.push(format!("{e:#}"));
                continue;
            }
        };
        // A record of the format's fixed size, each byte its offset's low
        // bits, so every field reads something; dynamic fields point past
        // the end (cut), which must not fail either.
        let raw: Vec<u8> = (0..f.size).map(|i| i as u8).collect();
        let mut rows = TableRows::new(Table::Tracepoint(f), "x86_64");
        let h = Hdr {
            ts: 1,
            pid: 2,
            tid: 3,
            uid: 0,
            cpu: 0,
            kind: 6,
            flags: 0,
            comm: *b"test\0\0\0\0\0\0\0\0\0\0\0\0",
        };
        rows.push_tracepoint(&h, &raw, &[]);
        let b = rows.finish();
        assert_eq!(b.num_rows(), 1, "{name}");
        assert_eq!(
            b.schema(),
            Arc::clone(&Table::Tracepoint(f).schema()),
            "{name}"
        );
        decoded += 1;
    }
    eprintln!(
        "{decoded} of {} tracepoints decode; refused:\n{}",
        all.len(),
        refused.join("\n")
    );
    // The reasons a format may be refused, each a limit of the decoder
    // stated in its message.
    let known = ["cannot be decoded", "variable-length fields"];
    for r in &refused {
        assert!(
            known.iter().any(|k| r.contains(k)),
            "unexpected refusal: {r}"
        );
    }
    assert!(
        refused.len() * 100 <= all.len(),
        "more than 1% refused: {}",
        refused.len()
    );
}
