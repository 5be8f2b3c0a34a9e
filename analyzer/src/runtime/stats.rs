//! Statistics (`<<<`) as stap's runtime keeps them: count, sum, min, max,
//! histogram buckets, and for `@variance` Welford's online update per CPU
//! (with stap's fixed-point bit shift and its 32-bit `delta`), combined
//! across CPUs with the Total Variance formula, so the integer result equals
//! stap's for the same events on the same CPUs.

use crate::stap::elaborate::ir::HistSpec;

pub const LOG_BUCKETS: usize = 128;
pub const LOG_BUCKET0: usize = 64;

#[derive(Clone, Debug, Default)]
struct CpuPart {
    count: i64,
    sum: i64,
    avg_s: i64,
    m2: i64,
    variance_s: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Stat {
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
    /// One bucket vector per histogram the script asks of this statistic.
    pub hists: Vec<Vec<i64>>,
    /// Per-CPU Welford state, kept only when `@variance` is used.
    parts: Vec<(i32, CpuPart)>,
}

/// What every statistic of one global needs: its histogram layouts and
/// whether variance is tracked.
#[derive(Clone, Debug, Default)]
pub struct StatShape {
    pub hists: Vec<HistSpec>,
    pub variance: bool,
    pub shift: u32,
}

pub fn linear_buckets(start: i64, stop: i64, interval: i64) -> usize {
    ((stop - start) / interval + 3) as usize
}

/// stap's `_stp_val_to_bucket`: 0 has bucket 64, positive v bucket
/// 65 + floor(log2 v), negative values mirror below 64.
pub fn log_bucket(v: i64) -> usize {
    // No branches, so that loops over columns vectorise: 0 needs no case
    // of its own (64 leading zeros put it at 128 - 64), and a negative
    // value's bucket mirrors its magnitude's (128 - (128 - lz)).
    let mag = if v < 0 {
        (v as u64).wrapping_neg()
    } else {
        v as u64
    };
    let lz = mag.leading_zeros() as usize;
    if v < 0 {
        lz
    } else {
        LOG_BUCKETS - lz
    }
}

/// stap's `_stp_bucket_to_val`: the label of a log bucket.
pub fn log_bucket_value(b: usize) -> i64 {
    if b == LOG_BUCKET0 {
        0
    } else if b < LOG_BUCKET0 {
        i64::MIN >> b
    } else {
        1i64 << (b - LOG_BUCKET0 - 1)
    }
}

pub fn linear_bucket(v: i64, start: i64, interval: i64, buckets: usize) -> usize {
    let d = v.wrapping_sub(start);
    let b = if d < 0 {
        0
    } else {
        (d as u64 / interval as u64) as usize + 1
    };
    b.min(buckets - 1)
}

/// A histogram's buckets, all zero.
pub fn empty_hist(spec: HistSpec) -> Vec<i64> {
    match spec {
        HistSpec::Log => vec![0; LOG_BUCKETS],
        HistSpec::Linear {
            start,
            stop,
            interval,
        } => vec![0; linear_buckets(start, stop, interval)],
    }
}

impl Stat {
    pub fn new(shape: &StatShape) -> Stat {
        Stat {
            hists: shape.hists.iter().map(|h| empty_hist(*h)).collect(),
            ..Stat::default()
        }
    }

    /// A statistic computed elsewhere (a plan's aggregates).
    pub fn from_parts(count: i64, sum: i64, min: i64, max: i64, hists: Vec<Vec<i64>>) -> Stat {
        Stat {
            count,
            sum,
            min,
            max,
            hists,
            parts: vec![],
        }
    }

