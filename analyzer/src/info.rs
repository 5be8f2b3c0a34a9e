//! `retap info DIR`: what a trace holds, where it came from, what was lost
//! and what on disk is damaged.

use std::fmt::Write;

use retap_schema::summary::{self, human_bytes};

use crate::trace::Trace;
use crate::wallclock::utc;

pub fn render(t: &Trace) -> String {
    let m = &t.manifest;
    let mut o = String::new();
    let state = match m.state.as_str() {
        "complete" => "complete".to_string(),
        s => format!("{s}: the recorder did not finish (killed?); completed files are readable"),
    };
    let _ = writeln!(o, "trace     {} ({state})", t.dir.display());
    let _ = writeln!(
        o,
        "host      {}  kernel {}  {}  recorder {}  format v{}",
        m.host, m.kernel, m.arch, m.recorder_version, m.format_version
    );
    let _ = writeln!(o, "command   {}", m.command_line.join(" "));
    let start = utc(m.start_ns + m.wall_clock_offset_ns);
    match m.end_ns {
        Some(e) => {
            let _ = writeln!(
                o,
                "time      {start} .. {} UTC ({:.1} s)",
                utc(e + m.wall_clock_offset_ns),
                (e - m.start_ns) as f64 / 1e9
            );
        }
        None => {
            let _ = writeln!(o, "time      {start} UTC .. (no end recorded)");
        }
    }
    let _ = writeln!(o, "probes    {}", m.probes.join(", "));
    let _ = writeln!(
        o,
        "\n{:<10} {:>12} {:>10} {:>6} {:>10} {:>10}",
        "table", "rows", "lost", "files", "size", "bytes/row"
    );
    let (mut rows, mut bytes, mut lost) = (0u64, 0u64, 0u64);
    for tf in &t.tables {
        let stats = m.tables.get(tf.table.name());
        let l = stats.map(|s| s.dropped + s.unpaired).unwrap_or(0);
        let (r, b) = (tf.rows(), tf.bytes());
        rows += r;
        bytes += b;
        lost += l;
        let per = if r > 0 {
            format!("{:.2}", b as f64 / r as f64)
        } else {
            "-".into()
        };
        let _ = writeln!(
            o,
            "{:<10} {:>12} {:>10} {:>6} {:>10} {:>10}",
            tf.table.name(),
            r,
            l,
            tf.files.len(),
            human_bytes(b),
            per
        );
    }
    let per = if rows > 0 {
        format!("{:.2}", bytes as f64 / rows as f64)
    } else {
        "-".into()
    };
    let _ = writeln!(
        o,
        "{:<10} {:>12} {:>10} {:>6} {:>10} {:>10}",
        "total",
        rows,
        lost,
        t.tables.iter().map(|f| f.files.len()).sum::<usize>(),
        human_bytes(bytes),
        per
    );
    if let Some(w) = summary::loss_warning(m) {
        let _ = writeln!(o, "\n{w}");
    }
    for p in &t.problems {
        let _ = writeln!(o, "\nDAMAGED: {}: {}", p.path.display(), p.what);
    }
    o
}
