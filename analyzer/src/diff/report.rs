//! The diff for machines (JSON) and for people (a terminal table). The
//! HTML report embeds the same JSON, so all three show the same numbers.

use serde_json::{json, Value};

use super::stats::{bucket_range, quantile, Hist};
use super::{order, Diff, KeyDiff, Normalize, Side};

fn num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn quantiles(h: &Hist) -> Value {
    json!({
        "n": super::stats::hist_count(h),
        "p50": quantile(h, 0.5).map(num).unwrap_or(Value::Null),
        "p90": quantile(h, 0.9).map(num).unwrap_or(Value::Null),
        "p99": quantile(h, 0.99).map(num).unwrap_or(Value::Null),
    })
}

/// Log2-wide bins of a histogram, for charts: [[lower bound, count], ...].
fn coarse(h: &Hist) -> Value {
    let mut bins: std::collections::BTreeMap<i64, u64> = Default::default();
    for (b, c) in h {
        let (lo, _) = bucket_range(*b);
        let p2 = if lo <= 0 {
            0
        } else {
            1i64 << (63 - lo.leading_zeros())
        };
        *bins.entry(p2).or_default() += c;
    }
    Value::Array(bins.into_iter().map(|(k, v)| json!([k, v])).collect())
}

fn side(s: &Side, exposure: f64, has_latency: bool, has_size: bool) -> Value {
    let mut v = json!({
        "count": s.count,
        "rate_per_s": s.count as f64 / exposure,
        "bytes": s.bytes,
    });
    if has_latency {
        v["latency_ns"] = quantiles(&s.latency);
        v["latency_hist"] = coarse(&s.latency);
    }
    if has_size {
        v["bytes_per_call"] = quantiles(&s.size);
    }
    v
}

fn key_json(d: &Diff, k: &KeyDiff) -> Value {
    let has_lat = !k.base.latency.is_empty() || !k.new.latency.is_empty();
    let has_size = !k.base.size.is_empty() || !k.new.size.is_empty();
    let key: serde_json::Map<String, Value> = d
        .opts
        .by
        .iter()
        .zip(&k.key)
        .map(|(c, v)| (c.clone(), json!(v)))
        .collect();
    let rates = (
        k.base.count as f64 / d.facts[0].duration_s,
        k.new.count as f64 / d.facts[1].duration_s,
    );
    json!({
        "key": key,
        "status": k.status(),
        "changed": k.changed(),
        "base": side(&k.base, d.facts[0].duration_s, has_lat, has_size),
        "new": side(&k.new, d.facts[1].duration_s, has_lat, has_size),
        "count": {
            "ratio": num(k.ratio),
            "ci95": [num(k.ratio_ci.0), num(k.ratio_ci.1)],
            "p": k.count_p,
            "rate_ratio": num(rates.1 / rates.0),
        },
        "latency_test": k.latency_test.map(|(p, d)| json!({"p": p, "cliffs_delta": d})),
        "bytes_per_call_test": k.size_test.map(|(p, d)| json!({"p": p, "cliffs_delta": d})),
        "verdicts": k.verdicts.iter().map(|v| json!({
            "metric": v.metric, "p": v.p, "changed": v.changed, "summary": v.summary,
        })).collect::<Vec<_>>(),
    })
}

pub fn to_json(d: &Diff) -> Value {
    let mut keys: Vec<&KeyDiff> = d.keys.iter().collect();
    order(&mut keys);
    let trace = |i: usize| {
        let f = &d.facts[i];
        json!({
            "name": f.name, "dir": f.dir, "duration_s": f.duration_s,
            "command": f.command, "events": f.events, "dropped": f.dropped,
        })
    };
    let changes: Vec<Value> = keys
        .iter()
        .flat_map(|k| {
            k.verdicts.iter().filter(|v| v.changed).map(|v| {
                json!({"key": k.key.join(" "), "metric": v.metric, "p": v.p, "summary": v.summary})
            })
        })
        .collect();
    json!({
        "base": trace(0),
        "new": trace(1),
        "table": d.opts.table.name(),
        "script": d.script,
        "by": d.opts.by,
        "normalize": match d.normalize { Normalize::Total => "total", Normalize::Duration => "duration" },
        "hosts": d.replicates.map(|(a, b)| serde_json::json!([a, b])),
        "threshold": d.opts.threshold,
        "alpha": d.opts.alpha,
        "tests": d.tests,
        "min_latency_ns": d.opts.min_latency_ns,
        "changed": d.changed(),
        "summary": {
            "keys": d.keys.len(),
            "changed": d.keys.iter().filter(|k| k.changed()).count(),
            "appeared": d.keys.iter().filter(|k| k.status() == "appeared").count(),
            "vanished": d.keys.iter().filter(|k| k.status() == "vanished").count(),
        },
        "changes": changes,
        "appeared": keys.iter().filter(|k| k.status() == "appeared").map(|k| k.key.join(" ")).collect::<Vec<_>>(),
        "vanished": keys.iter().filter(|k| k.status() == "vanished").map(|k| k.key.join(" ")).collect::<Vec<_>>(),
        "keys": keys.iter().map(|k| key_json(d, k)).collect::<Vec<_>>(),
    })
}

