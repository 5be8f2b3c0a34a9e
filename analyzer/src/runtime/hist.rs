//! Histogram printing, byte for byte as stap 4.8's runtime
//! (`_stp_stat_print_histogram_buf`): two empty buckets of margin, scale
//! to 50 columns, rows whose whole ±2 neighbourhood is empty elided with
//! a `~` mark.

use std::fmt::Write;

use super::stats::{log_bucket_value, LOG_BUCKET0};

const WIDTH: i64 = 50;
const ELISION: i64 = 2;

#[derive(Clone, Copy, Debug)]
pub enum Layout {
    Log,
    Linear { start: i64, interval: i64 },
}

/// Characters stap needs for a number (`needed_space`).
fn needed_space(v: i64) -> i64 {
    if v == 0 {
        return 1;
    }
    let mut n = i64::from(v < 0);
    let mut m = v.unsigned_abs();
    while m > 0 {
        m /= 10;
        n += 1;
    }
    n
}

pub fn render(h: &[i64], layout: Layout, out: &mut String) {
    let buckets = h.len() as i64;
    let mut low: i64 = -1;
    let mut high: i64 = 0;
    let mut valmax = 0i64;
    for (i, &c) in h.iter().enumerate() {
        if c > 0 && low == -1 {
            low = i as i64;
        }
        if c > 0 {
            high = i as i64;
        }
        valmax = valmax.max(c);
    }
    if low == -1 {
        // stap keeps the -1 too; an empty histogram prints from bucket 0.
        low = 0;
    }
    for _ in 0..2 {
        match layout {
            Layout::Log => {
                if low != LOG_BUCKET0 as i64 && low > 0 {
                    low -= 1;
                }
            }
            Layout::Linear { .. } => {
                if low > 0 {
                    low -= 1;
                }
            }
        }
        if high < buckets - 1 {
            high += 1;
        }
    }
    let (mut under, mut over) = (0, 0);
    if let Layout::Linear { .. } = layout {
        if low == 0 && h[0] == 0 {
            low += 1;
        }
        if high == buckets - 1 && h[high as usize] == 0 {
            high -= 1;
        }
        if low == 0 {
            under = 1;
        }
        if high == buckets - 1 {
            over = 1;
        }
    }
    let scale = if valmax <= WIDTH {
        1
    } else {
        (valmax + WIDTH - 1) / WIDTH
    };
    let cnt_space = needed_space(valmax);
    let val_space = match layout {
        Layout::Linear { start, interval } => (needed_space(start) + under)
            .max(needed_space(start.wrapping_add(interval.wrapping_mul(high))) + over),
        Layout::Log => needed_space(log_bucket_value(high as usize))
            .max(needed_space(log_bucket_value(low as usize))),
    }
    .max(5);
    let vs = val_space as usize;
    let _ = write!(out, "{:>vs$} |", "value");
    out.push_str(&"-".repeat(WIDTH as usize));
    out.push_str(" count\n");
    let mut eliding = false;
    let mut i = low;
    while i <= high {
        let lo = low.max(i - ELISION);
        let hi = high.min(i + ELISION);
        if (lo..=hi).all(|k| h[k as usize] == 0) {
            eliding = true;
            i += 1;
            continue;
        }
        if eliding {
            let _ = writeln!(out, "{:vs$} ~", "");
            eliding = false;
        }
        let (val, prefix) = match layout {
            Layout::Linear { start, interval } => {
                if i == 0 {
                    (start, "<")
                } else if i == buckets - 1 {
                    (start.wrapping_add((i - 2).wrapping_mul(interval)), ">")
                } else {
                    (start.wrapping_add((i - 1).wrapping_mul(interval)), "")
                }
            }
            Layout::Log => (log_bucket_value(i as usize), ""),
        };
        let pad = (val_space - needed_space(val)).max(0) as usize;
        let _ = write!(out, "{prefix:>pad$}{val} |");
        let count = h[i as usize];
        let v = count / scale;
        out.push_str(&"@".repeat(v.max(0) as usize));
        let w = (WIDTH - v + 1 + cnt_space).max(0) as usize;
        let _ = writeln!(out, "{count:>w$}");
        i += 1;
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::super::stats::{linear_bucket, linear_buckets, log_bucket};
    use super::*;

    fn linear(values: &[(i64, usize)], start: i64, stop: i64, interval: i64) -> String {
        let n = linear_buckets(start, stop, interval);
        let mut h = vec![0; n];
        for &(v, times) in values {
            h[linear_bucket(v, start, interval, n)] += times as i64;
        }
        let mut s = String::new();
        render(&h, Layout::Linear { start, interval }, &mut s);
        s
    }

    #[test]
    fn linear_with_under_and_overflow() {
        // Same data as the design page's example; stap's elision keeps a
        // row when anything within two rows is non-empty, so 70 shows.
        let s = linear(&[(-5, 3), (5, 2), (95, 1), (105, 4), (200, 7)], 0, 100, 10);
        let want = "value |-------------------------------------------------- count
   <0 |@@@                                                3
    0 |@@                                                 2
   10 |                                                   0
   20 |                                                   0
      ~
   70 |                                                   0
   80 |                                                   0
   90 |@                                                  1
  100 |@@@@                                               4
 >100 |@@@@@@@                                            7

";
        assert_eq!(s, want);
    }

    #[test]
    fn log_matches_the_article_shape_and_scales() {
        let mut h = vec![0i64; 128];
        for (v, n) in [
            (40, 1601),
            (100, 52),
            (200, 46),
            (300, 164),
            (600, 140),
            (1500, 2033),
        ] {
            h[log_bucket(v)] += n;
        }
        let mut s = String::new();
        render(&h, Layout::Log, &mut s);
        let want = "value |-------------------------------------------------- count
    8 |                                                      0
   16 |                                                      0
   32 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@            1601
   64 |@                                                    52
  128 |@                                                    46
  256 |@@@@                                                164
  512 |@@@                                                 140
 1024 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@  2033
 2048 |                                                      0
 4096 |                                                      0

";
        assert_eq!(s, want);
    }

    #[test]
    fn negative_values_extend_below_zero() {
        let mut h = vec![0i64; 128];
        for v in [-3, -1, 0, 5] {
            h[log_bucket(v)] += 1;
        }
        let mut s = String::new();
        render(&h, Layout::Log, &mut s);
        assert_eq!(
            s,
            "value |-------------------------------------------------- count
   -8 |                                                   0
   -4 |                                                   0
   -2 |@                                                  1
   -1 |@                                                  1
    0 |@                                                  1
    1 |                                                   0
    2 |                                                   0
    4 |@                                                  1
    8 |                                                   0
   16 |                                                   0

"
        );
    }
}
