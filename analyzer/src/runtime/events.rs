//! Replaying a trace: each Parquet file of a needed table is read with only
//! the columns the script uses, one batch at a time, and rows of all files
//! are merged in timestamp order (files of one table overlap in time: late
//! rows have files of their own). Return-side firings (`.return`,
//! `ioblock.end`) happen at `ts + dur_ns` and wait in a heap until every
//! file has moved past that time.

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

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
use super::value::{Interner, Shared};

/// A batch as the reading thread decodes and merges it, before the
/// script's thread takes it (see `read_ahead`).
pub type ReadBatch = Batch<Arc<str>>;

pub enum ColData<S = Rc<str>> {
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
        values: Vec<S>,
    },
    List(ListArray),
    Bin(BinaryArray),
}

impl<S: Shared> ColData<S> {
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
    fn string(&self, row: usize) -> Option<S> {
        match self {
            ColData::Dict { keys, values } => {
                if keys.is_valid(row) {
                    values.get(keys.value(row) as usize).cloned()
                } else {
                    None
                }
            }
            ColData::Str(a) => a.is_valid(row).then(|| S::from(a.value(row))),
            _ => None,
        }
    }

    /// The column with its dictionary's strings as `to` makes them.
    fn map_strings<T>(&self, to: &mut impl FnMut(&S) -> T) -> ColData<T> {
        match self {
            ColData::I64(a) => ColData::I64(a.clone()),
            ColData::I32(a) => ColData::I32(a.clone()),
            ColData::U32(a) => ColData::U32(a.clone()),
            ColData::U64(a) => ColData::U64(a.clone()),
            ColData::U16(a) => ColData::U16(a.clone()),
            ColData::Bool(a) => ColData::Bool(a.clone()),
            ColData::Str(a) => ColData::Str(a.clone()),
            ColData::Dict { keys, values } => ColData::Dict {
                keys: keys.clone(),
                values: values.iter().map(&mut *to).collect(),
            },
            ColData::List(a) => ColData::List(a.clone()),
            ColData::Bin(a) => ColData::Bin(a.clone()),
        }
    }
}

/// One decoded batch of one table.
pub struct Batch<S = Rc<str>> {
    pub table: Table,
    pub rows: usize,
    /// Which trace of the run's its rows are (an index into
    /// `Trace::members`; 0 for a single trace).
    member: u32,
    /// Per row, where the merge gathered rows of several traces' files.
    row_members: Option<Vec<u32>>,
    /// Each column's kind (see [`shape_of`]): rows of
    /// batches of one shape can be gathered into one.
    shape: Arc<[u8]>,
    cols: Vec<Option<ColData<S>>>,
    /// A tracepoint table's own fields, by index in its format.
    fields: Vec<Option<ColData<S>>>,
}

