//! Replaying a trace: each Parquet file of a needed table is read with only
//! the columns the script uses, one batch at a time, and rows of all files
//! are merged in timestamp order (files of one table overlap in time: late
//! rows have files of their own). Return-side firings (`.return`,
//! `ioblock.end`) happen at `ts + dur_ns` and wait in a heap until every
//! file has moved past that time.

use std::path::PathBuf;
use std::rc::Rc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Int32Array, Int64Array, ListArray,
    StringArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Int32Type};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowFilter,
};
use parquet::arrow::ProjectionMask;
use retap_schema::{Column, Table};

use crate::store::Store;
use crate::trace::DataFile;

use super::error::ReadError;
use super::value::Interner;

pub enum ColData {
    I64(Int64Array),
    I32(Int32Array),
    U32(UInt32Array),
    U64(UInt64Array),
    U16(UInt16Array),
    Bool(BooleanArray),
    Str(StringArray),
    /// Dictionary strings, values converted once per batch so a row's
    /// string is a reference-count bump.
    Dict {
        keys: Int32Array,
        values: Vec<Rc<str>>,
    },
    List(ListArray),
    Bin(BinaryArray),
}

impl ColData {
    #[inline]
    fn int(&self, row: usize) -> Option<i64> {
        match self {
            ColData::I64(a) => a.is_valid(row).then(|| a.value(row)),
            ColData::I32(a) => a.is_valid(row).then(|| a.value(row) as i64),
            ColData::U32(a) => a.is_valid(row).then(|| a.value(row) as i64),
            ColData::U64(a) => a.is_valid(row).then(|| a.value(row) as i64),
            ColData::U16(a) => a.is_valid(row).then(|| a.value(row) as i64),
            ColData::Bool(a) => a.is_valid(row).then(|| a.value(row) as i64),
            _ => None,
        }
    }

    #[inline]
    fn string(&self, row: usize) -> Option<Rc<str>> {
        match self {
            ColData::Dict { keys, values } => {
                if keys.is_valid(row) {
                    values.get(keys.value(row) as usize).cloned()
                } else {
                    None
                }
            }
            ColData::Str(a) => a.is_valid(row).then(|| Rc::from(a.value(row))),
            _ => None,
        }
    }
}

/// One decoded batch of one table.
pub struct Batch {
    pub table: Table,
    pub rows: usize,
    /// Which trace of the run's its rows are (an index into
    /// `Trace::members`; 0 for a single trace).
    pub member: u32,
    cols: Vec<Option<ColData>>,
    /// A tracepoint table's own fields, by index in its format.
    fields: Vec<Option<ColData>>,
}

impl Batch {
    pub(crate) fn from_record_batch(
        table: Table,
        rb: &arrow::record_batch::RecordBatch,
        interner: &mut Interner,
    ) -> Result<Batch, String> {
        let mut cols: Vec<Option<ColData>> = (0..Column::COUNT).map(|_| None).collect();
        let format = table.tracepoint();
        let mut fields: Vec<Option<ColData>> = (0..format.map_or(0, |f| f.fields.len()))
            .map(|_| None)
            .collect();
        for (field, array) in rb.schema().fields().iter().zip(rb.columns()) {
            // A tracepoint's field may be named like a column of another
            // table (block's `dev`): its own field first.
            let slot = match format
                .and_then(|f| f.fields.iter().position(|x| x.column == *field.name()))
            {
                Some(i) => &mut fields[i],
                None => match Column::from_name(field.name()) {
                    Some(col) => &mut cols[col as usize],
                    None => continue,
                },
            };
            *slot = Some(
                convert(array, interner).map_err(|e| format!("column {}: {e}", field.name()))?,
            );
        }
        Ok(Batch {
            table,
            rows: rb.num_rows(),
            member: 0,
            cols,
            fields,
        })
    }

