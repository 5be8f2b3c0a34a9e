//! `retap sql`: the recorded tables, the manifest and stap's helpers in one
//! DataFusion session, so that ad-hoc questions need neither a script nor a
//! second tool. Several traces become several schemas (`base.syscalls`); a
//! set of traces (a directory or prefix holding traces) is one schema whose
//! tables are unions over its traces, with `host` and `trace` columns.

pub mod codec;
mod error;
pub mod functions;
pub mod render;
mod scalar_subqueries;
pub mod shell;
pub mod split;

pub use error::SqlError;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use retap_schema::Table;

use crate::trace::Trace;
use crate::trace_set::TraceSet;
use functions::TraceClock;

/// A trace as the user named it on the command line.
#[derive(Clone, Debug)]
pub struct TraceArg {
    /// Schema name (`base` in `base=DIR`); None: the directory's name.
    pub name: Option<String>,
    pub dir: PathBuf,
}

/// The result of one statement.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    pub fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

pub struct SqlSession {
    ctx: SessionContext,
    /// (schema name, trace); the first is also registered unqualified
    /// when it is the only one.
    pub traces: Vec<(String, Trace)>,
    /// (schema name, set): sets of traces, each table the union over the
    /// set's traces.
    pub sets: Vec<(String, TraceSet)>,
    /// Problems found while opening (torn files…), for the user to see.
    pub warnings: Vec<String>,
    /// Through a cluster: (its URL, how long a statement may wait for it).
    /// A cluster without executors takes a query and never answers.
    cluster: Option<(String, std::time::Duration)>,
}

fn valid_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// A schema name from a directory name: `runs/web-1` → `web_1`.
fn name_from_dir(dir: &std::path::Path) -> String {
    let base = if crate::store::is_url(dir) {
        let url = dir.to_string_lossy();
        url.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("trace")
            .to_string()
    } else {
        dir.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "trace".into())
    };
    let mut s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        s.insert(0, 't');
    }
    s
}

/// Splits `retap sql`'s positionals into traces (`DIR`, `URL`,
/// `NAME=DIR` or `NAME=URL`) and at most one SQL text.
pub fn split_positionals(args: &[String]) -> Result<(Vec<TraceArg>, Option<String>), SqlError> {
    let mut traces = vec![];
    let mut sql: Option<String> = None;
    // A URL is taken as a trace without looking: whether it is one is
    // for opening it to say. SQL text has spaces.
    let is_trace = |d: &str| {
        let p = std::path::Path::new(d);
        p.is_dir() || (crate::store::is_url(p) && !d.contains(char::is_whitespace))
    };
    for (i, a) in args.iter().enumerate() {
        let named = a
            .split_once('=')
            .filter(|(n, d)| valid_ident(n) && is_trace(d));
        if let Some((n, d)) = named {
            traces.push(TraceArg {
                name: Some(n.to_string()),
                dir: PathBuf::from(d),
            });
        } else if is_trace(a) {
            traces.push(TraceArg {
                name: None,
                dir: PathBuf::from(a),
            });
        } else if i + 1 < args.len() {
            return Err(SqlError::Usage(format!("{a}: no such trace directory")));
        } else if sql.is_none() {
            sql = Some(a.clone());
        } else {
            return Err(SqlError::Usage(format!(
                "{a:?} is neither a trace directory nor the only SQL text (SQL was already given: {:?})",
                sql.unwrap_or_default()
            )));
        }
    }
    if traces.is_empty() {
        return Err(SqlError::Usage(match sql {
            Some(s) if !s.contains(' ') => format!("{s}: no such trace directory"),
            _ => "no trace given: retap sql DIR ['SQL'] (or NAME=DIR ... for several)".into(),
        }));
    }
    Ok((traces, sql))
}

