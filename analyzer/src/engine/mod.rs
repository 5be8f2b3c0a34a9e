//! The query engine's glue, shared by plans, `retap sql` and `retap diff`:
//! DataFusion's runtime and sessions, and what retap adds to DataFusion
//! through its own extension points, each tested against the DataFusion
//! piece it replaces: a GROUP BY operator (`keyed_agg`), a filter on one
//! dictionary column (`dict_filter`), stap's log2 bucket and diff's
//! log-linear one as functions (`log_bucket`, `log_linear`), and an object store reading local files in place
//! (`inline_files`); every session also reads the object stores of the
//! traces opened (`crate::store`). It knows nothing of stap scripts.

pub mod cluster;
pub mod dict_filter;
pub mod footers;
pub mod inline_files;
pub mod keyed_agg;
pub mod log_bucket;
pub mod log_linear;
pub mod one_scan;

use std::sync::Arc;

use datafusion::prelude::{SessionConfig, SessionContext};

pub use crate::cores;

/// A trace column in an expression, named by the format's one list.
pub fn column(c: retap_schema::Column) -> datafusion::prelude::Expr {
    datafusion::prelude::Expr::Column(datafusion::common::Column::new_unqualified(c.name()))
}

/// A column named by the trace rather than by the format (a tracepoint's
/// fields, from its manifest).
pub fn column_named(name: &str) -> datafusion::prelude::Expr {
    datafusion::prelude::Expr::Column(datafusion::common::Column::new_unqualified(name))
}

/// DataFusion's default session config, made once and cloned: making
/// one asks for the cores too (see [`crate::cores`]).
pub fn session_config() -> SessionConfig {
    static C: std::sync::OnceLock<SessionConfig> = std::sync::OnceLock::new();
    C.get_or_init(SessionConfig::new).clone()
}

/// The process's threads for DataFusion ([`crate::async_runtime`]).
/// Sessions, and with them the Parquet metadata caches, stay per run.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    crate::async_runtime()
}

/// A session with `config` whose GROUP BYs go through
/// [`keyed_agg::KeyedAggregateExec`] and whose filters on one dictionary
/// column through [`dict_filter::DictFilterExec`], where they apply, and
/// which reads local files in place ([`inline_files`]).
pub fn keyed_session(config: SessionConfig) -> SessionContext {
    session_with(config, true)
}

/// [`keyed_session`] for plans built as DataFrames from expressions,
/// which carry their functions with them: without DataFusion's catalog,
/// SQL planners and registry of built-in functions, which a run made
/// anew each time (and a fresh process, each function on first use).
pub fn plan_session(config: SessionConfig) -> SessionContext {
    session_with(config, false)
}

fn session_with(config: SessionConfig, defaults: bool) -> SessionContext {
    let mut b = datafusion::execution::SessionStateBuilder::new().with_config(config);
    if defaults {
        b = b.with_default_features();
    }
    let state = b
        .with_physical_optimizer_rule(Arc::new(keyed_agg::KeyedAggregateRule))
        .with_physical_optimizer_rule(Arc::new(dict_filter::DictFilterRule))
        .build();
    let ctx = SessionContext::new_with_state(state);
    inline_files::use_inline_files(&ctx);
    use_shared_object_stores(&ctx);
    ctx
}

/// Makes `ctx` read the object stores of the traces opened so far
/// ([`crate::store::shared`]), whose files plans and SQL name by URL: a
/// session made before its traces were opened calls it again.
pub fn use_shared_object_stores(ctx: &SessionContext) {
    for (url, store) in crate::store::shared() {
        if let Ok(url) = datafusion::execution::object_store::ObjectStoreUrl::parse(&url) {
            ctx.register_object_store(url.as_ref(), store);
        }
    }
}

/// One union of many inputs (a set's traces), by position or by column
/// name. Built pair by pair, the unions nest, and DataFusion's optimizer
/// flattens them again, rebuilding a projection's schema per level: over
/// 300 traces that took most of a run (a script's filtered count, 1.0 s,
/// or `retap sql`, 2.7 s, against 0.13 s for DuckDB).
pub fn union_all(
    dfs: Vec<datafusion::prelude::DataFrame>,
    by_name: bool,
) -> datafusion::error::Result<Option<datafusion::prelude::DataFrame>> {
    use datafusion::logical_expr::{LogicalPlan, Union};
    let mut dfs = dfs.into_iter();
    let Some(first) = dfs.next() else {
        return Ok(None);
    };
    let (state, plan) = first.into_parts();
    let mut inputs = vec![Arc::new(plan)];
    inputs.extend(dfs.map(|df| Arc::new(df.into_parts().1)));
    if inputs.len() == 1 {
        let plan = Arc::unwrap_or_clone(inputs.remove(0));
        return Ok(Some(datafusion::prelude::DataFrame::new(state, plan)));
    }
    let union = if by_name {
        Union::try_new_by_name(inputs)?
    } else {
        Union::try_new_with_loose_types(inputs)?
    };
    Ok(Some(datafusion::prelude::DataFrame::new(
        state,
        LogicalPlan::Union(union),
    )))
}