impl<S: Shared> Batch<S> {
    pub(crate) fn from_record_batch(
        table: Table,
        rb: &arrow::record_batch::RecordBatch,
        interner: &mut Interner<S>,
    ) -> Result<Batch<S>, String> {
        let mut cols: Vec<Option<ColData<S>>> = (0..Column::COUNT).map(|_| None).collect();
        let format = table.tracepoint();
        let mut fields: Vec<Option<ColData<S>>> = (0..format.map_or(0, |f| f.fields.len()))
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
            row_members: None,
            shape: shape_of(&cols, &fields),
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

    /// Which trace of the run's `row` is (an index into `Trace::members`).
    #[inline]
    pub fn member(&self, row: usize) -> u32 {
        match &self.row_members {
            Some(m) => m[row],
            None => self.member,
        }
    }

    /// The `ts` column, where it is one.
    pub(crate) fn times(&self) -> Option<&Int64Array> {
        match self.cols[Column::Ts as usize].as_ref()? {
            ColData::I64(a) => Some(a),
            _ => None,
        }
    }

    /// A tracepoint field (by index in its format) at `row`, as an integer.
    #[inline]
    pub fn field_int(&self, i: usize, row: usize) -> Option<i64> {
        self.fields.get(i)?.as_ref()?.int(row)
    }

    /// A tracepoint field at `row`, as a string.
    #[inline]
    pub fn field_string(&self, i: usize, row: usize) -> Option<S> {
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
    pub fn string(&self, c: Column, row: usize) -> Option<S> {
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

    pub fn dict_values(&self, c: Column) -> Option<&[S]> {
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

    /// The batch with its dictionaries' strings as `to` makes them (the
    /// reading thread's `Arc`s as the script's thread's `Rc`s).
    pub(crate) fn map_strings<T>(&self, to: &mut impl FnMut(&S) -> T) -> Batch<T> {
        let mut each = |c: &Option<ColData<S>>| c.as_ref().map(|c| c.map_strings(to));
        Batch {
            table: self.table,
            rows: self.rows,
            member: self.member,
            row_members: self.row_members.clone(),
            shape: self.shape.clone(),
            cols: self.cols.iter().map(&mut each).collect(),
            fields: self.fields.iter().map(&mut each).collect(),
        }
    }
}

impl<S> ColData<S> {
    /// The column as one arrow array, for those the merge interleaves as
    /// they are (a dictionary's keys need renumbering).
    fn array(&self) -> Option<&dyn Array> {
        Some(match self {
            ColData::I64(a) => a,
            ColData::I32(a) => a,
            ColData::U32(a) => a,
            ColData::U64(a) => a,
            ColData::U16(a) => a,
            ColData::Bool(a) => a,
            ColData::Str(a) => a,
            ColData::List(a) => a,
            ColData::Bin(a) => a,
            ColData::Dict { .. } => return None,
        })
    }

    /// `a`, an interleaving of columns of this kind, as one of them.
    fn like(&self, a: ArrayRef) -> Option<ColData<S>> {
        let any = a.as_any();
        Some(match self {
            ColData::I64(_) => ColData::I64(any.downcast_ref::<Int64Array>()?.clone()),
            ColData::I32(_) => ColData::I32(any.downcast_ref::<Int32Array>()?.clone()),
            ColData::U32(_) => ColData::U32(any.downcast_ref::<UInt32Array>()?.clone()),
            ColData::U64(_) => ColData::U64(any.downcast_ref::<UInt64Array>()?.clone()),
            ColData::U16(_) => ColData::U16(any.downcast_ref::<UInt16Array>()?.clone()),
            ColData::Bool(_) => ColData::Bool(any.downcast_ref::<BooleanArray>()?.clone()),
            ColData::Str(_) => ColData::Str(any.downcast_ref::<StringArray>()?.clone()),
            ColData::List(_) => ColData::List(any.downcast_ref::<ListArray>()?.clone()),
            ColData::Bin(_) => ColData::Bin(any.downcast_ref::<BinaryArray>()?.clone()),
            ColData::Dict { .. } => return None,
        })
    }
}

/// A batch's columns' and fields' kinds, one byte each, one `Arc` per
/// kind of batch (in the thread that reads them), so that batches of one
/// are known by address; a list whose items are not u64 makes its batch
/// a shape of its own.
fn shape_of<S>(cols: &[Option<ColData<S>>], fields: &[Option<ColData<S>>]) -> Arc<[u8]> {
    let mut shape = vec![];
    let mut unique = false;
    for c in cols.iter().chain(fields) {
        let kind = match c {
            None => 0,
            Some(ColData::I64(_)) => 1,
            Some(ColData::I32(_)) => 2,
            Some(ColData::U32(_)) => 3,
            Some(ColData::U64(_)) => 4,
            Some(ColData::U16(_)) => 5,
            Some(ColData::Bool(_)) => 6,
            Some(ColData::Str(_)) => 7,
            Some(ColData::Dict { .. }) => 8,
            Some(ColData::Bin(_)) => 9,
            Some(ColData::List(l)) if l.value_type() == DataType::UInt64 => 10,
            Some(ColData::List(_)) => {
                unique = true;
                11
            }
        };
        shape.push(kind);
    }
    thread_local! {
        static SHAPES: std::cell::RefCell<rustc_hash::FxHashSet<Arc<[u8]>>> = Default::default();
    }
    SHAPES.with_borrow_mut(|shapes| match shapes.get(&shape[..]) {
        Some(s) => s.clone(),
        None => {
            let s: Arc<[u8]> = shape.into();
            if !unique {
                shapes.insert(s.clone());
            }
            s
        }
    })
}

/// Where a window's rows are in its sources: a range of rows of each
/// source, in source order, and each of those rows' place in the window
/// (in the same order). Read this way a column is read in sequence,
/// source by source, and written to places in the window; read in the
/// window's order, each row is another source's and every read waits.
pub(crate) struct Runs<'a> {
    pub ranges: &'a [(usize, usize)],
    pub places: &'a [u32],
}

impl Runs<'_> {
    /// Each source's rows with their places: (source, row, place).
    fn each(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.ranges
            .iter()
            .enumerate()
            .flat_map(|(s, &(from, to))| (from..to).map(move |r| (s, r)))
            .zip(self.places)
            .map(|((s, r), &p)| (s, r, p as usize))
    }
}

/// The values of primitive columns of type `T` without nulls, placed by
/// `runs`.
fn scatter<T: arrow::datatypes::ArrowPrimitiveType, S>(
    cols: &[&ColData<S>],
    runs: &Runs,
) -> Option<arrow::array::PrimitiveArray<T>> {
    let arrays: Option<Vec<&arrow::array::PrimitiveArray<T>>> = cols
        .iter()
        .map(|c| c.array()?.as_any().downcast_ref())
        .collect();
    let arrays = arrays?;
    if arrays.iter().any(|a| a.null_count() > 0) {
        return None;
    }
    let mut out = vec![T::Native::default(); runs.places.len()];
    for (s, r, p) in runs.each() {
        out[p] = arrays[s].values()[r];
    }
    Some(arrow::array::PrimitiveArray::new(out.into(), None))
}

/// A window's dictionary column: the sources' values are interned (one
/// `Rc` per string for the whole replay), so a value is known by its pointer and
/// numbered in the window as first met.
struct Numbering<S> {
    values: Vec<S>,
    number: rustc_hash::FxHashMap<*const u8, i32>,
}

impl<S> Default for Numbering<S> {
    fn default() -> Self {
        Numbering {
            values: vec![],
            number: Default::default(),
        }
    }
}

impl<S: Shared> Numbering<S> {
    #[inline]
    fn of(&mut self, value: &S) -> i32 {
        *self.number.entry(value.addr()).or_insert_with(|| {
            self.values.push(value.clone());
            self.values.len() as i32 - 1
        })
    }
}

/// A dictionary column without nulls, placed by `runs`: each source's
/// keys numbered in the window once (a table per source), not every row's
/// value hashed.
fn dictionary_by_runs<S: Shared>(cols: &[&ColData<S>], runs: &Runs) -> Option<ColData<S>> {
    let mut numbering = Numbering::default();
    let mut keys = vec![0i32; runs.places.len()];
    let mut places = runs.places.iter();
    // A source's keys as numbered in the window (-1: not yet).
    let mut known: Vec<i32> = vec![];
    for (c, &(from, to)) in cols.iter().zip(runs.ranges) {
        let ColData::Dict { keys: k, values: v } = c else {
            return None;
        };
        known.clear();
        known.resize(v.len(), -1);
        for (r, &place) in (from..to).zip(places.by_ref()) {
            let key = k.value(r) as usize;
            let n = match known.get(key)? {
                -1 => {
                    known[key] = numbering.of(&v[key]);
                    known[key]
                }
                &n => n,
            };
            keys[place as usize] = n;
        }
    }
    Some(ColData::Dict {
        keys: Int32Array::from(keys),
        values: numbering.values,
    })
}

/// The order of a window's rows: each row as (source, row in it), or
/// where they are runs of its sources, the runs and their rows' places.
pub(crate) enum Order<'a> {
    Picks(&'a [(usize, usize)]),
    Runs(Runs<'a>),
}

impl Order<'_> {
    fn len(&self) -> usize {
        match self {
            Order::Picks(p) => p.len(),
            Order::Runs(r) => r.places.len(),
        }
    }

    /// Each row as (source, row in it), made from the runs only where a
    /// column needs them (nulls, strings, lists, several traces' rows).
    pub(crate) fn picks(&self) -> std::borrow::Cow<'_, [(usize, usize)]> {
        match self {
            Order::Picks(p) => std::borrow::Cow::Borrowed(p),
            Order::Runs(runs) => {
                let mut picks = vec![(0, 0); runs.places.len()];
                for (s, r, p) in runs.each() {
                    picks[p] = (s, r);
                }
                std::borrow::Cow::Owned(picks)
            }
        }
    }
}

/// Rows of `cols` (one column of each source, all of one kind) in the
/// window's order; read source by source where the order is runs and the
/// column has no nulls, else through `picks`.
fn gather_column<'a, S: Shared>(
    cols: &[&ColData<S>],
    order: &Order,
    picks: &dyn Fn() -> &'a [(usize, usize)],
) -> Option<ColData<S>> {
    let n = order.len();
    if let Order::Runs(runs) = order {
        use arrow::datatypes::{Int64Type, UInt16Type, UInt32Type, UInt64Type};
        let placed = match cols[0] {
            ColData::I64(_) => scatter::<Int64Type, S>(cols, runs).map(ColData::I64),
            ColData::I32(_) => scatter::<Int32Type, S>(cols, runs).map(ColData::I32),
            ColData::U32(_) => scatter::<UInt32Type, S>(cols, runs).map(ColData::U32),
            ColData::U64(_) => scatter::<UInt64Type, S>(cols, runs).map(ColData::U64),
            ColData::U16(_) => scatter::<UInt16Type, S>(cols, runs).map(ColData::U16),
            ColData::Dict { .. } => {
                let no_nulls = cols
                    .iter()
                    .all(|c| matches!(c, ColData::Dict { keys, .. } if keys.null_count() == 0));
                no_nulls.then(|| dictionary_by_runs(cols, runs)).flatten()
            }
            _ => None,
        };
        if placed.is_some() {
            return placed;
        }
    }
    if cols[0].array().is_some() {
        let arrays: Option<Vec<&dyn Array>> = cols.iter().map(|c| c.array()).collect();
        let a = arrow::compute::interleave(&arrays?, picks()).ok()?;
        return cols[0].like(a);
    }
    let mut numbering = Numbering::default();
    let mut keys = arrow::array::Int32Builder::with_capacity(n);
    for &(s, row) in picks() {
        let ColData::Dict { keys: k, values: v } = cols[s] else {
            return None;
        };
        if !k.is_valid(row) {
            keys.append_null();
            continue;
        }
        keys.append_value(numbering.of(v.get(k.value(row) as usize)?));
    }
    Some(ColData::Dict {
        keys: keys.finish(),
        values: numbering.values,
    })
}

