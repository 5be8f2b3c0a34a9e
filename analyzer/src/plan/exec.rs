//! Pass 4 and the plans' run: each update becomes a DataFusion DataFrame
//! (scan → filter → GROUP BY keys → aggregates), executed on all cores;
//! results are merged per global into the state the interpreter loads.

use super::error::{failed, PlanError};
use super::shown;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::functions_aggregate::count::count_all;
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::logical_expr::{in_list, lit, when, Expr};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};

use crate::runtime::preload::{Acc, Preload};
use crate::runtime::stats::{empty_hist, linear_buckets};
use crate::runtime::value::{Interner, Value};
use crate::stap::elaborate::catalog::ResolvedPoint;
use crate::stap::elaborate::context::CtxVar;
use crate::stap::elaborate::ir::{HistSpec, Program, X};
use crate::trace::{DataFile, Trace};
use retap_schema::{Column, Table};

use super::analysis::{Compiled, Moments, Update, UpdateKind, ValueSort};
use super::firing_order::{self, Firing, Place, Places};
use super::translate::Ctx;
use crate::engine::{column, cores, plan_session, runtime, session_config};

/// One aggregation to run: which histogram (if any), GROUP BY, aggregates.
type Spec = (Option<(usize, HistSpec)>, Vec<Expr>, Vec<Expr>);

/// One plan: an update's main aggregate, or one histogram of a statistic.
/// Counts and sums of one probe point with the same guards and keys share
/// one plan (one scan, one GROUP BY), as does one update at several points
/// of a table: `members` are their updates.
pub struct Plan {
    pub members: Vec<Member>,
    /// Whether rows are grouped by [`POINT_COLUMN`] too (members at
    /// different points), so each result row belongs to one member.
    pub split: bool,
    pub hist: Option<(usize, HistSpec)>,
    /// The rows' aggregates: from rollups, from a scan, or both (files
    /// with and without), merged by element as they are loaded.
    pub dfs: Vec<DataFrame>,
    pub text: String,
    /// The rows firing each of its members' updates (before members at
    /// several points were collapsed into one): what orders elements
    /// first seen at the same time ([`firing_order`]).
    firings: Vec<Firing>,
    /// Where any file was answered from its rollups, which and how.
    pub from_rollups: Option<FromRollups>,
    /// Files whose rollups did not decode (scanned instead), for the
    /// user to hear of.
    pub unreadable_rollups: Vec<String>,
    /// Files left unread, their dictionaries holding no value that passes
    /// the probe's filter, of those there were to scan; and row groups
    /// left unread in the files read.
    pub unread: (usize, usize, usize),
    /// Whether its results carry each element's first firing time.
    firsts: bool,
    /// Whether they also carry where it first fired (`rollups::FIRST_AT`).
    places: bool,
    /// Whether each row of its results is one element, none another's:
    /// one frame, keys as grouped (no name taken from an argument, which
    /// two groups can share), no point column.
    row_an_element: bool,
}

/// How a plan was answered from rollups.
#[derive(Debug, Clone, Copy)]
pub struct FromRollups {
    /// Files answered from their rollups, of `files`.
    pub answered: usize,
    pub files: usize,
    /// The grain whose groups were summed.
    pub grain: retap_schema::rollups::Grain,
    /// Files whose finest groups were filtered by the probe's filter
    /// first, then added up by that grain (the rest had it, or all their
    /// rows passed).
    pub filtered_finest: usize,
    /// Where the elements are keyed by a name some syscalls take from an
    /// argument: how many answered files' rows of those were scanned.
    pub by_arg_scanned: Option<usize>,
    /// Whether that scan filtered rows as it decoded them (they were
    /// few: [`FEW_APART`]).
    pub by_arg_filtered_decoding: bool,
}

/// Rows of the syscalls stap names by an argument (epoll_create1) under
/// one in this many of their files' rows are taken by a Parquet reader
/// that filters as it decodes: the name column is decoded first and the
/// other columns only at the rows it keeps. Where they are common the
/// selection's many short runs cost more than the decoding they skip
/// (names over `retap synth`'s 5 files, 1 row in 100: 0.109 -> 0.141 s;
/// over the 507 copies of datasets/mixed, 1 in 20,000: 0.257 -> 0.204).
const FEW_APART: u64 = 1000;

/// `df` run by a session whose Parquet reader filters rows as it decodes
/// them (DataFusion's `pushdown_filters`).
fn filtered_while_decoding(df: DataFrame) -> DataFrame {
    let (mut state, plan) = df.into_parts();
    let options = state.config_mut().options_mut();
    options.execution.parquet.pushdown_filters = true;
    DataFrame::new(state, plan)
}

/// The result column of an element's first firing time.
pub(super) const FIRST: &str = "first";

/// Whether an aggregate is an element's first firing time.
pub(super) fn is_first(a: &Expr) -> bool {
    matches!(a, Expr::Alias(al) if al.name == FIRST)
}

/// The globals some plan of which lacks what `has` says it has.
fn globals_without(
    plans: &[Plan],
    compiled: &Compiled,
    has: impl Fn(&Plan) -> bool,
) -> FxHashSet<u32> {
    plans
        .iter()
        .filter(|p| !has(p))
        .flat_map(|p| p.members.iter().map(|m| compiled.updates[m.update].global))
        .collect()
}

/// An update computed by a plan.
pub struct Member {
    pub update: usize,
    /// The result column holding its aggregate.
    pub column: String,
    /// Its point's values of the discriminating column (None: all rows).
    values: Option<Vec<String>>,
}

/// The result column naming each row's point, in plans that cover several.
const POINT_COLUMN: &str = "point";

/// A plan being put together (pass 4).
struct Pending {
    members: Vec<Member>,
    /// The column that tells the members' points apart.
    column: Option<Column>,
    hist: Option<(usize, HistSpec)>,
    group: Vec<Expr>,
    aggs: Vec<Expr>,
    /// The rows' filter, but for the points' discriminator.
    filter: Option<Expr>,
    table: Table,
    paths: Vec<String>,
    points: Vec<String>,
    globals: Vec<String>,
    /// The GROUP BY's keys (`a{i}`) that say whether a row's syscall is
    /// named by its argument, and the syscalls that can be.
    by_arg: Vec<String>,
    by_arg_syscalls: Vec<String>,
}

impl Pending {
    /// The discriminator covering every member's rows.
    fn union(&self) -> Option<Discriminator> {
        let column = self.column?;
        let mut values: Vec<String> = vec![];
        for m in &self.members {
            for v in m.values.as_ref()? {
                if !values.contains(v) {
                    values.push(v.clone());
                }
            }
        }
        Some(Discriminator { column, values })
    }

    /// The column to group by when members sit at different points and
    /// update differently (`a++` at one, `a--` at the other), so that each
    /// result row goes to its own; None otherwise.
    fn split(&self, compiled: &Compiled) -> Option<Column> {
        let first = &self.members[0];
        let sign = |m: &Member| match compiled.updates[m.update].kind {
            UpdateKind::Count(s) | UpdateKind::Sum(s, _) => s,
            _ => 1,
        };
        let points = self.members.iter().any(|m| m.values != first.values);
        let alike = self.members.iter().all(|m| sign(m) == sign(first));
        (points && !alike).then_some(self.column).flatten()
    }

    /// Members at several points updating alike (netdev.receive and
    /// netdev.transmit both `h <<< length`): the plan's rows, over both
    /// points, are one update's; the first member applies them. (Each
    /// probe's hits are counted apart, see hits.rs.)
    fn collapse(&mut self, compiled: &Compiled) {
        let points = self
            .members
            .iter()
            .any(|m| m.values != self.members[0].values);
        if points && self.split(compiled).is_none() {
            // (A count or sum sharing the scan has its own column: kept.)
            let mut first = true;
            self.members.retain(|m| {
                let keep = m.column != "n" || first;
                first &= m.column != "n";
                keep
            });
        }
    }
}

/// Where aggregate plans run: this process's session (retap's operators
/// and rules in it), or a Ballista cluster's, where the scheduler plans
/// them with DataFusion's own and executors scan the traces' files.
#[derive(Clone)]
pub struct PlanSession {
    ctx: SessionContext,
    log_udf: Arc<datafusion::logical_expr::ScalarUDF>,
    /// On a cluster: how long a plan may wait for its answer.
    cluster: Option<std::time::Duration>,
    /// Whether plans may read files' rollups instead of their rows
    /// (`--no-rollups` says no).
    pub rollups: bool,
}

impl PlanSession {
    /// This process's session, its scans split for where `store` keeps
    /// the trace's files.
    pub fn local(store: &crate::store::Store) -> PlanSession {
        let (ctx, log_udf) = session(store);
        PlanSession {
            ctx,
            log_udf,
            cluster: None,
            rollups: true,
        }
    }

    /// The cluster whose scheduler is at `url` (df://HOST:PORT); a plan
    /// not answered within `timeout` is an error. Err: the scheduler does
    /// not answer.
    pub fn cluster(url: &str, timeout: std::time::Duration) -> Result<PlanSession, String> {
        let ctx = crate::engine::cluster::remote(url)?;
        Ok(PlanSession {
            ctx,
            log_udf: crate::engine::log_bucket::log_bucket_udf(),
            cluster: Some(timeout),
            rollups: false,
        })
    }

    async fn collect(
        &self,
        df: DataFrame,
    ) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, PlanError> {
        let Some(t) = self.cluster else {
            return df.collect().await.map_err(PlanError::from);
        };
        match tokio::time::timeout(t, df.collect()).await {
            Ok(r) => r.map_err(|e| PlanError::Cluster(e.find_root().to_string())),
            Err(_) => Err(PlanError::Cluster(crate::engine::cluster::no_answer(t))),
        }
    }
}

/// The session, and stap's log2 bucket function as a UDF (the f64 log2 of
/// SQL would misplace values next to large powers of two).
pub(super) fn session(
    store: &crate::store::Store,
) -> (SessionContext, Arc<datafusion::logical_expr::ScalarUDF>) {
    // Two partitions per core: the byte ranges of files finish unevenly,
    // and smaller ones let the other core take the tail (100M events,
    // profile_end: 0.62-0.94 s with one per core, 0.60-0.67 s with two).
    let partitions = store.scan_partitions(2 * cores());
    let ctx = plan_session(session_config().with_target_partitions(partitions));
    let udf = crate::engine::log_bucket::log_bucket_udf();
    ctx.register_udf(udf.as_ref().clone());
    (ctx, udf)
}

