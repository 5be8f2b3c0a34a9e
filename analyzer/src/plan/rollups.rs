//! Plans answered from the rollups syscalls files carry
//! ([`retap_schema::rollups`]): where a plan's filter and GROUP BY read
//! only a rollup grain's key columns and its aggregates are counts and
//! first firing times, each group of a file's rollup stands for its rows
//! (they share every column the plan reads), so the same filter and GROUP
//! BY over the groups, with row counts summed and first times taken at
//! their least, give what the scan gives. The coarsest grain that covers
//! the plan is read, or a finer one where a file lacks it; files without
//! one are scanned; both results go to the same merge (exec.rs
//! `aggregate`), which adds an element's counts from either.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Decimal128Array, Int64Array, StringArray};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::datasource::MemTable;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{min, sum};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{DataFrame, SessionContext};

use retap_schema::rollups::{self, Grain};
use retap_schema::Column;

use super::error::{failed, PlanError};
use super::exec::is_first;
use super::translate::{HOST, TRACE};
use crate::engine::column;
use crate::store::Store;
use crate::trace::DataFile;

/// The rollup's aggregates for a plan's, or None if one has none. Over
/// a group's rows a value read from the key columns is one value `v`:
/// a row count becomes the sum of the groups' counts, `sum(v)` the sum of
/// `v * rows` (wrapping, as the sum of the rows wraps), `min(v)` and
/// `max(v)` stay; the first firing time (of an entry: `min(ts)`) is the
/// least of the groups' first times. Anything else reads what a group's
/// rows do not share.
fn rollup_aggs(aggs: &[Expr], keys: &[Column], sets: bool) -> Option<Vec<Expr>> {
    aggs.iter().map(|a| rollup_agg(a, keys, sets)).collect()
}

fn rollup_agg(a: &Expr, keys: &[Column], sets: bool) -> Option<Expr> {
    let Expr::Alias(al) = a else {
        return None;
    };
    let name = al.name.clone();
    if *a == count_all().alias(name.clone()) {
        return Some(sum(column_named(rollups::ROWS)).alias(name));
    }
    let Expr::AggregateFunction(f) = al.expr.as_ref() else {
        return None;
    };
    let p = &f.params;
    if p.distinct || p.filter.is_some() || !p.order_by.is_empty() {
        return None;
    }
    let [v] = p.args.as_slice() else {
        return None;
    };
    let shared = reads_only(v, keys, sets);
    match f.func.name() {
        "min" if shared || *v == column(Column::Ts) => Some(a.clone()),
        "max" if shared => Some(a.clone()),
        "sum" if shared => Some(sum(v.clone() * column_named(rollups::ROWS)).alias(name)),
        _ => None,
    }
}

fn column_named(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new_unqualified(name))
}

/// Whether an expression reads only columns every row of a group keyed
/// by `keys` shares.
fn reads_only(e: &Expr, keys: &[Column], sets: bool) -> bool {
    e.column_refs().iter().all(|c| {
        keys.iter().any(|k| k.name() == c.name) || (sets && (c.name == HOST || c.name == TRACE))
    })
}

/// A file's rollup, of the first of `grains` its footer says it has,
/// with `want`'s columns; an error where one it has cannot be read or
/// does not decode.
fn rollup_of(
    f: &DataFile,
    grains: &[Grain],
    want: &SchemaRef,
) -> Option<Result<RecordBatch, String>> {
    let g = held(f, grains)?;
    let (meta, _) = f.footer.as_ref()?;
    let rows = meta.file_metadata().num_rows().max(0) as u64;
    let kv = meta.file_metadata().key_value_metadata();
    let read = |r: std::ops::Range<u64>| {
        if r.end > f.bytes {
            return Err(std::io::Error::other(format!(
                "past the file's {} bytes",
                f.bytes
            )));
        }
        let store = Store::of(&f.path)?;
        store.read_range(&f.path, r).map(Vec::from)
    };
    let b = rollups::from_footer(kv, g, rows, read)?;
    Some(b.and_then(|b| projected(&b, want)))
}

fn projected(b: &RecordBatch, want: &SchemaRef) -> Result<RecordBatch, String> {
    want.fields()
        .iter()
        .map(|w| b.schema().index_of(w.name()))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|c| b.project(&c))
        .map_err(|e| e.to_string())
}

/// The first of `grains` whose rollup a file's footer says it holds.
fn held(f: &DataFile, grains: &[Grain]) -> Option<Grain> {
    let (meta, _) = f.footer.as_ref()?;
    let have = rollups::grains_in(meta.file_metadata().key_value_metadata());
    grains.iter().find(|g| have.contains(g)).copied()
}

