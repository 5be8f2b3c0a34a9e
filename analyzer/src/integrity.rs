//! Finding damage in a trace's files: every page read and checked (page
//! checksums, decompression, decoding), the page index decoded (plans'
//! scans read it; the rows read fine without it), and each file's bytes
//! against the manifest's checksum. `retap info --verify` runs it over a whole trace;
//! a run or a plan that fails to read a file runs it over that file to say
//! where the damage is (a read error that is not damage stays an error).

use std::fmt;
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::PageIndexPolicy;
use retap_schema::{FileEntry, Table};

use crate::store::Store;
use crate::trace::{DataFile, Trace};

/// A damaged part of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Damage {
    pub path: PathBuf,
    pub table: Table,
    /// The row group that cannot be read (None: the file as a whole).
    pub row_group: Option<usize>,
    pub what: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: table {}", self.path.display(), self.table)?;
        if let Some(g) = self.row_group {
            write!(f, ", row group {g}")?;
        }
        write!(f, ": {}", self.what)
    }
}

/// What a verification read.
#[derive(Debug, Default)]
pub struct Verified {
    pub files: usize,
    /// Of those, files whose pages and bytes carry checksums (older
    /// recorders wrote none: their pages are only decoded).
    pub checksummed: usize,
    pub bytes: u64,
    pub damage: Vec<Damage>,
}

