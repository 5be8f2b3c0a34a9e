//! The human summary printed at the end of `retap record` and by
//! `retap info`: one format, so the two never disagree.

use crate::Manifest;

/// "12.3 MB" style sizes (powers of 1000, as `du --si`).
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Seconds covered by the trace, if it has an end.
pub fn duration_s(m: &Manifest) -> Option<f64> {
    m.end_ns.map(|e| (e - m.start_ns) as f64 / 1e9)
}

/// The one-line summary: events per table, losses, size, bytes per event.
pub fn one_line(m: &Manifest) -> String {
    let events = m.total_events();
    let bytes = m.total_bytes();
    let per_table: Vec<String> = m
        .tables
        .iter()
        .map(|(name, t)| format!("{name} {}", t.events))
        .collect();
    let per_event = if events > 0 {
        format!("{:.2}", bytes as f64 / events as f64)
    } else {
        "-".into()
    };
    let dur = duration_s(m)
        .map(|d| format!(" in {d:.1} s"))
        .unwrap_or_default();
    let expired: u64 = m.tables.values().map(|t| t.expired).sum();
    let kept = match (expired, m.complete_from_ns) {
        (0, _) => String::new(),
        (n, from) => format!(
            ", {n} older rows removed to stay within the retention bound{}",
            from.map(|f| format!(" (complete from +{:.1} s)", (f - m.start_ns) as f64 / 1e9))
                .unwrap_or_default()
        ),
    };
    format!(
        "recorded {events} events{dur} ({}), {} lost, {} on disk, {per_event} bytes/event{kept}",
        per_table.join(", "),
        m.total_dropped(),
        human_bytes(bytes),
    )
}

/// What retention removed and from when the trace is complete, when it
/// removed anything.
pub fn retention_line(m: &Manifest) -> Option<String> {
    let r = m.retention.as_ref()?;
    let mut bound = vec![];
    if let Some(b) = r.max_bytes {
        bound.push(format!("--max-size {}", human_bytes(b)));
    }
    if let Some(a) = r.max_age_ns {
        bound.push(format!("--max-age {:.0} s", a as f64 / 1e9));
    }
    let removed: Vec<String> = m
        .tables
        .iter()
        .filter(|(_, t)| t.expired > 0)
        .map(|(name, t)| format!("{name} {} rows in {} files", t.expired, t.expired_files))
        .collect();
    Some(match (removed.is_empty(), m.complete_from_ns) {
        (true, _) | (_, None) => format!("retention {}: nothing removed", bound.join(", ")),
        (false, Some(from)) => format!(
            "retention {}: removed {}; every table is complete from +{:.3} s",
            bound.join(", "),
            removed.join(", "),
            (from - m.start_ns) as f64 / 1e9
        ),
    })
}

/// Why the recording stopped early and what that cost, when the disk
/// failed; None otherwise. One line.
pub fn stop_line(m: &Manifest) -> Option<String> {
    let files: usize = m.tables.values().map(|t| t.files.len()).sum();
    Some(format!(
        "{}; the {files} completed files and trace.json are intact",
        stop_cause(m)?
    ))
}

/// The first part of [`stop_line`]: why, and the rows not written.
pub fn stop_cause(m: &Manifest) -> Option<String> {
    let why = m.stopped_by.as_ref()?;
    let unwritten: Vec<String> = m
        .tables
        .iter()
        .filter(|(_, t)| t.unwritten > 0)
        .map(|(name, t)| {
            let from = t
                .unwritten_from_ns
                .map(|f| format!(" from +{:.3} s", (f - m.start_ns) as f64 / 1e9))
                .unwrap_or_default();
            format!("{name} {}{from}", t.unwritten)
        })
        .collect();
    Some(format!(
        "recording stopped: {why}; rows not written: {}",
        if unwritten.is_empty() {
            "none".to_string()
        } else {
            unwritten.join(", ")
        }
    ))
}