/// A scan of a table's files with the schema and footers [`Trace::check`]
/// read: no file's footer is fetched again (in a bucket, a scan without
/// them fetched small files whole for their footers). Files of a set's
/// traces taken as one (`members`, [`Trace::members`]) are one scan
/// ([`one_scan`]; a cluster's, a union of one per trace): each file's
/// rows with `ts` moved onto the set's clock (`DataFile::ts_shift`) and
/// its trace's host and name as the columns hostname() and trace_name()
/// read ([`translate::HOST`], `TRACE`).
pub(super) fn read_files(
    ctx: &SessionContext,
    members: &[(String, String)],
    files: &[DataFile],
) -> Result<datafusion::prelude::DataFrame, PlanError> {
    read_files_with(ctx, members, files, false, false, &[])
}

/// [`read_files`], each row with its file's object path (`__path`) and
/// its index in that file (`__row`), which only the scan of the file
/// knows: they are taken there, under any shift of `ts`.
pub(super) fn read_files_placed(
    ctx: &SessionContext,
    members: &[(String, String)],
    files: &[DataFile],
) -> Result<datafusion::prelude::DataFrame, PlanError> {
    read_files_with(ctx, members, files, false, true, &[])
}

/// [`read_files`], with dictionary columns read as their values where
/// `shippable` (a cluster's plans: [`crate::engine::cluster::shippable`]),
/// and without the row groups `groups` says to leave unread in each file
/// (empty: none; a cluster's workers read them all).
fn read_files_with(
    ctx: &SessionContext,
    members: &[(String, String)],
    files: &[DataFile],
    shippable: bool,
    placed: bool,
    groups: &[Option<Vec<bool>>],
) -> Result<datafusion::prelude::DataFrame, PlanError> {
    let place = |df: datafusion::prelude::DataFrame| {
        if !placed {
            return Ok(df);
        }
        df.select(vec![
            datafusion::prelude::wildcard(),
            datafusion::functions::core::expr_fn::input_file_name()
                .alias("__path")
                .into(),
            datafusion::functions::core::expr_fn::file_row_index()
                .alias("__row")
                .into(),
        ])
        .map_err(PlanError::from)
    };
    let mut schema = crate::engine::footers::footer_schema(ctx, files);
    if shippable {
        let inferred = match schema {
            Some(s) => s,
            None => runtime()
                .block_on(
                    ctx.read_parquet(
                        files
                            .iter()
                            .map(|f| f.path.display().to_string())
                            .collect::<Vec<_>>(),
                        ParquetReadOptions::default(),
                    ),
                )
                .map_err(PlanError::from)?
                .schema()
                .as_arrow()
                .clone(),
        };
        schema = Some(crate::engine::cluster::shippable(&inferred));
    } else {
        crate::engine::footers::cache_footers(ctx, files);
    }
    let scan = |part: &[&DataFile]| {
        let options = ParquetReadOptions {
            schema: schema.as_ref(),
            ..Default::default()
        };
        let paths: Vec<String> = part.iter().map(|f| f.path.display().to_string()).collect();
        runtime()
            .block_on(ctx.read_parquet(paths, options))
            .map_err(PlanError::from)
            .and_then(place)
    };
    let set = members.len() > 1;
    if !shippable && (set || groups.iter().any(Option::is_some)) {
        if let Some(df) = one_scan(ctx, members, files, schema.as_ref(), None, groups)? {
            let df = place(df)?;
            return if set { shift_ts(df) } else { Ok(df) };
        }
    }
    if !set {
        return scan(&files.iter().collect::<Vec<_>>());
    }
    let mut parts: Vec<u32> = files.iter().map(|f| f.member).collect();
    parts.sort_unstable();
    parts.dedup();
    // The traces' scans made together: each asks the store for its files.
    let scans = runtime()
        .block_on(futures::future::try_join_all(parts.iter().map(|&m| {
            let paths: Vec<String> = files
                .iter()
                .filter(|f| f.member == m)
                .map(|f| f.path.display().to_string())
                .collect();
            let options = ParquetReadOptions {
                schema: schema.as_ref(),
                ..Default::default()
            };
            ctx.read_parquet(paths, options)
        })))
        .map_err(PlanError::from)?;
    let mut out = Vec::with_capacity(parts.len());
    for (m, df) in parts.into_iter().zip(scans) {
        let part: Vec<&DataFile> = files.iter().filter(|f| f.member == m).collect();
        let (host, name) = members
            .get(m as usize)
            .cloned()
            .ok_or_else(|| failed(format!("a file of trace {m} of {}", members.len())))?;
        let ts = column(Column::Ts);
        let df = place(df)?
            .with_column(Column::Ts.name(), ts + lit(part[0].ts_shift))
            .and_then(|d| d.with_column(super::translate::HOST, lit(host)))
            .and_then(|d| d.with_column(super::translate::TRACE, lit(name)))
            .map_err(PlanError::from)?;
        out.push(df);
    }
    crate::engine::union_all(out, false)
        .map_err(PlanError::from)?
        .ok_or_else(|| failed("a set's scan of no files".to_string()))
}

/// The column of a set's scan ([`one_scan`]) that moves a file's `ts`
/// onto the set's clock; [`shift_ts`] reads it and drops it.
const SHIFT: &str = "__retap_ts_shift";

/// A set's files as one scan, each file's rows with its trace's host and
/// name and its shift ([`SHIFT`]); with `numbers`, each row also with
/// its file's number there ([`FILE_NUMBER`]) and its own in that file
/// ([`ROW_NUMBER`]), and then `files` may be one trace's. None where they
/// cannot be one scan (files in more than one object store), and a union
/// of per-trace scans is made.
fn one_scan(
    ctx: &SessionContext,
    members: &[(String, String)],
    files: &[DataFile],
    schema: Option<&Schema>,
    numbers: Option<&[usize]>,
    groups: &[Option<Vec<bool>>],
) -> Result<Option<datafusion::prelude::DataFrame>, PlanError> {
    use crate::engine::one_scan::{OneScan, ScanFile};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    let Some(schema) = schema else {
        return Ok(None);
    };
    let set = members.len() > 1;
    let mut scanned = Vec::with_capacity(files.len());
    for (i, f) in files.iter().enumerate() {
        let mut values = vec![];
        if set {
            let (host, name) = members.get(f.member as usize).ok_or_else(|| {
                failed(format!("a file of trace {} of {}", f.member, members.len()))
            })?;
            values.extend([
                ScalarValue::Int64(Some(f.ts_shift)),
                ScalarValue::Utf8(Some(host.clone())),
                ScalarValue::Utf8(Some(name.clone())),
            ]);
        }
        if let Some(n) = numbers {
            let n = *n
                .get(i)
                .ok_or_else(|| failed(format!("file {i} of a numbered scan without a number")))?;
            values.push(ScalarValue::Int64(Some(n as i64)));
        }
        let mut file = ScanFile::of(f, values);
        file.skip_row_groups = groups.get(i).cloned().flatten();
        scanned.push(file);
    }
    let mut added = vec![];
    if set {
        added.extend([
            Field::new(SHIFT, DataType::Int64, false),
            Field::new(super::translate::HOST, DataType::Utf8, false),
            Field::new(super::translate::TRACE, DataType::Utf8, false),
        ]);
    }
    let numbered = numbers.is_some();
    if numbered {
        added.push(Field::new(FILE_NUMBER, DataType::Int64, false));
    }
    let Some(table) = OneScan::new(Arc::new(schema.clone()), added, scanned) else {
        return Ok(None);
    };
    let table = match numbered {
        true => table.with_row_numbers(ROW_NUMBER),
        false => table,
    };
    ctx.read_table(Arc::new(table))
        .map(Some)
        .map_err(PlanError::from)
}

/// The column of a numbered scan ([`read_files_numbered`]) holding each
/// row's file, as its index among the files scanned.
const FILE_NUMBER: &str = "__retap_file";
/// The column of a numbered scan holding each row's index in its file.
const ROW_NUMBER: &str = "__retap_row";

/// A file's first `ts` on the run's clock, from its footer's statistics
/// (its rows are in `ts` order: its first row group's least).
fn first_ts(f: &DataFile) -> Option<i64> {
    let (meta, _) = f.footer.as_ref()?;
    let ts = (meta.row_groups().first()?.columns().iter())
        .find(|c| c.column_path().string() == Column::Ts.name())?;
    match ts.statistics()? {
        parquet::file::statistics::Statistics::Int64(s) => {
            s.min_opt().map(|t| t.wrapping_add(f.ts_shift))
        }
        _ => None,
    }
}

/// Whether two of the files begin at the same time: copies of one
/// workload (a fleet's hosts running it in step, a recording replayed),
/// whose elements first fire at equal times all through. Plans then say
/// where each element first fired in the pass that counts it; elsewhere
/// equal first times are few (two CPUs' rows in one nanosecond) and the
/// rows at those times alone are read for their order, rather than every
/// row paying for its place (a fifth more CPU over 20M rows).
fn begin_together(files: &[DataFile]) -> bool {
    let mut firsts: Vec<i64> = files.iter().filter_map(first_ts).collect();
    firsts.sort_unstable();
    firsts.windows(2).any(|w| w[0] == w[1])
}

/// The files as [`read_files`] reads them (without the row groups
/// `groups` leaves unread), each row with its file's number (`numbers`,
/// in `files`' order: its index among the table's files, some of which
/// may be left unread) and its own in that file: what says where an
/// element first fired, in the same pass as its aggregates (see
/// [`firing_order::first_at`]). None where the files cannot be one scan.
fn read_files_numbered(
    ctx: &SessionContext,
    members: &[(String, String)],
    files: &[DataFile],
    numbers: &[usize],
    groups: &[Option<Vec<bool>>],
) -> Result<Option<datafusion::prelude::DataFrame>, PlanError> {
    let schema = crate::engine::footers::footer_schema(ctx, files);
    crate::engine::footers::cache_footers(ctx, files);
    match one_scan(ctx, members, files, schema.as_ref(), Some(numbers), groups)? {
        Some(df) if members.len() > 1 => shift_ts(df).map(Some),
        df => Ok(df),
    }
}

/// A set's scan with `ts` moved by its [`SHIFT`], which is dropped.
fn shift_ts(
    df: datafusion::prelude::DataFrame,
) -> Result<datafusion::prelude::DataFrame, PlanError> {
    let cols: Vec<Expr> = df
        .schema()
        .columns()
        .into_iter()
        .filter(|c| c.name != SHIFT)
        .map(|c| {
            if c.name == Column::Ts.name() {
                (Expr::Column(c) + crate::engine::column_named(SHIFT)).alias(Column::Ts.name())
            } else {
                Expr::Column(c)
            }
        })
        .collect();
    df.select(cols).map_err(PlanError::from)
}

