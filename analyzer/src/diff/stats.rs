//! The statistics `retap diff` decides with. Latencies and sizes are kept
//! as log-linear histograms (32 sub-buckets per power of two: values are
//! within 1.6% of their bucket's midpoint), so memory stays bounded however
//! long the recordings are, and Mann–Whitney's U is computed exactly on the
//! bucketed values (ties within a bucket are ties).

use std::collections::BTreeMap;

pub use crate::engine::log_linear::{bucket, bucket_range};

/// The value a bucket stands for: exact below 32, else its midpoint.
pub fn bucket_value(b: i64) -> f64 {
    let (lo, w) = bucket_range(b);
    if w == 1 {
        lo as f64
    } else {
        lo as f64 + (w as f64 - 1.0) / 2.0
    }
}

pub type Hist = BTreeMap<i64, u64>;

pub fn hist_count(h: &Hist) -> u64 {
    h.values().sum()
}

/// The q-quantile (0 < q <= 1) as the value of the bucket holding the
/// ceil(q n)-th smallest value.
pub fn quantile(h: &Hist, q: f64) -> Option<f64> {
    let n = hist_count(h);
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    let mut seen = 0;
    for (b, c) in h {
        seen += c;
        if seen >= rank {
            return Some(bucket_value(*b));
        }
    }
    None
}

/// Standard normal upper tail, via erfc (Numerical Recipes' erfcc:
/// relative error < 1.2e-7 everywhere, so tiny p-values stay meaningful).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807
                                + t * (-1.13520398
                                    + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos, g = 7, n = 9.
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.5203681218851,
        -1259.1392167224028,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507343278686905,
        -0.13857109526572012,
        9.984_369_578_019_572e-6,
        1.5056327351493116e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn binom_ln_pmf(k: u64, n: u64, p: f64) -> f64 {
    let (k, n) = (k as f64, n as f64);
    ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0)
        + if k > 0.0 { k * p.ln() } else { 0.0 }
        + if n - k > 0.0 {
            (n - k) * (1.0 - p).ln()
        } else {
            0.0
        }
}

/// Counts compared as Poisson rates with exposures e1, e2 (1 and 1 for
/// "one run of the command each", the durations otherwise): conditional on
/// n1 + n2, n1 is binomial with p = e1 / (e1 + e2). Two-sided p-value:
/// exact for small totals, normal with continuity correction otherwise.
pub fn count_test(n1: u64, n2: u64, e1: f64, e2: f64) -> f64 {
    let n = n1 + n2;
    if n == 0 {
        return 1.0;
    }
    let p = e1 / (e1 + e2);
    let var = n as f64 * p * (1.0 - p);
    if n <= 5000 || var < 25.0 {
        let at = binom_ln_pmf(n1, n, p);
        let mut total = 0.0;
        for k in 0..=n {
            let l = binom_ln_pmf(k, n, p);
            if l <= at + 1e-9 {
                total += l.exp();
            }
        }
        return total.min(1.0);
    }
    let mean = n as f64 * p;
    let d = ((n1 as f64 - mean).abs() - 0.5).max(0.0);
    (2.0 * normal_sf(d / var.sqrt())).min(1.0)
}

/// The rate ratio new/base and its 95% interval (log scale, 0.5 added to
/// empty counts so that appearing and vanishing keys get finite bounds).
pub fn rate_ratio(n1: u64, n2: u64, e1: f64, e2: f64) -> (f64, f64, f64) {
    let (a, b) = (n1 as f64, n2 as f64);
    let (ca, cb) = (a.max(0.5), b.max(0.5));
    let r = (cb / e2) / (ca / e1);
    let se = (1.0 / ca + 1.0 / cb).sqrt();
    let ratio = if n1 == 0 && n2 == 0 {
        1.0
    } else if n1 == 0 {
        f64::INFINITY
    } else {
        (b / e2) / (a / e1)
    };
    (ratio, r * (-1.96 * se).exp(), r * (1.96 * se).exp())
}

