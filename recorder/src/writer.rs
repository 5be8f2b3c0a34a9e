//! The writer thread: sorts, encodes and compresses batches so that the
//! ring buffer reader never stalls on zstd or the disk. It owns the table
//! sinks and refreshes the manifest whenever a file is completed, so a
//! trace cut short by SIGKILL still lists every completed file.
//!
//! It also keeps the recording within its retention bound (oldest
//! completed files removed first), and turns a failed write (a full,
//! read-only or vanished disk) into an event: the torn file is removed,
//! every row that cannot be written is counted per table with the time it
//! starts from, the reader is told to stop, and the completed files stay
//! as they are.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Result;
use arrow::array::Int64Array;
use arrow::record_batch::RecordBatch;
use retap_schema::manifest::Retention;
use retap_schema::{Manifest, Table};

use crate::sink::{SinkConfig, TableSink};

pub enum Msg {
    Batch(Table, RecordBatch),
    /// Once a second: rotation and retention by age.
    Tick,
    /// SIGHUP: every open file is completed now.
    Rotate,
    /// SIGUSR1: what the trace holds now, as a trace of its own
    /// (DIR/snapshot-TIME/); the manifest as the recorder knows it (losses,
    /// attachments), for the writer to complete.
    Snapshot(Box<Manifest>),
}

pub struct Writer {
    pub tx: SyncSender<Msg>,
    /// Set once a write failed: the reader stops the recording.
    pub failed: Arc<AtomicBool>,
    handle: JoinHandle<Outcome>,
}

/// What the writer leaves: the sinks with their completed files, what
/// retention removed and what could not be written, and why.
pub struct Outcome {
    pub sinks: BTreeMap<Table, TableSink>,
    pub expired: BTreeMap<Table, (u64, u64)>,
    pub complete_from_ns: Option<i64>,
    pub unwritten: BTreeMap<Table, (u64, Option<i64>)>,
    pub failure: Option<String>,
}

/// How many batches may wait for the writer before the reader blocks. Each
/// is at most `BATCH_ROWS` rows, so this bounds the memory in flight.
const QUEUE: usize = 8;

impl Writer {
    pub fn start(
        dir: PathBuf,
        tables: &[Table],
        cfg: SinkConfig,
        retention: Option<Retention>,
        manifest: Manifest,
    ) -> Result<Writer> {
        let cfg_rotate = cfg.rotate_bytes;
        let mut sinks = BTreeMap::new();
        for t in tables {
            sinks.insert(*t, TableSink::new(&dir, *t, &cfg)?);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let failed = Arc::new(AtomicBool::new(false));
        let state = State {
            dir,
            sinks,
            manifest,
            retention,
            expired: BTreeMap::new(),
            complete_from_ns: None,
            unwritten: BTreeMap::new(),
            failure: None,
            failed: failed.clone(),
            received: BTreeMap::new(),
            headroom: cfg_rotate,
        };
        let handle = std::thread::Builder::new()
            .name("retap-writer".into())
            .spawn(move || state.run(rx))?;
        Ok(Writer { tx, failed, handle })
    }

    /// Closes the queue, waits for everything to be written, and returns
    /// what was.
    pub fn finish(self) -> Result<Outcome> {
        drop(self.tx);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the writer thread panicked"))
    }
}

/// Fills the manifest's per-table entries from the writer's state.
pub fn table_stats(
    manifest: &mut Manifest,
    sinks: &BTreeMap<Table, TableSink>,
    expired: &BTreeMap<Table, (u64, u64)>,
    complete_from_ns: Option<i64>,
) {
    for (t, s) in sinks {
        let e = manifest.tables.entry(t.name().to_string()).or_default();
        e.events = s.files.iter().map(|f| f.rows).sum();
        e.files = s.files.clone();
        if let Some((rows, files)) = expired.get(t) {
            e.expired = *rows;
            e.expired_files = *files;
        }
    }
    manifest.complete_from_ns = complete_from_ns;
}

/// A write error as one line: the OS's words once (the Parquet writer
/// wraps I/O errors as `External: ...`), after retap's own context.
pub fn describe(e: &anyhow::Error) -> String {
    let io = e
        .chain()
        .find_map(|c| c.downcast_ref::<std::io::Error>())
        .map(|io| io.to_string());
    let top = e.to_string();
    match io {
        Some(io) if top.contains(&io) || top.starts_with("External") => io,
        Some(io) => format!("{top}: {io}"),
        None => top,
    }
}

struct State {
    dir: PathBuf,
    sinks: BTreeMap<Table, TableSink>,
    manifest: Manifest,
    retention: Option<Retention>,
    expired: BTreeMap<Table, (u64, u64)>,
    complete_from_ns: Option<i64>,
    unwritten: BTreeMap<Table, (u64, Option<i64>)>,
    failure: Option<String>,
    failed: Arc<AtomicBool>,
    /// Rows handed to each sink.
    received: BTreeMap<Table, u64>,
    /// What the open files may add before retention looks again.
    headroom: u64,
}

impl State {
    fn run(mut self, rx: Receiver<Msg>) -> Outcome {
        for msg in rx {
            if self.failure.is_some() {
                // Nothing more is written; every row is counted.
                if let Msg::Batch(t, b) = msg {
                    self.count_unwritten(t, &b);
                }
                continue;
            }
            let step = match msg {
                Msg::Batch(t, b) => self.push(t, b),
                Msg::Tick => self.each(|s| s.tick()),
                Msg::Rotate => self.each(|s| s.rotate()),
                Msg::Snapshot(base) => self.snapshot(*base),
            };
            match step {
                Ok(closed) => {
                    let removed = self.retain();
                    if closed || removed {
                        self.store_manifest();
                    }
                }
                Err(e) => self.fail(&e),
            }
        }
        if self.failure.is_none() {
            for s in self.sinks.values_mut() {
                if let Err(e) = s.finish() {
                    self.fail(&e);
                    break;
                }
            }
            self.retain();
        }
        Outcome {
            sinks: self.sinks,
            expired: self.expired,
            complete_from_ns: self.complete_from_ns,
            unwritten: self.unwritten,
            failure: self.failure,
        }
    }

