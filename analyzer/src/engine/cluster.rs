//! Apache DataFusion Ballista: sessions whose queries run on a cluster's
//! executors, and what every process of such a cluster (client, scheduler,
//! executors) must share: Ballista's session config, and the stores that
//! read traces' files (local paths, and `s3://` buckets through
//! [`crate::store`], each process with its own AWS settings). The
//! scheduler and executors themselves are started by the binary
//! (`retap cluster`). Plans through a cluster are DataFusion's own: the
//! scheduler plans them, so retap's physical operators and rules are not
//! in them; retap's functions are ([`functions`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::ScalarUDF;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::ObjectStore;
use datafusion::prelude::{SessionConfig, SessionContext};
use url::Url;

/// The session config of every process of a cluster. One of DataFusion
/// 55's choices does not survive Ballista 55's distributed planning
/// (scalar subqueries are the other: `sql::scalar_subqueries`): sorts
/// per partition merged afterwards. Over a union whose inputs are
/// sorted because a column is constant in each (a set's `trace` column),
/// the adaptive planner put an exchange under the sort-preserving merge,
/// its sanity check failed the job, and the client was never told (seen
/// with `SELECT trace, host FROM manifest ORDER BY 1` over a set): sorts
/// are made after coalescing instead.
///
/// A file is split into byte ranges, a task each, only past 256 MiB of
/// files in one scan (DataFusion's 10 MiB is made for threads): a set's
/// scan is one per trace, and 100 traces of 20 MB were 1600 tasks at
/// ~80 ms of Ballista's own cost each (127 s for a GROUP BY that takes
/// 1.5 s locally; 8.3 s as 100 tasks).
pub fn config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_information_schema(true)
        .set_str("datafusion.optimizer.repartition_sorts", "false")
        .set_u64(
            "datafusion.optimizer.repartition_file_min_size",
            256 * 1024 * 1024,
        )
}

/// The object stores of every process of a cluster: local files, and each
/// `s3://bucket` made on first use from this process's settings.
#[derive(Debug, Default)]
pub struct TraceStores {
    local: Arc<LocalFileSystem>,
    made: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

fn key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

impl ObjectStoreRegistry for TraceStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.made.write().unwrap().insert(key(url), store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "" | "file" => Ok(self.local.clone()),
            "s3" => {
                let k = key(url);
                if let Some(s) = self.made.read().unwrap().get(&k) {
                    return Ok(s.clone());
                }
                let s = crate::store::bucket_store(&k)
                    .map_err(|e| DataFusionError::External(format!("{k}: {e}").into()))?;
                self.made.write().unwrap().insert(k, s.clone());
                Ok(s)
            }
            other => Err(DataFusionError::Configuration(format!(
                "{url}: {other}:// is not a store retap reads (local paths and s3://)"
            ))),
        }
    }
}

/// The runtime every process of a cluster reads files with.
pub fn runtime_env() -> Result<Arc<RuntimeEnv>> {
    Ok(Arc::new(
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(TraceStores::default()))
            .build()?,
    ))
}

/// What a query or plan that a cluster did not answer within `wait` says.
pub fn no_answer(wait: std::time::Duration) -> String {
    format!(
        "no answer within {} s (are the cluster's executors running? --cluster-timeout sets the wait)",
        wait.as_secs()
    )
}

/// The functions of retap's plans that DataFusion lacks: every process of
/// a cluster must know them by name to decode a plan that calls them.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        crate::engine::log_bucket::log_bucket_udf(),
        crate::engine::log_linear::udf(),
    ]
}

/// A session state with `config` and [`runtime_env`]: the scheduler's
/// planning sessions, and the client's.
pub fn state(config: SessionConfig) -> Result<SessionState> {
    let mut st = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime_env()?)
        .with_default_features()
        .build();
    for f in functions() {
        st.register_udf(f)?;
    }
    Ok(st)
}

/// `schema` as a cluster can move it between executors: dictionary
/// columns as their values (Ballista's shuffle refuses dictionaries; a
/// scan with this schema casts them as it reads).
pub fn shippable(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Dictionary(_, v) => f.as_ref().clone().with_data_type(v.as_ref().clone()),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    )
}

/// A session whose queries run on the cluster whose scheduler is at `url`
/// (`df://host:port`). Err says the scheduler did not answer.
pub fn remote(url: &str) -> std::result::Result<SessionContext, String> {
    remote_with(url, config())
}

/// [`remote`] with `config` ([`config`] and what the client adds, such as
/// its codecs).
pub fn remote_with(
    url: &str,
    config: SessionConfig,
) -> std::result::Result<SessionContext, String> {
    let Some(addr) = url.strip_prefix("df://") else {
        return Err(format!(
            "{url}: a cluster is df://HOST:PORT (its scheduler)"
        ));
    };
    // Ballista connects when the first query runs; a scheduler that is not
    // there is said now, with where it was looked for.
    use std::net::ToSocketAddrs;
    let target = addr
        .trim_end_matches('/')
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    std::net::TcpStream::connect_timeout(&target, std::time::Duration::from_secs(5))
        .map_err(|e| format!("{url}: the scheduler does not answer ({e})"))?;
    let st = state(config).map_err(|e| e.to_string())?;
    let connect = SessionContext::remote_with_state(url, st);
    let ctx = crate::async_runtime()
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), connect).await })
        .map_err(|_| format!("{url}: the scheduler did not answer within 10 s"))?
        .map_err(|e| format!("{url}: cannot reach the scheduler ({})", e.find_root()))?;
    // (Ballista makes the client's session state anew: SQL names retap's
    // functions only once they are registered here too.)
    for f in functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    Ok(ctx)
}
