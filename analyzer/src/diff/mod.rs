//! `retap diff`: two recordings of a workload compared key by key (count
//! and rate, bytes, latency and size distributions), with a statistical
//! test deciding what is change and what is noise. Both traces are
//! aggregated by one DataFusion GROUP BY each (keys × latency bucket ×
//! size bucket), so memory is bounded by the number of keys, not events.

mod error;
pub mod html;
pub mod report;
pub mod script;
pub mod stats;

pub use error::DiffError;
use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use retap_schema::{Column, Table};

use crate::sql::{SqlSession, TraceArg};
use stats::Hist;

/// Syscalls whose positive return value is a byte count.
pub const BYTE_SYSCALLS: &[&str] = &[
    "read",
    "write",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "sendfile",
    "splice",
    "tee",
    "copy_file_range",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    /// Each recording is one run of a command: compare totals.
    Total,
    /// Recordings of a running system: compare per-second rates.
    Duration,
}

#[derive(Clone, Debug)]
pub struct DiffOptions {
    pub table: Table,
    pub by: Vec<String>,
    /// Which metrics may be called changed: "count", "latency", "bytes".
    pub metrics: Vec<String>,
    /// None: totals when both traces recorded one command (-c), else rates.
    pub normalize: Option<Normalize>,
    /// Smallest relative change reported (0.25: ×1.25 or ×0.8).
    pub threshold: f64,
    /// Family-wise false-alarm rate, split over every test (Bonferroni).
    pub alpha: f64,
    /// Latency changes smaller than this (ns, at p50 and p90) are noise.
    pub min_latency_ns: f64,
    /// --script: a statistic's mean must move by at least this much (in
    /// the script's own units) to count as changed.
    pub min_mean_change: f64,
    /// Fewer samples than this on either side: no distribution test.
    pub min_samples: u64,
    /// `--cluster`: the GROUP BYs (or `--script`'s plans) run on this
    /// Ballista cluster, each answered within the duration.
    pub cluster: Option<(String, std::time::Duration)>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            table: Table::Syscalls,
            by: vec![Column::Execname.to_string(), Column::Syscall.to_string()],
            metrics: vec!["count".into(), "latency".into(), "bytes".into()],
            normalize: None,
            threshold: 0.25,
            alpha: 0.001,
            min_latency_ns: 20_000.0,
            min_mean_change: 0.0,
            min_samples: 10,
            cluster: None,
        }
    }
}

/// One side's aggregate for one key.
#[derive(Clone, Debug, Default)]
pub struct Side {
    pub count: u64,
    pub bytes: i64,
    /// Latency (dur_ns) of the rows that have one.
    pub latency: Hist,
    /// Bytes per call of the rows that moved any.
    pub size: Hist,
    /// Comparing sets of traces: the same per host, the unit of
    /// replication (empty for a trace).
    pub hosts: BTreeMap<String, Side>,
}

/// What the table offers: latency column, per-call size and bytes expressions.
fn table_exprs(t: Table) -> (Option<String>, Option<String>) {
    let byte_list = BYTE_SYSCALLS
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let (dur, ret) = (Some(Column::DurNs.to_string()), Column::Ret);
    match t {
        Table::Syscalls => (
            dur,
            Some(format!(
                "CASE WHEN {ret} > 0 AND {} IN ({byte_list}) THEN {ret} END",
                Column::Syscall
            )),
        ),
        Table::Block => (dur, Some(Column::Bytes.to_string())),
        Table::Net => (None, Some(Column::Length.to_string())),
        Table::Vfs => (dur, Some(format!("CASE WHEN {ret} > 0 THEN {ret} END"))),
        // A function's latency: its return rows' time since entry.
        Table::Uprobes => (dur, None),
        Table::Processes | Table::Samples | Table::Tracepoint(_) => (None, None),
    }
}

/// Facts about one trace the report shows.
#[derive(Clone, Debug)]
pub struct TraceFacts {
    pub name: String,
    pub dir: String,
    pub duration_s: f64,
    pub command: Option<String>,
    pub events: u64,
    pub dropped: u64,
}