    /// Moves the rows' `ts` by `ns`: a trace of a set onto the set's
    /// common clock (see `TraceSet::merged`).
    fn shift_ts(&mut self, ns: i64) {
        if let Some(Some(ColData::I64(a))) = self.cols.get_mut(Column::Ts as usize) {
            *a = arrow::compute::kernels::arity::unary(a, |t: i64| t + ns);
        }
    }

    /// A tracepoint field (by index in its format) at `row`, as an integer.
    #[inline]
    pub fn field_int(&self, i: usize, row: usize) -> Option<i64> {
        self.fields.get(i)?.as_ref()?.int(row)
    }

    /// A tracepoint field at `row`, as a string.
    #[inline]
    pub fn field_string(&self, i: usize, row: usize) -> Option<Rc<str>> {
        self.fields.get(i)?.as_ref()?.string(row)
    }

    pub fn has(&self, c: Column) -> bool {
        self.cols[c as usize].is_some()
    }

    /// An integer column at `row`; None for null or absent.
    #[inline]
    pub fn int(&self, c: Column, row: usize) -> Option<i64> {
        self.cols[c as usize].as_ref()?.int(row)
    }

    #[inline]
    pub fn string(&self, c: Column, row: usize) -> Option<Rc<str>> {
        self.cols[c as usize].as_ref()?.string(row)
    }

    /// For dictionary columns: the value index (filters test these).
    #[inline]
    pub fn dict_key(&self, c: Column, row: usize) -> Option<usize> {
        match self.cols[c as usize].as_ref()? {
            ColData::Dict { keys, .. } => keys.is_valid(row).then(|| keys.value(row) as usize),
            _ => None,
        }
    }

    pub fn dict_values(&self, c: Column) -> Option<&[Rc<str>]> {
        match self.cols[c as usize].as_ref()? {
            ColData::Dict { values, .. } => Some(values),
            _ => None,
        }
    }

    /// A binary column at `row`; None for null or absent.
    #[inline]
    pub fn bytes(&self, c: Column, row: usize) -> Option<&[u8]> {
        match self.cols[c as usize].as_ref()? {
            ColData::Bin(a) => a.is_valid(row).then(|| a.value(row)),
            _ => None,
        }
    }

    pub fn addresses(&self, c: Column, row: usize) -> Vec<u64> {
        match self.cols[c as usize].as_ref() {
            Some(ColData::List(l)) if l.is_valid(row) => {
                let v = l.value(row);
                v.as_any()
                    .downcast_ref::<UInt64Array>()
                    .map(|a| a.values().to_vec())
                    .unwrap_or_default()
            }
            _ => vec![],
        }
    }
}

fn convert(a: &ArrayRef, interner: &mut Interner) -> Result<ColData, String> {
    let any = a.as_any();
    Ok(match a.data_type() {
        DataType::Int64 => ColData::I64(any.downcast_ref::<Int64Array>().ok_or("type")?.clone()),
        DataType::Int32 => ColData::I32(any.downcast_ref::<Int32Array>().ok_or("type")?.clone()),
        DataType::UInt32 => ColData::U32(any.downcast_ref::<UInt32Array>().ok_or("type")?.clone()),
        DataType::UInt64 => ColData::U64(any.downcast_ref::<UInt64Array>().ok_or("type")?.clone()),
        DataType::UInt16 => ColData::U16(any.downcast_ref::<UInt16Array>().ok_or("type")?.clone()),
        DataType::Boolean => {
            ColData::Bool(any.downcast_ref::<BooleanArray>().ok_or("type")?.clone())
        }
        DataType::Utf8 => ColData::Str(any.downcast_ref::<StringArray>().ok_or("type")?.clone()),
        DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
            let d = any
                .downcast_ref::<DictionaryArray<Int32Type>>()
                .ok_or("dictionary type")?;
            let values = d
                .values()
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or("dictionary values")?;
            ColData::Dict {
                keys: d.keys().clone(),
                values: (0..values.len())
                    .map(|i| interner.get(values.value(i)))
                    .collect(),
            }
        }
        DataType::List(_) => ColData::List(any.downcast_ref::<ListArray>().ok_or("type")?.clone()),
        DataType::Binary => ColData::Bin(any.downcast_ref::<BinaryArray>().ok_or("type")?.clone()),
        // Tracepoint fields of other widths.
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => {
            let wide = arrow::compute::cast(a, &DataType::Int64).map_err(|e| e.to_string())?;
            ColData::I64(
                wide.as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or("type")?
                    .clone(),
            )
        }
        other => return Err(format!("unexpected type {other}")),
    })
}

