//! Per-file rollups of the syscalls table: each file's rows counted by
//! (pid, uid, execname, syscall, nr), and again by (pid, uid, execname)
//! and by (syscall, nr), with each group's first `ts` and first row,
//! kept in the file itself: each grain an Arrow IPC stream compressed
//! whole with zstd, written after the file's last row group, where
//! Parquet readers skip it, its place (offset and length) under one
//! footer key a [`Grain`]. A plan whose probe keys, guards and values
//! read only a grain's columns (`c[pid(), execname()]++` over
//! `syscall.*`) sums the groups instead of scanning the rows: kilobytes
//! of the file instead of its pages. In the file, not beside it, so that
//! rotation, retention, snapshots, checksums and object storage need
//! nothing new; not in the footer's values, which they were until
//! session 38 ([`Grain::inline_key`], still read): every reader of a
//! footer then read and copied every grain (a 4M-row file's footer was
//! 7.7 MB, 8% of the file, parsed for each run over it whatever it read).
//!
//! Exact by construction: every row of the file is in one group, and a
//! group's key columns hold the values of all its rows, so any filter or
//! grouping over them (nothing else: not `ts`, not the arguments) picks
//! the same rows as over the file. Written only where it pays: at least
//! [`MIN_ROWS_PER_GROUP`] rows per group on average. Not by thread: a
//! server's threads multiply the groups (the shipped web recording: 4.3
//! rows a group with `tid`, 204 without), and scripts key by process far
//! more often; a plan that reads `tid` scans. By process alone as well
//! because scripts that key by process are the commonest and a process
//! makes many syscalls (300 groups a file against 6,305 in `retap
//! synth`'s 100k-row files, 163 against 2,339 in datasets/mixed); by
//! syscall alone because `syscall.*` over a recording is a filter on the
//! syscall's name, which the by-syscall groups of most files show every
//! row passes, so that the by-process groups answer.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow_schema::{Field, Schema, SchemaRef};
use base64::Engine;
use rustc_hash::FxHasher;

use crate::{Column, Table};

/// What a rollup's groups are keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grain {
    /// (pid, uid, execname, syscall, nr): the groups the rows are
    /// counted into; the others are these added up.
    ProcessSyscall,
    /// (pid, uid, execname).
    Process,
    /// (syscall, nr): also what says whether every row of a file is a
    /// syscall a probe point takes (`syscall.*` over a recording takes
    /// the syscalls stap's tapset names, not every one the kernel has).
    Syscall,
}

impl Grain {
    /// Coarsest first: the order in which a reader prefers them.
    pub const ALL: [Grain; 3] = [Grain::Syscall, Grain::Process, Grain::ProcessSyscall];