/// The rows that fire the point and pass the guards (None: all rows).
pub(super) fn row_filter(
    pt: &ResolvedPoint,
    tctx: &Ctx,
    guards: &[X],
) -> Result<Option<Expr>, PlanError> {
    let mut f: Vec<Expr> = point_rows(pt).into_iter().collect();
    for g in guards {
        f.push(tctx.expr(g)?.cond());
    }
    Ok(and_all(f))
}

/// The rows the point fires on, guards aside (None: all rows).
pub(super) fn point_rows(pt: &ResolvedPoint) -> Option<Expr> {
    let (disc, rest) = point_filter(pt);
    and_all(disc.map(|d| d.expr()).into_iter().chain(rest).collect())
}

fn and_all(f: Vec<Expr>) -> Option<Expr> {
    f.into_iter().reduce(|a, b| a.and(b))
}

/// The column and values that tell a table's probe points apart
/// (`direction` 'rx' for netdev.receive, `syscall` 'read' for
/// syscall.read): points whose rows differ only in it can share one scan.
#[derive(Clone, Debug, PartialEq)]
struct Discriminator {
    column: Column,
    values: Vec<String>,
}

impl Discriminator {
    /// Whether the values are all the format lets the column hold, so
    /// that filtering on them would keep every row.
    fn takes_every_row(&self, table: Table) -> bool {
        table
            .domain(self.column)
            .is_some_and(|all| all.iter().all(|v| self.values.iter().any(|w| w == v)))
    }

    fn expr(&self) -> Expr {
        match self.values.as_slice() {
            [v] => column(self.column).eq(lit(v.clone())),
            vs => in_list(
                column(self.column),
                vs.iter().map(|v| lit(v.clone())).collect(),
                false,
            ),
        }
    }
}

/// The point's own row filter ([`ResolvedPoint::rows`]): the
/// discriminating column's values, and the rest (a return probe's
/// `ret IS NOT NULL`).
fn point_filter(p: &ResolvedPoint) -> (Option<Discriminator>, Vec<Expr>) {
    let rows = p.rows();
    let disc = rows
        .one_of
        .map(|(column, values)| Discriminator { column, values });
    let rest = rows.not_null.map(|c| column(c).is_not_null());
    (disc, rest.into_iter().collect())
}

fn raw_int_col(b: crate::stap::elaborate::tapset::Builtin) -> Option<Column> {
    use crate::stap::elaborate::tapset::Builtin::*;
    match b {
        Pid => Some(Column::Pid),
        Tid => Some(Column::Tid),
        Uid | Euid => Some(Column::Uid),
        Cpu => Some(Column::Cpu),
        _ => None,
    }
}

fn linear_bucket_expr(v: Expr, start: i64, interval: i64, n: usize) -> Expr {
    let d = v - lit(start);
    let b = d.clone() / lit(interval) + lit(1i64);
    when(d.lt(lit(0i64)), lit(0i64))
        .when(b.clone().gt_eq(lit(n as i64 - 1)), lit(n as i64 - 1))
        .otherwise(b)
        .expect("case expression")
}

/// Whether a row's syscall takes the name that depends on its argument
/// (`syscall_args::names_by_value`).
fn renamed_by_value(present: &[String]) -> Expr {
    crate::stap::elaborate::syscall_args::names_by_value()
        .into_iter()
        .filter(|(kernel, ..)| present.iter().any(|p| p == kernel))
        .map(|(kernel, reg, v, _)| super::translate::named_by_value(kernel, reg, v))
        .reduce(Expr::or)
        .unwrap_or(lit(false))
}

/// Whether a syscall point includes a syscall whose stap name depends on
/// an argument (so its names cannot be applied to grouped kernel names).
fn names_by_value(pt: &crate::stap::elaborate::catalog::ResolvedPoint) -> bool {
    let varies = crate::stap::elaborate::syscall_args::names_by_value();
    match &pt.syscalls {
        Some(list) => varies.iter().any(|(k, ..)| list.iter().any(|s| s == k)),
        None => !varies.is_empty(),
    }
}

/// For each file read, the row groups to leave unread in it, if any
/// (true: unread), one a row group.
type RowGroupSkips = Vec<Option<Vec<bool>>>;

/// What a plan leaves unread by its files' dictionaries.
#[derive(Default)]
struct Unread {
    files: usize,
    /// Row groups of files read.
    row_groups: usize,
}

impl Unread {
    /// The files of `files` to read (whose row groups `skip` does not
    /// all leave unread), each file's number among `files`, and for each
    /// the row groups it leaves unread, if any.
    fn keep<'f>(
        &mut self,
        files: &'f [DataFile],
        skip: Vec<Vec<bool>>,
    ) -> (std::borrow::Cow<'f, [DataFile]>, Vec<usize>, RowGroupSkips) {
        if skip.iter().all(|s| !s.contains(&true)) {
            return (files.into(), (0..files.len()).collect(), vec![]);
        }
        let (mut kept, mut numbers, mut groups) = (vec![], vec![], vec![]);
        for (i, (f, s)) in files.iter().zip(skip).enumerate() {
            if s.iter().all(|x| *x) {
                self.files += 1;
                continue;
            }
            let n = s.iter().filter(|x| **x).count();
            self.row_groups += n;
            kept.push(f.clone());
            numbers.push(i);
            groups.push((n > 0).then_some(s));
        }
        (kept.into(), numbers, groups)
    }
}

