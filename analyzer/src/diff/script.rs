//! `retap diff --script`: a stap script run over both traces, and its
//! globals (as they stand when `end` would run) compared key by key.
//! Integer elements are compared as counts (Poisson test, like event
//! counts), statistics by their @count and their mean (Welch's z on the
//! variance stap keeps); string elements are shown, never judged.

use std::collections::BTreeMap;
use std::path::Path;

use super::stats::{count_test, normal_sf, rate_ratio};
use super::DiffError;
use super::{DiffOptions, KeyDiff, Normalize, Side, TraceFacts, Verdict};
use crate::run::{run, Note, RunRequest};
use crate::runtime::interp::SnapValue;
use crate::trace::Trace;

fn facts(name: &str, dir: &Path) -> Result<TraceFacts, DiffError> {
    let t = Trace::open(dir)?;
    let m = &t.manifest;
    let end = m.end_ns.unwrap_or(m.start_ns);
    Ok(TraceFacts {
        name: name.into(),
        dir: dir.display().to_string(),
        duration_s: ((end - m.start_ns) as f64 / 1e9).max(1e-9),
        command: m.filters.command.clone(),
        events: m.total_events(),
        dropped: m.total_dropped(),
    })
}

/// The script's globals before `end` over one trace; its warnings (and its
/// own stderr) go to `warnings`, each naming the trace.
fn globals(
    script: &Path,
    dir: &Path,
    o: &DiffOptions,
    warnings: &mut Vec<String>,
) -> Result<BTreeMap<(String, String), SnapValue>, DiffError> {
    let req = RunRequest {
        cluster: o.cluster.clone(),
        script_path: Some(script.to_path_buf()),
        last_pass: 5,
        trace: Some(dir.to_path_buf()),
        snapshot: true,
        quiet: true,
        // Pass 2's warnings are the script's, not the traces': once per
        // trace would only repeat them.
        suppress_warnings: true,
        ..Default::default()
    };
    let mut notes = |n: Note| match n {
        Note::Warning(w) => warnings.push(format!("{}: {w}", dir.display())),
        Note::Script(s) => warnings.push(format!("{}: {}", dir.display(), s.trim_end())),
        Note::Verbose(_) | Note::Report(_) => {}
    };
    let snap = run(&req, &mut notes).map_err(|f| DiffError::Script {
        script: script.display().to_string(),
        trace: dir.display().to_string(),
        message: f.message.trim_end().to_string(),
    })?;
    let mut out = BTreeMap::new();
    for g in snap {
        for (k, v) in g.rows {
            out.insert((g.name.clone(), k), v);
        }
    }
    Ok(out)
}

pub fn diff_script(
    script: &Path,
    base: &Path,
    new: &Path,
    o: &DiffOptions,
) -> Result<super::Diff, DiffError> {
    let f = [facts("base", base)?, facts("new", new)?];
    let mut warnings = vec![];
    let a = globals(script, base, o, &mut warnings)?;
    let b = globals(script, new, o, &mut warnings)?;
    let normalize = o
        .normalize
        .unwrap_or(if f[0].command.is_some() && f[1].command.is_some() {
            Normalize::Total
        } else {
            Normalize::Duration
        });
    let exposure = match normalize {
        Normalize::Total => (1.0, 1.0),
        Normalize::Duration => (f[0].duration_s, f[1].duration_s),
    };
    let mut all: Vec<&(String, String)> = a.keys().chain(b.keys()).collect();
    all.sort();
    all.dedup();
    // (key, base, new, count p, mean test)
    let mut rows = vec![];
    let mut tests = 0usize;
    for k in all {
        let (va, vb) = (a.get(k), b.get(k));
        let count = |v: Option<&SnapValue>| match v {
            Some(SnapValue::Int(n)) => Some((*n).max(0) as u64),
            Some(SnapValue::Stat { count, .. }) => Some(*count as u64),
            _ => None,
        };
        let (ca, cb) = (count(va), count(vb));
        let countable = ca.is_some() || cb.is_some();
        if countable {
            tests += 1;
        }
        let mean = match (va, vb) {
            (
                Some(SnapValue::Stat {
                    count: n1,
                    sum: s1,
                    variance: v1,
                }),
                Some(SnapValue::Stat {
                    count: n2,
                    sum: s2,
                    variance: v2,
                }),
            ) if *n1 >= o.min_samples as i64 && *n2 >= o.min_samples as i64 => {
                let (m1, m2) = (*s1 as f64 / *n1 as f64, *s2 as f64 / *n2 as f64);
                let se = (*v1 as f64 / *n1 as f64 + *v2 as f64 / *n2 as f64).sqrt();
                let p = if se > 0.0 {
                    (2.0 * normal_sf((m2 - m1).abs() / se)).min(1.0)
                } else if m1 == m2 {
                    1.0
                } else {
                    0.0
                };
                tests += 1;
                Some((m1, m2, p))
            }
            _ => None,
        };
        rows.push((k.clone(), va.cloned(), vb.cloned(), ca, cb, countable, mean));
    }
    let alpha = o.alpha / tests.max(1) as f64;
    let beyond =
        |r: f64| !r.is_finite() || r == 0.0 || r.ln().abs() >= (1.0 + o.threshold).ln() - 1e-12;
    let mut keys = vec![];
    for ((g, key), va, vb, ca, cb, countable, mean) in rows {
        let (n1, n2) = (ca.unwrap_or(0), cb.unwrap_or(0));
        let p = count_test(n1, n2, exposure.0, exposure.1);
        let (ratio, lo, hi) = rate_ratio(n1, n2, exposure.0, exposure.1);
        let mut verdicts = vec![];
        if countable {
            verdicts.push(Verdict {
                metric: "count",
                p,
                changed: p < alpha && beyond(ratio),
                summary: format!("{n1} → {n2}, ×{}", super::fmt_ratio(ratio)),
            });
        }
        if let Some((m1, m2, pm)) = mean {
            verdicts.push(Verdict {
                metric: "mean",
                p: pm,
                changed: pm < alpha && beyond(m2 / m1) && (m2 - m1).abs() >= o.min_mean_change,
                summary: format!("@avg {m1:.1} → {m2:.1}"),
            });
        }
        if let (Some(SnapValue::Str(x)), Some(SnapValue::Str(y))) = (&va, &vb) {
            verdicts.push(Verdict {
                metric: "text",
                p: 1.0,
                changed: false,
                summary: format!("{x:?} → {y:?} (text is shown, not judged)"),
            });
        }
        keys.push(KeyDiff {
            key: vec![g, key],
            base: Side {
                count: n1,
                ..Side::default()
            },
            new: Side {
                count: n2,
                ..Side::default()
            },
            ratio,
            ratio_ci: (lo, hi),
            count_p: p,
            latency_test: None,
            size_test: None,
            verdicts,
        });
    }
    let mut opts = o.clone();
    opts.by = vec!["global".into(), "key".into()];
    Ok(super::Diff {
        facts: f,
        script: Some(script.display().to_string()),
        opts,
        normalize,
        replicates: None,
        exposure,
        tests,
        keys,
        warnings,
    })
}