/// Reads every page of every file of `tables` (all when empty), a few
/// files at a time.
pub fn verify(trace: &Trace, tables: &[Table]) -> Verified {
    let files: Vec<(Table, &DataFile)> = trace
        .tables
        .iter()
        .filter(|tf| tables.is_empty() || tables.contains(&tf.table))
        .flat_map(|tf| tf.files.iter().map(move |f| (tf.table, f)))
        .collect();
    let threads = crate::cores().min(files.len()).max(1);
    let chunk = files.len().div_ceil(threads).max(1);
    let damage = std::thread::scope(|s| {
        let parts: Vec<_> = files
            .chunks(chunk)
            .map(|c| {
                s.spawn(move || {
                    c.iter()
                        .flat_map(|(t, f)| verify_file(&trace.store, &f.path, *t, f.entry.as_ref()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().expect("verifier thread"))
            .collect()
    });
    Verified {
        files: files.len(),
        checksummed: files
            .iter()
            .filter(|(_, f)| f.entry.as_ref().is_some_and(|e| e.crc32.is_some()))
            .count(),
        bytes: files.iter().map(|(_, f)| f.bytes).sum(),
        damage,
    }
}

/// The damage in one file: its checksum against the manifest's entry
/// (when it has one), then each row group read and decoded whole.
pub fn verify_file(
    store: &Store,
    path: &Path,
    table: Table,
    entry: Option<&FileEntry>,
) -> Vec<Damage> {
    match store {
        // Read from the file, not into memory: files run to 256 MiB, and
        // decoding a row group at a time keeps one in memory.
        Store::Local => verify_read(path, table, entry, || std::fs::File::open(path)),
        // An object is fetched once: every byte is checked anyway.
        Store::Bucket(_) => match store.read(path) {
            Ok(b) => {
                let b = bytes::Bytes::from(b);
                verify_read(path, table, entry, || Ok(b.clone()))
            }
            Err(e) => vec![Damage {
                path: path.to_path_buf(),
                table,
                row_group: None,
                what: format!("cannot be read ({e})"),
            }],
        },
    }
}

/// [`verify_file`] over what `open` opens.
fn verify_read<R>(
    path: &Path,
    table: Table,
    entry: Option<&FileEntry>,
    open: impl Fn() -> std::io::Result<R>,
) -> Vec<Damage>
where
    R: parquet::file::reader::ChunkReader + 'static,
{
    let damage = |row_group: Option<usize>, what: String| Damage {
        path: path.to_path_buf(),
        table,
        row_group,
        what,
    };
    let mut out = vec![];
    let whole = open().and_then(|f| {
        entry.map_or(Ok(None), |e| {
            retap_schema::files::check_whole(e, std::io::BufReader::new(f.get_read(0)?))
        })
    });
    match whole {
        Ok(Some(false)) => out.push(damage(
            None,
            "its bytes differ from the manifest's checksum".into(),
        )),
        Ok(_) => {}
        Err(e) => return vec![damage(None, format!("cannot be read ({e})"))],
    }
    let builder = || {
        open()
            .map_err(parquet::errors::ParquetError::from)
            .and_then(ParquetRecordBatchReaderBuilder::try_new)
    };
    let groups = match builder() {
        Ok(b) => b.metadata().num_row_groups(),
        Err(e) => {
            out.push(damage(None, format!("footer unreadable ({e})")));
            return out;
        }
    };
    let indexed = open()
        .map_err(parquet::errors::ParquetError::from)
        .and_then(|f| {
            let options =
                ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
            ParquetRecordBatchReaderBuilder::try_new_with_options(f, options)
        });
    if let Err(e) = indexed {
        out.push(damage(
            None,
            format!("its page index does not decode ({e})"),
        ));
    }
    for g in 0..groups {
        let read = builder()
            .and_then(|b| b.with_row_groups(vec![g]).build())
            .map_err(|e| e.to_string())
            .and_then(|mut r| r.try_for_each(|b| b.map(|_| ())).map_err(|e| e.to_string()));
        if let Err(e) = read {
            out.push(damage(Some(g), e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{synth, SynthOptions};

    /// A flipped bit in a page is found in its row group; an intact file
    /// has no damage; a file whose bytes differ from the manifest's
    /// checksum is found even where the pages read fine.
    #[test]
    fn damage_is_found_where_it_is() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t");
        let opts = SynthOptions {
            events: 300_000,
            rows_per_file: 1 << 30,
            ..Default::default()
        };
        synth(&dir, &opts).unwrap();
        let t = Trace::open(&dir).unwrap();
        let f = &t.table(Table::Syscalls).unwrap().files[0];
        assert_eq!(
            verify_file(&t.store, &f.path, Table::Syscalls, f.entry.as_ref()),
            vec![]
        );
        let meta = f.footer.as_ref().unwrap().0.clone();
        assert!(meta.num_row_groups() >= 3);
        // A byte in the middle of row group 1's first column chunk.
        let col = meta.row_group(1).column(0);
        let (start, len) = col.byte_range();
        let mut bytes = std::fs::read(&f.path).unwrap();
        bytes[(start + len / 2) as usize] ^= 0x20;
        std::fs::write(&f.path, &bytes).unwrap();
        let found = verify_file(&t.store, &f.path, Table::Syscalls, f.entry.as_ref());
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].row_group, None);
        assert_eq!(found[1].row_group, Some(1));
        assert!(found[1].what.contains("CRC"), "{found:?}");
        let shown = found[1].to_string();
        assert!(
            shown.ends_with(&format!(
                "part-000000.parquet: table syscalls, row group 1: {}",
                found[1].what
            )),
            "{shown}"
        );
    }

    /// A page index that does not decode is damage of the file as a
    /// whole (plans' scans read it), though every row group reads.
    #[test]
    fn a_page_index_that_does_not_decode_is_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t");
        let opts = SynthOptions {
            events: 50_000,
            ..Default::default()
        };
        synth(&dir, &opts).unwrap();
        let t = Trace::open(&dir).unwrap();
        let f = &t.table(Table::Syscalls).unwrap().files[0];
        let meta = f.footer.as_ref().unwrap().0.clone();
        let col = meta.row_group(0).column(0);
        let (at, len) = (col.column_index_offset(), col.column_index_length());
        let (Some(at), Some(len)) = (at, len) else {
            panic!("the file has no column index: {col:?}");
        };
        let mut bytes = std::fs::read(&f.path).unwrap();
        bytes[at as usize..(at + len as i64) as usize].fill(0xff);
        std::fs::write(&f.path, &bytes).unwrap();
        let found = verify_file(&t.store, &f.path, Table::Syscalls, None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].row_group, None);
        assert!(
            found[0]
                .what
                .starts_with("its page index does not decode ("),
            "{found:?}"
        );
    }
}