    /// Hands a batch to its sink a row group at a time, with retention
    /// between, so the files grow by at most a row group before old ones
    /// are removed.
    fn push(&mut self, t: Table, b: RecordBatch) -> Result<bool> {
        if !self.sinks.contains_key(&t) {
            return Ok(false);
        }
        *self.received.entry(t).or_default() += b.num_rows() as u64;
        let mut closed = false;
        let mut at = 0;
        while at < b.num_rows() {
            let s = self.sinks.get_mut(&t).expect("checked above");
            let n = s.group_rows().min(b.num_rows() - at);
            closed |= s.push(b.slice(at, n))?;
            at += n;
            closed |= self.retain();
        }
        Ok(closed)
    }

    /// Completes the open files and links every completed file, with the
    /// attachments, into DIR/snapshot-TIME/ beside a manifest of its own:
    /// a complete trace that retention no longer touches (hard links, so
    /// it costs no copy).
    fn snapshot(&mut self, mut base: Manifest) -> Result<bool> {
        self.each(|s| s.rotate())?;
        self.retain();
        let wall = base.end_ns.unwrap_or(base.start_ns) + base.wall_clock_offset_ns;
        let name = format!("snapshot-{}", retap_schema::wallclock::utc_compact(wall));
        let snap = self.dir.join(&name);
        std::fs::create_dir(&snap)?;
        table_stats(&mut base, &self.sinks, &self.expired, self.complete_from_ns);
        base.retention = self.retention.clone();
        for f in base.tables.values().flat_map(|t| &t.files) {
            link(&self.dir, &snap, &f.path)?;
        }
        for a in &base.attachments {
            link(&self.dir, &snap, a)?;
        }
        base.store(&snap)?;
        // The recording's own manifest now lists the files just completed.
        Ok(true)
    }

    fn each(&mut self, mut f: impl FnMut(&mut TableSink) -> Result<bool>) -> Result<bool> {
        let mut any = false;
        for s in self.sinks.values_mut() {
            any |= f(s)?;
        }
        Ok(any)
    }

    fn store_manifest(&mut self) {
        table_stats(
            &mut self.manifest,
            &self.sinks,
            &self.expired,
            self.complete_from_ns,
        );
        if let Err(e) = self.manifest.store(&self.dir) {
            self.fail(&anyhow::Error::from(e).context("writing trace.json"));
        }
    }