    /// What its groups are keyed by, for people.
    pub fn name(self) -> &'static str {
        match self {
            Grain::ProcessSyscall => "process and syscall",
            Grain::Process => "process",
            Grain::Syscall => "syscall",
        }
    }

    /// The footer key whose value is where in the file its rollup of
    /// this grain is ([`Place`]).
    pub fn metadata_key(self) -> &'static str {
        match self {
            Grain::ProcessSyscall => "retap.rollup.v2",
            Grain::Process => "retap.rollup.process.v2",
            Grain::Syscall => "retap.rollup.syscall.v2",
        }
    }

    /// The footer key whose value was the rollup itself, in base64, in
    /// files written before rollups moved out of the footer: read, never
    /// written.
    pub fn inline_key(self) -> &'static str {
        match self {
            Grain::ProcessSyscall => "retap.rollup.v1",
            Grain::Process => "retap.rollup.process.v1",
            Grain::Syscall => "retap.rollup.syscall.v1",
        }
    }

    /// The columns its groups are keyed by, as the table types them.
    pub fn key_columns(self) -> &'static [Column] {
        const ALL: [Column; 5] = [
            Column::Pid,
            Column::Uid,
            Column::Execname,
            Column::Syscall,
            Column::Nr,
        ];
        match self {
            Grain::ProcessSyscall => &ALL,
            Grain::Process => &ALL[..3],
            Grain::Syscall => &ALL[3..],
        }
    }

    /// A rollup's columns: `ts` (its group's first), the key columns,
    /// [`ROWS`], [`FIRST_ROW`].
    pub fn schema(self) -> SchemaRef {
        let table = Table::Syscalls.schema();
        let mut fields: Vec<Field> = [Column::Ts]
            .iter()
            .chain(self.key_columns())
            .map(|c| {
                table
                    .field_with_name(c.name())
                    .expect("rollup columns are syscalls columns")
                    .clone()
            })
            .collect();
        fields.push(Field::new(ROWS, arrow_schema::DataType::Int64, false));
        fields.push(Field::new(FIRST_ROW, arrow_schema::DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }
}

/// A group's row count (Int64). Its first row's time is the `ts` column.
pub const ROWS: &str = "rows";

/// The index in the file of a group's first row (Int64): which of
/// several groups first seen at one time came first, as the
/// interpreter, reading the file in order, meets them.
pub const FIRST_ROW: &str = "first_row";

/// Fewer rows per group than this on average and the file gets none:
/// the plan would read nearly as much as the rows' key columns.
pub const MIN_ROWS_PER_GROUP: u64 = 8;

/// Groups past which a file's rollup is given up while writing (memory).
const MAX_GROUPS: usize = 1 << 20;

/// Whether files of this table get rollups.
pub fn rolls_up(t: Table) -> bool {
    t == Table::Syscalls
}

type Fx = BuildHasherDefault<FxHasher>;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    pid: i32,
    uid: u32,
    execname: u32,
    syscall: u32,
    nr: i32,
}

/// A file's rollup as its rows are written.
#[derive(Default)]
pub struct Rollup {
    index: HashMap<Key, u32, Fx>,
    /// Each group, in first-seen order: key, rows, first ts, first row.
    groups: Vec<(Key, u64, i64, u64)>,
    names: Vec<String>,
    name_ids: HashMap<String, u32, Fx>,
    rows: u64,
    /// A batch it could not take (a column missing or of another type, a
    /// null key) or too many groups: no rollup for this file.
    given_up: bool,
}

fn dict_ids(
    batch: &RecordBatch,
    c: Column,
    names: &mut Vec<String>,
    name_ids: &mut HashMap<String, u32, Fx>,
) -> Option<Vec<u32>> {
    let a = batch
        .column_by_name(c.name())?
        .as_any()
        .downcast_ref::<DictionaryArray<Int32Type>>()?;
    let values = a.values().as_any().downcast_ref::<StringArray>()?;
    if a.null_count() > 0 || values.null_count() > 0 {
        return None;
    }
    let ids: Vec<u32> = (0..values.len())
        .map(|i| {
            let s = values.value(i);
            if let Some(&id) = name_ids.get(s) {
                return id;
            }
            names.push(s.to_string());
            name_ids.insert(s.to_string(), names.len() as u32 - 1);
            names.len() as u32 - 1
        })
        .collect();
    a.keys()
        .values()
        .iter()
        .map(|&k| ids.get(usize::try_from(k).ok()?).copied())
        .collect()
}

fn values<T: Array + 'static>(batch: &RecordBatch, c: Column) -> Option<&T> {
    let a = batch.column_by_name(c.name())?;
    if a.null_count() > 0 {
        return None;
    }
    a.as_any().downcast_ref::<T>()
}

impl Rollup {
    /// Counts a batch of the file's rows (its columns those of the table).
    pub fn add(&mut self, batch: &RecordBatch) {
        if self.given_up || batch.num_rows() == 0 {
            return;
        }
        if self.try_add(batch).is_none() {
            self.give_up();
        }
    }

    fn give_up(&mut self) {
        *self = Rollup {
            given_up: true,
            ..Default::default()
        };
    }

