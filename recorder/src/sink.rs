//! Parquet output: one file set per table, rotated by size and age. Each
//! file is written under a temporary name and renamed when complete, so a
//! crash loses at most the file being written and never leaves a
//! half-written file under a final name.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow::array::Int64Array;
use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow::record_batch::RecordBatch;
use parquet::file::properties::WriterProperties;
use retap_schema::files::{writer_properties, FileWriter, ROW_GROUP_ROWS};
use retap_schema::{FileEntry, Table};

pub struct SinkConfig {
    pub rotate_bytes: u64,
    pub rotate_age: Duration,
    pub zstd_level: i32,
}

struct OpenFile {
    writer: FileWriter<File>,
    tmp: PathBuf,
    rel: String,
    opened: Instant,
    /// The oldest row written to it (its rows are ts-sorted).
    min_ts: Option<i64>,
}

pub struct TableSink {
    pub table: Table,
    dir: PathBuf,
    props: WriterProperties,
    cfg_rotate_bytes: u64,
    cfg_rotate_age: Duration,
    next_index: u32,
    /// Rows per row group: ROW_GROUP_ROWS, or fewer when files are small
    /// (a file cannot be smaller than a row group, and retention bounds
    /// the disk by whole files).
    group_rows: usize,
    open: Option<OpenFile>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_since: Option<Instant>,
    /// Rows older than the open file's newest, waiting to be written as a
    /// sorted file of their own.
    late: Vec<RecordBatch>,
    late_rows: usize,
    pub files: Vec<FileEntry>,
    pub events: u64,
}

/// Sorts a batch by its first column (ts), stably.
pub fn sort_by_ts(batch: &RecordBatch) -> Result<RecordBatch> {
    let idx = sort_to_indices(batch.column(0), None, None)?;
    Ok(take_record_batch(batch, &idx)?)
}

fn ts_values(batch: &RecordBatch) -> &[i64] {
    batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("ts is the first column, Int64, in every table")
        .values()
}

/// Appends a ts-sorted batch to a file as one row group.
fn append(f: &mut OpenFile, sorted: &RecordBatch) -> Result<()> {
    if f.min_ts.is_none() {
        f.min_ts = ts_values(sorted).first().copied();
    }
    f.writer.write(sorted)?;
    f.writer.flush()?;
    Ok(())
}

impl TableSink {
    pub fn new(trace_dir: &Path, table: Table, cfg: &SinkConfig) -> Result<TableSink> {
        let dir = trace_dir.join(table.name());
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(TableSink {
            table,
            dir,
            props: writer_properties(
                cfg.zstd_level,
                &format!("retap-record {}", env!("CARGO_PKG_VERSION")),
            )?,
            cfg_rotate_bytes: cfg.rotate_bytes,
            cfg_rotate_age: cfg.rotate_age,
            next_index: 0,
            // Until a file says its bytes per row: 16, a generous guess
            // (rows compress to 2-8 bytes).
            group_rows: ((cfg.rotate_bytes / 2 / 16) as usize).clamp(1024, ROW_GROUP_ROWS),
            open: None,
            pending: Vec::new(),
            pending_rows: 0,
            pending_since: None,
            late: Vec::new(),
            late_rows: 0,
            files: Vec::new(),
            events: 0,
        })
    }

    /// Queues a batch; writes a sorted row group once enough rows are
    /// queued. Returns true when a file was completed (the manifest should
    /// be refreshed).
    pub fn push(&mut self, batch: RecordBatch) -> Result<bool> {
        if batch.num_rows() == 0 {
            return Ok(false);
        }
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        self.pending_since.get_or_insert_with(Instant::now);
        let mut closed = false;
        if self.pending_rows >= self.group_rows {
            closed |= self.write_pending()?;
        }
        if let Some(f) = &self.open {
            let size = f.writer.size();
            if size >= self.cfg_rotate_bytes || f.opened.elapsed() >= self.cfg_rotate_age {
                closed |= self.write_pending()?;
                closed |= self.close_file()?;
            }
        }
        Ok(closed)
    }