/// The grains that hold a grain's keys: it, and the finest.
fn holding(g: Grain) -> Vec<Grain> {
    let mut v = vec![g];
    if g != Grain::ProcessSyscall {
        v.push(Grain::ProcessSyscall);
    }
    v
}

/// Conjuncts of a plan's filter that read key columns its elements are
/// not keyed by (`syscall.*` over a recording: the syscall's name, which
/// stap's tapset has for most syscalls, not all), evaluated over each
/// file's finest groups before they are added up by the plan's grain.
struct Early {
    /// Over the by-syscall groups, where the conjuncts read only them:
    /// a file all of whose groups pass needs no finest groups at all.
    over_calls: Option<Arc<dyn PhysicalExpr>>,
    over_finest: Arc<dyn PhysicalExpr>,
    /// Files answered from their finest groups (for `-v`).
    finest: AtomicUsize,
}

impl Early {
    fn new(ctx: &SessionContext, e: &Expr) -> Result<Early, PlanError> {
        let over = |g: Grain| {
            let schema = DFSchema::try_from(g.schema().as_ref().clone())?;
            ctx.create_physical_expr(e.clone(), &schema)
        };
        let calls = reads_only(e, Grain::Syscall.key_columns(), false);
        Ok(Early {
            over_calls: match calls {
                true => Some(over(Grain::Syscall).map_err(PlanError::from)?),
                false => None,
            },
            over_finest: over(Grain::ProcessSyscall).map_err(PlanError::from)?,
            finest: AtomicUsize::new(0),
        })
    }

    fn mask(e: &Arc<dyn PhysicalExpr>, b: &RecordBatch) -> Result<BooleanArray, String> {
        let v = e
            .evaluate(b)
            .and_then(|v| v.into_array(b.num_rows()))
            .map_err(|e| e.to_string())?;
        v.as_any()
            .downcast_ref::<BooleanArray>()
            .cloned()
            .ok_or_else(|| "a filter of other than booleans".to_string())
    }

    /// A file's groups of the rows that pass, by `grain`: its rollup of
    /// that grain where its groups by syscall show every row does, else
    /// its finest groups that pass, added up.
    fn rollup_of(&self, f: &DataFile, grain: Grain) -> Option<Result<RecordBatch, String>> {
        // A file with neither (its processes too many for its rows to
        // pay: 500 files of 80k processes') is scanned: its groups by
        // syscall are not read for nothing.
        held(f, &holding(grain))?;
        let want = grain.schema();
        if let Some(calls) = &self.over_calls {
            let every = match rollup_of(f, &[Grain::Syscall], &Grain::Syscall.schema()) {
                Some(Ok(b)) => match Self::mask(calls, &b) {
                    Ok(m) => m.true_count() == m.len(),
                    Err(e) => return Some(Err(e)),
                },
                Some(Err(e)) => return Some(Err(e)),
                None => false,
            };
            if every {
                return rollup_of(f, &holding(grain), &want);
            }
        }
        let finest = Grain::ProcessSyscall.schema();
        Some(
            rollup_of(f, &[Grain::ProcessSyscall], &finest)?.and_then(|b| {
                self.finest.fetch_add(1, Ordering::Relaxed);
                let m = Self::mask(&self.over_finest, &b)?;
                let kept = filter_record_batch(&b, &m).map_err(|e| e.to_string())?;
                match grain {
                    Grain::ProcessSyscall => Ok(kept),
                    g => rollups::coarsen(&kept, g),
                }
            }),
        )
    }
}