/// The regularised incomplete beta function I_x(a, b), by its continued
/// fraction (Numerical Recipes' betacf; converges within ~100 terms for
/// the t distribution's arguments).
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast for x < (a+1)/(a+b+2); else by symmetry.
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    let tiny = 1e-300;
    let (mut c, mut d) = (1.0, 1.0 - (a + b) * x / (a + 1.0));
    if d.abs() < tiny {
        d = tiny;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for num in [
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < tiny {
                d = tiny;
            }
            c = 1.0 + num / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * h / a
}

/// Two-sided p-value of Student's t with `df` degrees of freedom.
pub fn student_t_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    incomplete_beta(df / (df + t * t), df / 2.0, 0.5).clamp(0.0, 1.0)
}

/// The t such that a two-sided test at `df` has p-value `p` (bisection).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1e6);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_p(mid, df) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Welch's t-test of two samples (each at least two values): (two-sided
/// p-value, mean(b) - mean(a), its 95% half-width). Samples without
/// spread: p 1 if the means are equal, 0 if not.
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let stat = |x: &[f64]| {
        let n = x.len() as f64;
        let m = x.iter().sum::<f64>() / n;
        let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0);
        (n, m, v)
    };
    let ((n1, m1, v1), (n2, m2, v2)) = (stat(a), stat(b));
    let (s1, s2) = (v1 / n1, v2 / n2);
    let se = (s1 + s2).sqrt();
    let diff = m2 - m1;
    if se < 1e-12 * (m1.abs() + m2.abs()).max(1e-300) {
        let p = if diff.abs() < 1e-12 { 1.0 } else { 0.0 };
        return Some((p, diff, 0.0));
    }
    let df = (s1 + s2).powi(2) / (s1 * s1 / (n1 - 1.0) + s2 * s2 / (n2 - 1.0));
    Some((
        student_t_p(diff / se, df),
        diff,
        student_t_quantile(0.05, df) * se,
    ))
}