/// Reads one Parquet file batch by batch.
pub struct FileCursor {
    pub table: Table,
    pub path: PathBuf,
    /// The file's trace in the run and its shift onto the run's clock.
    member: u32,
    ts_shift: i64,
    reader: ParquetRecordBatchReader,
    interner: Rc<std::cell::RefCell<Interner>>,
    pub batch: Option<Rc<Batch>>,
    pub row: usize,
}

/// Rows a cursor decodes at a time when `files` cursors are open at once:
/// enough to amortise decoding (16k with a few files), and down to 1k with
/// thousands, so that all of them hold about two million rows at most.
pub fn batch_rows(files: usize) -> usize {
    (2 * 1024 * 1024 / files.max(1)).clamp(1024, 16 * 1024)
}

impl FileCursor {
    /// `only`: a dictionary column and the values every probe on the table
    /// takes from it, pushed into the scan as a row filter so the other
    /// columns of other rows are never decoded.
    pub fn open(
        table: Table,
        store: &Store,
        file: &DataFile,
        (columns, fields): (&[Column], &[&str]),
        interner: Rc<std::cell::RefCell<Interner>>,
        only: Option<(&str, &std::collections::HashSet<String>)>,
        batch_rows: usize,
    ) -> Result<FileCursor, ReadError> {
        let path = file.path.clone();
        let meta = match &file.footer {
            // The footer the trace's check read: not read again.
            Some((m, _)) => ArrowReaderMetadata::try_new(m.clone(), Default::default())
                .map_err(|e| ReadError::new(&path, e))?,
            None => {
                let f = store
                    .open(&path, file.bytes, None, None)
                    .map_err(|e| ReadError::new(&path, e))?;
                ArrowReaderMetadata::load(&f, Default::default())
                    .map_err(|e| ReadError::new(&path, e))?
            }
        };
        let schema_ptr = meta.metadata().file_metadata().schema_descr_ptr();
        let schema = schema_ptr.as_ref();
        let mut idx = vec![];
        for (i, c) in schema.columns().iter().enumerate() {
            // Leaf paths: list columns are "kstack.list.item".
            let top = c.path().parts()[0].as_str();
            if columns.iter().any(|col| col.name() == top)
                || fields.contains(&top)
                || only.is_some_and(|(o, _)| o == top)
            {
                idx.push(i);
            }
        }
        let f = store
            .open(&path, file.bytes, Some((meta.metadata(), &idx)), None)
            .map_err(|e| ReadError::new(&path, e))?;
        let b = ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta.clone());
        let idx: Vec<usize> = idx
            .into_iter()
            .filter(|&i| {
                let top = schema.column(i).path().parts()[0].clone();
                columns.iter().any(|col| col.name() == top) || fields.contains(&top.as_str())
            })
            .collect();
        let mask = ProjectionMask::leaves(schema, idx);
        let mut b = b.with_projection(mask).with_batch_size(batch_rows);
        if let Some((column, names)) = only {
            let leaf = schema
                .columns()
                .iter()
                .position(|c| c.path().parts()[0] == column)
                .ok_or_else(|| ReadError::new(&path, format!("no {column} column")))?;
            let names = names.clone();
            let pred = ArrowPredicateFn::new(ProjectionMask::leaves(schema, [leaf]), move |rb| {
                let d = rb
                    .column(0)
                    .as_any()
                    .downcast_ref::<DictionaryArray<Int32Type>>()
                    .ok_or_else(|| {
                        arrow::error::ArrowError::CastError(
                            "the filter column is not a dictionary".into(),
                        )
                    })?;
                let values = d
                    .values()
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| {
                        arrow::error::ArrowError::CastError("dictionary values".into())
                    })?;
                let keep: Vec<bool> = (0..values.len())
                    .map(|i| names.contains(values.value(i)))
                    .collect();
                Ok(d.keys()
                    .iter()
                    .map(|k| Some(k.is_some_and(|k| keep[k as usize])))
                    .collect::<BooleanArray>())
            });
            b = b.with_row_filter(RowFilter::new(vec![Box::new(pred)]));
        }
        let reader = b.build().map_err(|e| ReadError::new(&path, e))?;
        let mut c = FileCursor {
            table,
            path,
            member: file.member,
            ts_shift: file.ts_shift,
            reader,
            interner,
            batch: None,
            row: 0,
        };
        c.advance_batch()?;
        Ok(c)
    }

    fn advance_batch(&mut self) -> Result<(), ReadError> {
        self.row = 0;
        self.batch = None;
        for rb in self.reader.by_ref() {
            let rb = rb.map_err(|e| ReadError::new(&self.path, e))?;
            if rb.num_rows() == 0 {
                continue;
            }
            let mut interner = self.interner.borrow_mut();
            let mut batch = Batch::from_record_batch(self.table, &rb, &mut interner)
                .map_err(|e| ReadError::new(&self.path, e))?;
            batch.member = self.member;
            if self.ts_shift != 0 {
                batch.shift_ts(self.ts_shift);
            }
            self.batch = Some(Rc::new(batch));
            return Ok(());
        }
        Ok(())
    }

    /// The current row's timestamp, None at the end of the file.
    #[inline]
    pub fn ts(&self) -> Option<i64> {
        let b = self.batch.as_ref()?;
        b.int(Column::Ts, self.row)
    }

    pub fn advance(&mut self) -> Result<(), ReadError> {
        self.row += 1;
        if self.batch.as_ref().is_some_and(|b| self.row >= b.rows) {
            self.advance_batch()?;
        }
        Ok(())
    }
}