    fn try_add(&mut self, batch: &RecordBatch) -> Option<()> {
        let ts = values::<Int64Array>(batch, Column::Ts)?.values();
        let pid = values::<Int32Array>(batch, Column::Pid)?.values();
        let uid = values::<UInt32Array>(batch, Column::Uid)?.values();
        let nr = values::<Int32Array>(batch, Column::Nr)?.values();
        let execname = dict_ids(batch, Column::Execname, &mut self.names, &mut self.name_ids)?;
        let syscall = dict_ids(batch, Column::Syscall, &mut self.names, &mut self.name_ids)?;
        for r in 0..batch.num_rows() {
            let key = Key {
                pid: pid[r],
                uid: uid[r],
                execname: execname[r],
                syscall: syscall[r],
                nr: nr[r],
            };
            let next = self.groups.len() as u32;
            let g = *self.index.entry(key).or_insert(next);
            if g == next {
                if self.groups.len() == MAX_GROUPS {
                    return None;
                }
                // (Rows come in file order, sorted by ts: a group's first
                // row seen is its first.)
                self.groups.push((key, 0, ts[r], self.rows + r as u64));
            }
            let e = &mut self.groups[g as usize];
            e.1 += 1;
            e.2 = e.2.min(ts[r]);
        }
        self.rows += batch.num_rows() as u64;
        Some(())
    }

    /// The footer's rollups for a file of `rows` rows, as (key, value):
    /// none unless every one of its rows was counted; each grain with
    /// few enough groups; the process grain only where it has fewer
    /// groups than the syscall grain written beside it.
    pub fn finish(self, rows: u64) -> Vec<(Grain, Vec<u8>)> {
        if self.given_up || self.rows != rows || rows == 0 {
            return vec![];
        }
        let pays = |groups: usize| (groups as u64).saturating_mul(MIN_ROWS_PER_GROUP) <= rows;
        let finest = self.finest();
        let fine = pays(finest.num_rows());
        let mut out = vec![];
        if fine {
            out.extend(encode(&finest).ok().map(|v| (Grain::ProcessSyscall, v)));
        }
        // The coarser grains by the rule a reader adds groups up by.
        for grain in [Grain::Process, Grain::Syscall] {
            let Ok(groups) = coarsen(&finest, grain) else {
                continue;
            };
            let n = groups.num_rows();
            if pays(n) && (!fine || n < finest.num_rows()) {
                out.extend(encode(&groups).ok().map(|v| (grain, v)));
            }
        }
        out
    }

    /// The finest grain's groups as a rollup batch.
    fn finest(&self) -> RecordBatch {
        let (grain, g) = (Grain::ProcessSyscall, &self.groups);
        let dict = |f: fn(&Key) -> u32| -> ArrayRef {
            let keys = Int32Array::from_iter_values(g.iter().map(|(k, ..)| f(k) as i32));
            let names = Arc::new(StringArray::from_iter_values(&self.names));
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, names).expect("ids are names"))
        };
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
            g.iter().map(|e| e.2),
        ))];
        for c in grain.key_columns() {
            columns.push(match c {
                Column::Pid => Arc::new(Int32Array::from_iter_values(g.iter().map(|e| e.0.pid))),
                Column::Uid => Arc::new(UInt32Array::from_iter_values(g.iter().map(|e| e.0.uid))),
                Column::Execname => dict(|k| k.execname),
                Column::Syscall => dict(|k| k.syscall),
                _ => Arc::new(Int32Array::from_iter_values(g.iter().map(|e| e.0.nr))),
            });
        }
        columns.push(Arc::new(Int64Array::from_iter_values(
            g.iter().map(|e| e.1 as i64),
        )));
        columns.push(Arc::new(Int64Array::from_iter_values(
            g.iter().map(|e| e.3 as i64),
        )));
        RecordBatch::try_new(grain.schema(), columns).expect("the rollup schema")
    }
}

/// The stream is compressed whole, one zstd frame, not buffer by buffer
/// (Arrow IPC's own compression): a reader then makes one decompression
/// context a file, not one a buffer (300 files' rollups: a decoding
/// context and its fresh memory per buffer were half a plan's time). The
/// frame carries its content's checksum: the file's page checksums and
/// its tail's do not cover these bytes, and a reader checks them.
fn encode(batch: &RecordBatch) -> Result<Vec<u8>, arrow_schema::ArrowError> {
    let mut bytes = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    drop(w);
    let external = |e: std::io::Error| arrow_schema::ArrowError::ExternalError(Box::new(e));
    let mut z = zstd::bulk::Compressor::new(3).map_err(external)?;
    z.include_checksum(true).map_err(external)?;
    z.compress(&bytes).map_err(external)
}