/// A rollup's rows as the plan reads them (`reads`: the columns its
/// GROUP BY, aggregates and filter name) and where each group first fired
/// ([`PLACE`]), in a set on the set's clock with their trace's host and
/// name: made here, column by column, so that every file's groups are one
/// table's rows (a plan over a union of a frame a trace spent more
/// planning 300 frames than summing their groups). What the plan does not
/// read is not carried: over 5 files of a million processes each column
/// of their groups is 5M values, copied into partitions and aggregated,
/// and the memory a run first touches is what it pays for most here.
fn framed(
    b: RecordBatch,
    file: usize,
    member: Option<(i64, &str, &str)>,
    reads: &[String],
) -> Result<RecordBatch, PlanError> {
    let n = b.num_rows();
    let schema = b.schema();
    let int = |name: &str| {
        let i = schema.index_of(name).map_err(arrow_error)?;
        b.column(i)
            .as_any()
            .downcast_ref::<Int64Array>()
            .cloned()
            .ok_or_else(|| failed(format!("a rollup's {name} is not int64")))
    };
    let (mut at, row) = (int(Column::Ts.name())?, int(rollups::FIRST_ROW)?);
    if let Some((shift, _, _)) = member {
        at = Int64Array::from_iter_values(at.values().iter().map(|t| t.wrapping_add(shift)));
    }
    let mut fields = vec![];
    let mut columns = vec![];
    for (f, c) in schema.fields().iter().zip(b.columns()) {
        if !reads.iter().any(|r| r == f.name()) {
            continue;
        }
        let (mut f, mut c) = (f.clone(), c.clone());
        if f.name() == Column::Ts.name() {
            c = Arc::new(at.clone());
        }
        // Names as string views, not dictionaries: DataFusion groups
        // dictionary keys through its row format, a million process groups'
        // third of a run's time; views of names are compared as integers.
        if let DataType::Dictionary(_, v) = f.data_type() {
            if v.as_ref() == &DataType::Utf8 {
                c = cast(&c, &DataType::Utf8View).map_err(arrow_error)?;
                f = Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View));
            }
        }
        fields.push(f);
        columns.push(c);
    }
    if let Some((_, host, name)) = member {
        for (col, v) in [(HOST, host), (TRACE, name)] {
            fields.push(Arc::new(Field::new(col, DataType::Utf8, false)));
            columns.push(Arc::new(StringArray::from(vec![v; n])));
        }
    }
    let place = (at.values().iter().zip(row.values()))
        .map(|(&t, &r)| super::firing_order::place_number(t, file as i64, r));
    let place = Decimal128Array::from_iter_values(place)
        .with_precision_and_scale(38, 0)
        .map_err(arrow_error)?;
    fields.push(Arc::new(Field::new(
        PLACE,
        place.data_type().clone(),
        false,
    )));
    columns.push(Arc::new(place));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

/// The rows of every file's groups as a partition a core, each about as
/// long: a file's groups are one batch, and a run of small ones is made
/// one (the aggregates' work per batch, first firing places' states
/// resized and merged, was most of their time over 507 files' batches of
/// a few hundred groups) while large ones are not copied again.
fn partitioned(
    batches: Vec<RecordBatch>,
    schema: &SchemaRef,
    n: usize,
) -> Result<Vec<Vec<RecordBatch>>, PlanError> {
    /// Rows under which batches are joined.
    const JOINED: usize = 1 << 16;
    let mut parts: Vec<(usize, Vec<RecordBatch>)> = vec![(0, vec![]); n.max(1)];
    for b in batches {
        if let Some(least) = parts.iter_mut().min_by_key(|(rows, _)| *rows) {
            least.0 += b.num_rows();
            least.1.push(b);
        }
    }
    let mut out = vec![];
    for (_, part) in parts {
        let mut joined = vec![];
        let mut run: Vec<RecordBatch> = vec![];
        let mut rows = 0;
        for b in part {
            if b.num_rows() >= JOINED {
                if !run.is_empty() {
                    joined.push(concat_batches(schema, &run).map_err(arrow_error)?);
                    (run, rows) = (vec![], 0);
                }
                joined.push(b);
                continue;
            }
            rows += b.num_rows();
            run.push(b);
            if rows >= JOINED {
                joined.push(concat_batches(schema, &run).map_err(arrow_error)?);
                (run, rows) = (vec![], 0);
            }
        }
        if !run.is_empty() {
            joined.push(concat_batches(schema, &run).map_err(arrow_error)?);
        }
        if !joined.is_empty() {
            out.push(joined);
        }
    }
    Ok(out)
}

fn arrow_error(e: datafusion::arrow::error::ArrowError) -> PlanError {
    PlanError::from(datafusion::error::DataFusionError::from(e))
}

/// What a file's rollup gave.
enum Rolled {
    /// It has none the plan could use: it is scanned.
    Absent,
    /// One it has did not read or decode (why): it is scanned.
    Unreadable(String),
    /// Its groups as the plan reads them ([`framed`]), and the rows it
    /// leaves to the scan ([`Answer::apart`]).
    Framed(RecordBatch, u64),
}

/// The part of a plan (`filter`, GROUP BY `group`, `aggs`) over `files`
/// answered from their rollups.
pub(super) struct Answer {
    pub df: DataFrame,
    /// Which files it covers (the rest are to be scanned).
    pub covered: Vec<bool>,
    /// Whether it adds first firing times the plan did not ask for.
    pub firsts: bool,
    /// Whether its results also say where each element first fired
    /// ([`FIRST_AT`]: every file answered, first times computed).
    pub places: bool,
    /// The grain whose columns its groups have.
    pub grain: Grain,
    /// Files whose finest groups were filtered, then added up by it.
    pub finest: usize,
    /// Of each file it covers, the rows it left out (`apart`) that are
    /// the file's to scan (0: none).
    pub apart: Vec<u64>,
}

