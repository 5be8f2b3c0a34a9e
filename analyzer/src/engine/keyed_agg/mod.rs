//! A GROUP BY operator for the shapes plans produce: integer and string
//! keys, count/sum/min/max of integers. DataFusion's general hash
//! aggregation encodes every row's keys into its row format (a dictionary
//! string is decoded and copied per row) and interns the bytes; that was
//! about half the time of `c[pid(), execname()]++` over a trace. Here a
//! dictionary column is mapped once per batch (a few hundred values) and
//! each row's key is a few machine words looked up in one hash table.
//!
//! [`KeyedAggregateRule`] swaps the pair of partial/final `AggregateExec`s
//! for a [`KeyedAggregateExec`] when every key and aggregate is one it
//! handles, and leaves the plan alone otherwise; the plan keeps its
//! output schema, so whoever reads the result cannot tell the difference
//! (the differential tests hold it to the interpreter's output).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PhysicalExpr, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

mod numbering;
mod table;
#[cfg(test)]
mod tests;

use table::Table;

/// How a key column's values become a machine word.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyKind {
    /// Any integer (or boolean) type, as its i64 value.
    Int,
    /// Any string type, dictionary-encoded or not, as an interned id.
    Str,
}

/// The aggregates handled, all over integers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AggKind {
    Count,
    Sum,
    Min,
    Max,
    /// The least of 128-bit integers (a Decimal128 of scale 0): where
    /// plans number an element's first firing as (time, file, row) in
    /// one value, whose least is the earliest place.
    MinWide,
}

#[derive(Clone, Debug)]
struct Agg {
    kind: AggKind,
    arg: Arc<dyn PhysicalExpr>,
    name: String,
}

/// GROUP BY integer/string keys with count/sum/min/max of integers, one
/// output partition (the groups are few; the rows are many).
#[derive(Debug)]
pub struct KeyedAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<(Arc<dyn PhysicalExpr>, String, KeyKind)>,
    aggs: Vec<Agg>,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
}

fn key_kind(t: &DataType) -> Option<KeyKind> {
    match t {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Some(KeyKind::Int),
        DataType::Utf8 | DataType::LargeUtf8 => Some(KeyKind::Str),
        // String views are what rollups hand DataFusion (their groups'
        // names), whose grouping compares them column by column as
        // integers; here each row's string would be interned, a hash a
        // row: over a million processes' groups, 0.2 s more a run.
        DataType::Utf8View => None,
        DataType::Dictionary(k, v) if k.is_dictionary_key_type() => match key_kind(v) {
            Some(KeyKind::Str) => Some(KeyKind::Str),
            _ => None,
        },
        _ => None,
    }
}

fn is_int(t: &DataType) -> bool {
    key_kind(t) == Some(KeyKind::Int) && *t != DataType::Boolean
}

impl KeyedAggregateExec {
    /// The operator for `agg` (a partial aggregate, or a single one) over
    /// `input`, producing `schema`; None when a key or an aggregate is not
    /// one this operator computes exactly as DataFusion would.
    fn try_new(agg: &AggregateExec, schema: SchemaRef) -> Option<Self> {
        let input = agg.input().clone();
        let in_schema = input.schema();
        let group = agg.group_expr();
        if !group.is_single() || !group.null_expr().is_empty() || group.expr().len() > 4 {
            return None;
        }
        if agg.filter_expr().iter().any(|f| f.is_some()) || agg.limit_options().is_some() {
            return None;
        }
        let mut keys = vec![];
        for (e, name) in group.expr() {
            let kind = key_kind(&e.data_type(&in_schema).ok()?)?;
            keys.push((e.clone(), name.clone(), kind));
        }
        let mut aggs = vec![];
        for a in agg.aggr_expr() {
            if a.is_distinct() || !a.order_bys().is_empty() {
                return None;
            }
            let kind = match a.fun().name() {
                "count" => AggKind::Count,
                "sum" => AggKind::Sum,
                "min" => AggKind::Min,
                "max" => AggKind::Max,
                _ => return None,
            };
            let [arg] = a.expressions().try_into().ok()?;
            let t = arg.data_type(&in_schema).ok()?;
            let kind = match (kind, &t) {
                (AggKind::Min, DataType::Decimal128(_, 0)) => AggKind::MinWide,
                (AggKind::Count, _) => kind,
                _ if is_int(&t) => kind,
                _ => return None,
            };
            aggs.push(Agg {
                kind,
                arg,
                name: a.name().to_string(),
            });
        }
        // Integer results come out as i64 and are cast to the schema's
        // type, wide ones as the Decimal128 they came in as; anything else
        // would need more than a cast.
        for (f, a) in schema.fields().iter().skip(keys.len()).zip(&aggs) {
            let fits = match a.kind {
                AggKind::MinWide => matches!(f.data_type(), DataType::Decimal128(_, 0)),
                _ => is_int(f.data_type()),
            };
            if !fits {
                return None;
            }
        }
        if schema.fields().len() != keys.len() + aggs.len() {
            return None;
        }
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Some(Self {
            input,
            keys,
            aggs,
            schema,
            props: Arc::new(props),
        })
    }
}