impl<S: Shared> Batch<S> {
    /// Whether rows of the two can go into one batch.
    #[inline]
    pub(crate) fn same_shape(&self, other: &Batch<S>) -> bool {
        self.table == other.table && Arc::ptr_eq(&self.shape, &other.shape)
    }

    /// Rows of `sources` (all of one shape) in `order`, as one batch;
    /// None where a column cannot be put together (the caller hands the
    /// rows on one by one).
    pub(crate) fn gather(sources: &[Arc<Batch<S>>], order: &Order) -> Option<Batch<S>> {
        let first = sources.first()?;
        let made = std::cell::OnceCell::new();
        let picks = || &made.get_or_init(|| order.picks())[..];
        let column =
            |slot: &dyn Fn(&Batch<S>) -> &Option<ColData<S>>| -> Option<Option<ColData<S>>> {
                if slot(first).is_none() {
                    return Some(None);
                }
                let cols: Option<Vec<&ColData<S>>> =
                    sources.iter().map(|b| slot(b).as_ref()).collect();
                gather_column(&cols?, order, &picks).map(Some)
            };
        let cols = (0..first.cols.len())
            .map(|i| column(&|b: &Batch<S>| &b.cols[i]))
            .collect::<Option<Vec<_>>>()?;
        let fields = (0..first.fields.len())
            .map(|i| column(&|b: &Batch<S>| &b.fields[i]))
            .collect::<Option<Vec<_>>>()?;
        let one_member = sources
            .iter()
            .all(|b| b.row_members.is_none() && b.member == first.member);
        let row_members = (!one_member).then(|| {
            picks()
                .iter()
                .map(|&(s, row)| sources[s].member(row))
                .collect()
        });
        Some(Batch {
            table: first.table,
            rows: order.len(),
            member: first.member,
            row_members,
            shape: first.shape.clone(),
            cols,
            fields,
        })
    }
}

