//! First-seen numbers for key values, and the array of groups they index
//! (the hash-free path of the GROUP BY).

use rustc_hash::FxHashMap;

/// Strings seen in one table, numbered in first-seen order.
#[derive(Default)]
pub(super) struct Interner {
    ids: FxHashMap<Box<str>, u64>,
    pub(super) strs: Vec<Box<str>>,
}

impl Interner {
    pub(super) fn id(&mut self, s: &str) -> u64 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strs.len() as u64;
        self.strs.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
}

/// Most bits a dense group index may take (4 MiB of group numbers).
pub(super) const DENSE_BITS: u32 = 20;

/// Widest span of integer key values numbered through a direct array.
const SLOTS_SPAN: i64 = 1 << 22;

/// A span past this many slots that is also past [`SPARSE_RATIO`] slots
/// per value seen goes to the map at once: values that far apart for how
/// few there are (a fleet's pids, shifted per host; a box's daemons and
/// its newest processes) would only widen the window, doubling, zeroed
/// and copied each time, up to [`SLOTS_SPAN`] (16 MiB) and then leave it
/// for the map anyway (507 copies of a trace: 15% of a plan's time).
const SPARSE_FROM: i64 = 1 << 16;
const SPARSE_RATIO: i64 = 64;

/// Small numbers for one integer key column's values, in first-seen order.
#[derive(Default)]
pub(super) struct IntIds {
    /// value - lo → id + 1 (0: not seen), while the values stay close.
    lo: i64,
    slots: Vec<u32>,
    /// Once they spread too far, a map instead.
    map: Option<FxHashMap<i64, u32>>,
    null_id: Option<u32>,
    pub(super) count: u32,
}

impl IntIds {
    /// Ids of a batch's values, one per `out` slot (bit `bit` set in
    /// `mask` means null; `nulls` says whether any row has it).
    pub(super) fn ids(
        &mut self,
        words: &[u64],
        mask: &[u64],
        bit: u64,
        nulls: bool,
        out: &mut [u32],
    ) {
        let n = words.len().min(out.len());
        let mut r = 0;
        while r < n {
            // The fast path, with the window and the count in locals: runs
            // until a null or a value outside the window.
            let (lo, slots) = (self.lo, &mut self.slots[..]);
            let mut count = self.count;
            let mut stop = n;
            for i in r..n {
                if nulls && mask[i] & bit != 0 {
                    stop = i;
                    break;
                }
                // One unsigned comparison keeps values inside the window.
                let off = (words[i] as i64).wrapping_sub(lo) as u64;
                match slots.get_mut(off as usize) {
                    Some(slot) => {
                        if *slot == 0 {
                            count += 1;
                            *slot = count;
                        }
                        out[i] = *slot - 1;
                    }
                    None => {
                        stop = i;
                        break;
                    }
                }
            }
            self.count = count;
            if stop == n {
                break;
            }
            out[stop] = if nulls && mask[stop] & bit != 0 {
                *self.null_id.get_or_insert_with(|| {
                    self.count += 1;
                    self.count - 1
                })
            } else {
                // Widen the window, or number through the map.
                self.slow(words[stop] as i64)
            };
            r = stop + 1;
        }
    }

    /// Whether values are numbered through the map (they spread past
    /// [`SLOTS_SPAN`]).
    pub(super) fn hashed(&self) -> bool {
        self.map.is_some()
    }

    /// A value outside the window: widen it (doubling, up to
    /// [`SLOTS_SPAN`]) or, past that, number values through a map.
    fn slow(&mut self, v: i64) -> u32 {
        if self.map.is_none() {
            let len = self.slots.len() as i64;
            let (lo, hi) = if len == 0 {
                (v, v)
            } else {
                (self.lo.min(v), (self.lo + len - 1).max(v))
            };
            let pad = len.max(16);
            let span = hi.checked_sub(lo).and_then(|d| d.checked_add(1));
            let seen = self.count as i64 + 1;
            let sparse = |s: i64| s > SPARSE_FROM && s > SPARSE_RATIO * seen;
            if let Some(span) = span.filter(|&s| s <= SLOTS_SPAN && !sparse(s)) {
                let nlo = if v < self.lo || len == 0 {
                    lo.saturating_sub(pad)
                } else {
                    lo
                };
                let nhi = if len == 0 || v > self.lo + len - 1 {
                    hi.saturating_add(pad)
                } else {
                    hi
                };
                let nlen = (nhi - nlo + 1).min(SLOTS_SPAN.max(span));
                let nlo = if nlo + nlen - 1 < hi {
                    hi - nlen + 1
                } else {
                    nlo
                };
                let mut slots = vec![0u32; nlen as usize];
                if len > 0 {
                    let at = (self.lo - nlo) as usize;
                    slots[at..at + len as usize].copy_from_slice(&self.slots);
                }
                self.slots = slots;
                self.lo = nlo;
                let slot = &mut self.slots[(v - nlo) as usize];
                if *slot == 0 {
                    self.count += 1;
                    *slot = self.count;
                }
                return *slot - 1;
            }
            let mut map = FxHashMap::default();
            for (i, &id) in self.slots.iter().enumerate() {
                if id != 0 {
                    map.insert(self.lo + i as i64, id - 1);
                }
            }
            self.map = Some(map);
            self.slots = vec![];
        }
        let count = &mut self.count;
        *self.map.as_mut().expect("map").entry(v).or_insert_with(|| {
            *count += 1;
            *count - 1
        })
    }
}

