//! Uncorrelated scalar subqueries through a cluster. DataFusion 55 leaves
//! them to the physical plan, which Ballista 55's planners do not make
//! (`Physical plan does not support logical expression ScalarSubquery`);
//! the escape hatch DataFusion offers (rewriting them to joins) misses
//! those in GROUP BY and aggregate arguments and turns a subquery of many
//! rows into many rows instead of an error. So the client runs each one
//! first, innermost first, on the cluster, and puts its value into the
//! query as a literal: what the physical plan would compute, with the
//! same error for more than one row.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery};
use datafusion::prelude::{lit, DataFrame, SessionContext};

/// `plan` with every uncorrelated scalar subquery replaced by its value,
/// each computed through `ctx`.
pub async fn inline(ctx: &SessionContext, mut plan: LogicalPlan) -> Result<LogicalPlan> {
    while let Some(sq) = innermost(&plan)? {
        let value = value_of(ctx, &sq).await?;
        plan = plan
            .transform_up_with_subqueries(|node| {
                // Columns keep their names: what reads them by name (a
                // projection over an aggregate) still finds them.
                let names = NamePreserver::new(&node);
                node.map_expressions(|e| {
                    let saved = names.save(&e);
                    let replaced = e.transform_up(|e| match &e {
                        Expr::ScalarSubquery(s) if *s == sq => {
                            Ok(Transformed::yes(lit(value.clone())))
                        }
                        _ => Ok(Transformed::no(e)),
                    })?;
                    Ok(replaced.update_data(|e| saved.restore(e)))
                })
            })?
            .data;
    }
    Ok(plan)
}

/// An uncorrelated scalar subquery of `plan` holding none itself.
fn innermost(plan: &LogicalPlan) -> Result<Option<Subquery>> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| match e {
                Expr::ScalarSubquery(s)
                    if s.outer_ref_columns.is_empty() && !holds_one(&s.subquery) =>
                {
                    found = Some(s.clone());
                    Ok(TreeNodeRecursion::Stop)
                }
                _ => Ok(TreeNodeRecursion::Continue),
            })
        })
    })?;
    Ok(found)
}

fn holds_one(plan: &LogicalPlan) -> bool {
    let mut any = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                any |= matches!(e, Expr::ScalarSubquery(_));
                Ok(if any {
                    TreeNodeRecursion::Stop
                } else {
                    TreeNodeRecursion::Continue
                })
            })
        })
    });
    any
}

async fn value_of(ctx: &SessionContext, sq: &Subquery) -> Result<ScalarValue> {
    let plan = sq.subquery.as_ref().clone();
    let ty = plan.schema().field(0).data_type().clone();
    let batches = DataFrame::new(ctx.state(), plan).collect().await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    match rows {
        0 => ScalarValue::try_from(&ty),
        1 => {
            let b = batches.iter().find(|b| b.num_rows() == 1).expect("a row");
            ScalarValue::try_from_array(b.column(0), 0)
        }
        n => Err(DataFusionError::Execution(format!(
            "a scalar subquery gave {n} rows: it must give one at most"
        ))),
    }
}