    /// The first failed write: every sink gives up what it has not
    /// completed (rows received and not in a completed file nor removed by
    /// retention are unwritten), and the reader is told to stop.
    fn fail(&mut self, e: &anyhow::Error) {
        if self.failure.is_some() {
            return;
        }
        self.failure = Some(format!(
            "writing {} failed: {}",
            self.dir.display(),
            describe(e)
        ));
        for (t, s) in self.sinks.iter_mut() {
            let (_, from) = s.abandon();
            let kept: u64 = s.files.iter().map(|f| f.rows).sum();
            let expired = self.expired.get(t).map_or(0, |e| e.0);
            let received = self.received.get(t).copied().unwrap_or(0);
            let rows = received.saturating_sub(kept + expired);
            add_unwritten(&mut self.unwritten, *t, rows, from);
        }
        self.failed.store(true, Ordering::SeqCst);
    }

    fn count_unwritten(&mut self, t: Table, b: &RecordBatch) {
        let from = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .and_then(|ts| ts.values().iter().copied().min());
        add_unwritten(&mut self.unwritten, t, b.num_rows() as u64, from);
    }

    /// Removes the oldest completed files (each table keeps its newest,
    /// which carries its schema) while the trace is past its bound: bytes
    /// of completed and open files over `max_bytes`, or a file's newest row
    /// older than `max_age_ns`. Returns whether any was removed.
    fn retain(&mut self) -> bool {
        let Some(r) = self.retention.clone() else {
            return false;
        };
        let now = crate::procfs::monotonic_ns();
        let mut removed = false;
        loop {
            let total: u64 = self
                .sinks
                .values()
                .map(|s| s.files.iter().map(|f| f.bytes).sum::<u64>() + s.open_bytes())
                .sum();
            // Room for the open files to grow before the next check: a row
            // group (at most half a file, sink.rs; the writer pushes one at
            // a time) and a file's footer.
            let over_size = r.max_bytes.is_some_and(|m| total + self.headroom > m);
            // The oldest removable file: by its newest row.
            let oldest = self
                .sinks
                .iter()
                .filter(|(_, s)| s.files.len() > 1)
                .flat_map(|(t, s)| s.files[..s.files.len() - 1].iter().map(move |f| (*t, f)))
                .min_by_key(|(_, f)| f.max_ts.unwrap_or(i64::MIN))
                .map(|(t, f)| (t, f.path.clone(), f.max_ts));
            let Some((t, path, max_ts)) = oldest else {
                break;
            };
            let too_old = r
                .max_age_ns
                .is_some_and(|a| max_ts.is_some_and(|m| (now - m) as u64 > a));
            if !over_size && !too_old {
                break;
            }
            let sink = self.sinks.get_mut(&t).expect("found above");
            let i = sink
                .files
                .iter()
                .position(|f| f.path == path)
                .expect("found above");
            let f = sink.files.remove(i);
            // Gone already counts as removed: the bound holds either way.
            let _ = std::fs::remove_file(self.dir.join(&f.path));
            let e = self.expired.entry(t).or_default();
            e.0 += f.rows;
            e.1 += 1;
            if let Some(m) = f.max_ts {
                self.complete_from_ns = Some(self.complete_from_ns.map_or(m + 1, |c| c.max(m + 1)));
            }
            removed = true;
        }
        removed
    }
}

/// Hard-links `rel` from the trace into the snapshot (its directories
/// made as needed).
fn link(from: &std::path::Path, to: &std::path::Path, rel: &str) -> Result<()> {
    let dst = to.join(rel);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::hard_link(from.join(rel), &dst)
        .map_err(|e| anyhow::anyhow!("linking {} into {}: {e}", rel, to.display()))?;
    Ok(())
}

fn add_unwritten(
    to: &mut BTreeMap<Table, (u64, Option<i64>)>,
    t: Table,
    rows: u64,
    from: Option<i64>,
) {
    if rows == 0 {
        return;
    }
    let e = to.entry(t).or_insert((0, None));
    e.0 += rows;
    if let Some(f) = from {
        e.1 = Some(e.1.map_or(f, |o| o.min(f)));
    }
}