/// Where in its file a rollup is: the value of its grain's footer key,
/// "OFFSET LENGTH" in bytes, decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub offset: u64,
    pub length: u64,
}

impl Place {
    pub fn parse(v: &str) -> Result<Place, String> {
        let mut it = v.split(' ').map(str::parse::<u64>);
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(offset)), Some(Ok(length)), None) => Ok(Place { offset, length }),
            _ => Err(format!("rollup place {v:?} is not \"OFFSET LENGTH\"")),
        }
    }

    /// Its bytes' range in the file.
    pub fn range(self) -> std::ops::Range<u64> {
        self.offset..self.offset.saturating_add(self.length)
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.offset, self.length)
    }
}

/// Writes rollups (as [`Rollup::finish`] makes them) into a file after
/// its last row group, and their places under their footer keys. Call
/// with no rows buffered (after `flush`), before `close`.
pub fn write_into<W: std::io::Write + Send>(
    w: &mut parquet::arrow::ArrowWriter<W>,
    rollups: Vec<(Grain, Vec<u8>)>,
) -> std::io::Result<()> {
    for (grain, bytes) in rollups {
        let place = Place {
            offset: w.bytes_written() as u64,
            length: bytes.len() as u64,
        };
        w.write_all(&bytes)?;
        w.append_key_value_metadata(parquet::file::metadata::KeyValue::new(
            grain.metadata_key().into(),
            place.to_string(),
        ));
    }
    Ok(())
}

/// Groups of a finer grain (`groups`, with that grain's columns: a
/// decoded rollup, some of its groups perhaps left out) added up by a
/// coarser grain's keys, in the order they are first met: what the
/// writer does for the coarser grains, for a reader that kept only the
/// groups some filter passes.
pub fn coarsen(groups: &RecordBatch, to: Grain) -> Result<RecordBatch, String> {
    let col = |name: &str| {
        groups
            .column_by_name(name)
            .ok_or_else(|| format!("rollup groups without {name}"))
    };
    let ints = |name: &str| -> Result<Vec<i64>, String> {
        let a = col(name)?;
        if let Some(d) = a.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            return Ok(d.keys().values().iter().map(|&k| k as i64).collect());
        }
        if let Some(v) = a.as_any().downcast_ref::<Int32Array>() {
            return Ok(v.values().iter().map(|&k| k as i64).collect());
        }
        if let Some(v) = a.as_any().downcast_ref::<UInt32Array>() {
            return Ok(v.values().iter().map(|&k| k as i64).collect());
        }
        if let Some(v) = a.as_any().downcast_ref::<Int64Array>() {
            return Ok(v.values().to_vec());
        }
        Err(format!("rollup column {name} of type {}", a.data_type()))
    };
    let keys: Vec<Vec<i64>> = to
        .key_columns()
        .iter()
        .map(|c| ints(c.name()))
        .collect::<Result<_, _>>()?;
    let (ts, rows, first) = (ints(Column::Ts.name())?, ints(ROWS)?, ints(FIRST_ROW)?);
    let mut index: HashMap<[i64; 5], usize, Fx> = HashMap::default();
    // Each coarse group: a row of the input holding its keys, rows, ts,
    // first row.
    let mut out: Vec<(usize, i64, i64, i64)> = vec![];
    for r in 0..groups.num_rows() {
        let mut key = [0; 5];
        for (k, column) in key.iter_mut().zip(&keys) {
            *k = column[r];
        }
        let i = *index.entry(key).or_insert_with(|| {
            out.push((r, 0, ts[r], first[r]));
            out.len() - 1
        });
        let e = &mut out[i];
        e.1 = e.1.wrapping_add(rows[r]);
        e.2 = e.2.min(ts[r]);
        e.3 = e.3.min(first[r]);
    }
    let take = UInt32Array::from_iter_values(out.iter().map(|e| e.0 as u32));
    let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
        out.iter().map(|e| e.2),
    ))];
    for c in to.key_columns() {
        let a = arrow_select::take::take(col(c.name())?.as_ref(), &take, None)
            .map_err(|e| e.to_string())?;
        columns.push(owned_names(a)?);
    }
    columns.push(Arc::new(Int64Array::from_iter_values(
        out.iter().map(|e| e.1),
    )));
    columns.push(Arc::new(Int64Array::from_iter_values(
        out.iter().map(|e| e.3),
    )));
    RecordBatch::try_new(to.schema(), columns).map_err(|e| e.to_string())
}