impl DisplayAs for KeyedAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(e, n, _)| format!("{e} as {n}"))
            .collect();
        let aggs: Vec<&str> = self.aggs.iter().map(|a| a.name.as_str()).collect();
        write!(
            f,
            "KeyedAggregateExec: gby=[{}], aggr=[{}], input_partitions={}",
            keys.join(", "),
            aggs.join(", "),
            self.input.output_partitioning().partition_count()
        )
    }
}

impl ExecutionPlan for KeyedAggregateExec {
    fn name(&self) -> &str {
        "KeyedAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for (e, _, _) in &self.keys {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        for a in &self.aggs {
            if f(&a.arg)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("KeyedAggregateExec takes one input".into()))?;
        Ok(Arc::new(Self {
            input,
            keys: self.keys.clone(),
            aggs: self.aggs.clone(),
            schema: self.schema.clone(),
            props: self.props.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "KeyedAggregateExec has one partition, not {partition}"
            )));
        }
        let parts = self.input.output_partitioning().partition_count();
        let streams = (0..parts)
            .map(|p| self.input.execute(p, context.clone()))
            .collect::<Result<Vec<_>>>()?;
        let keys = self.keys.clone();
        let aggs = self.aggs.clone();
        let schema = self.schema.clone();
        let run = async move {
            // One table per input partition, each on its own task (a core
            // each), merged at the end in partition order, so that groups
            // come out in the same order every run (a shared pool of
            // tables, tried, made `retap sql`'s dictionaries differ from
            // run to run).
            let tasks: Vec<_> = streams
                .into_iter()
                .map(|mut s| {
                    let keys = keys.clone();
                    let aggs = aggs.clone();
                    tokio::spawn(async move {
                        let mut t = Table::new(&keys, &aggs);
                        while let Some(b) = s.next().await {
                            t.add_batch(&b?, &keys, &aggs)?;
                        }
                        Ok::<Table, DataFusionError>(t)
                    })
                })
                .collect();
            // The first table is the merge's start: merging it into an
            // empty one would insert its groups in the same order again.
            let mut merged: Option<Table> = None;
            for t in tasks {
                let t = t
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))??;
                match &mut merged {
                    Some(m) => m.merge(t, &keys, &aggs),
                    None => merged = Some(t),
                }
            }
            let merged = merged.unwrap_or_else(|| Table::new(&keys, &aggs));
            merged.finish(&schema, &keys, &aggs)
        };
        let stream = futures::stream::once(run);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

/// Replaces final(partial(x)) and single(x) aggregations that
/// [`KeyedAggregateExec`] computes with one over x.
#[derive(Debug, Default)]
pub struct KeyedAggregateRule;

fn partial_below(plan: &Arc<dyn ExecutionPlan>) -> Option<&AggregateExec> {
    if let Some(r) = plan.downcast_ref::<RepartitionExec>() {
        return partial_below(r.input());
    }
    if let Some(c) = plan.downcast_ref::<CoalescePartitionsExec>() {
        return partial_below(c.input());
    }
    plan.downcast_ref::<AggregateExec>()
        .filter(|a| *a.mode() == AggregateMode::Partial)
}

impl PhysicalOptimizerRule for KeyedAggregateRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|plan| {
            let Some(agg) = plan.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            let source = match agg.mode() {
                AggregateMode::Final | AggregateMode::FinalPartitioned => {
                    partial_below(agg.input())
                }
                AggregateMode::Single | AggregateMode::SinglePartitioned => Some(agg),
                _ => None,
            };
            match source.and_then(|s| KeyedAggregateExec::try_new(s, agg.schema())) {
                Some(k) => Ok(Transformed::yes(Arc::new(k) as Arc<dyn ExecutionPlan>)),
                None => Ok(Transformed::no(plan)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "keyed_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
