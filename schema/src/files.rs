//! How every Parquet file of a trace is laid out and written, once: the
//! recorder and `retap synth` write through [`FileWriter`], so synthetic
//! traces used by benchmarks and tests are laid out as real recordings, and
//! readers rely on one description (row groups of at most
//! [`ROW_GROUP_ROWS`] sorted by `ts`, `ts` delta-encoded, zstd, page statistics).
//!
//! Integrity: every page header carries the CRC32 of its page (readers
//! built with the parquet crate's `crc` feature check each page they
//! read), and the manifest holds each file's CRC32 and that of its tail
//! (page index and footer, which page checksums do not cover and which
//! decide what a scan skips), checked whenever the footer is read. A
//! syscalls file's rollups lie between its rows and its tail, so that
//! reading a footer does not read them; each is a zstd frame with its
//! content's checksum (rollups.rs).

use std::io::Write;

use arrow_schema::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::Result;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::manifest::{FileEntry, Tail};
use crate::rollups::{self, Rollup};
use crate::Table;

/// Rows per row group at most (the recorder sorts each group by `ts`;
/// it writes smaller groups when its files are small).
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The writer settings of every trace file. `created_by` names the
/// program ("retap-record 0.1.0").
pub fn writer_properties(zstd_level: i32, created_by: &str) -> Result<WriterProperties> {
    let ts = ColumnPath::from("ts");
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        // ts grows slowly inside a sorted row group: deltas pack into a few
        // bits; a dictionary would only get in the way.
        .set_column_dictionary_enabled(ts.clone(), false)
        .set_column_encoding(ts, Encoding::DELTA_BINARY_PACKED)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: false,
        }]))
        .set_page_checksum_enabled(true)
        .set_created_by(created_by.to_string())
        .build())
}

/// One trace file being written: rows, their time range and checksums are
/// kept as they go.
pub struct FileWriter<W: Write + Send> {
    writer: ArrowWriter<Checksummed<W>>,
    /// The last I/O error of the file's writes, which the Parquet writer
    /// returns as text alone when it meets it flushing the footer.
    io_error: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
    rows: u64,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
    /// The rows counted for the footer's rollup, where the table has one.
    rollup: Option<Rollup>,
}

impl<W: Write + Send> FileWriter<W> {
    pub fn new(inner: W, table: Table, props: WriterProperties) -> Result<Self> {
        let mut w = Self::with_schema(inner, table.schema(), props)?;
        w.rollup = rollups::rolls_up(table).then(Rollup::default);
        Ok(w)
    }

    fn with_schema(
        inner: W,
        schema: arrow_schema::SchemaRef,
        props: WriterProperties,
    ) -> Result<Self> {
        let io_error = std::sync::Arc::default();
        let sink = Checksummed {
            inner,
            seen: 0,
            whole: crc32fast::Hasher::new(),
            tail: None,
            io_error: std::sync::Arc::clone(&io_error),
        };
        Ok(FileWriter {
            writer: ArrowWriter::try_new(sink, schema, Some(props))?,
            io_error,
            rows: 0,
            min_ts: None,
            max_ts: None,
            rollup: None,
        })
    }

    /// Appends rows (ts, the first column, ascending within the file).
    pub fn write(&mut self, batch: &arrow_array::RecordBatch) -> Result<()> {
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .ok_or_else(|| ArrowError::SchemaError("ts is not the first Int64 column".into()))?
            .values();
        if let (Some(&lo), Some(&hi)) = (ts.first(), ts.last()) {
            self.min_ts = Some(self.min_ts.map_or(lo, |m| m.min(lo)));
            self.max_ts = Some(self.max_ts.map_or(hi, |m| m.max(hi)));
        }
        self.rows += batch.num_rows() as u64;
        if let Some(r) = &mut self.rollup {
            r.add(batch);
        }
        self.writer.write(batch)
    }

    /// Ends the row group in progress.
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush()
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The newest `ts` written.
    pub fn max_ts(&self) -> Option<i64> {
        self.max_ts
    }

    /// Bytes the file will hold at least: written and buffered.
    pub fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Writes the page index and footer; returns the inner writer and the
    /// file's manifest entry (`path` relative to the trace directory).
    pub fn finish(mut self, path: String) -> Result<(W, FileEntry)> {
        self.writer.flush()?;
        let grains = self.rollup.take().map_or(vec![], |r| r.finish(self.rows));
        rollups::write_into(&mut self.writer, grains)?;
        let from = self.writer.bytes_written() as u64;
        self.writer.inner_mut().start_tail(from);
        let io_error = self.io_error;
        let sink = self.writer.into_inner().map_err(|e| {
            match io_error.lock().ok().and_then(|mut e| e.take()) {
                Some(io) => parquet::errors::ParquetError::External(Box::new(io)),
                None => e,
            }
        })?;
        let entry = FileEntry {
            path,
            rows: self.rows,
            bytes: sink.seen,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            crc32: Some(sink.whole.finalize()),
            tail: sink.tail.map(|(from, h)| Tail {
                from,
                crc32: h.finalize(),
            }),
        };
        Ok((sink.inner, entry))
    }
}

