//! The writer thread: sorts, encodes and compresses batches so that the
//! ring buffer reader never stalls on zstd or the disk. It owns the table
//! sinks and refreshes the manifest whenever a file is completed, so a
//! trace cut short by SIGKILL still lists every completed file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

use anyhow::Result;
use arrow::record_batch::RecordBatch;
use retap_schema::{Manifest, Table};

use crate::sink::{SinkConfig, TableSink};

pub enum Msg {
    Batch(Table, RecordBatch),
    /// Once a second: rotation by age.
    Tick,
}

pub struct Writer {
    pub tx: SyncSender<Msg>,
    handle: JoinHandle<Result<BTreeMap<Table, TableSink>>>,
}

/// How many batches may wait for the writer before the reader blocks. Each
/// is at most `BATCH_ROWS` rows, so this bounds the memory in flight.
const QUEUE: usize = 8;

impl Writer {
    pub fn start(
        dir: PathBuf,
        tables: &[Table],
        cfg: SinkConfig,
        manifest: Manifest,
    ) -> Result<Writer> {
        let mut sinks = BTreeMap::new();
        for t in tables {
            sinks.insert(*t, TableSink::new(&dir, *t, &cfg)?);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let handle = std::thread::Builder::new()
            .name("retap-writer".into())
            .spawn(move || run(dir, sinks, rx, manifest))?;
        Ok(Writer { tx, handle })
    }

    /// Closes the queue, waits for everything to be written, and returns
    /// the sinks with their file lists.
    pub fn finish(self) -> Result<BTreeMap<Table, TableSink>> {
        drop(self.tx);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
    }
}

/// Fills the manifest's per-table entries from the sinks.
pub fn table_stats(manifest: &mut Manifest, sinks: &BTreeMap<Table, TableSink>) {
    for (t, s) in sinks {
        let e = manifest.tables.entry(t.name().to_string()).or_default();
        e.events = s.events;
        e.files = s.files.clone();
    }
}

fn run(
    dir: PathBuf,
    mut sinks: BTreeMap<Table, TableSink>,
    rx: Receiver<Msg>,
    mut manifest: Manifest,
) -> Result<BTreeMap<Table, TableSink>> {
    for msg in rx {
        let closed = match msg {
            Msg::Batch(t, b) => match sinks.get_mut(&t) {
                Some(s) => s.push(b)?,
                None => false,
            },
            Msg::Tick => {
                let mut any = false;
                for s in sinks.values_mut() {
                    any |= s.tick()?;
                }
                any
            }
        };
        if closed {
            table_stats(&mut manifest, &sinks);
            manifest.store(&dir)?;
        }
    }
    for s in sinks.values_mut() {
        s.finish()?;
    }
    Ok(sinks)
}