/// The result column of where an element first fired: the least
/// [`place_number`](super::firing_order::place_number) of its rows (a
/// numbered scan's) or of its groups' first rows (rollups'), a
/// Decimal128; [`place_of`] and [`time_of`] take it apart.
pub(super) const FIRST_AT: &str = "first_at";

/// A rollup row's (ts, file, first row) as one number ([`FIRST_AT`]).
const PLACE: &str = "__place";

/// The [`FIRST_AT`] column of a plan's result.
fn first_at(b: &RecordBatch) -> Result<&Decimal128Array, PlanError> {
    b.column_by_name(FIRST_AT)
        .and_then(|c| c.as_any().downcast_ref::<Decimal128Array>())
        .ok_or_else(|| failed("first places not decimal"))
}

/// [`FIRST_AT`]'s values without their time, `file << 32 | row`, per
/// result row.
pub(super) fn place_of(b: &RecordBatch) -> Result<Vec<u64>, PlanError> {
    Ok(first_at(b)?.iter().map(|v| v.unwrap_or(0) as u64).collect())
}

/// [`FIRST_AT`]'s first firing times (its high half), per result row.
pub(super) fn time_of(b: &RecordBatch) -> Result<Vec<i64>, PlanError> {
    Ok(first_at(b)?
        .iter()
        .map(|v| (v.unwrap_or(0) >> 64) as i64)
        .collect())
}