/// Passes bytes on, keeping the CRC32 of all of them and, from a given
/// offset on, of the rest.
struct Checksummed<W> {
    inner: W,
    seen: u64,
    whole: crc32fast::Hasher,
    tail: Option<(u64, crc32fast::Hasher)>,
    /// Where a failed write leaves its error (see [`FileWriter`]).
    io_error: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
}

impl<W> Checksummed<W> {
    /// Bytes at `from` and after also go to the tail's checksum. (The
    /// Parquet writer buffers, so some may not have arrived yet.)
    fn start_tail(&mut self, from: u64) {
        self.tail = Some((from, crc32fast::Hasher::new()));
    }

    /// A copy of a write's error for [`FileWriter::finish`].
    fn keep(&self, e: &std::io::Error) {
        let copy = match e.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(e.kind(), e.to_string()),
        };
        if let Ok(mut slot) = self.io_error.lock() {
            *slot = Some(copy);
        }
    }
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf).inspect_err(|e| self.keep(e))?;
        let done = &buf[..n];
        self.whole.update(done);
        if let Some((from, h)) = &mut self.tail {
            let skip = from.saturating_sub(self.seen).min(n as u64) as usize;
            h.update(&done[skip..]);
        }
        self.seen += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.keep(e))
    }
}

/// What is wrong with a file's bytes, if its checksums say so: `tail` is
/// the file's bytes from its entry's `tail.from` to its end.
pub fn check_tail(entry: &FileEntry, tail: &[u8]) -> std::result::Result<(), String> {
    match &entry.tail {
        Some(t) if crc32fast::hash(tail) != t.crc32 => Err(format!(
            "page index or footer damaged (checksum of bytes {}.. differs from the manifest's)",
            t.from
        )),
        _ => Ok(()),
    }
}

/// Whether a whole file's bytes match its entry's checksum (None: the
/// entry has none, written before checksums were), read a MiB at a time.
pub fn check_whole(
    entry: &FileEntry,
    mut file: impl std::io::Read,
) -> std::io::Result<Option<bool>> {
    let Some(want) = entry.crc32 else {
        return Ok(None);
    };
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => h.update(&buf[..n]),
        }
    }
    Ok(Some(h.finalize() == want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use std::sync::Arc;

    fn one_column_file(rows: i64) -> (Vec<u8>, FileEntry) {
        write_ts(Vec::new(), rows).unwrap()
    }

    /// A file of `ts` alone (every table's schema starts with it).
    fn write_ts<W: std::io::Write + Send>(inner: W, rows: i64) -> Result<(W, FileEntry)> {
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "ts",
            arrow_schema::DataType::Int64,
            false,
        )]));
        let props = writer_properties(1, "test").unwrap();
        let mut w = FileWriter::with_schema(inner, schema.clone(), props)?;
        let ts: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        w.write(&RecordBatch::try_new(schema, vec![ts]).unwrap())?;
        w.finish("t/part-000000.parquet".into())
    }

    /// Takes `room` bytes, then fails as a full disk does.
    struct SmallDisk {
        room: usize,
    }

    impl std::io::Write for SmallDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A disk that fills while the footer is written: the error is the
    /// OS's, as an I/O error a caller can find (the Parquet writer alone
    /// gives it as text in its own words there), wherever the disk fills.
    #[test]
    fn a_full_disk_is_an_io_error_wherever_it_fills() {
        let whole = one_column_file(1000).1.bytes as usize;
        for room in [0, 4, whole / 2, whole - 200, whole - 1] {
            let e = write_ts(SmallDisk { room }, 1000).err().expect("no error");
            let io = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .unwrap_or_else(|| panic!("{room} of {whole}: {e}"));
            assert_eq!(io.raw_os_error(), Some(28), "{room}: {e}");
        }
    }

    /// The entry's checksums are those of the bytes written: the whole
    /// file's, and the tail's from where the page index starts.
    #[test]
    fn checksums_cover_what_was_written() {
        let (bytes, e) = one_column_file(300_000);
        assert_eq!(e.bytes, bytes.len() as u64);
        assert_eq!(e.rows, 300_000);
        assert_eq!((e.min_ts, e.max_ts), (Some(0), Some(299_999)));
        assert_eq!(check_whole(&e, &bytes[..]).unwrap(), Some(true));
        let tail = e.tail.as_ref().unwrap();
        assert!(tail.from > 4 && tail.from < e.bytes - 8, "{tail:?}");
        assert!(check_tail(&e, &bytes[tail.from as usize..]).is_ok());
        let mut bad = bytes[tail.from as usize..].to_vec();
        bad[3] ^= 0x10;
        assert!(check_tail(&e, &bad).is_err());
        let mut bad = bytes.clone();
        bad[100] ^= 1;
        assert_eq!(check_whole(&e, &bad[..]).unwrap(), Some(false));
    }
}