pub struct Collected {
    pub facts: [TraceFacts; 2],
    /// Comparing sets: each side's hosts and their exposures (traces, or
    /// seconds recorded, as `Normalize` will say); empty for traces.
    pub hosts: [BTreeMap<String, (f64, f64)>; 2],
    /// Damaged files and the like, for the caller to show.
    pub warnings: Vec<String>,
    pub keys: BTreeMap<Vec<String>, [Side; 2]>,
}

/// How far the scan of both traces is, told to whoever shows it (the CLI
/// draws a bar on a terminal). Called from the engine's threads.
pub trait Progress: Send + Sync {
    /// The scan will pass `rows` rows in all.
    fn start(&self, rows: u64);
    /// `rows` more rows were scanned.
    fn advance(&self, rows: u64);
    /// The scan is over.
    fn finish(&self);
}

/// No one is watching.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Aggregates both traces (all cores), telling `progress` how far it is.
pub fn collect(
    base: &std::path::Path,
    new: &std::path::Path,
    o: &DiffOptions,
    progress: Arc<dyn Progress>,
) -> Result<Collected, DiffError> {
    let args = [
        TraceArg {
            name: Some("base".into()),
            dir: base.to_path_buf(),
        },
        TraceArg {
            name: Some("new".into()),
            dir: new.to_path_buf(),
        },
    ];
    let sess = match &o.cluster {
        Some((url, timeout)) => SqlSession::open_cluster(&args, url, *timeout)?,
        None => SqlSession::open(&args)?,
    };
    let sets = !sess.sets.is_empty();
    if sets && (sess.sets.len() != 2 || !sess.traces.is_empty()) {
        return Err(DiffError::Usage(
            "compare a set of traces with a set (hosts are the replicates), or a trace with a trace"
                .into(),
        ));
    }
    let schema = o.table.schema();
    for c in &o.by {
        if schema.field_with_name(c).is_err() {
            return Err(DiffError::Usage(format!(
                "--by {c}: the {} table has no such column (it has {})",
                o.table.name(),
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    // Tables by name: a tracepoint's layout may differ between the
    // kernels that recorded the two traces.
    let same_table = |t: &crate::trace::Trace| {
        t.tables
            .iter()
            .find(|f| f.table.name() == o.table.name())
            .map(|f| (f.rows(), f.table))
    };
    for (name, t) in &sess.traces {
        if o.table.tracepoint().is_some() && same_table(t).is_none() {
            return Err(DiffError::Usage(format!(
                "--table {}: the {name} trace did not record it",
                o.table.name()
            )));
        }
    }
    let set_traces = |i: usize| -> Vec<&crate::trace::Trace> {
        sess.sets[i].1.members.iter().map(|m| &m.trace).collect()
    };
    let mut host_exposure: [BTreeMap<String, (f64, f64)>; 2] = Default::default();
    if sets {
        for (side, exposure) in host_exposure.iter_mut().enumerate() {
            for t in set_traces(side) {
                let e = exposure.entry(t.manifest.host.clone()).or_default();
                e.0 += 1.0;
                e.1 += duration_s(&t.manifest);
            }
            if exposure.len() < 2 {
                return Err(DiffError::Usage(format!(
                    "{}: {} host{}: hosts are the replicates of a set's comparison, and it takes two or more on each side",
                    sess.sets[side].1.location.display(),
                    exposure.len(),
                    if exposure.len() == 1 { "" } else { "s" }
                )));
            }
        }
    }
    let all_traces: Vec<&crate::trace::Trace> = if sets {
        set_traces(0).into_iter().chain(set_traces(1)).collect()
    } else {
        sess.traces.iter().map(|(_, t)| t).collect()
    };
    let total_rows: u64 = all_traces
        .iter()
        .map(|t| same_table(t).map(|(r, _)| r).unwrap_or(0))
        .sum();
    progress.start(total_rows);
    // Every row passes through the first bucket function once: it moves the
    // bar. A cluster's executors know the bucket function by name only
    // (`engine::log_linear`), so its bar shows the end alone.
    // (the function counting rows, the other, and the closures to register)
    let (counted, plain, local_functions): (&str, &str, &[(&str, bool)]) = if o.cluster.is_some() {
        ("log_linear_bucket", "log_linear_bucket", &[])
    } else {
        (
            "diff_bucket_counted",
            "diff_bucket",
            &[("diff_bucket_counted", true), ("diff_bucket", false)],
        )
    };
    for &(name, counts) in local_functions {
        let progress = progress.clone();
        sess.add_udf(create_udf(
            name,
            vec![DataType::Int64],
            DataType::Int64,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| -> DfResult<ColumnarValue> {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let a = arrays[0]
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .expect("Int64 input");
                if counts {
                    progress.advance(a.len() as u64);
                }
                let out: Int64Array = a.iter().map(|v| v.map(stats::bucket)).collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        ));
    }
    let (lat, size) = table_exprs(o.table);
    let keys: Vec<String> =
        o.by.iter()
            .enumerate()
            // Grouped as stored (dictionary strings group faster than cast
            // ones); made text when the groups are read back.
            .map(|(i, c)| format!("{c} AS k{i}"))
            .collect();
    let lat_e = lat
        .as_ref()
        .map(|c| format!("{counted}(CAST({c} AS BIGINT))"))
        .unwrap_or_else(|| "CAST(NULL AS BIGINT)".into());
    let size_e = size
        .as_ref()
        .map(|c| {
            let f = if lat.is_some() { plain } else { counted };
            format!("{f}(CAST({c} AS BIGINT))")
        })
        .unwrap_or_else(|| "CAST(NULL AS BIGINT)".into());
    let bytes_e = size
        .as_ref()
        .map(|c| format!("sum(COALESCE(CAST({c} AS BIGINT), 0))"))
        .unwrap_or_else(|| "CAST(0 AS BIGINT)".into());
    // A set's rows also by host (its first column).
    let h = usize::from(sets);
    let keys: Vec<String> = if sets {
        std::iter::once("host".to_string()).chain(keys).collect()
    } else {
        keys
    };
    let nk = o.by.len();
    let group: Vec<String> = (1..=h + nk + 1).map(|i| i.to_string()).collect();
    let mut out: BTreeMap<Vec<String>, [Side; 2]> = BTreeMap::new();
    let mut facts = vec![];
    let sides: Vec<(String, Vec<&crate::trace::Trace>, String)> = if sets {
        sess.sets
            .iter()
            .enumerate()
            .map(|(i, (n, s))| (n.clone(), set_traces(i), s.location.display().to_string()))
            .collect()
    } else {
        sess.traces
            .iter()
            .map(|(n, t)| (n.clone(), vec![t], t.dir.display().to_string()))
            .collect()
    };
    for (side, (name, traces, dir)) in sides.iter().enumerate() {
        let t = traces[0];
        // Two GROUP BYs: keys x latency bucket (with counts and bytes), and
        // keys x size bucket. One over all four would group by the product
        // of the two bucketings.
        let sql_name = match same_table(t) {
            Some((_, table)) => crate::sql::sql_tables(t)
                .into_iter()
                .find(|(_, x)| *x == table)
                .map(|(n, _)| n)
                .unwrap_or_else(|| o.table.name().to_string()),
            None => o.table.name().to_string(),
        };
        let table = format!("{name}.{sql_name}");
        let q_lat = format!(
            "SELECT {keys}, {lat_e} AS b, count(*) AS n, {bytes_e} AS bytes FROM {table} GROUP BY {group}",
            keys = keys.join(", "),
            group = group.join(", "),
        );
        let q_size = size.as_ref().map(|_| {
            format!(
                "SELECT {keys}, {size_e} AS b, count(*) AS n, CAST(0 AS BIGINT) AS bytes FROM {table} \
                 WHERE {size_e} IS NOT NULL GROUP BY {group}",
                keys = keys.join(", "),
                group = group.join(", "),
            )
        });
        for (which, sql) in std::iter::once((0, q_lat)).chain(q_size.map(|q| (1, q))) {
            let r = sess.query(&sql)?;
            for b in &r.batches {
                let kcols: Vec<ArrayRef> = (0..h + nk)
                    .map(|i| cast(b.column(i), &DataType::Utf8))
                    .collect::<Result<_, _>>()?;
                let ints = |i: usize| -> Result<Int64Array, DiffError> {
                    let c = cast(b.column(i), &DataType::Int64)?;
                    Ok(c.as_any()
                        .downcast_ref::<Int64Array>()
                        .expect("int64")
                        .clone())
                };
                let (bk, n, by) = (ints(h + nk)?, ints(h + nk + 1)?, ints(h + nk + 2)?);
                for row in 0..b.num_rows() {
                    let mut key: Vec<String> = kcols
                        .iter()
                        .map(|c| {
                            let s = c.as_any().downcast_ref::<StringArray>().expect("utf8");
                            if s.is_null(row) {
                                "NULL".to_string()
                            } else {
                                s.value(row).to_string()
                            }
                        })
                        .collect();
                    let host = (h == 1).then(|| key.remove(0));
                    let whole = &mut out.entry(key).or_default()[side];
                    let cnt = n.value(row) as u64;
                    let bytes = if by.is_null(row) { 0 } else { by.value(row) };
                    let bucket = (!bk.is_null(row)).then(|| bk.value(row));
                    let add = |e: &mut Side| {
                        let hist = if which == 0 {
                            e.count += cnt;
                            e.bytes += bytes;
                            &mut e.latency
                        } else {
                            &mut e.size
                        };
                        if let Some(b) = bucket {
                            *hist.entry(b).or_default() += cnt;
                        }
                    };
                    add(whole);
                    if let Some(hname) = host {
                        add(whole.hosts.entry(hname).or_default());
                    }
                }
            }
        }
        // A set's facts are its traces' summed; it ran commands when each
        // trace did.
        let stat = |f: &dyn Fn(&retap_schema::manifest::TableStats) -> u64| {
            traces
                .iter()
                .filter_map(|t| t.manifest.tables.get(o.table.name()))
                .map(f)
                .sum()
        };
        facts.push(TraceFacts {
            name: name.clone(),
            dir: dir.clone(),
            duration_s: traces.iter().map(|t| duration_s(&t.manifest)).sum::<f64>(),
            command: traces
                .iter()
                .map(|t| t.manifest.filters.command.clone())
                .collect::<Option<Vec<_>>>()
                .and_then(|c| c.into_iter().next()),
            events: stat(&|s| s.events),
            dropped: stat(&|s| s.dropped + s.skipped),
        });
    }
    progress.finish();
    let facts: [TraceFacts; 2] = facts.try_into().expect("two traces, opened together");
    Ok(Collected {
        facts,
        hosts: host_exposure,
        warnings: sess.warnings.clone(),
        keys: out,
    })
}

/// How long a trace recorded (to its last row when it has no end).
fn duration_s(m: &retap_schema::Manifest) -> f64 {
    let end = m.end_ns.unwrap_or_else(|| {
        m.tables
            .values()
            .flat_map(|s| s.files.iter().filter_map(|f| f.max_ts))
            .max()
            .unwrap_or(m.start_ns)
    });
    ((end - m.start_ns) as f64 / 1e9).max(1e-9)
}

/// The verdict on one metric of one key.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub metric: &'static str,
    pub p: f64,
    pub changed: bool,
    /// One line for people: "×2.00 (1000 → 2000)".
    pub summary: String,
}

#[derive(Clone, Debug)]
pub struct KeyDiff {
    pub key: Vec<String>,
    pub base: Side,
    pub new: Side,
    /// new/base, normalised; infinite for appearing keys.
    pub ratio: f64,
    pub ratio_ci: (f64, f64),
    pub count_p: f64,
    /// p-value and Cliff's delta of the latency distributions.
    pub latency_test: Option<(f64, f64)>,
    pub size_test: Option<(f64, f64)>,
    pub verdicts: Vec<Verdict>,
}

impl KeyDiff {
    pub fn status(&self) -> &'static str {
        if self.base.count == 0 {
            "appeared"
        } else if self.new.count == 0 {
            "vanished"
        } else if self.verdicts.iter().any(|v| v.changed) {
            "changed"
        } else {
            "same"
        }
    }
    pub fn changed(&self) -> bool {
        self.verdicts.iter().any(|v| v.changed)
    }
}

pub struct Diff {
    pub facts: [TraceFacts; 2],
    /// With --script: the script whose globals were compared.
    pub script: Option<String>,
    pub opts: DiffOptions,
    pub normalize: Normalize,
    /// Comparing sets: the hosts on each side, the replicates of the
    /// tests (Welch's t on per-host log rates and log median latencies).
    pub replicates: Option<(usize, usize)>,
    pub exposure: (f64, f64),
    /// Tests made (Bonferroni's divisor).
    pub tests: usize,
    pub keys: Vec<KeyDiff>,
    /// What the user must know besides the comparison (damaged files).
    pub warnings: Vec<String>,
}

impl Diff {
    pub fn changed(&self) -> bool {
        self.keys.iter().any(|k| k.changed())
    }
}

fn ln_beyond(ratio: f64, threshold: f64) -> bool {
    ratio.is_finite() && ratio > 0.0 && ratio.ln().abs() >= (1.0 + threshold).ln() - 1e-12
        || ratio.is_infinite()
        || ratio == 0.0
}

/// Tests every key and metric and decides what changed: a change must be
/// both significant (p < alpha / tests) and large (beyond the threshold,
/// and for latency beyond `min_latency_ns` in absolute terms).
pub fn compare(c: Collected, o: &DiffOptions) -> Diff {
    let normalize = o.normalize.unwrap_or(
        if c.facts[0].command.is_some() && c.facts[1].command.is_some() {
            Normalize::Total
        } else {
            Normalize::Duration
        },
    );
    let exposure = match normalize {
        Normalize::Total => (1.0, 1.0),
        Normalize::Duration => (c.facts[0].duration_s, c.facts[1].duration_s),
    };
    let want = |m: &str| o.metrics.iter().any(|x| x == m);
    let mut keys: Vec<KeyDiff> = vec![];
    let mut tests = 0usize;
    let sets = !c.hosts[0].is_empty();
    // A host's exposure: its traces (runs) for totals, its seconds for rates.
    let host_exposure = |e: &(f64, f64)| match normalize {
        Normalize::Total => e.0,
        Normalize::Duration => e.1,
    };
    let side_exposure = |i: usize| -> f64 { c.hosts[i].values().map(host_exposure).sum() };
    let exposure = if sets {
        (side_exposure(0), side_exposure(1))
    } else {
        exposure
    };
    // Per host, ln((count + 0.5) / exposure): every host of the side, those
    // without the key too.
    let log_rates = |side: &Side, i: usize| -> Vec<f64> {
        c.hosts[i]
            .iter()
            .map(|(h, e)| {
                let n = side.hosts.get(h).map_or(0, |s| s.count);
                ((n as f64 + 0.5) / host_exposure(e)).ln()
            })
            .collect()
    };
    // Per host with enough samples, the log of its median.
    let log_medians = |side: &Side, which: fn(&Side) -> &Hist| -> Vec<f64> {
        side.hosts
            .values()
            .filter(|s| stats::hist_count(which(s)) >= o.min_samples)
            .filter_map(|s| stats::quantile(which(s), 0.5))
            .map(|q| q.max(1.0).ln())
            .collect()
    };
    for (key, [base, new]) in c.keys {
        let (mut count_p, (mut ratio, mut lo, mut hi)) = (
            stats::count_test(base.count, new.count, exposure.0, exposure.1),
            stats::rate_ratio(base.count, new.count, exposure.0, exposure.1),
        );
        if sets {
            let (p, d, half) = stats::welch(&log_rates(&base, 0), &log_rates(&new, 1))
                .expect("two or more hosts a side (collect checks)");
            count_p = p;
            (lo, hi) = ((d - half).exp(), (d + half).exp());
            if base.count > 0 && new.count > 0 {
                ratio = (new.count as f64 / exposure.1) / (base.count as f64 / exposure.0);
            }
        }
        if want("count") {
            tests += 1;
        }
        let dist = |a: &Hist, b: &Hist| {
            (stats::hist_count(a) >= o.min_samples && stats::hist_count(b) >= o.min_samples)
                .then(|| stats::mann_whitney(a, b))
        };
        let by_hosts = |which: fn(&Side) -> &Hist, pooled: Option<(f64, f64)>| {
            let (p, _, _) = stats::welch(&log_medians(&base, which), &log_medians(&new, which))?;
            // The direction and size as the events show them.
            Some((p, pooled.map_or(0.0, |(_, d)| d)))
        };
        let (mut latency_test, mut size_test) = (
            dist(&base.latency, &new.latency),
            dist(&base.size, &new.size),
        );
        if sets {
            latency_test = by_hosts(|s| &s.latency, latency_test);
            size_test = by_hosts(|s| &s.size, size_test);
        }
        if want("latency") && latency_test.is_some() {
            tests += 1;
        }
        if want("bytes") && size_test.is_some() {
            tests += 1;
        }
        keys.push(KeyDiff {
            key,
            base,
            new,
            ratio,
            ratio_ci: (lo, hi),
            count_p,
            latency_test,
            size_test,
            verdicts: vec![],
        });
    }
    let alpha = o.alpha / tests.max(1) as f64;
    for k in &mut keys {
        if want("count") {
            let changed = k.count_p < alpha && ln_beyond(k.ratio, o.threshold);
            let unit = match normalize {
                Normalize::Total => String::new(),
                Normalize::Duration => format!(
                    " ({:.1}/s → {:.1}/s)",
                    k.base.count as f64 / exposure.0,
                    k.new.count as f64 / exposure.1
                ),
            };
            k.verdicts.push(Verdict {
                metric: "count",
                p: k.count_p,
                changed,
                summary: format!(
                    "count {} → {}{unit}, ×{}",
                    k.base.count,
                    k.new.count,
                    fmt_ratio(k.ratio)
                ),
            });
        }
        for (metric, test, hb, hn, floor, unit) in [
            (
                "latency",
                k.latency_test,
                &k.base.latency,
                &k.new.latency,
                o.min_latency_ns,
                "ns",
            ),
            ("bytes", k.size_test, &k.base.size, &k.new.size, 0.0, "B"),
        ] {
            let Some((p, delta)) = test else { continue };
            if !want(metric) {
                continue;
            }
            let q = |h: &Hist, x| stats::quantile(h, x).unwrap_or(0.0);
            let big = |x: f64| {
                let (a, b) = (q(hb, x), q(hn, x));
                (b - a).abs() >= floor.max(1e-9)
                    && ln_beyond(b.max(1e-9) / a.max(1e-9), o.threshold)
            };
            let changed = p < alpha && (big(0.5) || big(0.9));
            let what = if metric == "latency" {
                "latency"
            } else {
                "bytes/call"
            };
            k.verdicts.push(Verdict {
                metric,
                p,
                changed,
                summary: format!(
                    "{what} p50 {} → {}, p90 {} → {} (δ {delta:+.2})",
                    fmt_val(q(hb, 0.5), unit),
                    fmt_val(q(hn, 0.5), unit),
                    fmt_val(q(hb, 0.9), unit),
                    fmt_val(q(hn, 0.9), unit),
                ),
            });
        }
    }
    Diff {
        replicates: sets.then(|| (c.hosts[0].len(), c.hosts[1].len())),
        facts: c.facts,
        script: None,
        opts: o.clone(),
        normalize,
        exposure,
        tests,
        keys,
        warnings: c.warnings,
    }
}

pub fn fmt_ratio(r: f64) -> String {
    if r.is_infinite() {
        "∞".into()
    } else {
        format!("{r:.2}")
    }
}

/// 1234567 ns → "1.23ms".
pub fn fmt_val(v: f64, unit: &str) -> String {
    if unit == "ns" {
        let (d, u) = if v >= 1e9 {
            (1e9, "s")
        } else if v >= 1e6 {
            (1e6, "ms")
        } else if v >= 1e3 {
            (1e3, "µs")
        } else {
            (1.0, "ns")
        };
        return format!("{}{u}", trim_num(v / d));
    }
    format!("{}{unit}", trim_num(v))
}

fn trim_num(x: f64) -> String {
    if x >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Keys for sorting people's views: changed first, by how much.
pub fn order(keys: &mut [&KeyDiff]) {
    keys.sort_by(|a, b| {
        b.changed()
            .cmp(&a.changed())
            .then(
                b.ratio
                    .ln()
                    .abs()
                    .partial_cmp(&a.ratio.ln().abs())
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
            .then((b.base.count + b.new.count).cmp(&(a.base.count + a.new.count)))
            .then(a.key.cmp(&b.key))
    });
}

/// "20us", "1.5ms", "250ns", "2s" or a bare number of ns.
pub fn parse_duration_ns(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let mul = match unit {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    Some(n * mul)
}