impl SqlSession {
    /// A session whose queries run on the Ballista cluster at `cluster`
    /// (`df://host:port`), with the tables a local session has: the
    /// cluster's executors read the traces' files themselves (local traces
    /// by absolute path, as executors on this machine see them), and what
    /// lives in this session (the manifest tables, the helpers' trace
    /// clocks) travels in the plan ([`codec`]). Dictionary columns are read
    /// as plain strings: Ballista's shuffle does not carry dictionaries.
    pub fn open_cluster(
        args: &[TraceArg],
        cluster: &str,
        timeout: std::time::Duration,
    ) -> Result<SqlSession, SqlError> {
        use ballista::prelude::SessionConfigExt;
        let config = crate::engine::cluster::config()
            .with_ballista_logical_extension_codec(Arc::new(codec::LogicalCodec::default()))
            .with_ballista_physical_extension_codec(Arc::new(codec::PhysicalCodec::default()));
        let ctx = crate::engine::cluster::remote_with(cluster, config).map_err(SqlError::Usage)?;
        Self::open_in(ctx, args, Some((cluster.to_string(), timeout)))
    }

    pub fn open(args: &[TraceArg]) -> Result<SqlSession, SqlError> {
        // Split for the traces' stores (a wrong URL is for opening to say).
        let cpu = crate::engine::cores();
        let partitions = args
            .iter()
            .filter_map(|a| crate::store::Store::of(&a.dir).ok())
            .map(|s| s.scan_partitions(cpu))
            .max()
            .unwrap_or(cpu);
        let config = crate::engine::session_config()
            .with_target_partitions(partitions)
            .with_information_schema(true);
        // The plans' GROUP BY operator serves SQL and diff too: it takes
        // only the aggregations it computes exactly as DataFusion does.
        let ctx = crate::engine::keyed_session(config);
        Self::open_in(ctx, args, None)
    }

    fn open_in(
        ctx: SessionContext,
        args: &[TraceArg],
        cluster: Option<(String, std::time::Duration)>,
    ) -> Result<SqlSession, SqlError> {
        let mut traces: Vec<(String, Trace)> = vec![];
        let mut sets: Vec<(String, TraceSet)> = vec![];
        let mut warnings = vec![];
        for a in args {
            let name = a.name.clone().unwrap_or_else(|| name_from_dir(&a.dir));
            let taken =
                |n: &str| traces.iter().any(|(x, _)| x == n) || sets.iter().any(|(x, _)| x == n);
            if TraceSet::is_set(&a.dir) {
                if taken(&name) {
                    return Err(SqlError::Usage(format!(
                        "two traces are both called {name}: name them, e.g. base={} new=...",
                        a.dir.display()
                    )));
                }
                let mut set = TraceSet::open(&a.dir).map_err(SqlError::Usage)?;
                set.check_all();
                for m in &set.members {
                    for p in &m.trace.problems {
                        warnings.push(format!("{}: {}", p.path.display(), p.what));
                    }
                    if let Some(w) = retap_schema::summary::loss_warning(&m.trace.manifest) {
                        warnings.push(format!("{}: {w}", m.trace.dir.display()));
                    }
                }
                for d in set.differences() {
                    warnings.push(format!("{}: {d}", a.dir.display()));
                }
                sets.push((name, set));
                continue;
            }
            let t = Trace::open(&a.dir)?;
            if taken(&name) {
                return Err(SqlError::Usage(format!(
                    "two traces are both called {name}: name them, e.g. base={} new=...",
                    a.dir.display()
                )));
            }
            for p in &t.problems {
                warnings.push(format!("{}: {}", p.path.display(), p.what));
            }
            if let Some(w) = retap_schema::summary::loss_warning(&t.manifest) {
                warnings.push(format!("{}: {w}", a.dir.display()));
            }
            traces.push((name, t));
        }
        let s = SqlSession {
            ctx,
            traces,
            sets,
            warnings,
            cluster,
        };
        s.register()?;
        Ok(s)
    }