/// The terminal view: what changed (each verdict on its own line), keys
/// that appeared or vanished, then a one-line summary. `all` lists every key.
pub fn to_text(d: &Diff, all: bool) -> String {
    let mut keys: Vec<&KeyDiff> = d.keys.iter().collect();
    order(&mut keys);
    let mut s = String::new();
    let norm = match d.normalize {
        Normalize::Total => "totals (each trace is one run of a command)".to_string(),
        Normalize::Duration => format!(
            "rates per second ({:.1} s vs {:.1} s)",
            d.facts[0].duration_s, d.facts[1].duration_s
        ),
    };
    let what = match &d.script {
        Some(script) => format!("the globals of {script}"),
        None => format!("{} by {}", d.opts.table.name(), d.opts.by.join(", ")),
    };
    let hosts = match d.replicates {
        Some((a, b)) => format!(" over hosts as replicates ({a} vs {b})"),
        None => String::new(),
    };
    s += &format!(
        "retap diff: {} ({} events) → {} ({} events), {what}, comparing {norm}{hosts}\n",
        d.facts[0].dir, d.facts[0].events, d.facts[1].dir, d.facts[1].events,
    );
    for (i, f) in d.facts.iter().enumerate() {
        if f.dropped > 0 {
            s += &format!(
                "WARNING: the {} trace lost {} events (ring buffer full); its counts are low by that much\n",
                if i == 0 { "base" } else { "new" },
                f.dropped
            );
        }
    }
    let width = keys
        .iter()
        .map(|k| k.key.join(" ").chars().count())
        .max()
        .unwrap_or(3)
        .clamp(3, 48);
    let mut shown = 0;
    for k in &keys {
        if !(all || k.changed()) {
            continue;
        }
        shown += 1;
        let name: String = k.key.join(" ").chars().take(48).collect();
        let mut first = true;
        for v in k.verdicts.iter().filter(|v| all || v.changed) {
            let mark = if v.changed { "CHANGED " } else { "same    " };
            let label = if first { name.as_str() } else { "" };
            s += &format!("  {mark}{label:<width$}  {:<64} p={:.1e}\n", v.summary, v.p);
            first = false;
        }
    }
    if shown == 0 {
        s += "  no change\n";
    }
    // Keys seen on one side only, whether or not they are significant.
    for (status, side_new) in [("appeared", true), ("vanished", false)] {
        let list: Vec<String> = keys
            .iter()
            .filter(|k| k.status() == status)
            .map(|k| {
                let n = if side_new { k.new.count } else { k.base.count };
                format!("{} ({n})", k.key.join(" "))
            })
            .collect();
        if !list.is_empty() {
            s += &format!("  {status}: {}\n", list.join(", "));
        }
    }
    let changed = d.keys.iter().filter(|k| k.changed()).count();
    s += &format!(
        "{} keys compared, {} tests; {changed} changed (p < {:.0e}/{} and beyond ×{:.2}); {} appeared, {} vanished (changed or not)\n",
        d.keys.len(),
        d.tests,
        d.opts.alpha,
        d.tests.max(1),
        1.0 + d.opts.threshold,
        d.keys.iter().filter(|k| k.status() == "appeared").count(),
        d.keys.iter().filter(|k| k.status() == "vanished").count(),
    );
    s
}
