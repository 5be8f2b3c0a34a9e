//! How often each plan-computed probe fired, for `-v`: a probe fires on
//! every row of its point, whatever its `if` guards then do, so the
//! plans' own (guarded, per-update) counts cannot say. One scan per table
//! counts each probe's rows, and only when `-v` asks.

use super::error::{failed, PlanError};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use datafusion::arrow::array::Int64Array;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{lit, ExprFunctionExt};

use retap_schema::Table;

use crate::stap::elaborate::ir::Program;
use crate::trace::Trace;

use super::exec::{point_rows, session};
use super::translate::Ctx;
use crate::engine::runtime;

/// Firings of each of `probes` over the trace, or up to the time the run
/// stopped at (rows at that time fire before a timer's exit()).
pub fn probe_hits(
    prog: &Program,
    probes: &BTreeSet<usize>,
    trace: &Trace,
    until: Option<i64>,
) -> Result<HashMap<usize, u64>, PlanError> {
    let mut by_table: BTreeMap<Table, Vec<usize>> = BTreeMap::new();
    for &pi in probes {
        for pt in &prog.probes[pi].points {
            if let Some(t) = pt.table() {
                by_table.entry(t).or_default().push(pi);
            }
        }
    }
    let rt = runtime();
    let (ctx, _) = session(&trace.store);
    let mut hits: HashMap<usize, u64> = HashMap::new();
    for (table, pis) in by_table {
        let Some(files) = trace.table(table) else {
            continue;
        };
        if files.files.is_empty() {
            continue;
        }
        let mut aggs = vec![];
        let mut owners = vec![];
        let mut pis = pis;
        pis.dedup();
        for &pi in &pis {
            for pt in prog.probes[pi]
                .points
                .iter()
                .filter(|p| p.table() == Some(table))
            {
                let n = count(lit(1i64));
                let before = until.map(|t| Ctx::new(pt, 0, None).now().lt_eq(lit(t)));
                let rows = match (point_rows(pt), before) {
                    (Some(f), Some(b)) => Some(f.and(b)),
                    (f, b) => f.or(b),
                };
                let n = match rows {
                    Some(f) => n.filter(f).build().map_err(PlanError::from)?,
                    None => n,
                };
                aggs.push(n.alias(format!("h{}", aggs.len())));
                owners.push(pi);
            }
        }
        let df = super::exec::read_files(&ctx, &trace.members, &files.files)?
            .aggregate(vec![], aggs)
            .map_err(PlanError::from)?;
        let batches = rt.block_on(df.collect()).map_err(PlanError::from)?;
        for b in batches {
            for (i, pi) in owners.iter().enumerate() {
                let c = b
                    .column(i)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| failed("count column"))?;
                *hits.entry(*pi).or_default() += c.iter().flatten().sum::<i64>() as u64;
            }
        }
    }
    Ok(hits)
}