/// A dictionary's names copied out of the buffer they were decoded into
/// (a rollup's whole decompressed stream), so that the few groups added
/// up keep only what they hold, and the stream's memory goes back to be
/// decompressed into again: 507 files' finest groups kept alive by their
/// names were most of a plan's time, spent zeroing fresh pages.
fn owned_names(a: ArrayRef) -> Result<ArrayRef, String> {
    let Some(d) = a.as_any().downcast_ref::<DictionaryArray<Int32Type>>() else {
        return Ok(a);
    };
    let names = d
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("rollup names not strings")?;
    let names: StringArray = names.iter().collect();
    DictionaryArray::try_new(d.keys().clone(), Arc::new(names))
        .map(|d| Arc::new(d) as ArrayRef)
        .map_err(|e| e.to_string())
}

/// Whether bytes begin a zstd frame whose header says it ends with its
/// content's checksum (RFC 8878 3.1.1.1.1: the descriptor's bit 2),
/// which decompressing then checks: a rollup's only protection where
/// it lies outside the file's pages and tail.
fn checksummed(z: &[u8]) -> bool {
    z.len() > 4 && z[..4] == [0x28, 0xb5, 0x2f, 0xfd] && z[4] & 0b100 != 0
}

/// A rollup's bytes back as its rows, checked: the frame's checksum,
/// the grain's schema, and `rows` rows in all (the file's count, from
/// its footer).
pub fn decode(z: &[u8], grain: Grain, rows: u64) -> Result<RecordBatch, String> {
    // A decompression context kept by each thread: one made per rollup
    // (its tables allocated and zeroed) was 3% of a run answering 507
    // files' names from their rollups.
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    // One allocation of the size the frame gives (a stream decoder grows
    // its output, and each growth is fresh memory).
    let size = zstd::zstd_safe::get_frame_content_size(z).ok().flatten();
    let bytes = match size {
        Some(n) if n <= 1 << 30 => CONTEXT.with_borrow_mut(|d| {
            let d = match d {
                Some(d) => d,
                None => d.insert(zstd::bulk::Decompressor::new()?),
            };
            d.decompress(z, n as usize)
        }),
        _ => zstd::stream::decode_all(z),
    }
    .map_err(|e| format!("rollup not zstd: {e}"))?;
    // Columns read in place from the decompressed bytes, not copied out.
    let mut buf = arrow_buffer::Buffer::from_vec(bytes);
    let mut decoder = arrow_ipc::reader::StreamDecoder::new();
    let unreadable = |e: arrow_schema::ArrowError| format!("rollup unreadable: {e}");
    let mut batches = vec![];
    while !buf.is_empty() {
        batches.extend(decoder.decode(&mut buf).map_err(unreadable)?);
    }
    decoder.finish().map_err(unreadable)?;
    let [batch] = <[RecordBatch; 1]>::try_from(batches)
        .map_err(|b| format!("rollup of {} batches, not one", b.len()))?;
    if batch.schema() != grain.schema() {
        return Err("rollup columns are not the format's".into());
    }
    let counts = batch
        .column_by_name(ROWS)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or("rollup without row counts")?;
    let total: i64 = counts.values().iter().sum();
    if counts.null_count() > 0 || total != rows as i64 {
        return Err(format!("rollup counts {total} rows, the file has {rows}"));
    }
    Ok(batch)
}

/// The grains whose rollups a footer's key-value metadata says its
/// file holds (not read: whether they are there).
pub fn grains_in(kv: Option<&Vec<parquet::file::metadata::KeyValue>>) -> Vec<Grain> {
    let has = |key: &str| kv.is_some_and(|kv| kv.iter().any(|kv| kv.key == key));
    Grain::ALL
        .into_iter()
        .filter(|g| has(g.metadata_key()) || has(g.inline_key()))
        .collect()
}

