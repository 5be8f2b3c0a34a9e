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
    let sess = SqlSession::open(&[
        TraceArg {
            name: Some("base".into()),
            dir: base.to_path_buf(),
        },
        TraceArg {
            name: Some("new".into()),
            dir: new.to_path_buf(),
        },
    ])?;
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
    let total_rows: u64 = sess
        .traces
        .iter()
        .map(|(_, t)| same_table(t).map(|(r, _)| r).unwrap_or(0))
        .sum();
    progress.start(total_rows);
    // Every row passes through the first bucket function once: it moves the bar.
    for (name, counts) in [("diff_bucket_counted", true), ("diff_bucket", false)] {
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
        .map(|c| format!("diff_bucket_counted(CAST({c} AS BIGINT))"))
        .unwrap_or_else(|| "CAST(NULL AS BIGINT)".into());
    let size_e = size
        .as_ref()
        .map(|c| {
            let f = if lat.is_some() {
                "diff_bucket"
            } else {
                "diff_bucket_counted"
            };
            format!("{f}(CAST({c} AS BIGINT))")
        })
        .unwrap_or_else(|| "CAST(NULL AS BIGINT)".into());
    let bytes_e = size
        .as_ref()
        .map(|c| format!("sum(COALESCE(CAST({c} AS BIGINT), 0))"))
        .unwrap_or_else(|| "CAST(0 AS BIGINT)".into());
    let nk = o.by.len();
    let group: Vec<String> = (1..=nk + 1).map(|i| i.to_string()).collect();
    let mut out: BTreeMap<Vec<String>, [Side; 2]> = BTreeMap::new();
    let mut facts = vec![];
    for (side, (name, t)) in sess.traces.iter().enumerate() {
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
                let kcols: Vec<ArrayRef> = (0..nk)
                    .map(|i| cast(b.column(i), &DataType::Utf8))
                    .collect::<Result<_, _>>()?;
                let ints = |i: usize| -> Result<Int64Array, DiffError> {
                    let c = cast(b.column(i), &DataType::Int64)?;
                    Ok(c.as_any()
                        .downcast_ref::<Int64Array>()
                        .expect("int64")
                        .clone())
                };
                let (bk, n, by) = (ints(nk)?, ints(nk + 1)?, ints(nk + 2)?);
                for row in 0..b.num_rows() {
                    let key: Vec<String> = kcols
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
                    let e = &mut out.entry(key).or_default()[side];
                    let cnt = n.value(row) as u64;
                    let hist = if which == 0 {
                        e.count += cnt;
                        e.bytes += if by.is_null(row) { 0 } else { by.value(row) };
                        &mut e.latency
                    } else {
                        &mut e.size
                    };
                    if !bk.is_null(row) {
                        *hist.entry(bk.value(row)).or_default() += cnt;
                    }
                }
            }
        }
        let m = &t.manifest;
        let end = m.end_ns.unwrap_or_else(|| {
            m.tables
                .values()
                .flat_map(|s| s.files.iter().filter_map(|f| f.max_ts))
                .max()
                .unwrap_or(m.start_ns)
        });
        facts.push(TraceFacts {
            name: name.clone(),
            dir: t.dir.display().to_string(),
            duration_s: ((end - m.start_ns) as f64 / 1e9).max(1e-9),
            command: m.filters.command.clone(),
            events: m.tables.get(o.table.name()).map(|s| s.events).unwrap_or(0),
            dropped: m.tables.get(o.table.name()).map(|s| s.dropped).unwrap_or(0),
        });
    }
    progress.finish();
    let facts: [TraceFacts; 2] = facts.try_into().expect("two traces, opened together");
    Ok(Collected {
        facts,
        warnings: sess.warnings.clone(),
        keys: out,
    })
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
    for (key, [base, new]) in c.keys {
        let count_p = stats::count_test(base.count, new.count, exposure.0, exposure.1);
        let (ratio, lo, hi) = stats::rate_ratio(base.count, new.count, exposure.0, exposure.1);
        if want("count") {
            tests += 1;
        }
        let dist = |a: &Hist, b: &Hist| {
            (stats::hist_count(a) >= o.min_samples && stats::hist_count(b) >= o.min_samples)
                .then(|| stats::mann_whitney(a, b))
        };
        let latency_test = dist(&base.latency, &new.latency);
        let size_test = dist(&base.size, &new.size);
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
