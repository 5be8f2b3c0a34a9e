//! The files' rows read, decoded and merged by time in a thread of their
//! own, a few chunks ahead of the thread that runs the script. Over many
//! overlapping files the merge (each window's sort by time and gather)
//! and the decoding were half of a run, all of it on one core while the
//! other waited; now the script's thread only runs probes. Rows come out
//! in exactly the order the merge gives them, so what a script prints
//! does not change.
//!
//! The reading thread's batches hold `Arc<str>` strings; the script's
//! values are `Rc<str>`, so each batch is taken over once (its arrays
//! shared, its dictionary's strings looked up by address: one `Rc` per
//! distinct string, as the interner gave before).

use std::collections::VecDeque;
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use retap_schema::{Column, Table};

use super::error::ReadError;
use super::events::{Batch, FileCursor, ReadBatch};
use super::merge::Merge;
use super::value::Interner;

/// Rows a message from the reading thread carries at least (a window
/// of interleaved files is 32k rows; one file's batch up to 16k), and
/// pieces at most (rows handed on one by one are pieces of one row).
const CHUNK_ROWS: usize = 16 * 1024;
const CHUNK_PIECES: usize = 1024;
/// Messages the reading thread may be ahead by.
const AHEAD: usize = 4;

type Chunk = Vec<(Arc<ReadBatch>, Range<usize>)>;

/// A file whose rows stopped part-way: the caller finds out whether it is
/// damaged.
pub struct Failed {
    pub table: Table,
    pub path: PathBuf,
    pub error: ReadError,
}

/// What the reading thread found once it stopped.
#[derive(Default)]
pub struct Read {
    /// Files whose first rows could not be read: left out, with a warning
    /// each.
    pub skipped: Vec<String>,
    pub failed: Vec<Failed>,
}

/// The merged rows of the cursors, as the script's thread takes them.
pub struct ReadAhead {
    rx: Option<Receiver<Chunk>>,
    thread: Option<JoinHandle<Read>>,
    /// Rows received and not yet handed on, in order.
    queue: VecDeque<(Rc<Batch>, Range<usize>)>,
    /// Batches taken over, by the reading thread's address: one file's
    /// batch is handed on in several pieces, between windows of others.
    /// Each entry holds the reading thread's `Arc`, so its address is not
    /// reused while it is here.
    batches: rustc_hash::FxHashMap<usize, (Arc<ReadBatch>, Rc<Batch>)>,
    sweep_at: usize,
    /// The reading thread's strings as this thread's, by address (each
    /// entry holds the `Arc`, for the same reason).
    strings: rustc_hash::FxHashMap<*const u8, (Arc<str>, Rc<str>)>,
}

impl ReadAhead {
    /// Starts reading `cursors`.
    pub fn spawn(cursors: Vec<FileCursor>) -> std::io::Result<ReadAhead> {
        let mut ahead = ReadAhead {
            rx: None,
            thread: None,
            queue: VecDeque::new(),
            batches: Default::default(),
            sweep_at: 64,
            strings: Default::default(),
        };
        if cursors.is_empty() {
            return Ok(ahead);
        }
        let (tx, rx) = sync_channel::<Chunk>(AHEAD);
        let thread = std::thread::Builder::new()
            .name("retap-read".into())
            .spawn(move || {
                let mut interner = Interner::default();
                let mut skipped = vec![];
                let mut started = vec![];
                for mut c in cursors {
                    match c.start(&mut interner) {
                        Ok(()) => started.push(c),
                        Err(e) => skipped.push(format!("skipped unreadable file {e}")),
                    }
                }
                let mut merge = Merge::new(started, interner);
                let mut ended = false;
                while !ended {
                    let (mut chunk, mut rows) = (Vec::new(), 0);
                    while rows < CHUNK_ROWS && chunk.len() < CHUNK_PIECES {
                        let Some((b, r)) = merge.next_rows() else {
                            ended = true;
                            break;
                        };
                        rows += r.len();
                        chunk.push((b, r));
                    }
                    // The script's thread stopped (exit(), an error):
                    // nothing more is wanted.
                    if !chunk.is_empty() && tx.send(chunk).is_err() {
                        break;
                    }
                }
                let Merge {
                    cursors, failed, ..
                } = merge;
                let failed = failed
                    .into_iter()
                    .map(|(i, error)| Failed {
                        table: cursors[i].table,
                        path: cursors[i].path.clone(),
                        error,
                    })
                    .collect();
                Read { skipped, failed }
            })?;
        ahead.rx = Some(rx);
        ahead.thread = Some(thread);
        Ok(ahead)
    }

    /// Time of the next row, if any (waiting for the reading thread).
    pub fn peek_ts(&mut self) -> Option<i64> {
        self.fill();
        let (b, rows) = self.queue.front()?;
        b.int(Column::Ts, rows.start)
    }

    /// The next row: a batch and an index in it.
    pub fn pop(&mut self) -> Option<(Rc<Batch>, usize)> {
        self.fill();
        let (b, rows) = self.queue.front_mut()?;
        let row = rows.next()?;
        let b = if rows.start >= rows.end {
            self.queue.pop_front()?.0
        } else {
            b.clone()
        };
        Some((b, row))
    }

    /// The files left out or that failed part-way, once reading stopped
    /// (at the end, or because this side stopped taking rows). A panic of
    /// the reading thread goes on here.
    pub fn finish(mut self) -> Read {
        // Its next send fails, if it is still reading.
        self.rx = None;
        self.queue.clear();
        match self.thread.take().map(JoinHandle::join) {
            None => Read::default(),
            Some(Ok(read)) => read,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
    }

    /// Takes the next chunk over where nothing is queued.
    fn fill(&mut self) {
        if !self.queue.is_empty() {
            return;
        }
        let Some(chunk) = self.rx.as_ref().and_then(|rx| rx.recv().ok()) else {
            // Ended (or the thread panicked: `finish` says so).
            self.rx = None;
            return;
        };
        for (b, rows) in chunk {
            let b = self.take_over(b);
            self.queue.push_back((b, rows));
        }
    }

    fn take_over(&mut self, b: Arc<ReadBatch>) -> Rc<Batch> {
        let key = Arc::as_ptr(&b) as usize;
        if let Some((_, local)) = self.batches.get(&key) {
            return local.clone();
        }
        let strings = &mut self.strings;
        let local = Rc::new(b.map_strings(&mut |s: &Arc<str>| {
            let addr = Arc::as_ptr(s) as *const u8;
            strings
                .entry(addr)
                .or_insert_with(|| (s.clone(), Rc::from(&**s)))
                .1
                .clone()
        }));
        if self.batches.len() >= self.sweep_at {
            // Held here alone: the reading thread is done with it and
            // will not hand it on again.
            self.batches.retain(|_, (b, _)| Arc::strong_count(b) > 1);
            self.sweep_at = (2 * self.batches.len()).max(64);
        }
        self.batches.insert(key, (b, local.clone()));
        local
    }
}

impl Drop for ReadAhead {
    /// A run that stops early (exit(), an error) leaves the reading
    /// thread to finish its chunk and stop, not to read on.
    fn drop(&mut self) {
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