    fn register(&self) -> Result<(), SqlError> {
        crate::engine::use_shared_object_stores(&self.ctx);
        let single = self.traces.len() + self.sets.len() == 1;
        let catalog = self
            .ctx
            .catalog("datafusion")
            .expect("the default catalog exists");
        let mut clocks = vec![];
        for (name, t) in &self.traces {
            let prefixes: Vec<String> = if single {
                vec![String::new(), format!("{name}.")]
            } else {
                vec![format!("{name}.")]
            };
            catalog
                .register_schema(name, Arc::new(MemorySchemaProvider::new()))
                .map_err(SqlError::from)?;
            for (sql_name, table) in sql_tables(t) {
                let provider = self.table_provider(t, table)?;
                for p in &prefixes {
                    self.ctx
                        .register_table(format!("{p}{sql_name}"), provider.clone())
                        .map_err(SqlError::from)?;
                }
            }
            let (m, mt) = manifest_tables(t);
            for p in &prefixes {
                for (tn, b) in [("manifest", &m), ("manifest_tables", &mt)] {
                    let mem = MemTable::try_new(b.schema(), vec![vec![b.clone()]])
                        .map_err(SqlError::from)?;
                    self.ctx
                        .register_table(format!("{p}{tn}"), Arc::new(mem))
                        .map_err(SqlError::from)?;
                }
            }
            clocks.push(TraceClock {
                name: name.clone(),
                start_ns: t.manifest.start_ns,
                wall_clock_offset_ns: t.manifest.wall_clock_offset_ns,
                arch: t.manifest.arch.clone(),
            });
        }
        for (name, set) in &self.sets {
            catalog
                .register_schema(name, Arc::new(MemorySchemaProvider::new()))
                .map_err(SqlError::from)?;
            let prefixes: Vec<String> = if single {
                vec![String::new(), format!("{name}.")]
            } else {
                vec![format!("{name}.")]
            };
            self.register_set(set, &prefixes)?;
        }
        for f in functions::helpers(clocks) {
            self.ctx.register_udf(f);
        }
        Ok(())
    }

    /// A set's tables, each the union of its traces' (by column name: a
    /// column some traces lack is null in their rows), with the trace's
    /// `host` and `trace` (its path in the set) in front; `manifest` and
    /// `manifest_tables` likewise, one row per trace.
    fn register_set(&self, set: &TraceSet, prefixes: &[String]) -> Result<(), SqlError> {
        use datafusion::prelude::{lit, DataFrame};
        let tag = |df: DataFrame, host: Option<&str>, trace: &str| -> Result<DataFrame, SqlError> {
            let mut cols = vec![];
            if let Some(h) = host {
                cols.push(lit(h.to_string()).alias("host"));
            }
            cols.push(lit(trace.to_string()).alias("trace"));
            cols.extend(
                df.schema()
                    .columns()
                    .into_iter()
                    .filter(|c| c.name != "trace" && (host.is_none() || c.name != "host"))
                    .map(datafusion::prelude::Expr::Column),
            );
            df.select(cols).map_err(SqlError::from)
        };
        let union = |dfs: Vec<DataFrame>| -> Result<Option<DataFrame>, SqlError> {
            crate::engine::union_all(dfs, true).map_err(|e| {
                SqlError::Query(format!(
                    "{}: the traces' tables cannot be joined: {}",
                    set.location.display(),
                    clean_error(&e)
                ))
            })
        };
        let mut by_name: std::collections::BTreeMap<String, Vec<(usize, Table)>> =
            Default::default();
        for (i, m) in set.members.iter().enumerate() {
            for (n, t) in sql_tables(&m.trace) {
                by_name.entry(n).or_default().push((i, t));
            }
        }
        let mut views: Vec<(String, DataFrame)> = vec![];
        for (sql_name, parts) in by_name {
            if self.cluster.is_none() {
                if let Some(df) = self.one_scan(set, &parts)? {
                    views.push((sql_name, df));
                    continue;
                }
            }
            // Every trace's scan made at once: each lists its files.
            let providers = crate::engine::runtime().block_on(futures::future::try_join_all(
                parts
                    .iter()
                    .map(|&(i, table)| self.table_provider_async(&set.members[i].trace, table)),
            ))?;
            let mut dfs = vec![];
            for ((i, _), provider) in parts.into_iter().zip(providers) {
                let m = &set.members[i];
                let df = self.ctx.read_table(provider).map_err(SqlError::from)?;
                dfs.push(tag(df, Some(&m.trace.manifest.host), &m.name)?);
            }
            views.extend(union(dfs)?.map(|df| (sql_name, df)));
        }
        let (mut manifests, mut tables) = (vec![], vec![]);
        for m in &set.members {
            let (mb, tb) = manifest_tables(&m.trace);
            let mdf = self.ctx.read_batch(mb).map_err(SqlError::from)?;
            manifests.push(tag(mdf, None, &m.name)?);
            let tdf = self.ctx.read_batch(tb).map_err(SqlError::from)?;
            tables.push(tag(tdf, Some(&m.trace.manifest.host), &m.name)?);
        }
        views.extend(union(manifests)?.map(|df| ("manifest".to_string(), df)));
        views.extend(union(tables)?.map(|df| ("manifest_tables".to_string(), df)));
        for (name, df) in views {
            let view = df.into_view();
            for p in prefixes {
                self.ctx
                    .register_table(format!("{p}{name}"), view.clone())
                    .map_err(SqlError::from)?;
            }
        }
        Ok(())
    }