/// The part of a plan answered from rollups; None where the plan reads
/// more than the rollups hold or no file has one. A rollup that does not
/// decode is not used: its file is scanned, and the lines returned with
/// the answer say so. With `firsts` (an entry's plan, firing at `ts`),
/// where every file has one, each element's first firing time comes
/// too: free here, and what a value sort's ties would otherwise read the
/// rows again for.
///
/// With `apart` (a predicate over key columns: the syscalls whose stap
/// name depends on an argument, which no rollup holds), the rows it takes
/// are left out and the files with any are marked for the caller to scan
/// them ([`Answer::apart`]); elements' first firing times then come
/// from both, so none are computed here.
#[allow(clippy::too_many_arguments)]
pub(super) fn answer(
    ctx: &SessionContext,
    members: &[(String, String)],
    files: &[DataFile],
    filter: Option<&Expr>,
    group: &[Expr],
    aggs: &[Expr],
    firsts: bool,
    apart: Option<&Expr>,
) -> Result<(Option<Answer>, Vec<String>), PlanError> {
    let filter = conjunction(filter.cloned().into_iter().chain(apart.map(|a| !a.clone())));
    let filter = filter.as_ref();
    let sets = members.len() > 1;
    let keyed = |g: &Grain| {
        let keys = g.key_columns();
        (group.iter().all(|e| reads_only(e, keys, sets)))
            .then(|| rollup_aggs(aggs, keys, sets))
            .flatten()
    };
    // The coarsest grain holding the elements' keys and values; the
    // filter's conjuncts that read other key columns are applied to each
    // file's finest groups before they are added up by it, the rest to
    // the groups of every file together (a set's host and trace names
    // are only there).
    let mut target = Grain::ALL.into_iter().find(|g| keyed(g).is_some());
    let (mut late, mut early) = (vec![], vec![]);
    for c in filter.map(split_conjunction).unwrap_or_default() {
        let finest = Grain::ProcessSyscall.key_columns();
        if target.is_some_and(|g| reads_only(c, g.key_columns(), sets)) {
            late.push(c.clone());
        } else if reads_only(c, finest, false) {
            early.push(c.clone());
        } else if reads_only(c, finest, sets) {
            // (The finest groups, framed, then filtered.)
            let finest = Grain::ProcessSyscall;
            target = target.and_then(|_| keyed(&finest).map(|_| finest));
            late.append(&mut early);
            late.push(c.clone());
        } else {
            return Ok((None, vec![]));
        }
    }
    let Some(grain) = target else {
        return Ok((None, vec![]));
    };
    // Rows scanned apart where the finest groups are filtered first: the
    // scan reads the filter's columns of every row anyway, and decoding
    // the finest groups costs more than grouping the few rows it passes
    // (issue 22's `filtered` over 5 files of 80k processes: 0.15 s
    // scanned, 0.29 s both ways).
    if apart.is_some() && !early.is_empty() {
        return Ok((None, vec![]));
    }
    // Over a file's groups before the filter: a superset of its rows
    // the scan is to take apart.
    let apart = match apart {
        Some(a) if !reads_only(a, grain.key_columns(), false) => return Ok((None, vec![])),
        Some(a) => {
            let schema = DFSchema::try_from(grain.schema().as_ref().clone())?;
            Some(ctx.create_physical_expr(a.clone(), &schema)?)
        }
        None => None,
    };
    let raggs = keyed(&grain);
    // Each file's rollup is a read of its own (a request, in a bucket).
    let threads = files
        .iter()
        .filter_map(|f| Store::of(&f.path).ok())
        .map(|s| s.parallelism())
        .max()
        .unwrap_or(1);
    let Some(mut raggs) = raggs else {
        return Ok((None, vec![]));
    };
    let filter = conjunction(late);
    let filter = filter.as_ref();
    let reads: Vec<String> = (group.iter().chain(&raggs).chain(filter))
        .flat_map(|e| e.column_refs().into_iter().map(|c| c.name.clone()))
        .collect();
    let early = conjunction(early)
        .map(|e| Early::new(ctx, &e))
        .transpose()?;
    let (want, grains) = (grain.schema(), holding(grain));
    // Read, decoded and framed on each file's thread.
    let one = |(i, f): &(usize, &DataFile)| -> Result<Rolled, PlanError> {
        let got = match &early {
            Some(e) => e.rollup_of(f, grain),
            None => rollup_of(f, &grains, &want),
        };
        let batch = match got {
            None => return Ok(Rolled::Absent),
            Some(Err(e)) => return Ok(Rolled::Unreadable(e)),
            Some(Ok(b)) => b,
        };
        let mut apart_rows = 0;
        if let Some(a) = &apart {
            let rows = batch
                .column_by_name(rollups::ROWS)
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .ok_or_else(|| failed("a rollup's rows not Int64"))?;
            let taken = Early::mask(a, &batch).map_err(failed)?;
            apart_rows = (0..rows.len())
                .filter(|r| taken.is_valid(*r) && taken.value(*r))
                .map(|r| rows.value(r).max(0) as u64)
                .sum();
        }
        let member = match sets {
            true => {
                let m = f.member as usize;
                let (host, name) = members
                    .get(m)
                    .ok_or_else(|| failed(format!("a file of trace {m} of {}", members.len())))?;
                Some((f.ts_shift, host.as_str(), name.as_str()))
            }
            false => None,
        };
        Ok(Rolled::Framed(
            framed(batch, *i, member, &reads)?,
            apart_rows,
        ))
    };
    let indexed: Vec<(usize, &DataFile)> = files.iter().enumerate().collect();
    let rolled = crate::map_on_threads(&indexed, threads, one);
    let finest = early.map_or(0, |e| e.finest.into_inner());
    let mut unreadable = vec![];
    let mut covered = vec![false; files.len()];
    let mut with_apart = vec![0; files.len()];
    let mut batches = vec![];
    for (i, (f, r)) in files.iter().zip(rolled).enumerate() {
        match r? {
            Rolled::Absent => {}
            Rolled::Unreadable(e) => unreadable.push(format!(
                "{}: its rollup is unreadable ({e}); its rows were read instead",
                f.path.display()
            )),
            Rolled::Framed(b, apart_rows) => {
                covered[i] = true;
                with_apart[i] = apart_rows;
                batches.push(b);
            }
        }
    }
    let Some(schema) = batches.first().map(|b| b.schema()) else {
        return Ok((None, unreadable));
    };
    // First times and places mean something only where every file is
    // here and elements are keyed.
    let whole = covered.iter().all(|c| *c) && !group.is_empty() && apart.is_none();
    let asked = aggs.iter().any(is_first);
    let firsts = firsts && whole && !asked;
    let places = whole && (firsts || asked);
    if places {
        // (A least number, not `first_value` ordered by three columns,
        // whose per-group ordering state was most of the aggregate's
        // time over 82k elements; the first firing times the plan did
        // not ask for are its high half, not an aggregate of their own.)
        raggs.push(min(column_named(PLACE)).alias(FIRST_AT));
    }
    let partitions = partitioned(batches, &schema, crate::cores())?;
    let table = MemTable::try_new(schema, partitions).map_err(PlanError::from)?;
    let df = ctx.read_table(Arc::new(table)).map_err(PlanError::from)?;
    let df = match filter {
        Some(f) => df.filter(f.clone()).map_err(PlanError::from)?,
        None => df,
    };
    let df = df
        .aggregate(group.to_vec(), raggs)
        .map_err(PlanError::from)?;
    let answer = Answer {
        df,
        covered,
        firsts,
        places,
        grain,
        finest,
        apart: with_apart,
    };
    Ok((Some(answer), unreadable))
}
