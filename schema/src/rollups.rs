//! Per-file rollups of the syscalls table: each file's rows counted by
//! (pid, uid, execname, syscall, nr), and again by (pid, uid, execname)
//! and by (syscall, nr), with each group's first `ts` and first row,
//! kept in the file's own footer (key-value metadata, one key a
//! [`Grain`]: an Arrow IPC stream compressed whole with zstd, base64). A
//! plan whose probe keys, guards and values read only a grain's columns
//! (`c[pid(), execname()]++` over `syscall.*`) sums the groups instead of
//! scanning the rows: kilobytes of footer, which the analyzer reads
//! anyway to check a file, instead of the file's pages. In the footer,
//! not beside it, so that rotation, retention, snapshots, checksums and
//! object storage need nothing new.
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

    /// The footer key whose value is a file's rollup of this grain.
    pub fn metadata_key(self) -> &'static str {
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
    pub fn finish(self, rows: u64) -> Vec<(&'static str, String)> {
        if self.given_up || self.rows != rows || rows == 0 {
            return vec![];
        }
        let pays = |groups: usize| (groups as u64).saturating_mul(MIN_ROWS_PER_GROUP) <= rows;
        let finest = self.finest();
        let fine = pays(finest.num_rows());
        let mut out = vec![];
        if fine {
            out.extend(
                encode(&finest)
                    .ok()
                    .map(|v| (Grain::ProcessSyscall.metadata_key(), v)),
            );
        }
        // The coarser grains by the rule a reader adds groups up by.
        for grain in [Grain::Process, Grain::Syscall] {
            let Ok(groups) = coarsen(&finest, grain) else {
                continue;
            };
            let n = groups.num_rows();
            if pays(n) && (!fine || n < finest.num_rows()) {
                out.extend(encode(&groups).ok().map(|v| (grain.metadata_key(), v)));
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
/// context and its fresh memory per buffer were half a plan's time).
fn encode(batch: &RecordBatch) -> Result<String, arrow_schema::ArrowError> {
    let mut bytes = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema())?;
    w.write(batch)?;
    w.finish()?;
    drop(w);
    let z = zstd::bulk::compress(&bytes, 3)
        .map_err(|e| arrow_schema::ArrowError::ExternalError(Box::new(e)))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(z))
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

/// A footer value back as its rows, checked: the grain's schema, and
/// `rows` rows in all (the file's count, from the same footer).
pub fn decode(value: &str, grain: Grain, rows: u64) -> Result<RecordBatch, String> {
    let z = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| format!("rollup not base64: {e}"))?;
    // One allocation of the size the frame gives (a stream decoder grows
    // its output, and each growth is fresh memory).
    let size = zstd::zstd_safe::get_frame_content_size(&z).ok().flatten();
    let bytes = match size {
        Some(n) if n <= 1 << 30 => zstd::bulk::decompress(&z, n as usize),
        _ => zstd::stream::decode_all(&z[..]),
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

/// The grains whose rollups a footer's key-value metadata holds (not
/// decoded: whether they are there).
pub fn grains_in(kv: Option<&Vec<parquet::file::metadata::KeyValue>>) -> Vec<Grain> {
    Grain::ALL
        .into_iter()
        .filter(|g| kv.is_some_and(|kv| kv.iter().any(|kv| kv.key == g.metadata_key())))
        .collect()
}

/// A file's rollup of a grain from its footer's key-value metadata:
/// None if it has none, an error if it has one that is damaged.
pub fn from_footer(
    kv: Option<&Vec<parquet::file::metadata::KeyValue>>,
    grain: Grain,
    rows: u64,
) -> Option<Result<RecordBatch, String>> {
    let v = kv?
        .iter()
        .find(|kv| kv.key == grain.metadata_key())?
        .value
        .as_deref()?;
    Some(decode(v, grain, rows))
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
            .map(|(key, v)| {
                let g = *Grain::ALL.iter().find(|g| g.metadata_key() == key).unwrap();
                (g, rolled(&decode(&v, g, rows).unwrap()))
            })
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
            let (_, v) = written
                .iter()
                .find(|(k, _)| *k == g.metadata_key())
                .unwrap();
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