    /// A set's table as one scan of its traces' files, each row with its
    /// trace's `host` and name (`trace`) in front, as the union of the
    /// traces' tables [`SqlSession::register_set`] makes has them; None
    /// where that cannot be one scan (no files, a footer not read, types
    /// that differ between traces, a table with columns of those names).
    /// Traces without files of the table add no rows, and their columns.
    fn one_scan(
        &self,
        set: &TraceSet,
        parts: &[(usize, Table)],
    ) -> Result<Option<datafusion::prelude::DataFrame>, SqlError> {
        use crate::engine::one_scan::{OneScan, ScanFile};
        use datafusion::common::ScalarValue;
        use datafusion::prelude::col;
        let mut files = vec![];
        let mut scanned = vec![];
        let mut bare = vec![];
        for &(i, table) in parts {
            let m = &set.members[i];
            match m.trace.table(table) {
                Some(f) if !f.files.is_empty() => {
                    for d in &f.files {
                        let values = vec![
                            ScalarValue::Utf8(Some(m.trace.manifest.host.clone())),
                            ScalarValue::Utf8(Some(m.name.clone())),
                        ];
                        scanned.push(ScanFile::of(d, values));
                        files.push(d.clone());
                    }
                }
                _ => bare.push(table.schema()),
            }
        }
        if files.is_empty() {
            return Ok(None);
        }
        let Some(schema) = crate::engine::footers::footer_schema(&self.ctx, &files) else {
            return Ok(None);
        };
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for s in &bare {
            for f in s.fields() {
                if !fields.iter().any(|g| g.name() == f.name()) {
                    fields.push(f.as_ref().clone().with_nullable(true));
                }
            }
        }
        if fields
            .iter()
            .any(|f| f.name() == "host" || f.name() == "trace")
        {
            return Ok(None);
        }
        crate::engine::footers::cache_footers(&self.ctx, &files);
        let added = vec![
            Field::new("host", DataType::Utf8, false),
            Field::new("trace", DataType::Utf8, false),
        ];
        let Some(table) = OneScan::new(Arc::new(Schema::new(fields.clone())), added, scanned)
        else {
            return Ok(None);
        };
        let df = self
            .ctx
            .read_table(Arc::new(table))
            .map_err(SqlError::from)?;
        let cols = ["host", "trace"]
            .into_iter()
            .chain(fields.iter().map(|f| f.name().as_str()))
            .map(|n| col(datafusion::common::Column::new_unqualified(n)))
            .collect::<Vec<_>>();
        df.select(cols).map(Some).map_err(SqlError::from)
    }