/// The k-way merge of file cursors by timestamp, ties by cursor index
/// (the files' order).
pub struct Merge {
    pub cursors: Vec<FileCursor>,
    order: LoserTree,
    /// Files that failed to read part-way: (cursor, the error). Their
    /// rows stop there; the caller finds out whether the file is damaged.
    pub failed: Vec<(usize, ReadError)>,
}

impl Merge {
    pub fn new(cursors: Vec<FileCursor>) -> Merge {
        let order = LoserTree::new(cursors.iter().map(FileCursor::ts).collect());
        Merge {
            cursors,
            order,
            failed: vec![],
        }
    }

    /// Time of the next row, if any.
    pub fn peek_ts(&self) -> Option<i64> {
        self.order.first().map(|(ts, _)| ts)
    }

    /// The next row: its cursor's batch and index. Advances past it.
    pub fn pop(&mut self) -> Option<(Rc<Batch>, usize)> {
        let (_, i) = self.order.first()?;
        let c = &mut self.cursors[i];
        let batch = c.batch.clone().expect("a cursor not done has a batch");
        let row = c.row;
        let next = match c.advance() {
            Ok(()) => c.ts(),
            Err(e) => {
                self.failed.push((i, e));
                None
            }
        };
        self.order.replace_first(next);
        Some((batch, row))
    }
}

/// Which of k sorted sequences holds the least next time (ties: the
/// lowest index), as a tree of losers: each internal node keeps the
/// sequence that lost the match played there, the root's winner is
/// first, and when it moves on only its own path to the root is played
/// again, one comparison a level. A binary heap, before, sifted down with
/// two children to look at a level; over 507 interleaved files each was
/// a branch the processor could not predict.
struct LoserTree {
    /// Each sequence's next time: (ended, time, index), compared whole.
    keys: Vec<(bool, i64, usize)>,
    /// `tree[0]` is the winner; `tree[1..k]` the losers of the internal
    /// nodes, whose children are `2n` and `2n + 1`, leaves being `k + i`.
    tree: Vec<usize>,
}