/// Builds every plan (pass 4). Err is why the program must run
/// interpreted after all.
///
/// Arrays' plans compute each element's first firing time (the order the
/// interpreter creates them in) when `keep_first` is set or some array is
/// iterated in that order; otherwise they read no timestamps. With
/// `ts_bound`, only rows up to that time are read (see [`run_plans`]).
pub fn build_plans(
    prog: &Program,
    compiled: &Compiled,
    trace: &Trace,
    keep_first: bool,
    ts_bound: Option<i64>,
    session: &PlanSession,
) -> Result<Vec<Plan>, PlanError> {
    let (ctx, log_udf) = (&session.ctx, &session.log_udf);
    let wall = trace.manifest.wall_clock_offset_ns;
    let signatures = trace.signatures();
    let mut pending: Vec<Pending> = vec![];
    let mut firings: HashMap<usize, Firing> = HashMap::new();
    // The syscalls the trace has calls of, from its dictionaries (read once,
    // by the first syscall point): a point's list of syscalls is cut to
    // them, and dropped when it takes them all (`syscall.*` leaves out the
    // syscalls stap has no alias for, which most traces have none of); a
    // name that depends on an argument is worked out only where the trace
    // has that syscall.
    let mut present: Option<Option<Vec<String>>> = None;
    let mut dicts = super::dictionaries::Dictionaries::new(&trace.store);
    for (ui, u) in compiled.updates.iter().enumerate() {
        let probe = &prog.probes[u.probe];
        let pt = &probe.points[u.point];
        let table = pt.table().expect("event probe");
        let Some(files) = trace.table(table) else {
            return Err(failed(format!("the trace has no {table} table")));
        };
        if files.files.is_empty() {
            continue;
        }
        let paths = files.paths();
        let tctx = Ctx::new(pt, wall, signatures).with_members(&trace.members);
        let (mut disc, mut filter) = point_filter(pt);
        if let Some(d) = disc.as_mut().filter(|d| d.column == Column::Syscall) {
            if present.is_none() {
                present = Some(dicts.values(&files.files, Column::Syscall.name())?);
            }
            if let Some(Some(there)) = &present {
                d.values.retain(|v| there.contains(v));
                if there.iter().all(|v| d.values.contains(v)) {
                    disc = None;
                }
            }
        }
        for g in &u.guards {
            filter.push(tctx.expr(g)?.cond());
        }
        // A syscall-name key groups on the raw dictionary column; stap's
        // spelling is applied to the (few) result rows, not to every row.
        // Where a name depends on an argument (epoll_create1 with flags 0
        // is epoll_create), a boolean key `a{i}` says which rows have it.
        let mut alt_keys = vec![];
        let keyed_by_name = u
            .keys
            .iter()
            .any(|k| matches!(k, X::Ctx(CtxVar::SyscallName)));
        if keyed_by_name && names_by_value(pt) && present.is_none() {
            present = Some(dicts.values(&files.files, Column::Syscall.name())?);
        }
        // (not known: as if the trace had them all)
        let by_value: Vec<String> = crate::stap::elaborate::syscall_args::names_by_value()
            .iter()
            .map(|(k, ..)| k.to_string())
            .filter(|k| match &present {
                Some(Some(there)) => there.contains(k),
                _ => true,
            })
            .collect();
        let mut keys: Vec<Expr> = u
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| match k {
                X::Ctx(CtxVar::SyscallName) => {
                    if names_by_value(pt) && !by_value.is_empty() {
                        alt_keys.push(renamed_by_value(&by_value).alias(format!("a{i}")));
                    }
                    Ok(column(Column::Syscall).alias(format!("k{i}")))
                }
                // Plain integer context keys group on the column as stored.
                X::Call(b, a, _) if a.is_empty() && raw_int_col(*b).is_some() => {
                    Ok(column(raw_int_col(*b).unwrap()).alias(format!("k{i}")))
                }
                _ => tctx.expr(k).map(|t| t.e.alias(format!("k{i}"))),
            })
            .collect::<Result<_, _>>()?;
        let by_arg: Vec<String> = alt_keys
            .iter()
            .map(|k: &Expr| k.schema_name().to_string())
            .collect();
        keys.extend(alt_keys);
        let value = match &u.kind {
            UpdateKind::Sum(_, v)
            | UpdateKind::Stat(v)
            | UpdateKind::Max(v, _)
            | UpdateKind::Min(v) => Some(tctx.expr(v)?.long()),
            UpdateKind::Count(_) => None,
        };
        // A running maximum starts from the 0 a missing element reads as.
        if let (UpdateKind::Max(_, strict), Some(v)) = (&u.kind, &value) {
            let c = if *strict {
                v.clone().gt(lit(0i64))
            } else {
                v.clone().gt_eq(lit(0i64))
            };
            filter.push(c);
        }
        if let Some(b) = ts_bound {
            filter.push(column(Column::Ts).lt_eq(lit(b)));
        }
        let filter = and_all(filter);
        // Elements are created in first-firing order, which only an array
        // has more than one of, and which only matters if something
        // iterates in it (or sorts with ties): see Compiled::order. A sort
        // that shows every element meets ties almost always: it gets them
        // in the same pass rather than a second run.
        let fire: Vec<Expr> = if u.keys.is_empty()
            || !(keep_first || compiled.order.is_none() || shows_all(compiled, u.global))
        {
            vec![]
        } else {
            vec![min(tctx.now()).alias(FIRST)]
        };
        let with_fire = |aggs: Vec<Expr>| [aggs, fire.clone()].concat();
        // With timers, results are grouped by the interval each event
        // falls in: tick k ends at start + k*period, inclusive (rows fire
        // before a timer at the same time).
        let mut keys = keys;
        if let Some(p) = compiled.period {
            let start = trace.manifest.begin_ns();
            let t = tctx.now();
            keys.push(
                when(t.clone().lt_eq(lit(start + p)), lit(1i64))
                    .otherwise((t - lit(start) + lit(p - 1)) / lit(p))
                    .map_err(PlanError::from)?
                    .alias("tick"),
            );
        }
        firings.insert(
            ui,
            Firing {
                update: ui,
                table,
                rows: and_all(
                    disc.iter()
                        .filter(|d| !d.takes_every_row(table))
                        .map(|d| d.expr())
                        .chain(filter.clone())
                        .collect(),
                ),
                keys: keys.clone(),
                now: tctx.now(),
                at_return: pt.family.fires_at_return(),
            },
        );
        let mut specs: Vec<Spec> = vec![];
        match &u.kind {
            UpdateKind::Count(_) => {
                specs.push((None, keys.clone(), with_fire(vec![count_all().alias("n")])))
            }
            UpdateKind::Sum(..) => {
                let v = value.clone().unwrap();
                specs.push((None, keys.clone(), with_fire(vec![sum(v).alias("n")])))
            }
            UpdateKind::Max(..) => {
                let v = value.clone().unwrap();
                specs.push((None, keys.clone(), with_fire(vec![max(v).alias("n")])))
            }
            UpdateKind::Min(_) => {
                let v = value.clone().unwrap();
                specs.push((None, keys.clone(), with_fire(vec![min(v).alias("n")])))
            }
            UpdateKind::Stat(_) => {
                let v = value.clone().unwrap();
                // Only the moments something reads (nethist's @hist_log
                // needs counts per bucket alone).
                let read = compiled
                    .moments
                    .get(&u.global)
                    .copied()
                    .unwrap_or(Moments::ALL);
                let moments = || {
                    let mut aggs = vec![count_all().alias("count")];
                    if read.sum {
                        aggs.push(sum(v.clone()).alias("sum"));
                    }
                    if read.min {
                        aggs.push(min(v.clone()).alias("min"));
                    }
                    if read.max {
                        aggs.push(max(v.clone()).alias("max"));
                    }
                    with_fire(aggs)
                };
                let hists = &prog.globals[u.global as usize].hists;
                if hists.is_empty() {
                    specs.push((None, keys.clone(), moments()));
                }
                // With histograms, the first one's GROUP BY (keys, bucket)
                // also carries the moments, folded per key afterwards: one
                // scan, not two.
                for (hi, h) in hists.iter().enumerate() {
                    let bucket = match h {
                        HistSpec::Log => log_udf.call(vec![v.clone()]),
                        HistSpec::Linear {
                            start,
                            stop,
                            interval,
                        } => linear_bucket_expr(
                            v.clone(),
                            *start,
                            *interval,
                            linear_buckets(*start, *stop, *interval),
                        ),
                    };
                    let mut gk = keys.clone();
                    gk.push(bucket.alias("bucket"));
                    let aggs = if hi == 0 {
                        moments()
                    } else {
                        vec![count_all().alias("n")]
                    };
                    specs.push((Some((hi, *h)), gk, aggs));
                }
            }
        }
        let gname = prog.globals[u.global as usize].name.clone();
        for (hist, group, aggs) in specs {
            let shareable =
                hist.is_none() && matches!(u.kind, UpdateKind::Count(_) | UpdateKind::Sum(..));
            let same_rows = |p: &Pending| {
                p.filter == filter && p.group == group && p.paths == paths && p.hist == hist
            };
            if shareable {
                // Same scan, filter and GROUP BY as an earlier count/sum:
                // one more aggregate column there.
                let twin = pending.iter_mut().find(|p| {
                    same_rows(p)
                        && p.union() == disc
                        && p.members.iter().all(|m| {
                            matches!(
                                compiled.updates[m.update].kind,
                                UpdateKind::Count(_) | UpdateKind::Sum(..)
                            )
                        })
                });
                if let Some(t) = twin {
                    // This update may need first firing times where the
                    // plan's first did not (sorted by key, shown whole).
                    if !t.aggs.iter().any(is_first) {
                        t.aggs.extend(aggs.iter().filter(|a| is_first(a)).cloned());
                    }
                    let col = format!("n{ui}");
                    let n = aggs[0].clone().unalias().alias(col.clone());
                    t.aggs.push(n);
                    t.members.push(Member {
                        update: ui,
                        column: col,
                        values: disc.as_ref().map(|d| d.values.clone()),
                    });
                    t.globals.push(gname.clone());
                    continue;
                }
            }
            // The same update at another point of the table (netdev.receive
            // and netdev.transmit): one scan of both points' rows, grouped
            // by the discriminating column too, so each row still counts
            // for its own probe.
            if let Some(d) = &disc {
                let other_point = pending.iter_mut().find(|p| {
                    same_rows(p)
                        && p.aggs == aggs
                        && p.members.iter().all(|m| {
                            let o = &compiled.updates[m.update];
                            m.column == "n"
                                && o.global == u.global
                                && std::mem::discriminant(&o.kind)
                                    == std::mem::discriminant(&u.kind)
                                && m.values
                                    .as_ref()
                                    .is_some_and(|vs| !vs.iter().any(|v| d.values.contains(v)))
                        })
                        && p.union().is_some_and(|pd| pd.column == d.column)
                });
                if let Some(t) = other_point {
                    t.members.push(Member {
                        update: ui,
                        column: "n".to_string(),
                        values: Some(d.values.clone()),
                    });
                    t.points.push(pt.text.clone());
                    continue;
                }
            }
            pending.push(Pending {
                members: vec![Member {
                    update: ui,
                    column: "n".to_string(),
                    values: disc.as_ref().map(|d| d.values.clone()),
                }],
                column: disc.as_ref().map(|d| d.column),
                hist,
                group,
                aggs,
                filter: filter.clone(),
                table,
                paths: paths.clone(),
                points: vec![pt.text.clone()],
                globals: vec![gname.clone()],
                by_arg: by_arg.clone(),
                by_arg_syscalls: by_value.clone(),
            });
        }
    }
    let mut plans = vec![];
    for p in pending {
        let files = &trace.table(p.table).expect("a checked table").files;
        // netdev.receive and netdev.transmit together take every row.
        let filter = and_all(
            p.union()
                .filter(|d| !d.takes_every_row(p.table))
                .map(|d| d.expr())
                .into_iter()
                .chain(p.filter.clone())
                .collect(),
        );
        let split = p.split(compiled);
        let fired: Vec<Firing> = p
            .members
            .iter()
            .map(|m| firings[&m.update].clone())
            .collect();
        let mut p = p;
        p.collapse(compiled);
        let mut group = p.group.clone();
        if let Some(c) = split {
            group.push(column(c).alias(POINT_COLUMN));
        }
        // (A cluster's workers read files, not this process's memory.)
        let entry = fired.iter().all(|f| f.now == column(Column::Ts));
        // Rows of syscalls stap names by an argument (epoll_create1 with
        // flags 0 is epoll_create) are not in any rollup: those alone are
        // scanned, and the rest answered with their name keys' argument
        // part false.
        let by_arg = (!p.by_arg.is_empty()).then(|| {
            column(Column::Syscall).in_list(
                p.by_arg_syscalls.iter().map(|s| lit(s.clone())).collect(),
                false,
            )
        });
        let rolled_group: Vec<Expr> = group
            .iter()
            .map(|e| match e {
                Expr::Alias(a) if p.by_arg.contains(&a.name) => lit(false).alias(a.name.clone()),
                e => e.clone(),
            })
            .collect();
        let (rolled, unreadable_rollups) = match session.rollups && session.cluster.is_none() {
            true => super::rollups::answer(
                ctx,
                &trace.members,
                files,
                filter.as_ref(),
                &rolled_group,
                &p.aggs,
                entry,
                by_arg.as_ref(),
            )?,
            false => (None, vec![]),
        };
        // The files left to scan (all of them without rollups), and those
        // whose rows named by an argument are.
        let pick = |of: fn(&super::rollups::Answer, usize) -> bool| -> Vec<DataFile> {
            let Some(a) = &rolled else {
                return vec![];
            };
            (files.iter().enumerate())
                .filter(|(i, _)| of(a, *i))
                .map(|(_, f)| f.clone())
                .collect()
        };
        let unrolled: Option<Vec<DataFile>> = rolled.as_ref().map(|_| pick(|a, i| !a.covered[i]));
        let apart = pick(|a, i| a.covered[i] && a.apart[i] > 0);
        let apart_rows: u64 = rolled.as_ref().map_or(0, |a| a.apart.iter().sum());
        let few_apart =
            apart_rows.saturating_mul(FEW_APART) < apart.iter().map(|f| f.rows).sum::<u64>();
        let rest = unrolled.as_deref().unwrap_or(files);
        // Files whose dictionaries hold no value passing the filter are
        // left unread; those read keep their numbers among `rest`.
        let added = |f: &DataFile, name: &str| {
            let (host, trace_name) = trace.members.get(f.member as usize)?;
            match name {
                super::translate::HOST => Some(host.clone()),
                super::translate::TRACE => Some(trace_name.clone()),
                _ => None,
            }
        };
        let to_scan = rest.len() + apart.len();
        let skip = dicts.unread(ctx, rest, &added, filter.as_ref())?;
        let mut unread = Unread::default();
        let (rest, numbers, groups) = unread.keep(rest, skip);
        let rest = rest.as_ref();
        let mut places = rolled.as_ref().is_some_and(|a| a.places);
        let firsts = rolled.as_ref().is_some_and(|a| a.firsts) || p.aggs.iter().any(is_first);
        let aggregated = |df: DataFrame, filter: Option<Expr>, aggs: Vec<Expr>| {
            let df = match filter {
                Some(f) => df.filter(f).map_err(PlanError::from)?,
                None => df,
            };
            df.aggregate(group.clone(), aggs).map_err(PlanError::from)
        };
        let scan = |of: &[DataFile],
                    groups: &[Option<Vec<bool>>],
                    filter: Option<Expr>|
         -> Result<DataFrame, PlanError> {
            let shippable = session.cluster.is_some();
            let df = read_files_with(ctx, &trace.members, of, shippable, false, groups)?;
            aggregated(df, filter, p.aggs.clone())
        };
        // Where an entry's plan keeps first firing times over every file
        // of its table, and files begin together, it also keeps where each
        // element first fired (time, file, row), so that the elements
        // first seen at one time need no second scan to be put in the
        // interpreter's order (see begin_together). (Not on a cluster,
        // whose workers read files, not this scan; not with rollups,
        // which number their own files.)
        let numbered = match rolled.is_none()
            && entry
            && p.hist.is_none()
            && session.cluster.is_none()
            && p.aggs.iter().any(is_first)
            && begin_together(rest)
        {
            true => read_files_numbered(ctx, &trace.members, rest, &numbers, &groups)?,
            false => None,
        };
        let mut scanned = vec![];
        if let Some(df) = numbered {
            let at = firing_order::first_at().call(vec![
                column(Column::Ts),
                crate::engine::column_named(FILE_NUMBER),
                crate::engine::column_named(ROW_NUMBER),
            ]);
            // (The first firing time is the place's high half: not a
            // second aggregate.)
            let aggs: Vec<Expr> = (p.aggs.iter())
                .filter(|a| !is_first(a))
                .cloned()
                .chain([min(at).alias(super::rollups::FIRST_AT)])
                .collect();
            scanned.push(aggregated(df, filter.clone(), aggs)?);
            places = true;
        } else if !rest.is_empty() {
            scanned.push(scan(rest, &groups, filter.clone())?);
        }
        let mut decoding = false;
        if let (false, Some(b)) = (apart.is_empty(), &by_arg) {
            let only = and_all(filter.iter().cloned().chain([b.clone()]).collect());
            let skip = dicts.unread(ctx, &apart, &added, only.as_ref())?;
            let (kept, _, groups) = unread.keep(&apart, skip);
            if !kept.is_empty() {
                let df = scan(&kept, &groups, only)?;
                decoding = few_apart;
                scanned.push(match few_apart {
                    true => filtered_while_decoding(df),
                    false => df,
                });
            }
        }
        let from_rollups = rolled.as_ref().map(|a| FromRollups {
            answered: a.covered.iter().filter(|c| **c).count(),
            files: files.len(),
            grain: a.grain,
            filtered_finest: a.finest,
            by_arg_scanned: by_arg.as_ref().map(|_| apart.len()),
            by_arg_filtered_decoding: decoding,
        });
        // Two plans, not one union: DataFusion would interleave the two
        // aggregates' outputs by their hash partitioning, which the keyed
        // aggregate replacing them does not keep.
        let dfs: Vec<DataFrame> = rolled.map(|a| a.df).into_iter().chain(scanned).collect();
        let one_frame = dfs.len() == 1;
        let text = format!(
            "{} (global {}{})",
            p.points.join(", "),
            p.globals.join(", "),
            match p.hist {
                Some((_, HistSpec::Log)) => ", @hist_log buckets".to_string(),
                Some((_, HistSpec::Linear { .. })) => ", @hist_linear buckets".to_string(),
                None => String::new(),
            }
        );
        plans.push(Plan {
            members: p.members,
            split: split.is_some(),
            hist: p.hist,
            dfs,
            text,
            firings: fired,
            from_rollups,
            unreadable_rollups,
            unread: (unread.files, to_scan, unread.row_groups),
            firsts,
            places,
            row_an_element: one_frame && p.by_arg.is_empty() && split.is_none(),
        });
    }
    Ok(plans)
}

