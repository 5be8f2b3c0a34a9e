//! Which of several elements first seen at the same nanosecond the
//! interpreter creates first. Its event loop takes rows in (time, table,
//! file, row) order: each file is sorted by `ts` (docs/trace-format.md)
//! and its merge breaks equal times by cursor, tables in their order and
//! each table's files in the trace's. A return-side firing (at `ts +
//! dur_ns`) comes after every row at its time, returns among themselves
//! in the order their rows were read. Plans aggregate rows in any order
//! and keep each element's earliest time only; where two elements share
//! it, one more scan of the rows at those times alone, each row with its
//! file and its index in that file (`input_file_name()`,
//! `file_row_index()`), says which came first. Over files that begin
//! together (copies of one workload: equal first times all through, that
//! scan a second reading of everything), plans number each row instead
//! and keep each element's least [`place_number`] as they count it, as
//! rollups do for their groups. Rows at other times are
//! skipped by the scan (a sorted `ts` column lets row groups be pruned;
//! `ts` is decoded first). Elements first seen at one row come in the
//! order of the updates that made them (see [`Place::update`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Decimal128Array, Int64Array, RecordBatch,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, Result as DfResult};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{
    col, lit, ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::optimizer::common_subexpr_eliminate::CommonSubexprEliminate;
use datafusion::optimizer::OptimizerRule;
use rustc_hash::{FxHashMap, FxHashSet};

use retap_schema::{Column, Table};

use super::analysis::Compiled;
use super::error::{failed, PlanError};
use super::exec::int_col;
use crate::engine::footers::object_location;
use crate::engine::{column, cores, plan_session, runtime, session_config};
use crate::runtime::value::{Interner, Value};
use crate::trace::Trace;

/// The rows that fire one update, as its plan selects and groups them.
#[derive(Clone)]
pub(super) struct Firing {
    pub update: usize,
    pub table: Table,
    /// The point's discriminator, filter and the update's guards (None:
    /// every row).
    pub rows: Option<Expr>,
    /// The plan's key columns (`k{i}`, `a{i}`, `tick`), aliased.
    pub keys: Vec<Expr>,
    /// When it fires: `ts`, or `ts + dur_ns` at a return.
    pub now: Expr,
    pub at_return: bool,
}

/// Where a firing falls among firings at the same time, in the
/// interpreter's order (compared field by field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Place {
    at_return: bool,
    /// The row's `ts` (returns at one time go in their rows' order).
    entry_ts: i64,
    /// The table's rank among the tables scanned (their order).
    table: usize,
    file: usize,
    /// The row's index in its file.
    row: i64,
    /// The update's index among the compiled updates, which are in the
    /// order the interpreter runs them at one row: probes in the
    /// script's order, each probe's points in order, its statements in
    /// order.
    update: usize,
}

impl Place {
    /// An entry's firing at `ts`, at a row of a file of the table of
    /// rank `table` among those its global's firings read: where a
    /// rollup or a plan says a group first fired.
    pub(super) fn of_entry(ts: i64, table: usize, file: usize, row: i64, update: usize) -> Place {
        Place {
            at_return: false,
            entry_ts: ts,
            table,
            file,
            row,
            update,
        }
    }
}

/// An entry's firing at `ts` at `row` of the `file`th file of its table
/// as one number: `ts` in the high 64 bits, the file and row (each
/// under 2^32) in the low, so that the least number is the least
/// (time, file, row). A signed `ts` shifted up keeps its order. A
/// rollup's first rows and a scan's rows are numbered alike; plans keep
/// each element's least (`rollups::FIRST_AT`).
#[inline]
pub(super) fn place_number(ts: i64, file: i64, row: i64) -> i128 {
    ((ts as i128) << 64) | (((file as i128) << 32) | (row as i128 & 0xffff_ffff))
}

/// `first_at(ts, file, row)`: [`place_number`] of each row, a
/// Decimal128(38, 0) (whose least DataFusion's `min` and the keyed
/// aggregate both take).
pub(super) fn first_at() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(FirstAt {
        signature: Signature::exact(
            vec![DataType::Int64, DataType::Int64, DataType::Int64],
            Volatility::Immutable,
        ),
    }))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FirstAt {
    signature: Signature,
}