impl LoserTree {
    fn key(i: usize, next: Option<i64>) -> (bool, i64, usize) {
        match next {
            Some(ts) => (false, ts, i),
            None => (true, i64::MAX, i),
        }
    }

    /// Sequences by their first times (None: empty).
    fn new(firsts: Vec<Option<i64>>) -> LoserTree {
        let k = firsts.len();
        let keys: Vec<_> = firsts
            .into_iter()
            .enumerate()
            .map(|(i, t)| Self::key(i, t))
            .collect();
        let mut tree = vec![0; k.max(1)];
        if k > 1 {
            // Winners bottom-up, each node keeping its match's loser.
            let mut winner = vec![0; 2 * k];
            for (i, w) in winner[k..].iter_mut().enumerate() {
                *w = i;
            }
            for n in (1..k).rev() {
                let (a, b) = (winner[2 * n], winner[2 * n + 1]);
                let (w, l) = if keys[a] < keys[b] { (a, b) } else { (b, a) };
                winner[n] = w;
                tree[n] = l;
            }
            tree[0] = winner[1];
        }
        LoserTree { keys, tree }
    }

    /// The least next time and its sequence, None when all have ended.
    #[inline]
    fn first(&self) -> Option<(i64, usize)> {
        let (ended, ts, i) = *self.keys.get(self.tree[0])?;
        (!ended).then_some((ts, i))
    }

    /// The winner's next time (None: it has ended), then the new winner.
    fn replace_first(&mut self, next: Option<i64>) {
        let k = self.keys.len();
        let mut win = self.tree[0];
        self.keys[win] = Self::key(win, next);
        let mut n = (win + k) / 2;
        while n > 0 {
            let l = self.tree[n];
            if self.keys[l] < self.keys[win] {
                self.tree[n] = win;
                win = l;
            }
            n /= 2;
        }
        self.tree[0] = win;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loser tree gives every (time, sequence) in the order a sort
    /// of them all gives, for any number of sequences, ties across them
    /// (the lowest index first), empty ones and ones that end early.
    #[test]
    fn the_loser_tree_merges_as_a_sort_does() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for k in [1usize, 2, 3, 5, 8, 13, 64, 507] {
            for _ in 0..4 {
                let seqs: Vec<Vec<i64>> = (0..k)
                    .map(|_| {
                        let mut t = next(5) as i64;
                        (0..next(40))
                            .map(|_| {
                                t += next(3) as i64;
                                t
                            })
                            .collect()
                    })
                    .collect();
                let mut want: Vec<(i64, usize)> = seqs
                    .iter()
                    .enumerate()
                    .flat_map(|(i, s)| s.iter().map(move |t| (*t, i)))
                    .collect();
                want.sort();
                let mut at = vec![0usize; k];
                let mut tree = LoserTree::new(seqs.iter().map(|s| s.first().copied()).collect());
                let mut got = vec![];
                while let Some((t, i)) = tree.first() {
                    got.push((t, i));
                    at[i] += 1;
                    tree.replace_first(seqs[i].get(at[i]).copied());
                }
                assert_eq!(got, want, "{k} sequences");
            }
        }
        assert_eq!(LoserTree::new(vec![]).first(), None);
    }

    /// The interpreter's column names are the format's (schema's tables):
    /// a column renamed there and not here would read as absent.
    #[test]
    fn every_column_is_one_of_the_formats() {
        let names = Table::all_column_names();
        for c in Column::ALL {
            assert!(names.contains(c.name()), "{c:?} is {:?}", c.name());
            assert_eq!(Column::from_name(c.name()), Some(c));
        }
    }
}