/// An update's keys, column by column, from a batch with its plan's key
/// columns (`{prefix}k{i}`, `{prefix}a{i}`): as the interpreter would
/// have made them.
pub(super) fn key_values(
    b: &datafusion::arrow::record_batch::RecordBatch,
    u: &Update,
    prefix: &str,
    interner: &mut Interner,
) -> Result<Vec<Vec<Value>>, PlanError> {
    let mut keys: Vec<Vec<Value>> = (0..u.keys.len())
        .map(|i| {
            let c = b
                .column_by_name(&format!("{prefix}k{i}"))
                .ok_or_else(|| failed(format!("no key column {prefix}k{i}")))?;
            to_values(c, interner)
        })
        .collect::<Result<_, _>>()?;
    // Grouped on kernel names: spell them as stap does.
    let by_value = crate::stap::elaborate::syscall_args::names_by_value();
    for (i, k) in u.keys.iter().enumerate() {
        if matches!(k, X::Ctx(CtxVar::SyscallName)) {
            let alt = b
                .column_by_name(&format!("{prefix}a{i}"))
                .and_then(|c| c.as_any().downcast_ref::<BooleanArray>());
            for (r, v) in keys[i].iter_mut().enumerate() {
                let kernel = v.str();
                let stap = match alt {
                    Some(a) if a.is_valid(r) && a.value(r) => by_value
                        .iter()
                        .find(|(k, ..)| *k == kernel)
                        .map_or(kernel, |(.., name)| name),
                    _ => crate::stap::elaborate::syscall_args::stap_name(kernel),
                };
                if stap != kernel {
                    *v = Value::Str(interner.get(stap));
                }
            }
        }
    }
    Ok(keys)
}

fn to_values(a: &ArrayRef, interner: &mut Interner) -> Result<Vec<Value>, PlanError> {
    match a.data_type() {
        DataType::Int64 => {
            let a = a
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| failed("int key"))?;
            Ok(a.iter().map(|v| Value::Int(v.unwrap_or(0))).collect())
        }
        DataType::Boolean
        | DataType::Int32
        | DataType::UInt32
        | DataType::Int16
        | DataType::UInt16
        | DataType::UInt64 => {
            let c = cast(a, &DataType::Int64).map_err(PlanError::from)?;
            to_values(&c, interner)
        }
        _ => {
            let c = cast(a, &DataType::Utf8).map_err(PlanError::from)?;
            let s = c
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| failed("string key"))?;
            Ok(s.iter()
                .map(|v| Value::Str(interner.get(v.unwrap_or(""))))
                .collect())
        }
    }
}

pub(super) fn int_col(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    name: &str,
) -> Result<Vec<i64>, PlanError> {
    let a = batch
        .column_by_name(name)
        .ok_or_else(|| failed(format!("no column {name}")))?;
    let c = cast(a, &DataType::Int64).map_err(PlanError::from)?;
    let a = c
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| failed("int column"))?;
    Ok(a.iter().map(|v| v.unwrap_or(0)).collect())
}

/// Each result row's first firing time (0s when the plan has no keys, so
/// no order among elements to keep).
fn first_col(batch: &datafusion::arrow::record_batch::RecordBatch) -> Result<Vec<i64>, PlanError> {
    match (
        batch.column_by_name(FIRST),
        batch.column_by_name(super::rollups::FIRST_AT),
    ) {
        (Some(_), _) => int_col(batch, FIRST),
        (None, Some(_)) => super::rollups::time_of(batch),
        (None, None) => Ok(vec![0; batch.num_rows()]),
    }
}

/// The rows of a plan's result that belong to the member at the point
/// with these discriminator values.
fn own_rows(
    batch: &datafusion::arrow::record_batch::RecordBatch,
    values: &[String],
) -> Result<datafusion::arrow::record_batch::RecordBatch, PlanError> {
    let a = batch
        .column_by_name(POINT_COLUMN)
        .ok_or_else(|| failed("no point column"))?;
    let a = cast(a, &DataType::Utf8).map_err(PlanError::from)?;
    let a = a
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| failed("point column"))?;
    let mine: BooleanArray = a
        .iter()
        .map(|v| Some(v.is_some_and(|v| values.iter().any(|x| x == v))))
        .collect();
    filter_record_batch(batch, &mine).map_err(PlanError::from)
}

/// Whether code sorts `global` by value and shows all of it (no limit):
/// its plans keep first firing times, which order the ties it shows.
fn shows_all(compiled: &Compiled, global: u32) -> bool {
    compiled
        .order
        .as_ref()
        .and_then(|o| o.get(&global))
        .is_some_and(|sorts| sorts.iter().any(|s| s.limit.is_none()))
}

/// Runs plans built without `keep_first` (save for arrays a sort shows
/// whole, whose plans keep first firing times in the same pass). Where a
/// limited value sort shows ties, the interpreter's order among the tied
/// elements is the order it created them in: their first firing times
/// come from plans that keep them over rows up to a bound, first a 64th
/// of the trace, then an 8th, then all of it. A time found at or before
/// the bound is final (no later row fires earlier: a return fires at
/// `ts + dur_ns`, not before its row's `ts`), and the elements a sort
/// shows first usually fire early. The second value says how the ties
/// were ordered, if any were.
pub fn run_plans(
    prog: &Program,
    compiled: &Compiled,
    trace: &Trace,
    plans: Vec<Plan>,
    maxmapentries: usize,
    session: &PlanSession,
    whole_arrays: bool,
) -> Result<(Preload, Option<String>), PlanError> {
    let mut interner = Interner::default();
    // Globals some plan of which computed no first firing times, or does
    // not say where elements first fired.
    let without_firsts = globals_without(&plans, compiled, |p| p.firsts);
    let mut without_places = globals_without(&plans, compiled, |p| p.places);
    // Globals some plan of which scanned rows rather than rollups.
    let scanned = globals_without(&plans, compiled, |p| p.from_rollups.is_some());
    let limited = (!whole_arrays).then_some(&compiled.seen_through_limits);
    let (mut state, firings, totals) =
        aggregate(prog, compiled, plans, session, &mut interner, limited)?;
    let by_first = compiled.order.is_none();
    let (needed, why) = match by_first {
        true => (Needed::new(), None),
        false => tied_where_shown(prog, compiled, &state),
    };
    let mut note = None;
    let mut why = why;
    if why.is_some() && needed.keys().all(|(_, g)| !without_firsts.contains(g)) {
        let why = why.take().expect("checked");
        note = Some(match needed.keys().any(|(_, g)| scanned.contains(g)) {
            false => format!("{why}: its elements' first firing times came with the rollups"),
            true => format!("{why}: its elements' first firing times came in the same pass"),
        });
    }
    if let Some(why) = why {
        let wanted: usize = needed.values().map(|k| k.len()).sum();
        let begin = trace.manifest.begin_ns();
        let bounds: Vec<Option<i64>> = match trace.manifest.end_ns {
            Some(end) if end > begin => [64, 8]
                .iter()
                .map(|d| Some(begin + (end - begin) / d))
                .chain([None])
                .collect(),
            _ => vec![None],
        };
        for bound in bounds {
            let plans: Vec<Plan> = build_plans(prog, compiled, trace, true, bound, session)?
                .into_iter()
                .filter(|p| p.hist.is_none_or(|(hi, _)| hi == 0))
                .collect();
            let unplaced = globals_without(&plans, compiled, |p| p.places);
            let (firsts, _, _) = aggregate(prog, compiled, plans, session, &mut interner, None)?;
            let found = |tg: &(i64, u32), k: &Vec<Value>| {
                firsts
                    .get(tg)
                    .and_then(|e| e.get(k))
                    .map(|e| (e.first, e.at))
                    .filter(|(first, _)| bound.is_none_or(|b| *first <= b))
            };
            if !needed
                .iter()
                .all(|(tg, keys)| keys.iter().all(|k| found(tg, k).is_some()))
            {
                if bound.is_none() {
                    return Err(failed(format!(
                        "{why}, and plans keeping first firing times have no firing of an element"
                    )));
                }
                continue;
            }
            // The tied elements' first firings, and where they were if
            // these plans say (then no rows are read again for that).
            for (tg, keys) in &needed {
                let elems = state.get_mut(tg).expect("needed elements are in the state");
                for k in keys {
                    if let (Some(e), Some((first, at))) = (elems.get_mut(k), found(tg, k)) {
                        e.first = first;
                        e.at = at;
                    }
                }
                match unplaced.contains(&tg.1) {
                    true => without_places.insert(tg.1),
                    false => without_places.remove(&tg.1),
                };
            }
            note = Some(match bound {
                Some(b) => format!(
                    "{why}: the first firing times of its {wanted} tied elements are in the rows of its first {:.1}% (read again up to there)",
                    100.0 * (b - begin) as f64 / (trace.manifest.end_ns.unwrap_or(b) - begin) as f64
                ),
                None => format!("{why}: plans ran again keeping first firing times"),
            });
            break;
        }
    }
    let how = Finish {
        maxmapentries,
        by_first,
        resolved: &needed,
        without_places,
        whole_arrays,
        totals: &totals,
    };
    let (loaded, read_again) = finish(prog, compiled, trace, state, &firings, &mut interner, how)?;
    // (one line each, as `-v` prints them)
    let note = match (note, read_again) {
        (Some(a), Some(b)) => Some(format!("{a}\n  {b}")),
        (a, b) => a.or(b),
    };
    Ok((loaded, note))
}