impl ScalarUDFImpl for FirstAt {
    fn name(&self) -> &str {
        "retap_first_at"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Decimal128(38, 0))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let ints: Vec<&Int64Array> = arrays
            .iter()
            .filter_map(|a| a.as_any().downcast_ref::<Int64Array>())
            .collect();
        let [ts, file, row] = ints[..] else {
            return exec_err!("retap_first_at of {arrays:?}");
        };
        if ts.null_count() + file.null_count() + row.null_count() > 0 {
            return exec_err!("retap_first_at of a null time, file or row");
        }
        let numbers = ts
            .values()
            .iter()
            .zip(file.values().iter().zip(row.values()))
            .map(|(&t, (&f, &r))| place_number(t, f, r));
        let out = Decimal128Array::from_iter_values(numbers).with_precision_and_scale(38, 0)?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// (tick, global, key, time) -> the earliest place an update of that
/// global fires for that key at that time.
pub(super) type Places = FxHashMap<(i64, u32, Vec<Value>, i64), Place>;

/// The places of every firing at `times` (per global, of any tick) of
/// the updates `firings` describe.
pub(super) fn places(
    compiled: &Compiled,
    trace: &Trace,
    firings: &[&Firing],
    times: &HashMap<u32, BTreeSet<i64>>,
    interner: &mut Interner,
) -> Result<Places, PlanError> {
    let ctx = filtering_session(&trace.store);
    let wanted: Vec<&Firing> = firings
        .iter()
        .copied()
        .filter(|f| times.contains_key(&compiled.updates[f.update].global))
        .collect();
    let mut tables: Vec<Table> = wanted.iter().map(|f| f.table).collect();
    tables.sort();
    tables.dedup();
    let mut out = Places::default();
    for (rank, table) in tables.iter().enumerate() {
        let fs: Vec<&Firing> = wanted
            .iter()
            .copied()
            .filter(|f| f.table == *table)
            .collect();
        let Some(files) = trace.table(*table) else {
            return Err(failed(format!("the trace has no {table} table")));
        };
        let mut any = vec![];
        let mut select = vec![column(Column::Ts).alias("__ts")];
        for (j, f) in fs.iter().enumerate() {
            let at: Vec<i64> = times[&compiled.updates[f.update].global]
                .iter()
                .copied()
                .collect();
            let (lo, hi) = (at[0], at[at.len() - 1]);
            // A bound on `ts` itself prunes row groups: a return's row
            // began no later than it ends.
            let ts = column(Column::Ts);
            let near = if f.at_return {
                ts.lt_eq(lit(hi))
            } else {
                ts.between(lit(lo), lit(hi))
            };
            let fires = near.and(at_times(at).call(vec![f.now.clone()]));
            let fires = match &f.rows {
                Some(r) => fires.and(r.clone()),
                None => fires,
            };
            any.push(fires.clone());
            select.push(fires.alias(format!("f{j}_fires")));
            select.push(f.now.clone().alias(format!("f{j}_now")));
            for k in &f.keys {
                select.push(prefixed(k, j));
            }
        }
        let Some(any) = any.into_iter().reduce(Expr::or) else {
            continue;
        };
        // One scan of every file: rows come in any order, each with its
        // file and its row's index in it.
        select.push(col("__path"));
        select.push(col("__row"));
        let df = super::exec::read_files_placed(&ctx, &trace.members, &files.files)?
            .filter(any)
            .and_then(|d| d.select(select))
            .map_err(PlanError::from)?;
        let by_path: HashMap<String, usize> = files
            .files
            .iter()
            .enumerate()
            .filter_map(|(fi, f)| Some((object_location(&f.path)?.to_string(), fi)))
            .collect();
        let parts = runtime()
            .block_on(df.collect_partitioned())
            .map_err(PlanError::from)?;
        for batches in parts {
            for b in batches {
                let (ts, rows) = (int_col(&b, "__ts")?, int_col(&b, "__row")?);
                let file = file_of(&b, &by_path)?;
                for (j, f) in fs.iter().enumerate() {
                    let u = &compiled.updates[f.update];
                    let fires = b
                        .column_by_name(&format!("f{j}_fires"))
                        .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
                        .ok_or_else(|| failed("no firing column"))?;
                    let now = int_col(&b, &format!("f{j}_now"))?;
                    let prefix = format!("f{j}_");
                    let keys = super::exec::key_values(&b, u, &prefix, interner)?;
                    let tick = match b.column_by_name(&format!("{prefix}tick")) {
                        Some(_) => int_col(&b, &format!("{prefix}tick"))?,
                        None => vec![0; b.num_rows()],
                    };
                    for r in 0..b.num_rows() {
                        if !(fires.is_valid(r) && fires.value(r)) {
                            continue;
                        }
                        let place = Place {
                            at_return: f.at_return,
                            entry_ts: ts[r],
                            table: rank,
                            file: file[r],
                            row: rows[r],
                            update: f.update,
                        };
                        let key: Vec<Value> = keys.iter().map(|k| k[r].clone()).collect();
                        out.entry((tick[r], u.global, key, now[r]))
                            .and_modify(|p| *p = (*p).min(place))
                            .or_insert(place);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Filters applied while decoding, `ts` (with its row-group bounds)
/// first, so that rows at other times cost little to skip. Without
/// common subexpression elimination: it computes `ts + dur_ns` once in
/// the scan, and the scan then refuses the projection holding
/// `file_row_index()` (merging it would compute that sum twice), which
/// can only be evaluated inside the scan.
fn filtering_session(store: &crate::store::Store) -> datafusion::prelude::SessionContext {
    let partitions = store.scan_partitions(cores());
    let mut config = session_config().with_target_partitions(partitions);
    let opts = config.options_mut();
    opts.execution.parquet.pushdown_filters = true;
    opts.execution.parquet.reorder_filters = true;
    let state = plan_session(config).state();
    let rules = state
        .optimizer()
        .rules
        .iter()
        .filter(|r| r.name() != CommonSubexprEliminate::new().name())
        .cloned()
        .collect();
    let state = SessionStateBuilder::new_from_existing(state)
        .with_optimizer_rules(rules)
        .build();
    datafusion::prelude::SessionContext::new_with_state(state)
}

/// Each row's file (its index in the table), from the scan's `__path`.
fn file_of(b: &RecordBatch, by_path: &HashMap<String, usize>) -> Result<Vec<usize>, PlanError> {
    let paths = b
        .column_by_name("__path")
        .map(|c| cast(c, &DataType::Utf8))
        .transpose()
        .map_err(|e| failed(e.to_string()))?
        .ok_or_else(|| failed("no __path column"))?;
    let paths = paths.as_string::<i32>();
    (0..paths.len())
        .map(|r| {
            by_path.get(paths.value(r)).copied().ok_or_else(|| {
                failed(format!(
                    "a row of {}, which is not in the trace",
                    paths.value(r)
                ))
            })
        })
        .collect()
}

/// The key column `k` (aliased) renamed for firing `j` of a scan.
fn prefixed(k: &Expr, j: usize) -> Expr {
    match k {
        Expr::Alias(a) => a.expr.as_ref().clone().alias(format!("f{j}_{}", a.name)),
        e => e.clone().alias(format!("f{j}_{}", e.schema_name())),
    }
}

/// `at_times(t)`: whether `t` is one of a set of times (an IN
/// list of tens of thousands of literals would be planned element by
/// element, in every file's scan).
fn at_times(times: Vec<i64>) -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(AtTimes {
        times: Arc::new(times.into_iter().collect()),
        signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
    }))
}

struct AtTimes {
    times: Arc<FxHashSet<i64>>,
    signature: Signature,
}

// One list is one function: the optimizer hashes and compares
// expressions often, and tens of thousands of times each time for every
// file's scan cost seconds (507 files: 3.7 s).
impl PartialEq for AtTimes {
    fn eq(&self, o: &AtTimes) -> bool {
        Arc::ptr_eq(&self.times, &o.times)
    }
}

impl Eq for AtTimes {}

impl std::fmt::Debug for AtTimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AtTimes({} times)", self.times.len())
    }
}

impl std::hash::Hash for AtTimes {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        Arc::as_ptr(&self.times).hash(h)
    }
}

impl ScalarUDFImpl for AtTimes {
    fn name(&self) -> &str {
        "retap_at_times"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(a) = arrays[0].as_any().downcast_ref::<Int64Array>() else {
            return exec_err!("retap_at_times of {}", arrays[0].data_type());
        };
        let out: BooleanArray = a
            .iter()
            .map(|v| v.map(|t| self.times.contains(&t)))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