/// A file's rollup of a grain, from where its footer's key-value
/// metadata says it is (`read` fetches a range of the file's bytes),
/// or from the footer itself in a file written before they moved out:
/// None if it has none, an error if it has one that is damaged or
/// cannot be read.
pub fn from_footer(
    kv: Option<&Vec<parquet::file::metadata::KeyValue>>,
    grain: Grain,
    rows: u64,
    read: impl FnOnce(std::ops::Range<u64>) -> std::io::Result<Vec<u8>>,
) -> Option<Result<RecordBatch, String>> {
    let value = |key: &str| {
        kv?.iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_deref().unwrap_or(""))
    };
    if let Some(v) = value(grain.metadata_key()) {
        return Some(Place::parse(v).and_then(|p| {
            if p.length > 1 << 30 {
                return Err(format!("rollup of {} bytes", p.length));
            }
            let bytes = read(p.range()).map_err(|e| format!("rollup at {p} not read: {e}"))?;
            if !checksummed(&bytes) {
                return Err(format!("rollup at {p} is not a zstd frame with a checksum"));
            }
            decode(&bytes, grain, rows)
        }));
    }
    let v = value(grain.inline_key())?;
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| format!("rollup not base64: {e}"))
            .and_then(|z| decode(&z, grain, rows)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(v: &[&str]) -> ArrayRef {
        Arc::new(v.iter().copied().collect::<DictionaryArray<Int32Type>>())
    }

    /// Syscalls rows: (ts, pid, execname, syscall), tid = pid, uid 0, nr
    /// by name.
    fn rows(r: &[(i64, i32, &str, &str)]) -> RecordBatch {
        let schema = Table::Syscalls.schema();
        let n = r.len();
        let cols: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                match f.name().as_str() {
                    "ts" => Arc::new(Int64Array::from_iter_values(r.iter().map(|x| x.0))),
                    "pid" | "tid" => Arc::new(Int32Array::from_iter_values(r.iter().map(|x| x.1))),
                    "uid" => Arc::new(UInt32Array::from(vec![0; n])),
                    "cpu" => Arc::new(Int32Array::from(vec![0; n])),
                    "execname" => dict(&r.iter().map(|x| x.2).collect::<Vec<_>>()),
                    "syscall" => dict(&r.iter().map(|x| x.3).collect::<Vec<_>>()),
                    "nr" => Arc::new(Int32Array::from_iter_values(
                        r.iter().map(|x| x.3.len() as i32),
                    )),
                    // The arguments (never null) and the rest.
                    _ if !f.is_nullable() => Arc::new(Int64Array::from(vec![0; n])),
                    _ => arrow_array::new_null_array(f.data_type(), n),
                }
            })
            .collect();
        RecordBatch::try_new(schema, cols).unwrap()
    }

    /// A rollup's groups as "ts pid execname [syscall] rows @first_row".
    fn rolled(b: &RecordBatch) -> Vec<String> {
        let s = |c: &str| match b.column_by_name(c) {
            Some(a) => arrow_cast_str(a).into_iter().map(|v| v + " ").collect(),
            None => vec![String::new(); b.num_rows()],
        };
        let (ts, pid, exe, sys) = (s("ts"), s("pid"), s("execname"), s("syscall"));
        let (n, first) = (s(ROWS), s(FIRST_ROW));
        (0..b.num_rows())
            .map(|i| {
                let (t, p, e, c) = (&ts[i], &pid[i], &exe[i], &sys[i]);
                format!("{t}{p}{e}{c}{}@{}", n[i], first[i])
                    .trim()
                    .to_string()
            })
            .collect()
    }

    /// A finished rollup's grains, decoded, each as [`rolled`] gives it.
    fn grains(r: Rollup, rows: u64) -> Vec<(Grain, Vec<String>)> {
        r.finish(rows)
            .into_iter()
            .map(|(g, v)| (g, rolled(&decode(&v, g, rows).unwrap())))
            .collect()
    }

    fn arrow_cast_str(a: &ArrayRef) -> Vec<String> {
        if let Some(d) = a.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            let v = d.values().as_any().downcast_ref::<StringArray>().unwrap();
            return d
                .keys()
                .values()
                .iter()
                .map(|&k| v.value(k as usize).to_string())
                .collect();
        }
        if let Some(x) = a.as_any().downcast_ref::<Int64Array>() {
            return x.values().iter().map(|v| v.to_string()).collect();
        }
        let x = a.as_any().downcast_ref::<Int32Array>().unwrap();
        x.values().iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn groups_count_every_row_with_its_first_time_across_batches() {
        let mut r = Rollup::default();
        let a = [
            (10, 1, "sh", "read"),
            (11, 1, "sh", "read"),
            (12, 2, "cat", "read"),
        ];
        let b = [
            (13, 1, "sh", "write"),
            (14, 2, "cat", "read"),
            (15, 1, "sh", "read"),
        ];
        let (ra, rb) = (rows(&a), rows(&b));
        r.add(&ra);
        r.add(&rb);
        // 6 rows in 3 groups: 2 a group, under MIN_ROWS_PER_GROUP.
        let mut small = Rollup::default();
        small.add(&ra);
        small.add(&rb);
        assert!(small.finish(6).is_empty());
        // Padded to 8 rows a group by repeating the batches.
        for _ in 0..11 {
            r.add(&ra);
            r.add(&rb);
        }
        let written = r.finish(72);
        let value = |g: Grain| {
            let (_, v) = written.iter().find(|(k, _)| *k == g).unwrap();
            v
        };
        let v = value(Grain::ProcessSyscall);
        assert_eq!(
            rolled(&decode(v, Grain::ProcessSyscall, 72).unwrap()),
            [
                "10 1 sh read 36 @0",
                "12 2 cat read 24 @2",
                "13 1 sh write 12 @3"
            ]
        );
        assert_eq!(
            rolled(&decode(value(Grain::Process), Grain::Process, 72).unwrap()),
            ["10 1 sh 48 @0", "12 2 cat 24 @2"]
        );
        assert_eq!(
            rolled(&decode(value(Grain::Syscall), Grain::Syscall, 72).unwrap()),
            ["10 read 60 @0", "13 write 12 @3"]
        );
        // The file's row count must agree, the grain must be the one
        // asked for, and damage is an error.
        assert!(decode(v, Grain::ProcessSyscall, 71)
            .unwrap_err()
            .contains("72 rows"));
        assert!(decode(v, Grain::Process, 72).is_err());
        // A reader adding the finest groups up gets what the writer did.
        let finest = decode(v, Grain::ProcessSyscall, 72).unwrap();
        for g in [Grain::Process, Grain::Syscall] {
            assert_eq!(
                rolled(&coarsen(&finest, g).unwrap()),
                rolled(&decode(value(g), g, 72).unwrap())
            );
        }
        // And of some of them, theirs alone.
        let cat = coarsen(&finest.slice(1, 2), Grain::Process).unwrap();
        assert_eq!(rolled(&cat), ["12 2 cat 24 @2", "13 1 sh 12 @3"]);
        assert!(decode(&v[4..], Grain::ProcessSyscall, 72).is_err());
        // One byte changed inside the frame: its checksum says so.
        let mut bent = v.clone();
        let mid = bent.len() / 2;
        bent[mid] ^= 0x10;
        assert!(decode(&bent, Grain::ProcessSyscall, 72).is_err());
    }

    /// Written into a file after its rows, a rollup is read back from
    /// the place its footer key gives; Parquet readers read the rows as
    /// they were; a file of the earlier format, whose footer held the
    /// rollup in base64, is read too; a place past the bytes read is an
    /// error naming it.
    #[test]
    fn rollups_are_read_from_where_the_footer_says() {
        use parquet::file::metadata::KeyValue;
        let calls = ["read", "write"];
        let batch = rows(
            &(0..64)
                .map(|i| (i, 1, "sh", calls[i as usize % 2]))
                .collect::<Vec<_>>(),
        );
        let mut r = Rollup::default();
        r.add(&batch);
        let written = r.finish(64);
        let mut file = vec![];
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.flush().unwrap();
        write_into(&mut w, written.clone()).unwrap();
        w.close().unwrap();
        let file = bytes::Bytes::from(file);
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file.clone())
                .unwrap();
        let kv = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned();
        let back: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(back, [batch]);
        let read = |r: std::ops::Range<u64>| {
            file.get(r.start as usize..r.end as usize)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| std::io::Error::other("past the end"))
        };
        assert_eq!(
            grains_in(kv.as_ref()),
            [Grain::Process, Grain::ProcessSyscall]
        );
        let got = from_footer(kv.as_ref(), Grain::Process, 64, read)
            .unwrap()
            .unwrap();
        assert_eq!(rolled(&got), ["0 1 sh 64 @0"]);
        assert!(from_footer(kv.as_ref(), Grain::Syscall, 64, read).is_none());
        let inline = vec![KeyValue::new(
            Grain::Process.inline_key().into(),
            base64::engine::general_purpose::STANDARD.encode(
                &written
                    .iter()
                    .find(|(g, _)| *g == Grain::Process)
                    .unwrap()
                    .1,
            ),
        )];
        let old = from_footer(Some(&inline), Grain::Process, 64, |_| unreachable!());
        assert_eq!(rolled(&old.unwrap().unwrap()), ["0 1 sh 64 @0"]);
        assert_eq!(grains_in(Some(&inline)), [Grain::Process]);
        let far = vec![KeyValue::new(
            Grain::Process.metadata_key().into(),
            format!("{} 10", file.len()),
        )];
        let e = from_footer(Some(&far), Grain::Process, 64, read)
            .unwrap()
            .unwrap_err();
        assert!(
            e.contains(&format!("rollup at {} 10 not read", file.len())),
            "{e}"
        );
        // A frame without its checksum is refused.
        let plain =
            zstd::bulk::compress(&zstd::bulk::decompress(&written[0].1, 1 << 20).unwrap(), 3)
                .unwrap();
        let mut file2 = file.to_vec();
        file2.extend_from_slice(&plain);
        let at = vec![KeyValue::new(
            written[0].0.metadata_key().into(),
            format!("{} {}", file.len(), plain.len()),
        )];
        let read2 = |r: std::ops::Range<u64>| Ok(file2[r.start as usize..r.end as usize].to_vec());
        let e = from_footer(Some(&at), written[0].0, 64, read2)
            .unwrap()
            .unwrap_err();
        assert!(e.contains("not a zstd frame with a checksum"), "{e}");
        let odd = vec![KeyValue::new(
            Grain::Process.metadata_key().into(),
            "12".to_string(),
        )];
        let e = from_footer(Some(&odd), Grain::Process, 64, read)
            .unwrap()
            .unwrap_err();
        assert!(e.contains("not \"OFFSET LENGTH\""), "{e}");
    }

    #[test]
    fn each_grain_is_written_where_it_pays() {
        // One process, 16 syscalls once each: too many groups by
        // syscall, with or without the process; one by process.
        const NAMES: [&str; 16] = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p",
        ];
        let spread: Vec<_> = (0..16).map(|i| (i, 7, "sh", NAMES[i as usize])).collect();
        let mut r = Rollup::default();
        r.add(&rows(&spread));
        assert_eq!(
            grains(r, 16),
            [(Grain::Process, vec!["0 7 sh 16 @0".to_string()])]
        );
        // A process a syscall: the coarser grains would be the same
        // groups again, so only the finest.
        let one: Vec<_> = (0..16)
            .map(|i| (i, (i % 2) as i32, "sh", NAMES[(i % 2) as usize]))
            .collect();
        let mut r = Rollup::default();
        r.add(&rows(&one));
        let g = grains(r, 16);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].0, Grain::ProcessSyscall);
    }

    #[test]
    fn rows_it_did_not_see_mean_no_rollup() {
        let mut r = Rollup::default();
        let a: Vec<_> = (0..64).map(|i| (i, 1, "sh", "read")).collect();
        r.add(&rows(&a));
        assert!(r.finish(65).is_empty());
        let mut bad = Rollup::default();
        bad.add(&rows(&a));
        bad.add(&rows(&a).project(&[0]).unwrap());
        assert!(
            bad.finish(128).is_empty(),
            "a batch without its key columns"
        );
    }
}