/// The elements each limited value sort needs first firing times for:
/// those whose value equals another's where the sort shows it (ties come
/// out in insertion order), with what says so for `-v`. Arrays a sort
/// shows whole have first firing times from their plans already.
fn tied_where_shown(
    prog: &Program,
    compiled: &Compiled,
    state: &State,
) -> (Needed, Option<String>) {
    let mut needed = Needed::new();
    let mut why = None;
    for ((t, g), elems) in state {
        let sorts = compiled.order.as_ref().and_then(|o| o.get(g));
        let (false, Some(sorts)) = (shows_all(compiled, *g), sorts) else {
            continue;
        };
        for s in sorts {
            let mut v: Vec<i64> = elems.values().map(|e| sort_value(&e.acc, s)).collect();
            if s.desc {
                v.iter_mut().for_each(|x| *x = !*x);
            }
            // What a limit shows and the one after it, in order (a
            // selection, then a sort of those: not a million values
            // sorted to show ten).
            let shown = s
                .limit
                .map_or(v.len(), |l| (l.max(0) as usize).min(v.len()));
            if shown < v.len() {
                v.select_nth_unstable(shown);
                v.truncate(shown + 1);
            }
            v.sort_unstable();
            let tied: FxHashSet<i64> = v
                .windows(2)
                .enumerate()
                .filter(|(i, w)| w[0] == w[1] && *i < shown)
                .map(|(_, w)| if s.desc { !w[0] } else { w[0] })
                .collect();
            if tied.is_empty() {
                continue;
            }
            why.get_or_insert_with(|| {
                format!(
                    "'{}' sorted by value{} has ties where it is shown",
                    prog.globals[*g as usize].name,
                    if s.desc { " (descending)" } else { "" }
                )
            });
            needed.entry((*t, *g)).or_default().extend(
                elems
                    .iter()
                    .filter(|(_, e)| tied.contains(&sort_value(&e.acc, s)))
                    .map(|(k, _)| k.clone()),
            );
        }
    }
    (needed, why)
}

/// An array's element: key, (value, first firing time), and where it
/// first fired among firings at that time when another element first
/// fired then too.
type Row = (Vec<Value>, (Acc, i64), Option<Place>);

/// Whether two elements a sort shows tie on their value and have the
/// same first firing (time and place): nothing would order them.
fn shows_ties_first_at_once(rows: &[Row], s: &ValueSort) -> bool {
    let mut v: Vec<(i64, i64, Option<Place>)> = rows
        .iter()
        .map(|(_, (a, first), place)| (sort_value(a, s), *first, *place))
        .collect();
    v.sort_unstable();
    // Equal (value, first) pairs are adjacent; a limit only shortens what
    // is shown, so checking all of it is the safe side.
    v.windows(2).any(|w| w[0] == w[1])
}

/// The value a sort orders an element by.
fn sort_value(a: &Acc, s: &ValueSort) -> i64 {
    use crate::stap::ast::StatOp;
    match a {
        Acc::Int(n) | Acc::Max(n) | Acc::Min(n) => *n,
        Acc::Stat {
            count,
            sum,
            min,
            max,
            ..
        } => match s.op {
            StatOp::Sum => *sum,
            StatOp::Min => *min,
            StatOp::Max => *max,
            _ => *count,
        },
    }
}

/// (tick, global) -> key -> element.
/// (FxHash: a million groups' keys hashed with SipHash cost a fifth of
/// the run)
type State = HashMap<(i64, u32), FxHashMap<Vec<Value>, Elem>>;

/// An element as plans leave it: its value, its first firing time (0
/// where not kept), and where a rollup or a numbered scan says it first
/// fired then. The place lives with the element (a map of places beside
/// the state was a second key copied and hashed for every one of a
/// million elements).
#[derive(Clone, Debug)]
struct Elem {
    acc: Acc,
    first: i64,
    at: Option<FirstPlace>,
}

/// Where a rollup or a plan says an element first fired: its table's
/// rank, its file and row as `file << 32 | row` (see rollups::place_of),
/// and the update; ordered as the [`Place`]s they stand for (same time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct FirstPlace {
    table: u32,
    file_row: u64,
    update: u32,
}

impl FirstPlace {
    fn place(self, first: i64) -> Place {
        let (file, row) = (
            (self.file_row >> 32) as usize,
            (self.file_row & 0xffff_ffff) as i64,
        );
        Place::of_entry(first, self.table as usize, file, row, self.update as usize)
    }
}

impl Elem {
    fn new(acc: Acc) -> Elem {
        Elem {
            acc,
            first: i64::MAX,
            at: None,
        }
    }