/// Groups found without hashing: each key column's values get small
/// first-seen numbers, and the numbers side by side index an array of
/// group numbers. Used while the numbers fit [`DENSE_BITS`] together;
/// past that (many keys of several columns: `c[pid(), execname()]` over
/// 80k processes), [`Sparse`].
pub(super) struct Dense {
    pub(super) ints: Vec<IntIds>,
    /// Bits per column in the index, and each group's column numbers.
    pub(super) bits: Vec<u32>,
    pub(super) slots: Vec<u32>,
    pub(super) group_ids: Vec<u32>,
    pub(super) sparse: Option<Sparse>,
}

/// The numbers side by side (up to 63 bits) as a map's key, with each
/// first column number's last group in front of it: where the other
/// columns follow from the first (a process's name from its pid), a row
/// finds its group in one array, without hashing; an index array as
/// wide as the numbers would be mostly empty, and all of it written.
#[derive(Default)]
pub(super) struct Sparse {
    pub(super) map: FxHashMap<u64, u32>,
    /// Per first-column number: (index, group) of its last row.
    pub(super) lead: Vec<(u64, u32)>,
}

/// An index no key has (indexes take at most 63 bits).
pub(super) const NO_INDEX: u64 = u64::MAX;

impl Dense {
    fn index(&self, ids: impl Iterator<Item = u32>) -> u64 {
        // (Kept in step with find_dense's column-at-a-time version.)
        let mut at = 0u64;
        for (id, b) in ids.zip(&self.bits) {
            at = (at << b) | id as u64;
        }
        at
    }

    /// Makes room for column numbers below `counts`; false when they no
    /// longer fit (in [`DENSE_BITS`] for one column, 63 for several).
    pub(super) fn fit(&mut self, counts: &[u32]) -> bool {
        let need: Vec<u32> = counts
            .iter()
            .zip(&self.bits)
            .map(|(&n, &b)| b.max(32 - n.saturating_sub(1).leading_zeros()))
            .collect();
        if need == self.bits && (!self.slots.is_empty() || self.sparse.is_some()) {
            return true;
        }
        let total: u32 = need.iter().sum();
        let nc = need.len();
        if total > DENSE_BITS && (nc < 2 || total > 63) {
            return false;
        }
        self.bits = need;
        let groups: Vec<(u32, u64)> = (0..self.group_ids.len() / nc.max(1))
            .map(|g| {
                (
                    g as u32,
                    self.index(self.group_ids[g * nc..][..nc].iter().copied()),
                )
            })
            .collect();
        if total > DENSE_BITS {
            self.slots = vec![];
            // (lead's indexes were made with the old bits: dropped)
            let map = groups.into_iter().map(|(g, at)| (at, g)).collect();
            self.sparse = Some(Sparse { map, lead: vec![] });
        } else {
            let mut slots = vec![u32::MAX; 1 << total];
            for (g, at) in groups {
                slots[at as usize] = g;
            }
            self.slots = slots;
            self.sparse = None;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(ids: &mut IntIds, values: &[i64]) -> Vec<u32> {
        let words: Vec<u64> = values.iter().map(|&v| v as u64).collect();
        let mut out = vec![0; words.len()];
        ids.ids(&words, &vec![0; words.len()], 1, false, &mut out);
        out
    }

    #[test]
    fn sparse_values_go_to_the_map_before_the_window_grows() {
        // 100 values 100,000 apart (a fleet's pids shifted per host): the
        // map from the second, no window beyond the first's.
        let mut ids = IntIds::default();
        let spread: Vec<i64> = (0..100).map(|i| 1000 + i * 100_000).collect();
        assert_eq!(number(&mut ids, &spread), (0..100).collect::<Vec<u32>>());
        assert!(ids.hashed());
        assert!(ids.slots.is_empty());
        // Seen again: the same numbers.
        assert_eq!(number(&mut ids, &spread[..3]), [0, 1, 2]);

        // Close values (synth's pids, 7 apart; half a million of them)
        // keep the direct array.
        let mut ids = IntIds::default();
        let close: Vec<i64> = (0..500_000).map(|i| 1000 + i * 7).collect();
        let got = number(&mut ids, &close);
        assert_eq!(got[499_999], 499_999);
        assert!(!ids.hashed());
        // Few values, a wide span, but dense for how many there are.
        let mut ids = IntIds::default();
        let few: Vec<i64> = (0..2000).map(|i| i * 60).collect();
        number(&mut ids, &few);
        assert!(!ids.hashed());
    }
}