    /// A table's checked files (torn and unreadable ones were reported and
    /// are left out), or an empty table of the right shape.
    fn table_provider(
        &self,
        t: &Trace,
        table: Table,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>, SqlError> {
        crate::engine::runtime().block_on(self.table_provider_async(t, table))
    }

    /// [`SqlSession::table_provider`], to make many at once (a set's).
    async fn table_provider_async(
        &self,
        t: &Trace,
        table: Table,
    ) -> Result<Arc<dyn datafusion::catalog::TableProvider>, SqlError> {
        let paths: Vec<String> = t
            .table(table)
            .map(|f| {
                f.files
                    .iter()
                    .map(|d| d.path.to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if paths.is_empty() {
            let schema = table.schema();
            let mem = MemTable::try_new(schema, vec![vec![]]).map_err(SqlError::from)?;
            return Ok(Arc::new(mem));
        }
        if let Some(f) = t.table(table) {
            crate::engine::footers::cache_footers(&self.ctx, &f.files);
        }
        let cannot = |e: datafusion::error::DataFusionError| {
            SqlError::Query(format!("{}: {}", t.dir.display(), clean_error(&e)))
        };
        let mut df = self
            .ctx
            .read_parquet(paths.clone(), ParquetReadOptions::default())
            .await
            .map_err(cannot)?;
        if self.cluster.is_some() {
            let plain = crate::engine::cluster::shippable(df.schema().as_arrow());
            let options = ParquetReadOptions {
                schema: Some(&plain),
                ..Default::default()
            };
            df = self
                .ctx
                .read_parquet(paths, options)
                .await
                .map_err(cannot)?;
        }
        Ok(df.into_view())
    }

    /// Adds a function for this session's queries (diff's bucketing).
    pub fn add_udf(&self, f: datafusion::logical_expr::ScalarUDF) {
        self.ctx.register_udf(f);
    }

    /// The names users can query, per schema ("" for unqualified).
    pub fn table_names(&self) -> Vec<String> {
        let names = |t: &Trace| {
            let mut v: Vec<String> = sql_tables(t).into_iter().map(|(n, _)| n).collect();
            v.push("manifest".into());
            v.push("manifest_tables".into());
            v
        };
        let set_names = |s: &TraceSet| {
            let mut v: Vec<String> = s.members.iter().flat_map(|m| names(&m.trace)).collect();
            v.sort();
            v.dedup();
            v
        };
        if self.traces.len() == 1 && self.sets.is_empty() {
            names(&self.traces[0].1)
        } else if self.sets.len() == 1 && self.traces.is_empty() {
            set_names(&self.sets[0].1)
        } else {
            self.traces
                .iter()
                .map(|(n, t)| (n, names(t)))
                .chain(self.sets.iter().map(|(n, s)| (n, set_names(s))))
                .flat_map(|(n, v)| v.into_iter().map(move |x| format!("{n}.{x}")))
                .collect()
        }
    }

    /// `.schema TABLE`: each column with its type (as DuckDB names it) and
    /// whether it can be null.
    pub fn describe(&self, table: &str) -> Result<QueryResult, SqlError> {
        let ok = table
            .split('.')
            .all(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !ok {
            return Err(SqlError::Usage(format!("{table:?} is not a table name")));
        }
        let r = self.query(&format!("SELECT * FROM {table} LIMIT 0"))?;
        let f = r.schema.fields();
        let names: Vec<&str> = f.iter().map(|f| f.name().as_str()).collect();
        let types: Vec<String> = f.iter().map(|f| render::type_name(f.data_type())).collect();
        let nulls: Vec<&str> = f
            .iter()
            .map(|f| if f.is_nullable() { "YES" } else { "NO" })
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("column_name", DataType::Utf8, false),
            Field::new("column_type", DataType::Utf8, false),
            Field::new("null", DataType::Utf8, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(types)),
            Arc::new(StringArray::from(nulls)),
        ];
        let b = RecordBatch::try_new(schema.clone(), cols).map_err(SqlError::from)?;
        Ok(QueryResult {
            schema,
            batches: vec![b],
        })
    }

    /// Runs one statement to completion (all cores).
    pub fn query(&self, sql: &str) -> Result<QueryResult, SqlError> {
        let run = async {
            let mut df = self
                .ctx
                .sql(sql)
                .await
                .map_err(|e| SqlError::Query(self.explain(&e)))?;
            if self.cluster.is_some() {
                let plan = scalar_subqueries::inline(&self.ctx, df.into_unoptimized_plan())
                    .await
                    .map_err(|e| self.with_damage(self.explain(&e)))?;
                df = self
                    .ctx
                    .execute_logical_plan(plan)
                    .await
                    .map_err(|e| SqlError::Query(self.explain(&e)))?;
            }
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df
                .collect()
                .await
                .map_err(|e| self.with_damage(self.explain(&e)))?;
            Ok(QueryResult { schema, batches })
        };
        let Some((url, limit)) = &self.cluster else {
            return crate::engine::runtime().block_on(run);
        };
        crate::engine::runtime()
            .block_on(async { tokio::time::timeout(*limit, run).await })
            .unwrap_or_else(|_| {
                Err(SqlError::Query(format!(
                    "{url}: {}",
                    crate::engine::cluster::no_answer(*limit)
                )))
            })
    }

    /// A query that failed while reading: if a trace is damaged, that is
    /// why, and where it is damaged is said (a failure elsewhere is
    /// returned as it is).
    fn with_damage(&self, message: String) -> SqlError {
        let damage: Vec<String> = self
            .traces
            .iter()
            .map(|(_, t)| t)
            .chain(
                self.sets
                    .iter()
                    .flat_map(|(_, s)| s.members.iter().map(|m| &m.trace)),
            )
            .flat_map(|t| crate::integrity::verify(t, &[]).damage)
            .map(|d| d.to_string())
            .collect();
        if damage.is_empty() {
            return SqlError::Query(message);
        }
        SqlError::Damaged { message, damage }
    }

    /// One clear line for an error; unknown tables list what exists.
    fn explain(&self, e: &DataFusionError) -> String {
        let msg = clean_error(e);
        if let Some(rest) = msg.strip_prefix("table '") {
            if let Some(name) = rest.split('\'').next() {
                let short = name.strip_prefix("datafusion.public.").unwrap_or(name);
                let short = short.strip_prefix("datafusion.").unwrap_or(short);
                return format!(
                    "unknown table {short} (tables: {})",
                    self.table_names().join(", ")
                );
            }
        }
        msg
    }
}

/// DataFusion's error without its layers of wrapping.
pub fn clean_error(e: &DataFusionError) -> String {
    let root = e.find_root();
    let s = match root {
        DataFusionError::SQL(p, _) => {
            let t = p.to_string();
            let t = t
                .strip_prefix("sql parser error: ")
                .unwrap_or(&t)
                .to_string();
            format!("syntax error: {t}")
        }
        DataFusionError::Plan(m) => m.clone(),
        DataFusionError::Execution(m) => m.clone(),
        DataFusionError::NotImplemented(m) => format!("not supported: {m}"),
        DataFusionError::SchemaError(se, _) => se.to_string(),
        other => other.to_string(),
    };
    s.lines().next().unwrap_or("").trim().to_string()
}

/// `manifest` (one row of trace facts) and `manifest_tables` (one row per
/// table: events, losses, files, bytes).
fn manifest_tables(t: &Trace) -> (RecordBatch, RecordBatch) {
    let m = &t.manifest;
    let s = |v: &str| Arc::new(StringArray::from(vec![v.to_string()])) as ArrayRef;
    let i = |v: Option<i64>| Arc::new(Int64Array::from(vec![v])) as ArrayRef;
    let dur = m.end_ns.map(|e| (e - m.start_ns) as f64 / 1e9);
    let fields = vec![
        Field::new("dir", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("kernel", DataType::Utf8, false),
        Field::new("arch", DataType::Utf8, false),
        Field::new("recorder_version", DataType::Utf8, false),
        Field::new("command_line", DataType::Utf8, false),
        Field::new("traced_command", DataType::Utf8, true),
        Field::new("clock", DataType::Utf8, false),
        Field::new("wall_clock_offset_ns", DataType::Int64, false),
        Field::new("start_ns", DataType::Int64, false),
        Field::new("end_ns", DataType::Int64, true),
        Field::new("duration_s", DataType::Float64, true),
        Field::new("sample_hz", DataType::Int64, true),
        Field::new("format_version", DataType::Int64, false),
    ];
    let cols: Vec<ArrayRef> = vec![
        s(&t.dir.display().to_string()),
        s(&m.state),
        s(&m.host),
        s(&m.kernel),
        s(&m.arch),
        s(&m.recorder_version),
        s(&m.command_line.join(" ")),
        Arc::new(StringArray::from(vec![m.filters.command.clone()])),
        s(&m.clock),
        i(Some(m.wall_clock_offset_ns)),
        i(Some(m.start_ns)),
        i(m.end_ns),
        Arc::new(Float64Array::from(vec![dur])),
        i(m.sample_hz.map(|h| h as i64)),
        i(Some(m.format_version as i64)),
    ];
    let manifest = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .expect("manifest columns match their fields");

    let names: Vec<&str> = m.tables.keys().map(String::as_str).collect();
    let stat = |f: &dyn Fn(&retap_schema::manifest::TableStats) -> u64| {
        Arc::new(UInt64Array::from(
            m.tables.values().map(f).collect::<Vec<u64>>(),
        )) as ArrayRef
    };
    let tfields = vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("events", DataType::UInt64, false),
        Field::new("dropped", DataType::UInt64, false),
        Field::new("unpaired", DataType::UInt64, false),
        Field::new("files", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
    ];
    let tcols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(names)),
        stat(&|s| s.events),
        stat(&|s| s.dropped),
        stat(&|s| s.unpaired),
        stat(&|s| s.files.len() as u64),
        stat(&|s| s.files.iter().map(|f| f.bytes).sum()),
    ];
    let tables = RecordBatch::try_new(Arc::new(Schema::new(tfields)), tcols)
        .expect("manifest_tables columns match their fields");
    (manifest, tables)
}

/// The tables a trace offers SQL, by the name queries use: every fixed
/// table (empty when not recorded), then each tracepoint recorded by name
/// under its event name (`sched_switch`, as stap's kernel.trace says it),
/// or `system_event` where the event name is taken.
pub fn sql_tables(t: &Trace) -> Vec<(String, Table)> {
    let mut out: Vec<(String, Table)> = Table::ALL
        .iter()
        .map(|t| (t.name().to_string(), *t))
        .collect();
    let tracepoints: Vec<_> = t
        .tables
        .iter()
        .filter_map(|f| f.table.tracepoint())
        .collect();
    for f in &tracepoints {
        let taken = Table::from_name(&f.event).is_some()
            || ["manifest", "manifest_tables"].contains(&f.event.as_str())
            || tracepoints
                .iter()
                .any(|g| g.event == f.event && g.system != f.system);
        let name = if taken {
            format!("{}_{}", f.system, f.event)
        } else {
            f.event.clone()
        };
        out.push((name, Table::Tracepoint(f)));
    }
    out
}