fn convert<S: Shared>(a: &ArrayRef, interner: &mut Interner<S>) -> Result<ColData<S>, String> {
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

/// Reads one Parquet file batch by batch (in the reading thread: see
/// `read_ahead`).
pub struct FileCursor {
    pub table: Table,
    pub path: PathBuf,
    /// The file's trace in the run and its shift onto the run's clock.
    member: u32,
    ts_shift: i64,
    reader: ParquetRecordBatchReader,
    pub batch: Option<Arc<ReadBatch>>,
    pub row: usize,
}

/// Rows a cursor decodes at a time when `files` cursors are open at once:
/// enough to amortise decoding (16k with a few files), and down to 1k with
/// hundreds, so that all of them hold about half a million rows at most
/// (decoding has a thread of its own and time to spare; fresh memory is
/// what costs: 2M rows held over 507 files was 233 MB of RSS, 0.5M 177).
pub fn batch_rows(files: usize) -> usize {
    (512 * 1024 / files.max(1)).clamp(1024, 16 * 1024)
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
        Ok(FileCursor {
            table,
            path,
            member: file.member,
            ts_shift: file.ts_shift,
            reader,
            batch: None,
            row: 0,
        })
    }

    /// Decodes the first batch (in the reading thread, not where the
    /// file was opened).
    pub fn start(&mut self, interner: &mut Interner<Arc<str>>) -> Result<(), ReadError> {
        self.advance_batch(interner)
    }

    fn advance_batch(&mut self, interner: &mut Interner<Arc<str>>) -> Result<(), ReadError> {
        self.row = 0;
        self.batch = None;
        for rb in self.reader.by_ref() {
            let rb = rb.map_err(|e| ReadError::new(&self.path, e))?;
            if rb.num_rows() == 0 {
                continue;
            }
            let mut batch = Batch::from_record_batch(self.table, &rb, interner)
                .map_err(|e| ReadError::new(&self.path, e))?;
            batch.member = self.member;
            if self.ts_shift != 0 {
                batch.shift_ts(self.ts_shift);
            }
            self.batch = Some(Arc::new(batch));
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

    /// Moves past `n` rows of the batch in hand (at most to its end).
    pub fn skip(&mut self, n: usize, interner: &mut Interner<Arc<str>>) -> Result<(), ReadError> {
        self.row += n;
        if self.batch.as_ref().is_some_and(|b| self.row >= b.rows) {
            self.advance_batch(interner)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A syscalls batch of `ts`, `ret` (null where None) and `execname`
    /// (a dictionary, null where None), read as the interpreter reads.
    fn batch(
        rows: &[(i64, Option<i64>, Option<&str>)],
        interner: &mut Interner<Arc<str>>,
    ) -> Arc<ReadBatch> {
        use arrow::datatypes::{Field, Schema};
        let names: arrow::array::DictionaryArray<Int32Type> = rows.iter().map(|r| r.2).collect();
        let schema = Schema::new(vec![
            Field::new("ts", DataType::Int64, false),
            Field::new("ret", DataType::Int64, true),
            Field::new("execname", names.data_type().clone(), true),
        ]);
        let rb = arrow::record_batch::RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
                Arc::new(names),
            ],
        )
        .unwrap();
        Arc::new(Batch::from_record_batch(Table::Syscalls, &rb, interner).unwrap())
    }

    /// Gathered rows read as the rows they were, whether the columns are
    /// read source by source (runs) or in the window's order, with and
    /// without nulls (which the source-by-source reading leaves to the
    /// other), dictionaries renumbered.
    #[test]
    fn gathered_rows_read_as_their_sources() {
        let mut interner = Interner::default();
        for nulls in [false, true] {
            let null = |i: i64, v: i64| (!nulls || i % 3 != 1).then_some(v);
            let name = |i: i64| (!nulls || i % 4 != 2).then_some(["a", "b", "c"][i as usize % 3]);
            let sources: Vec<Arc<ReadBatch>> = (0..3)
                .map(|s| {
                    let rows: Vec<_> = (0..10)
                        .map(|i| (i * 10 + s, null(i + s, -i), name(i + 2 * s)))
                        .collect();
                    batch(&rows, &mut interner)
                })
                .collect();
            // Rows 2..8 of each, in time order (ties: source order).
            let ranges = [(2, 8), (2, 8), (2, 8)];
            let mut picks: Vec<(usize, usize)> = ranges
                .iter()
                .enumerate()
                .flat_map(|(s, &(f, t))| (f..t).map(move |r| (s, r)))
                .collect();
            picks.sort_by_key(|&(s, r)| (sources[s].int(Column::Ts, r), s, r));
            let places: Vec<u32> = ranges
                .iter()
                .enumerate()
                .flat_map(|(s, &(f, t))| (f..t).map(move |r| (s, r)))
                .map(|p| picks.iter().position(|&q| q == p).unwrap() as u32)
                .collect();
            let runs = Order::Runs(Runs {
                ranges: &ranges,
                places: &places,
            });
            for order in [runs, Order::Picks(&picks)] {
                let g = Batch::gather(&sources, &order).unwrap();
                assert_eq!(g.rows, picks.len());
                for (i, &(s, r)) in picks.iter().enumerate() {
                    let b = &sources[s];
                    for c in [Column::Ts, Column::Ret] {
                        assert_eq!(g.int(c, i), b.int(c, r), "{c:?} row {i}, nulls {nulls}");
                    }
                    assert_eq!(g.string(Column::Execname, i), b.string(Column::Execname, r));
                    let key = g.dict_key(Column::Execname, i);
                    assert_eq!(
                        key.map(|k| g.dict_values(Column::Execname).unwrap()[k].clone()),
                        b.string(Column::Execname, r)
                    );
                }
                // Each value once in the gathered dictionary.
                let values = g.dict_values(Column::Execname).unwrap();
                let distinct: std::collections::HashSet<_> = values.iter().collect();
                assert_eq!(distinct.len(), values.len());
            }
        }
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