/// The loss warning, or None when nothing was lost. Never omitted when
/// something was: losses must be visible.
pub fn loss_warning(m: &Manifest) -> Option<String> {
    let lost = m.total_dropped();
    let names: u64 = m.tables.values().map(|t| t.strings_lost).sum();
    if lost == 0 && names > 0 {
        return Some(format!(
            "WARNING: {names} file name(s) of syscalls not recorded (ring buffer full, or the caller's memory not readable at entry); their rows are there with a null path"
        ));
    }
    if lost == 0 {
        return None;
    }
    let mut parts = Vec::new();
    for (name, t) in &m.tables {
        if t.dropped > 0 {
            parts.push(format!("{name} {} (ring buffer full)", t.dropped));
        }
        if t.unpaired > 0 {
            parts.push(format!("{name} {} (in-flight map full)", t.unpaired));
        }
        if t.skipped > 0 {
            parts.push(format!(
                "{name} {} (skipped by the kernel: its program was already running on that CPU)",
                t.skipped
            ));
        }
    }
    if m.tracepoints_skipped > 0 {
        parts.push(format!(
            "{} of the tracepoints recorded through the classic hook (skipped by the kernel while a BPF program ran on that CPU; which table is not known)",
            m.tracepoints_skipped
        ));
    }
    if names > 0 {
        parts.push(format!("and {names} file name(s) of syscalls"));
    }
    // A larger ring or fewer events help ring and map losses, not skips.
    let hint = match m.tables.values().any(|t| t.dropped + t.unpaired > 0) {
        true => "; a larger --ringbuf-size or narrower --events/--syscalls/-x may help",
        false => "",
    };
    Some(format!(
        "WARNING: {lost} events lost: {}{hint}",
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TableStats;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1000), "1.0 kB");
        assert_eq!(human_bytes(12_345_678), "12.3 MB");
    }

    #[test]
    fn summary_and_warning() {
        let mut m = Manifest::new();
        m.start_ns = 0;
        m.end_ns = Some(2_000_000_000);
        m.tables.insert(
            "net".into(),
            TableStats {
                events: 10,
                dropped: 0,
                unpaired: 0,
                strings_lost: 0,
                files: vec![crate::FileEntry {
                    path: "net/part-000000.parquet".into(),
                    rows: 10,
                    bytes: 40,
                    min_ts: None,
                    max_ts: None,
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        assert_eq!(
            one_line(&m),
            "recorded 10 events in 2.0 s (net 10), 0 lost, 40 B on disk, 4.00 bytes/event"
        );
        assert_eq!(loss_warning(&m), None);
        m.tables.get_mut("net").unwrap().dropped = 1234;
        assert_eq!(
            loss_warning(&m).unwrap(),
            "WARNING: 1234 events lost: net 1234 (ring buffer full); a larger --ringbuf-size or narrower --events/--syscalls/-x may help"
        );
        let t = m.tables.get_mut("net").unwrap();
        t.dropped = 0;
        t.skipped = 3;
        m.tracepoints_skipped = 2;
        assert_eq!(
            loss_warning(&m).unwrap(),
            "WARNING: 5 events lost: net 3 (skipped by the kernel: its program was already running on that CPU), 2 of the tracepoints recorded through the classic hook (skipped by the kernel while a BPF program ran on that CPU; which table is not known)"
        );
        m.tracepoints_skipped = 0;
        let t = m.tables.get_mut("net").unwrap();
        t.skipped = 0;
        t.dropped = 1234;
        // Retention and a failed disk: their own lines, not losses.
        assert_eq!(stop_line(&m), None);
        assert_eq!(retention_line(&m), None);
        m.retention = Some(crate::manifest::Retention {
            max_bytes: Some(1 << 20),
            max_age_ns: None,
        });
        assert_eq!(
            retention_line(&m).unwrap(),
            "retention --max-size 1.0 MB: nothing removed"
        );
        let t = m.tables.get_mut("net").unwrap();
        t.expired = 500;
        t.expired_files = 2;
        t.unwritten = 7;
        t.unwritten_from_ns = Some(1_500_000_000);
        m.complete_from_ns = Some(250_000_000);
        m.stopped_by = Some("writing t failed: No space left on device (os error 28)".into());
        assert_eq!(
            retention_line(&m).unwrap(),
            "retention --max-size 1.0 MB: removed net 500 rows in 2 files; every table is complete from +0.250 s"
        );
        assert_eq!(
            stop_line(&m).unwrap(),
            "recording stopped: writing t failed: No space left on device (os error 28); rows not written: net 7 from +1.500 s; the 1 completed files and trace.json are intact"
        );
        assert!(one_line(&m).ends_with(
            "500 older rows removed to stay within the retention bound (complete from +0.2 s)"
        ));
    }
}
