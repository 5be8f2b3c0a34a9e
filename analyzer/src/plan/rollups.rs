//! Plans answered from the rollups in syscalls files' footers
//! ([`retap_schema::rollups`]): where a plan's filter and GROUP BY read
//! only the rollup's key columns and its aggregates are counts and first
//! firing times, each group of a file's rollup stands for its rows (they
//! share every column the plan reads), so the same filter and GROUP BY
//! over the groups, with row counts summed and first times taken at their
//! least, give what the scan gives. Files without a rollup are scanned;
//! both results go to the same merge (exec.rs `aggregate`), which adds
//! an element's counts from either.

use std::sync::Arc;

use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{first_value, min, sum};
use datafusion::logical_expr::{lit, Expr};
use datafusion::prelude::{DataFrame, SessionContext};

use retap_schema::rollups;
use retap_schema::Column;

use super::error::{failed, PlanError};
use super::exec::{is_first, FIRST};
use super::translate::{HOST, TRACE};
use crate::engine::column;
use crate::trace::DataFile;

/// The rollup's aggregates for a plan's, or None if one has none. Over
/// a group's rows a value read from the key columns is one value `v`:
/// a row count becomes the sum of the groups' counts, `sum(v)` the sum of
/// `v * rows` (wrapping, as the sum of the rows wraps), `min(v)` and
/// `max(v)` stay; the first firing time (of an entry: `min(ts)`) is the
/// least of the groups' first times. Anything else reads what a group's
/// rows do not share.
fn rollup_aggs(aggs: &[Expr], sets: bool) -> Option<Vec<Expr>> {
    aggs.iter().map(|a| rollup_agg(a, sets)).collect()
}

fn rollup_agg(a: &Expr, sets: bool) -> Option<Expr> {
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
    let shared = reads_keys_only(v, sets);
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

/// Whether an expression reads only columns every row of a group shares.
fn reads_keys_only(e: &Expr, sets: bool) -> bool {
    e.column_refs().iter().all(|c| {
        rollups::KEY_COLUMNS.iter().any(|k| k.name() == c.name)
            || (sets && (c.name == HOST || c.name == TRACE))
    })
}

/// Each file's rollup from its footer, where it has one that decodes,
/// decoded a core's share of the files per thread.
fn decoded(files: &[DataFile]) -> Vec<Option<RecordBatch>> {
    let one = |f: &DataFile| {
        let (meta, _) = f.footer.as_ref()?;
        let rows = meta.file_metadata().num_rows().max(0) as u64;
        rollups::from_footer(meta.file_metadata().key_value_metadata(), rows)?.ok()
    };
    crate::map_on_threads(files, crate::cores(), one)
}

/// A rollup's rows with their file's index.
fn with_file(b: RecordBatch, file: usize) -> Result<RecordBatch, PlanError> {
    let mut fields = b.schema().fields().to_vec();
    fields.push(Arc::new(Field::new(FILE, DataType::Int64, false)));
    let mut columns = b.columns().to_vec();
    columns.push(Arc::new(Int64Array::from(vec![file as i64; b.num_rows()])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| PlanError::from(datafusion::error::DataFusionError::from(e)))
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
}

/// The result column of where an element first fired: its file's index
/// in the table times 2^32 plus its row's index in the file (the least
/// (time, file, row) of its groups' first rows).
pub(super) const FIRST_AT: &str = "first_at";

/// The column of a rollup's rows giving their file's index.
const FILE: &str = "__file";

/// The part of a plan answered from rollups; None where the plan reads
/// more than the rollups hold or no file has one. A rollup that does not
/// decode is not used: its file is scanned. With `firsts` (an entry's
/// plan, firing at `ts`), where every file has one, each element's first
/// firing time comes too: free here, and what a value sort's ties would
/// otherwise read the rows again for.
pub(super) fn answer(
    ctx: &SessionContext,
    members: &[(String, String)],
    files: &[DataFile],
    filter: Option<&Expr>,
    group: &[Expr],
    aggs: &[Expr],
    firsts: bool,
) -> Result<Option<Answer>, PlanError> {
    let sets = members.len() > 1;
    let Some(mut raggs) = rollup_aggs(aggs, sets) else {
        return Ok(None);
    };
    if !filter.is_none_or(|f| reads_keys_only(f, sets))
        || !group.iter().all(|g| reads_keys_only(g, sets))
    {
        return Ok(None);
    }
    let mut covered = vec![false; files.len()];
    // Each trace's groups, with its time shift (in a set).
    let mut parts: Vec<(u32, i64, Vec<RecordBatch>)> = vec![];
    for (i, (f, batch)) in files.iter().zip(decoded(files)).enumerate() {
        let Some(batch) = batch else {
            continue;
        };
        covered[i] = true;
        let batch = with_file(batch, i)?;
        match parts.iter_mut().find(|p| p.0 == f.member) {
            Some(p) => p.2.push(batch),
            None => parts.push((f.member, f.ts_shift, vec![batch])),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    // First times and places mean something only where every file is
    // here and elements are keyed.
    let whole = covered.iter().all(|c| *c) && !group.is_empty();
    let asked = aggs.iter().any(is_first);
    let firsts = firsts && whole && !asked;
    if firsts {
        raggs.push(min(column(Column::Ts)).alias(FIRST));
    }
    let places = whole && (firsts || asked);
    if places {
        let at = column_named(FILE) * lit(1i64 << 32) + column_named(rollups::FIRST_ROW);
        let order = [
            column(Column::Ts),
            column_named(FILE),
            column_named(rollups::FIRST_ROW),
        ]
        .map(|e| e.sort(true, false))
        .to_vec();
        raggs.push(first_value(at, order).alias(FIRST_AT));
    }
    let mut frames = vec![];
    for (member, shift, batches) in parts {
        let mut df = ctx.read_batches(batches).map_err(PlanError::from)?;
        if sets {
            let (host, name) = members
                .get(member as usize)
                .cloned()
                .ok_or_else(|| failed(format!("a file of trace {member} of {}", members.len())))?;
            df = df
                .with_column(Column::Ts.name(), column(Column::Ts) + lit(shift))
                .and_then(|d| d.with_column(HOST, lit(host)))
                .and_then(|d| d.with_column(TRACE, lit(name)))
                .map_err(PlanError::from)?;
        }
        frames.push(df);
    }
    let df = crate::engine::union_all(frames, false)
        .map_err(PlanError::from)?
        .expect("a frame per trace with rollups");
    let df = match filter {
        Some(f) => df.filter(f.clone()).map_err(PlanError::from)?,
        None => df,
    };
    let df = df
        .aggregate(group.to_vec(), raggs)
        .map_err(PlanError::from)?;
    Ok(Some(Answer {
        df,
        covered,
        firsts,
        places,
    }))
}