/// Mann–Whitney U on two bucketed samples: (two-sided p-value, Cliff's
/// delta). Delta > 0: values in `new` tend to be larger.
pub fn mann_whitney(base: &Hist, new: &Hist) -> (f64, f64) {
    let n1 = hist_count(base) as f64;
    let n2 = hist_count(new) as f64;
    if n1 == 0.0 || n2 == 0.0 {
        return (1.0, 0.0);
    }
    let mut keys: Vec<i64> = base.keys().chain(new.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let mut rank_sum_new = 0.0;
    let mut below = 0.0;
    let mut ties = 0.0;
    for k in keys {
        let a = *base.get(&k).unwrap_or(&0) as f64;
        let b = *new.get(&k).unwrap_or(&0) as f64;
        let t = a + b;
        rank_sum_new += b * (below + (t + 1.0) / 2.0);
        below += t;
        ties += t * t * t - t;
    }
    let n = n1 + n2;
    let u = rank_sum_new - n2 * (n2 + 1.0) / 2.0;
    let mu = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)).max(1.0));
    let delta = 2.0 * u / (n1 * n2) - 1.0;
    if var <= 0.0 {
        return (1.0, delta);
    }
    let z = ((u - mu).abs() - 0.5).max(0.0) / var.sqrt();
    ((2.0 * normal_sf(z)).min(1.0), delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Student's t against printed tables (two-sided critical values):
    /// t(0.05, 10) = 2.228, t(0.01, 4) = 4.604, t(0.05, 1) = 12.706,
    /// t(0.001, 30) = 3.646; and t(2.0, 5) = 0.10182 (R: 2*pt(-2, 5)).
    #[test]
    fn student_t_matches_the_tables() {
        for (t, df, p) in [
            (2.228, 10.0, 0.05),
            (4.604, 4.0, 0.01),
            (12.706, 1.0, 0.05),
            (3.646, 30.0, 0.001),
        ] {
            let got = student_t_p(t, df);
            assert!((got - p).abs() / p < 0.002, "t {t} df {df}: {got}");
            let q = student_t_quantile(p, df);
            assert!((q - t).abs() / t < 0.001, "p {p} df {df}: {q}");
        }
        assert!((student_t_p(2.0, 5.0) - 0.101_939).abs() < 1e-5);
        assert!((student_t_p(0.0, 7.0) - 1.0).abs() < 1e-12);
    }

    /// Welch against a worked example: a = [19.8, 20.4, 19.6, 17.8, 18.5,
    /// 18.9, 18.3, 18.9, 19.5, 22.0], b = [28.2, 26.6, 20.1, 23.3, 25.2,
    /// 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0, 23.9, 21.6,
    /// 24.3, 20.4, 24.0, 13.2] (Wikipedia, Welch's t-test): t = 2.22,
    /// df = 24.5, p = 0.036.
    #[test]
    fn welch_matches_a_worked_example() {
        let a = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
        let b = [
            28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0,
            23.9, 21.6, 24.3, 20.4, 24.0, 13.2,
        ];
        let (p, d, half) = welch(&a, &b).unwrap();
        assert!((p - 0.036).abs() < 0.001, "{p}");
        assert!((d - (21.59 - 19.37)).abs() < 0.01, "{d}");
        assert!(half > 0.0 && half < d, "{half}");
        assert_eq!(welch(&[1.0, 1.0], &[2.0, 2.0]).unwrap().0, 0.0);
        assert_eq!(welch(&[1.0, 1.0], &[1.0, 1.0]).unwrap().0, 1.0);
        assert!(welch(&[1.0], &[2.0, 3.0]).is_none());
    }

    #[test]
    fn buckets_cover_every_value_within_their_width() {
        for v in [
            0i64,
            1,
            127,
            128,
            129,
            255,
            256,
            1000,
            1_000_000,
            1 << 40,
            i64::MAX,
        ] {
            let (lo, w) = bucket_range(bucket(v));
            assert!(lo <= v && (v - lo) < w, "{v}: {lo} {w}");
            assert!((w as f64) / (lo as f64).max(1.0) <= 1.0 / 32.0 + 1e-12 || w == 1);
        }
        assert!(bucket(1000) < bucket(1001) || bucket(1000) == bucket(1001));
        assert!(bucket(255) < bucket(256));
    }

    #[test]
    fn tests_match_known_values() {
        // scipy.stats.binomtest(3, 10, 0.5).pvalue = 0.34375
        assert!((count_test(3, 7, 1.0, 1.0) - 0.34375).abs() < 1e-9);
        // binomtest(0, 12, 0.5) = 2 * 0.5^12
        assert!((count_test(0, 12, 1.0, 1.0) - 2.0 * 0.5f64.powi(12)).abs() < 1e-12);
        assert!(count_test(10000, 10000, 1.0, 1.0) > 0.99);
        assert!(count_test(10000, 20000, 1.0, 1.0) < 1e-100);
        // Φ(-1.96) ≈ 0.025
        assert!((normal_sf(1.959964) - 0.025).abs() < 1e-6);
        // Identical samples: no difference.
        let h: Hist = [(10, 50), (20, 50)].into_iter().collect();
        let (p, d) = mann_whitney(&h, &h);
        assert!(p > 0.99 && d.abs() < 1e-12);
        // Fully separated samples: delta 1, tiny p.
        let a: Hist = [(10, 100)].into_iter().collect();
        let b: Hist = [(200, 100)].into_iter().collect();
        let (p, d) = mann_whitney(&a, &b);
        assert!(p < 1e-30 && (d - 1.0).abs() < 1e-12, "{p} {d}");
        // scipy.stats.mannwhitneyu([1,2,3,4,5],[6,7,8,9,10]) p = 0.01219 (normal, cc)
        let a: Hist = (1..=5).map(|v| (v, 1)).collect();
        let b: Hist = (6..=10).map(|v| (v, 1)).collect();
        let (p, _) = mann_whitney(&a, &b);
        assert!((p - 0.01219).abs() < 2e-4, "{p}");
    }
}