    /// Rotation by age, for tables whose rows trickle in: no row waits in
    /// memory much longer than the rotation age, so a crash loses little.
    pub fn tick(&mut self) -> Result<bool> {
        let age = self.cfg_rotate_age;
        let due = self.pending_since.is_some_and(|t| t.elapsed() >= age)
            || self
                .open
                .as_ref()
                .is_some_and(|f| f.opened.elapsed() >= age);
        if !due {
            return Ok(false);
        }
        let wrote = self.write_pending()?;
        Ok(self.close_file()? || wrote)
    }

    /// Writes the queued rows, sorted, as row groups of `group_rows`,
    /// starting a new file whenever the open one reaches the rotation
    /// size. Returns whether a file was completed.
    fn write_pending(&mut self) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(false);
        }
        let schema = self.table.schema();
        let all = concat_batches(&schema, &self.pending)?;
        let sorted = sort_by_ts(&all)?;
        // Rows older than what the open file already holds are set aside
        // (a syscall is written when it returns but carries its entry
        // time): appending them would break the file's ts order.
        let cut = match self.open.as_ref().and_then(|f| f.writer.max_ts()) {
            Some(max) => ts_values(&sorted).partition_point(|&t| t < max),
            None => 0,
        };
        if cut > 0 {
            self.late_rows += cut;
            // Copied out: a slice would pin the whole batch's buffers, and a
            // few late rows per row group would then hold hundreds of MB.
            let idx = arrow::array::UInt32Array::from_iter_values(0..cut as u32);
            self.late.push(take_record_batch(&sorted, &idx)?);
        }
        let rest = sorted.slice(cut, sorted.num_rows() - cut);
        let mut closed = false;
        let mut at = 0;
        while at < rest.num_rows() {
            if self.open.is_none() {
                self.open = Some(self.new_file()?);
            }
            let n = self.group_rows.min(rest.num_rows() - at);
            let f = self.open.as_mut().expect("opened above");
            append(f, &rest.slice(at, n))?;
            at += n;
            // Row groups of at most half a file, by the bytes per row seen.
            let per_row = (f.writer.size() / f.writer.rows().max(1)).max(1);
            self.group_rows =
                ((self.cfg_rotate_bytes / 2 / per_row) as usize).clamp(1024, ROW_GROUP_ROWS);
            if at < rest.num_rows() && f.writer.size() >= self.cfg_rotate_bytes {
                let f = self.open.take().expect("open");
                self.complete(f)?;
                closed = true;
            }
        }
        // Only now: should a write fail, abandon() still sees these rows.
        self.pending.clear();
        self.pending_rows = 0;
        self.pending_since = None;
        if self.late_rows >= self.group_rows {
            self.write_late()?;
            closed = true;
        }
        Ok(closed)
    }

    /// SIGHUP: completes the open file (with what is queued) now.
    pub fn rotate(&mut self) -> Result<bool> {
        let wrote = self.write_pending()?;
        Ok(self.close_file()? || wrote)
    }

    /// Writes the rows set aside as late as a file of their own, sorted.
    fn write_late(&mut self) -> Result<()> {
        if self.late.is_empty() {
            return Ok(());
        }
        let all = concat_batches(&self.table.schema(), &self.late)?;
        self.late.clear();
        self.late_rows = 0;
        let mut f = self.new_file()?;
        append(&mut f, &sort_by_ts(&all)?)?;
        self.complete(f)
    }

    fn new_file(&mut self) -> Result<OpenFile> {
        let name = format!("part-{:06}.parquet", self.next_index);
        self.next_index += 1;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        let writer = FileWriter::new(file, self.table, self.props.clone())?;
        Ok(OpenFile {
            writer,
            tmp,
            rel: format!("{}/{name}", self.table.name()),
            opened: Instant::now(),
            min_ts: None,
        })
    }

    /// Finishes the open file and whatever late rows wait beside it.
    fn close_file(&mut self) -> Result<bool> {
        let Some(f) = self.open.take() else {
            return Ok(false);
        };
        self.complete(f)?;
        self.write_late()?;
        Ok(true)
    }

    /// Footer, fsync, rename to the final name, and an entry in `files`.
    fn complete(&mut self, f: OpenFile) -> Result<()> {
        let (file, entry) = f.writer.finish(f.rel.clone())?;
        file.sync_all()?;
        drop(file);
        let fin = self.dir.join(f.rel.rsplit('/').next().unwrap());
        std::fs::rename(&f.tmp, &fin)
            .with_context(|| format!("renaming {} to {}", f.tmp.display(), fin.display()))?;
        self.events += entry.rows;
        self.files.push(entry);
        Ok(())
    }

    /// Rows per row group the sink writes now.
    pub fn group_rows(&self) -> usize {
        self.group_rows
    }

    /// Bytes of the file being written (what it holds on disk so far).
    pub fn open_bytes(&self) -> u64 {
        self.open.as_ref().map_or(0, |f| f.writer.size())
    }

    /// After a write failed: gives up the rows not in a completed file
    /// (queued, set aside as late, and the open file's, whose temporary
    /// file is removed to free its space) and returns how many there were
    /// and the oldest one's time.
    pub fn abandon(&mut self) -> (u64, Option<i64>) {
        let mut rows = 0u64;
        let mut oldest: Option<i64> = None;
        let mut see = |n: u64, ts: Option<i64>| {
            rows += n;
            if let Some(t) = ts {
                oldest = Some(oldest.map_or(t, |o: i64| o.min(t)));
            }
        };
        for b in self.pending.drain(..).chain(self.late.drain(..)) {
            see(b.num_rows() as u64, ts_values(&b).iter().copied().min());
        }
        self.pending_rows = 0;
        self.late_rows = 0;
        self.pending_since = None;
        if let Some(f) = self.open.take() {
            see(f.writer.rows(), f.min_ts);
        }
        // Every file not completed (the open one, one whose completion
        // failed): its space is what the rest of the trace needs.
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        (rows, oldest)
    }

    /// A table that saw no events still gets one (empty) file, so every
    /// reader finds the table and its schema.
    pub fn finish(&mut self) -> Result<()> {
        self.write_pending()?;
        if self.open.is_none() && self.files.is_empty() && self.late.is_empty() {
            self.open = Some(self.new_file()?);
        }
        self.close_file()?;
        self.write_late()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batches::TableRows;
    use crate::records::{Hdr, Record, Syscall, F_DONE};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn batch(ts: &[u64]) -> RecordBatch {
        let mut rows = TableRows::new(Table::Syscalls, "x86_64");
        for &t in ts {
            rows.push(&Record::Syscall(Syscall {
                h: Hdr {
                    ts: t,
                    pid: 1,
                    tid: 1,
                    uid: 0,
                    cpu: 0,
                    kind: 0,
                    flags: F_DONE,
                    comm: [0; 16],
                },
                dur: 1,
                ret: 0,
                args: [0; 6],
                nr: 0,
                addr: None,
            }));
        }
        rows.finish()
    }

    fn file_ts(path: &Path) -> Vec<i64> {
        let r = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        r.flat_map(|b| ts_values(&b.unwrap()).to_vec()).collect()
    }

    fn no_rotation() -> SinkConfig {
        SinkConfig {
            rotate_bytes: 1 << 30,
            rotate_age: Duration::from_secs(3600),
            zstd_level: 3,
        }
    }

    #[test]
    fn every_file_is_sorted_even_when_rows_arrive_late() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = no_rotation();
        let mut s = TableSink::new(dir.path(), Table::Syscalls, &cfg).unwrap();
        s.push(batch(&[30, 10, 20])).unwrap();
        s.write_pending().unwrap();
        // 5 and 25 began before the newest row already written (30).
        s.push(batch(&[40, 5, 25, 35])).unwrap();
        s.write_pending().unwrap();
        s.finish().unwrap();
        let mut all = Vec::new();
        for f in &s.files {
            let ts = file_ts(&dir.path().join(&f.path));
            assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{}: {ts:?}", f.path);
            assert_eq!(f.rows as usize, ts.len());
            assert_eq!(
                (f.min_ts, f.max_ts),
                (ts.first().copied(), ts.last().copied())
            );
            all.extend(ts);
        }
        all.sort();
        assert_eq!(all, [5, 10, 20, 25, 30, 35, 40]);
        assert_eq!(s.files.len(), 2);
        assert_eq!(s.events, 7);
    }

    #[test]
    fn an_empty_table_still_gets_a_readable_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = no_rotation();
        let mut s = TableSink::new(dir.path(), Table::Net, &cfg).unwrap();
        s.finish().unwrap();
        assert_eq!(s.files.len(), 1);
        assert!(file_ts(&dir.path().join(&s.files[0].path)).is_empty());
    }
}