    /// Takes a result row's first firing (and place) into the element's:
    /// the earliest time, and at one time the least place.
    #[inline]
    fn first_at(&mut self, first: i64, at: Option<FirstPlace>) {
        if first < self.first {
            self.first = first;
            self.at = at;
        } else if first == self.first {
            self.at = match (self.at, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// (tick, global) -> the elements whose first firing times a sort needs.
type Needed = HashMap<(i64, u32), FxHashSet<Vec<Value>>>;

/// The plans' elements, the firings of each update, and the number of
/// elements of arrays whose results were narrowed to those shown.
type Aggregated = (State, HashMap<usize, Firing>, HashMap<u32, usize>);

/// Runs the plans and merges their results per (tick, global).
/// Err(Unsupported) from here or [`finish`] means the interpreter must
/// run the program instead (an array would overflow MAXMAPENTRIES, whose
/// error only the event-ordered run reproduces).
///
/// Of the arrays in `limited` (seen only through sorts with a limit), a
/// plan whose result rows are the array's elements, each with its final
/// value, gives only those its sorts may show (see shown.rs): the others
/// are never made into keys and elements (750k of a million processes',
/// 0.15 s). Their number is returned per global, for the MAXMAPENTRIES
/// check and `-v`.
fn aggregate(
    prog: &Program,
    compiled: &Compiled,
    plans: Vec<Plan>,
    session: &PlanSession,
    interner: &mut Interner,
    limited: Option<&BTreeSet<u32>>,
) -> Result<Aggregated, PlanError> {
    let mut state = State::new();
    let mut totals = HashMap::new();
    // Globals one update of one plan makes (whose rows are then final).
    let mut makers: HashMap<u32, usize> = HashMap::new();
    for m in plans.iter().flat_map(|p| &p.members) {
        *makers.entry(compiled.updates[m.update].global).or_default() += 1;
    }
    let firings: HashMap<usize, Firing> = plans
        .iter()
        .flat_map(|p| p.firings.iter().map(|f| (f.update, f.clone())))
        .collect();
    // Main aggregates first, then histograms (which need the elements).
    let (main, hists): (Vec<Plan>, Vec<Plan>) = plans
        .into_iter()
        .partition(|p| p.hist.is_none_or(|(hi, _)| hi == 0));
    // Tables ranked in the interpreter's order for rows at one time.
    let mut tables: Vec<Table> = firings.values().map(|f| f.table).collect();
    tables.sort();
    tables.dedup();
    for p in main.into_iter().chain(hists) {
        let mut batches = vec![];
        for df in p.dfs {
            batches.extend(runtime().block_on(session.collect(df))?);
        }
        for m in &p.members {
            let (ui, ncol) = (&m.update, &m.column);
            let u: &Update = &compiled.updates[*ui];
            let nhists = prog.globals[u.global as usize].hists.len();
            let sorts = (compiled.order.as_ref())
                .and_then(|o| o.get(&u.global))
                .filter(|sorts| {
                    limited.is_some_and(|l| l.contains(&u.global))
                        && sorts.iter().all(|s| s.limit.is_some())
                        && compiled.period.is_none()
                        && p.row_an_element
                        && p.hist.is_none()
                        && makers.get(&u.global) == Some(&1)
                });
            let shown_of;
            let batches = match sorts {
                Some(sorts) => {
                    shown_of =
                        narrowed_to_shown(&batches, sorts, |b, s| row_values(b, &u.kind, ncol, s))?;
                    totals.insert(u.global, batches.iter().map(|b| b.num_rows()).sum());
                    // (Its array is there, if with no element shown.)
                    state.entry((0, u.global)).or_default();
                    &shown_of
                }
                None => &batches,
            };
            // Room for every result row at once, where the results are
            // one tick's: a map grown batch by batch rehashed (fresh
            // memory, zeroed) four times over 82k elements.
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            if compiled.period.is_none() && rows > 0 {
                state.entry((0, u.global)).or_default().reserve(rows);
            }
            for b in batches {
                let own;
                let b = match (p.split, &m.values) {
                    (true, Some(values)) => {
                        own = own_rows(b, values)?;
                        &own
                    }
                    _ => b,
                };
                let n = b.num_rows();
                let keys = key_values(b, u, "", interner)?;
                let row_key = |r: usize| keys.iter().map(|k| k[r].clone()).collect::<Vec<Value>>();
                let tk: Vec<i64> = if compiled.period.is_some() {
                    int_col(b, "tick")?
                } else {
                    vec![0; n]
                };
                let places: Option<Vec<u64>> = match b.column_by_name(super::rollups::FIRST_AT) {
                    Some(_) => Some(super::rollups::place_of(b)?),
                    None => None,
                };
                let table = (firings.get(ui))
                    .and_then(|f| tables.binary_search(&f.table).ok())
                    .ok_or_else(|| failed("an update's table is not among the plans'"))?;
                let at = |r: usize| {
                    places.as_ref().map(|p| FirstPlace {
                        table: table as u32,
                        file_row: p[r],
                        update: *ui as u32,
                    })
                };
                macro_rules! slot {
                    ($r:expr) => {
                        state.entry((tk[$r], u.global)).or_default()
                    };
                }
                match (&u.kind, p.hist) {
                    (UpdateKind::Count(sign), None) | (UpdateKind::Sum(sign, _), None) => {
                        let (ns, first) = (int_col(b, ncol)?, first_col(b)?);
                        // Each run of rows of one tick (all rows, without
                        // a period) looks its array up and grows it once,
                        // not a row at a time (a million groups).
                        let mut r = 0;
                        while r < n {
                            let end = (r..n).find(|&i| tk[i] != tk[r]).unwrap_or(n);
                            let elems = slot!(r);
                            elems.reserve(end - r);
                            for r in r..end {
                                let e = elems
                                    .entry(row_key(r))
                                    .or_insert_with(|| Elem::new(Acc::Int(0)));
                                if let Acc::Int(v) = &mut e.acc {
                                    *v = v.wrapping_add(ns[r].wrapping_mul(*sign));
                                }
                                e.first_at(first[r], at(r));
                            }
                            r = end;
                        }
                    }
                    (UpdateKind::Max(..), None) | (UpdateKind::Min(_), None) => {
                        let (ns, first) = (int_col(b, "n")?, first_col(b)?);
                        let is_max = matches!(u.kind, UpdateKind::Max(..));
                        for r in 0..n {
                            let fresh = if is_max {
                                Acc::Max(i64::MIN)
                            } else {
                                Acc::Min(i64::MAX)
                            };
                            let e = slot!(r)
                                .entry(row_key(r))
                                .or_insert_with(|| Elem::new(fresh));
                            match &mut e.acc {
                                Acc::Max(v) => *v = (*v).max(ns[r]),
                                Acc::Min(v) => *v = (*v).min(ns[r]),
                                _ => {}
                            }
                            e.first_at(first[r], at(r));
                        }
                    }
                    (UpdateKind::Stat(_), None) | (UpdateKind::Stat(_), Some((0, _))) => {
                        let bucket = match p.hist {
                            Some(_) => Some(int_col(b, "bucket")?),
                            None => None,
                        };
                        // Moments nothing reads were not computed: they keep
                        // their identities.
                        let (c, first) = (int_col(b, "count")?, first_col(b)?);
                        let or = |name: &str, identity: i64| match b.column_by_name(name) {
                            Some(_) => int_col(b, name),
                            None => Ok(vec![identity; n]),
                        };
                        let (s, mn, mx) =
                            (or("sum", 0)?, or("min", i64::MAX)?, or("max", i64::MIN)?);
                        for r in 0..n {
                            let e = slot!(r).entry(row_key(r)).or_insert_with(|| {
                                Elem::new(Acc::Stat {
                                    count: 0,
                                    sum: 0,
                                    min: i64::MAX,
                                    max: i64::MIN,
                                    hists: prog.globals[u.global as usize]
                                        .hists
                                        .iter()
                                        .map(|h| empty_hist(*h))
                                        .collect(),
                                })
                            });
                            if let Acc::Stat {
                                count,
                                sum,
                                min,
                                max,
                                hists,
                            } = &mut e.acc
                            {
                                if let (Some(bk), Some(h0)) = (&bucket, hists.first_mut()) {
                                    if let Some(slot) = h0.get_mut(bk[r] as usize) {
                                        *slot += c[r];
                                    }
                                }
                                *count += c[r];
                                *sum = sum.wrapping_add(s[r]);
                                *min = (*min).min(mn[r]);
                                *max = (*max).max(mx[r]);
                            }
                            e.first_at(first[r], at(r));
                        }
                    }
                    (UpdateKind::Stat(_), Some((hi, _))) => {
                        let (ns, bucket) = (int_col(b, "n")?, int_col(b, "bucket")?);
                        for r in 0..n {
                            if let Some(Elem {
                                acc: Acc::Stat { hists, .. },
                                ..
                            }) = slot!(r).get_mut(&row_key(r))
                            {
                                if hi < nhists {
                                    if let Some(slot) = hists[hi].get_mut(bucket[r] as usize) {
                                        *slot += ns[r];
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok((state, firings, totals))
}

/// The rows of a plan's results whose elements (one a row, `value` its
/// value under a sort) the sorts may show.
fn narrowed_to_shown(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
    sorts: &[ValueSort],
    value: impl Fn(
        &datafusion::arrow::record_batch::RecordBatch,
        &ValueSort,
    ) -> Result<Vec<i64>, PlanError>,
) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, PlanError> {
    // Per sort, per batch, each row's value.
    let values: Vec<Vec<Vec<i64>>> = (sorts.iter())
        .map(|s| batches.iter().map(|b| value(b, s)).collect())
        .collect::<Result<_, PlanError>>()?;
    let cuts: Vec<_> = (sorts.iter().zip(&values))
        .map(|(s, vs)| shown::may_be_shown(vs.iter().flatten().copied().collect(), s))
        .collect();
    batches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let keep: datafusion::arrow::array::BooleanArray = (0..b.num_rows())
                .map(|r| Some(cuts.iter().zip(&values).any(|(cut, vs)| cut(vs[i][r]))))
                .collect();
            datafusion::arrow::compute::filter_record_batch(b, &keep).map_err(PlanError::from)
        })
        .collect()
}

/// Each result row's value under a sort, where a row is an element: what
/// [`sort_value`] reads of the element it makes.
fn row_values(
    b: &datafusion::arrow::record_batch::RecordBatch,
    kind: &UpdateKind,
    ncol: &str,
    s: &ValueSort,
) -> Result<Vec<i64>, PlanError> {
    use crate::stap::ast::StatOp;
    let or = |name: &str, identity: i64| match b.column_by_name(name) {
        Some(_) => int_col(b, name),
        None => Ok(vec![identity; b.num_rows()]),
    };
    match kind {
        UpdateKind::Count(sign) | UpdateKind::Sum(sign, _) => Ok(int_col(b, ncol)?
            .into_iter()
            .map(|n| n.wrapping_mul(*sign))
            .collect()),
        UpdateKind::Stat(_) => match s.op {
            StatOp::Sum => or("sum", 0),
            StatOp::Min => or("min", i64::MAX),
            StatOp::Max => or("max", i64::MIN),
            _ => int_col(b, "count"),
        },
        UpdateKind::Max(..) | UpdateKind::Min(_) => int_col(b, "n"),
    }
}

/// A word whose order is that of a key's first value among values of its
/// column (integers, or strings by their first 8 bytes, zero-padded):
/// equal words leave the order to the whole keys.
fn leading_word(key: &[Value]) -> (u8, u64) {
    match key.first() {
        Some(Value::Int(i)) => (0, (*i as u64) ^ (1 << 63)),
        Some(Value::Str(s)) => {
            let mut b = [0u8; 8];
            let n = s.len().min(8);
            b[..n].copy_from_slice(&s.as_bytes()[..n]);
            (1, u64::from_be_bytes(b))
        }
        None => (0, 0),
    }
}

/// An element's first firing, place, key's leading word and index.
type SortRecord = (i64, Option<Place>, (u8, u64), u32);

/// Orders elements by first firing, then place, then key (keys are
/// unique, so the order is total). A row is large (a statistic's
/// histograms and the place inline) and its key lies behind a pointer:
/// sorting the rows themselves moved them and followed the pointer at
/// every comparison (a third of a second for a million elements, most of
/// them tied on time). Small records with the key's leading word are
/// sorted instead, whole keys compared only where those tie.
fn sort_rows(rows: &mut [Row]) {
    let mut order: Vec<SortRecord> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.1 .1, r.2, leading_word(&r.0), i as u32))
        .collect();
    order.sort_unstable_by(|a, b| {
        (a.0, a.1, a.2)
            .cmp(&(b.0, b.1, b.2))
            .then_with(|| rows[a.3 as usize].0.cmp(&rows[b.3 as usize].0))
    });
    // In place, a cycle of the permutation at a time (a second vector of
    // rows is memory the kernel zeroes afresh): position j takes the row
    // at from[j]; a visited position points at itself.
    let mut from: Vec<u32> = order.into_iter().map(|o| o.3).collect();
    for start in 0..from.len() {
        let mut j = start;
        loop {
            let k = from[j] as usize;
            from[j] = j as u32;
            if k == start {
                break;
            }
            rows.swap(j, k);
            j = k;
        }
    }
}

/// How [`finish`] orders elements.
struct Finish<'a> {
    maxmapentries: usize,
    /// Every element has its first firing time.
    by_first: bool,
    /// Elements that do, where only some have.
    resolved: &'a Needed,
    /// The globals some plan of which did not say where elements first
    /// fired (their ties are placed by reading rows).
    without_places: FxHashSet<u32>,
    /// Every element is loaded, whatever the code can see of them (a
    /// snapshot of the globals compares them whole).
    whole_arrays: bool,
    /// Elements of the arrays whose results [`aggregate`] narrowed to
    /// those shown, all told.
    totals: &'a HashMap<u32, usize>,
}

/// Orders each array's elements as the interpreter creates them and
/// checks what plans cannot reproduce.
fn finish(
    prog: &Program,
    compiled: &Compiled,
    trace: &Trace,
    mut state: State,
    firings: &HashMap<usize, Firing>,
    interner: &mut Interner,
    how: Finish,
) -> Result<(Preload, Option<String>), PlanError> {
    let Finish {
        maxmapentries,
        by_first,
        resolved,
        without_places,
        whole_arrays,
        totals,
    } = how;
    // Elements are in first-firing order. Two keys first seen at the
    // same nanosecond (rows on two CPUs, copies of one recording) came in
    // the interpreter's event order, which one more scan of the rows at
    // those times finds (see firing_order). It matters where elements are
    // kept in that order, or where a sort that shows them all meets equal
    // values and equal times.
    let mut tied: HashMap<u32, BTreeSet<i64>> = HashMap::new();
    for ((t, g), elems) in &state {
        let sorts = compiled.order.as_ref().and_then(|o| o.get(g));
        let only = resolved.get(&(*t, *g));
        let by: Vec<Option<&ValueSort>> =
            match (by_first, shows_all(compiled, *g) || only.is_some(), sorts) {
                (true, ..) => vec![None],
                (false, true, Some(sorts)) => sorts.iter().map(Some).collect(),
                _ => continue,
            };
        for s in by {
            let mut seen: FxHashMap<(i64, i64), u32> = FxHashMap::default();
            for (k, e) in elems {
                if only.is_some_and(|o| !o.contains(k)) {
                    continue;
                }
                let v = s.map_or(0, |s| sort_value(&e.acc, s));
                *seen.entry((v, e.first)).or_default() += 1;
            }
            let times = seen
                .into_iter()
                .filter(|(_, n)| *n > 1)
                .map(|((_, t), _)| t);
            tied.entry(*g).or_default().extend(times);
        }
    }
    tied.retain(|_, t| !t.is_empty());
    // Ties of globals the rollups placed need no reading of rows.
    let to_read: HashMap<u32, BTreeSet<i64>> = tied
        .iter()
        .filter(|(g, _)| without_places.contains(g))
        .map(|(g, t)| (*g, t.clone()))
        .collect();
    let mut places = Places::default();
    let mut read_again = None;
    if !to_read.is_empty() {
        let fs: Vec<&Firing> = firings.values().collect();
        places = firing_order::places(compiled, trace, &fs, &to_read, interner)?;
        let mut names: Vec<&str> = (to_read.keys())
            .map(|g| prog.globals[*g as usize].name.as_str())
            .collect();
        names.sort();
        read_again = Some(format!(
            "elements of '{}' first seen at one time: their rows read again for the order they came in",
            names.join("', '")
        ));
    }
    let mut out = Preload {
        ticks: vec![],
        period: compiled.period,
    };
    let mut ticks: Vec<i64> = state.keys().map(|(t, _)| *t).collect();
    ticks.sort();
    ticks.dedup();
    // Each array's elements over all ticks (with one tick, its rows).
    let one_tick = ticks.len() == 1;
    let mut distinct: HashMap<u32, FxHashSet<Vec<Value>>> = HashMap::new();
    let mut elements: HashMap<u32, usize> = HashMap::new();
    // (array, elements loaded, elements computed) for `-v`.
    let mut loaded_of: Vec<(String, usize, usize)> = vec![];
    for t in ticks {
        let mut per = vec![];
        for g in &compiled.globals {
            let name = &prog.globals[*g as usize].name;
            let at = tied.get(g);
            let only = resolved.get(&(t, *g));
            let elems = state.remove(&(t, *g)).unwrap_or_default();
            let total = totals.get(g).copied().unwrap_or(elems.len());
            let sorts = compiled.order.as_ref().and_then(|o| o.get(g));
            // Arrays seen only through limited sorts: the elements they
            // may show (value at least each one's limit-th best), then of
            // those, once in creation order, the ones they do.
            let limited = sorts.filter(|sorts| {
                one_tick
                    && !whole_arrays
                    && compiled.seen_through_limits.contains(g)
                    && sorts.iter().all(|s| s.limit.is_some())
            });
            let cuts: Vec<_> = (limited.into_iter().flatten())
                .map(|s| {
                    let values = elems.values().map(|e| sort_value(&e.acc, s)).collect();
                    (s, shown::may_be_shown(values, s))
                })
                .collect();
            let mut rows: Vec<Row> = elems
                .into_iter()
                .filter(|(_, e)| {
                    limited.is_none() || cuts.iter().any(|(s, cut)| cut(sort_value(&e.acc, s)))
                })
                .map(|(k, e)| {
                    let place = match at
                        .filter(|at| at.contains(&e.first))
                        .filter(|_| only.is_none_or(|o| o.contains(&k)))
                    {
                        Some(_) => {
                            let place = match without_places.contains(g) {
                                true => places.get(&(t, *g, k.clone(), e.first)).copied(),
                                false => e.at.map(|a| a.place(e.first)),
                            };
                            Some(place.ok_or_else(|| {
                                failed(format!(
                                    "no row fires an element of '{name}' at its first time"
                                ))
                            })?)
                        }
                        None => None,
                    };
                    Ok((k, (e.acc, e.first), place))
                })
                .collect::<Result<_, PlanError>>()?;
            sort_rows(&mut rows);
            if let Some(sorts) = limited {
                let keep = shown::shown(rows.len(), sorts, |i, s| sort_value(&rows[i].1 .0, s));
                let mut keep = keep.into_iter();
                rows.retain(|_| keep.next().unwrap_or(false));
                loaded_of.push((name.clone(), rows.len(), total));
            }
            // Elements first seen at one time have places that differ
            // (file, row, update); two that do not would be one update
            // making two keys of one row, which cannot be.
            if by_first
                && rows
                    .windows(2)
                    .any(|w| (w[0].1 .1, w[0].2) == (w[1].1 .1, w[1].2))
            {
                return Err(failed(format!(
                    "two elements of '{name}' have the same first firing"
                )));
            }
            // Tied elements a sort shows are ordered by their first
            // firings, which must differ (limited sorts' ties were found
            // before, see run_plans: only those elements have them).
            if let (false, Some(sorts)) = (by_first, sorts) {
                let whole = shows_all(compiled, *g);
                if whole || only.is_some() {
                    let kept: Vec<Row>;
                    let among = match only.filter(|_| !whole) {
                        Some(o) => {
                            kept = rows.iter().filter(|r| o.contains(&r.0)).cloned().collect();
                            &kept
                        }
                        None => &rows,
                    };
                    if sorts.iter().any(|s| shows_ties_first_at_once(among, s)) {
                        return Err(failed(format!(
                            "two elements of '{name}' a sort shows tie and have the same first firing"
                        )));
                    }
                }
            }
            if one_tick {
                elements.insert(*g, total);
            } else {
                distinct
                    .entry(*g)
                    .or_default()
                    .extend(rows.iter().map(|r| r.0.clone()));
            }
            per.push((*g, rows.into_iter().map(|(k, (a, _), _)| (k, a)).collect()));
        }
        out.ticks.push((t, per));
    }
    for g in &compiled.globals {
        let info = &prog.globals[*g as usize];
        let n = match distinct.get(g) {
            Some(d) => d.len(),
            None => (elements.get(g).or(totals.get(g)).copied()).unwrap_or(0),
        };
        if info.keys.is_some() {
            let cap = info.size.map(|n| n as usize).unwrap_or(maxmapentries);
            if n > cap {
                return Err(PlanError::Unsupported(format!(
                    "array '{}' would hold up to {n} elements, over its limit of {cap}: the interpreter reproduces where it overflows",
                    info.name
                )));
            }
        }
    }
    let mut said: Vec<String> = read_again.into_iter().collect();
    for (name, n, total) in loaded_of {
        said.push(format!(
            "'{name}' is seen only through sorts with a limit: the {n} of its {total} elements they show were loaded"
        ));
    }
    Ok((out, (!said.is_empty()).then(|| said.join("\n  "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{synth, SynthOptions};
    use retap_schema::Table;

    /// The schema made from the checked footers is the one DataFusion's
    /// inference makes from the files, for every table of a synthetic
    /// trace (several files a table) and of the recorded datasets.
    #[test]
    fn footer_schemas_are_the_inferred_ones() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let opts = SynthOptions {
            events: 30_000,
            rows_per_file: 7_000,
            ..Default::default()
        };
        let synthetic = tmp.path().join("synth");
        synth(&synthetic, &opts).expect("synth");
        let datasets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets");
        let mut dirs = vec![synthetic];
        for d in ["web", "disk", "mixed"] {
            if datasets.join(d).join("trace.json").exists() {
                dirs.push(datasets.join(d));
            }
        }
        let mut compared = 0;
        for dir in dirs {
            let mut trace = Trace::list(&dir).expect("trace");
            let tables: Vec<Table> = trace.tables.iter().map(|t| t.table).collect();
            trace.check(&tables);
            for tf in &trace.tables {
                if tf.files.is_empty() {
                    continue;
                }
                let (ctx, _) = session(&trace.store);
                let ours = crate::engine::footers::footer_schema(&ctx, &tf.files)
                    .expect("footers were read");
                let df = runtime()
                    .block_on(ctx.read_parquet(tf.paths(), ParquetReadOptions::default()))
                    .expect("read_parquet");
                let theirs = df.schema().as_arrow().clone();
                assert_eq!(ours, theirs, "{} in {}", tf.table, dir.display());
                compared += 1;
            }
        }
        assert!(compared >= 4, "only {compared} tables compared");
    }

    /// The sort of elements by small records gives the order of sorting
    /// whole rows: keys whose leading words tie (strings sharing 8 bytes,
    /// a zero byte against the end, equal first integers), negative
    /// integers, times that tie and times that do not.
    #[test]
    fn rows_sort_as_whole_rows_do() {
        let mut rng = retap_testkit::Rng(0x51_7cc1_b727_220a);
        let strs = [
            "",
            "a",
            "a\0",
            "a\0\0",
            "postgres",
            "postgres-wal",
            "postgresql",
            "postgre",
            "\u{ff}",
            "zz",
        ];
        for case in 0..40 {
            // (27 integers and 10 strings make 270 pairs)
            let n = [0, 1, 2, 7, 200][case % 5];
            // (one string key has at most as many elements as strings)
            let n = if case % 3 == 2 { n.min(strs.len()) } else { n };
            let mut keys = std::collections::BTreeSet::new();
            while keys.len() < n {
                let far = [0, i64::MIN / 2, i64::MAX / 2][rng.next() as usize % 3];
                let int = Value::Int(far + (rng.next() % 9) as i64 - 4);
                let s = Value::Str(rng.pick(&strs).into());
                keys.insert(match case % 3 {
                    0 => vec![int, s],
                    1 => vec![s, int],
                    _ => vec![s],
                });
            }
            let mut rows: Vec<Row> = keys
                .into_iter()
                .map(|k| {
                    let first = if case % 2 == 0 {
                        0
                    } else {
                        (rng.next() % 4) as i64
                    };
                    (k, (Acc::Int(rng.next() as i64), first), None)
                })
                .collect();
            // Shuffled, so the input order says nothing.
            for i in (1..rows.len()).rev() {
                rows.swap(i, rng.next() as usize % (i + 1));
            }
            let mut expected = rows.clone();
            expected.sort_by(|a, b| (a.1 .1, a.2, &a.0).cmp(&(b.1 .1, b.2, &b.0)));
            sort_rows(&mut rows);
            let order = |rs: &[Row]| rs.iter().map(|r| (r.0.clone(), r.1 .1)).collect::<Vec<_>>();
            assert_eq!(order(&rows), order(&expected), "case {case}");
        }
    }
}