    pub fn add(&mut self, v: i64, cpu: i32, shape: &StatShape) {
        if self.count == 0 {
            self.sum = v;
            self.min = v;
            self.max = v;
        } else {
            self.sum = self.sum.wrapping_add(v);
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        for (h, spec) in self.hists.iter_mut().zip(&shape.hists) {
            let b = match spec {
                HistSpec::Log => log_bucket(v),
                HistSpec::Linear {
                    start, interval, ..
                } => linear_bucket(v, *start, *interval, h.len()),
            };
            h[b] += 1;
        }
        if shape.variance {
            let shift = shape.shift;
            let part = match self.parts.iter().position(|(c, _)| *c == cpu) {
                Some(i) => &mut self.parts[i].1,
                None => {
                    self.parts.push((cpu, CpuPart::default()));
                    &mut self.parts.last_mut().unwrap().1
                }
            };
            let vs = v.wrapping_shl(shift);
            if part.count == 0 {
                part.count = 1;
                part.sum = v;
                part.avg_s = vs;
                part.m2 = 0;
            } else {
                part.count += 1;
                part.sum = part.sum.wrapping_add(v);
                // stap declares delta as a C int.
                let delta = vs.wrapping_sub(part.avg_s) as i32 as i64;
                part.avg_s = part.avg_s.wrapping_add(div64(delta, part.count));
                part.m2 = part
                    .m2
                    .wrapping_add(delta.wrapping_mul(vs.wrapping_sub(part.avg_s)));
                part.variance_s = if part.count < 2 {
                    -1
                } else {
                    div64(part.m2, part.count - 1)
                };
            }
        }
    }

    /// `@variance`, aggregated over CPUs as `_stp_stat_get` does.
    pub fn variance(&self, shift: u32) -> i64 {
        let avg_s = div64(self.sum.wrapping_shl(shift), self.count);
        let (mut s1, mut s2) = (0i64, 0i64);
        for (_, p) in &self.parts {
            if p.count > 0 {
                let d = p.avg_s.wrapping_sub(avg_s);
                s1 = s1.wrapping_add(p.count.wrapping_mul(d).wrapping_mul(d));
                s2 = s2.wrapping_add((p.count - 1).wrapping_mul(p.variance_s));
            }
        }
        div64(s1.wrapping_add(s2), self.count - 1) >> (2 * shift)
    }

    pub fn avg(&self) -> i64 {
        div64(self.sum, self.count)
    }
}

/// stap's `_stp_div64` without the error (callers check for zero).
pub fn div64(x: i64, y: i64) -> i64 {
    if y == 0 {
        0
    } else if y == -1 {
        x.wrapping_neg()
    } else {
        x / y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_buckets_match_stap() {
        assert_eq!(log_bucket(0), 64);
        assert_eq!(log_bucket(1), 65);
        assert_eq!(log_bucket(2), 66);
        assert_eq!(log_bucket(3), 66);
        assert_eq!(log_bucket(1024), 75);
        assert_eq!(log_bucket(-1), 63);
        assert_eq!(log_bucket(-3), 62);
        assert_eq!(log_bucket(i64::MAX), 127);
        assert_eq!(log_bucket(i64::MIN), 0);
        for b in [63, 64, 65, 70, 62, 1] {
            assert_eq!(log_bucket(log_bucket_value(b)), b, "{b}");
        }
        // Against the definition, around every power of two.
        for k in 0..63 {
            for v in [(1i64 << k) - 1, 1i64 << k, (1i64 << k) + 1] {
                for v in [v, -v] {
                    let want = match v {
                        0 => 64,
                        v if v > 0 => 65 + v.ilog2() as usize,
                        v => 63 - v.unsigned_abs().ilog2() as usize,
                    };
                    assert_eq!(log_bucket(v), want, "{v}");
                }
            }
        }
        assert_eq!(log_bucket_value(75), 1024);
        assert_eq!(log_bucket_value(62), -2);
    }

    #[test]
    fn variance_matches_the_exact_value_on_one_cpu() {
        let shape = StatShape {
            hists: vec![],
            variance: true,
            shift: 0,
        };
        let mut s = Stat::new(&shape);
        for v in [2, 4, 4, 4, 5, 5, 7, 9] {
            s.add(v, 0, &shape);
        }
        // The exact sample variance is 32/7 = 4.57, but with no bit shift
        // stap's integer Welford keeps avg_s at 3 (each delta/count
        // truncates to 0), ending with M2 = 64, variance_s = 64/7 = 9; the
        // CPU aggregation adds 8*(3-5)^2 = 32: (32 + 7*9)/7 = 13.
        assert_eq!(s.variance(0), 13);
        assert_eq!(s.avg(), 5);
    }
}
