//! `retap info DIR`: what a trace holds, where it came from, what was lost
//! and what on disk is damaged.

use std::fmt::Write;

use retap_schema::summary::{self, human_bytes};

use crate::trace::Trace;
use retap_schema::wallclock::utc;

/// A set of traces: one line per trace, what differs between them, then
/// the set as one trace (its tables summed, its time the union).
pub fn render_set(set: crate::trace_set::TraceSet) -> Result<String, String> {
    let mut o = String::new();
    let hosts = set.hosts().len();
    let _ = writeln!(
        o,
        "set       {} ({} traces, {hosts} host{})",
        set.location.display(),
        set.members.len(),
        if hosts == 1 { "" } else { "s" }
    );
    let width = set.members.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in &set.members {
        let mm = &m.trace.manifest;
        let span = match mm.end_ns {
            Some(e) => format!("{:.1} s", (e - mm.start_ns) as f64 / 1e9),
            None => "no end recorded".into(),
        };
        let _ = writeln!(
            o,
            "  {:<width$}  {}  {} UTC ({span})  {} rows  {} lost",
            m.name,
            mm.host,
            utc(mm.start_ns + mm.wall_clock_offset_ns),
            mm.total_events(),
            mm.total_dropped()
        );
    }
    for d in set.differences() {
        let _ = writeln!(o, "note      {d}");
    }
    let mut t = set.merged()?;
    let all: Vec<retap_schema::Table> = t.tables.iter().map(|f| f.table).collect();
    t.check(&all);
    o.push('\n');
    o.push_str(&render(&t));
    Ok(o)
}

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
    // A set's traces each have their own (listed above it).
    let one = t.members.len() <= 1;
    if one {
        let _ = writeln!(o, "command   {}", m.command_line.join(" "));
    }
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
    if one {
        let _ = writeln!(o, "probes    {}", m.probes.join(", "));
    }
    let width = t
        .tables
        .iter()
        .map(|f| f.table.name().len())
        .max()
        .unwrap_or(0)
        .max(10);
    let _ = writeln!(
        o,
        "\n{:<width$} {:>12} {:>10} {:>6} {:>10} {:>10}",
        "table", "rows", "lost", "files", "size", "bytes/row"
    );
    let (mut rows, mut bytes, mut lost, mut files) = (0u64, 0u64, 0u64, 0usize);
    for tf in &t.tables {
        let stats = m.tables.get(tf.table.name());
        let l = stats.map(|s| s.lost()).unwrap_or(0);
        let (r, b) = (tf.rows(), tf.bytes());
        rows += r;
        bytes += b;
        lost += l;
        files += tf.files.len();
        table_row(&mut o, width, tf.table.name(), r, l, tf.files.len(), b);
    }
    // (with those of no known table: Manifest::tracepoints_skipped)
    lost += m.tracepoints_skipped;
    table_row(&mut o, width, "total", rows, lost, files, bytes);
    for tf in &t.tables {
        if let Some(line) = rollups_line(tf) {
            let _ = writeln!(o, "\nrollups   {}: {line}", tf.table.name());
        }
    }
    if let Some(w) = summary::loss_warning(m) {
        let _ = writeln!(o, "\n{w}");
    }
    if let Some(w) = summary::stop_line(m) {
        let _ = writeln!(o, "\n{w}");
    }
    if let Some(r) = summary::retention_line(m) {
        let _ = writeln!(o, "\n{r}");
    }
    for p in &t.problems {
        let _ = writeln!(o, "\nDAMAGED: {}: {}", p.path.display(), p.what);
    }
    o
}

/// How many of a table's files carry rollups, grain by
/// grain (what plans over them can sum instead of reading rows); None
/// for a table that gets none or whose footers were not read.
fn rollups_line(tf: &crate::trace::TableFiles) -> Option<String> {
    use retap_schema::rollups::{self, Grain};
    if !rollups::rolls_up(tf.table) || tf.files.iter().any(|f| f.footer.is_none()) {
        return None;
    }
    let grains: Vec<Vec<Grain>> = tf
        .files
        .iter()
        .filter_map(|f| f.footer.as_ref())
        .map(|(meta, _)| rollups::grains_in(meta.file_metadata().key_value_metadata()))
        .collect();
    let any = grains.iter().filter(|g| !g.is_empty()).count();
    if any == 0 {
        return Some(format!("0 of {} files", tf.files.len()));
    }
    let by: Vec<String> = Grain::ALL
        .iter()
        .map(|g| {
            let n = grains.iter().filter(|have| have.contains(g)).count();
            format!("by {} {n}", g.name())
        })
        .collect();
    Some(format!(
        "{any} of {} files ({})",
        tf.files.len(),
        by.join(", ")
    ))
}

/// `retap info --verify`'s report: what was read, and each damaged part.
pub fn render_verified(v: &crate::integrity::Verified) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nverified  {} file(s), {}: every page read and decoded; {} file(s) with checksums checked",
        v.files,
        human_bytes(v.bytes),
        v.checksummed
    );
    for d in &v.damage {
        let _ = writeln!(o, "DAMAGED: {d}");
    }
    if v.damage.is_empty() {
        let _ = writeln!(o, "no damage found");
    }
    o
}

fn table_row(
    o: &mut String,
    width: usize,
    name: &str,
    rows: u64,
    lost: u64,
    files: usize,
    bytes: u64,
) {
    let per = if rows > 0 {
        format!("{:.2}", bytes as f64 / rows as f64)
    } else {
        "-".into()
    };
    let _ = writeln!(
        o,
        "{name:<width$} {rows:>12} {lost:>10} {files:>6} {:>10} {per:>10}",
        human_bytes(bytes)
    );
}
