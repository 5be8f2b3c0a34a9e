//! The k-way merge of a table's files by timestamp (files overlap in
//! time: late rows have files of their own, and a fleet's or a set's
//! files cover the same hours). Where one file's rows come before every
//! other's next, they are handed on in place; where files interleave row
//! by row, a window of rows is gathered into one batch first, so the
//! interpreter reads consecutive rows of one batch either way (reading
//! each row from another file's batch cost it a cache miss per column and
//! its per-batch filters a lookup per row).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::Array;

use super::error::ReadError;
use super::events::{Batch, FileCursor, Order, ReadBatch, Runs};
use super::value::Interner;

/// Rows gathered into one batch where files interleave.
const WINDOW: usize = 4096;
/// Rows a window of interleaved files aims at: enough for each file to
/// give a run of consecutive rows (read in sequence) and not too many to
/// stay in cache.
const SPAN: usize = 32768;
/// Rows of one batch in a row that are handed on in place rather than
/// gathered (and that end a window being gathered).
const RUN: usize = 64;

/// The merge of file cursors by timestamp, ties by cursor index (the
/// files' order).
pub struct Merge {
    pub cursors: Vec<FileCursor>,
    /// The strings of the cursors' dictionaries, one `Arc` each.
    interner: Interner<Arc<str>>,
    order: LoserTree,
    /// Files that failed to read part-way: (cursor, the error). Their
    /// rows stop there; the caller finds out whether the file is damaged.
    pub failed: Vec<(usize, ReadError)>,
    /// Rows taken from the cursors and not yet handed on, in order: runs
    /// of one batch's rows, gathered windows, single rows.
    out: VecDeque<(Arc<ReadBatch>, Range<usize>)>,
    /// A window being gathered: its batches and its rows as (batch, row).
    sources: Vec<Arc<ReadBatch>>,
    picks: Vec<(usize, usize)>,
    /// The window's runs, (cursor, first row, end), and its rows' times
    /// with their places in `picks`.
    runs: Vec<(usize, usize, usize)>,
    keys: Vec<(i64, u32)>,
    scratch: Vec<(i64, u32)>,
    ranges: Vec<(usize, usize)>,
    places: Vec<u32>,
}

impl Merge {
    pub fn new(cursors: Vec<FileCursor>, interner: Interner<Arc<str>>) -> Merge {
        let order = LoserTree::new(cursors.iter().map(FileCursor::ts).collect());
        Merge {
            cursors,
            interner,
            order,
            failed: vec![],
            out: VecDeque::new(),
            sources: vec![],
            picks: vec![],
            runs: vec![],
            keys: vec![],
            scratch: vec![],
            ranges: vec![],
            places: vec![],
        }
    }

    /// The next rows in order: consecutive rows of one batch.
    pub fn next_rows(&mut self) -> Option<(Arc<ReadBatch>, Range<usize>)> {
        if self.out.is_empty() {
            self.fill();
        }
        self.out.pop_front()
    }

    /// Takes the next rows from the cursors: the winner's run when it is
    /// long, else a window of interleaved files' rows.
    fn fill(&mut self) {
        let Some((_, w)) = self.order.first() else {
            return;
        };
        let (from, to) = self.run(w);
        if to - from >= RUN {
            if let Some(b) = self.cursors[w].batch.clone() {
                self.out.push_back((b, from..to));
            }
            self.advance(w, to - from);
            return;
        }
        if !self.window(w) {
            self.row_by_row();
        }
    }

    /// The rows of the winner's batch, from its cursor's row on, that
    /// come before every other cursor's next row.
    fn run(&self, w: usize) -> (usize, usize) {
        let c = &self.cursors[w];
        let from = c.row;
        let Some(times) = c.batch.as_ref().and_then(|b| b.times()) else {
            return (from, from + 1);
        };
        let up = self.order.runner_up();
        let mut to = from;
        // A null time ends the file for the merge, as the tree's key does.
        while to < times.len() && times.is_valid(to) && (false, times.value(to), w) < up {
            to += 1;
        }
        (from, to.max(from + 1))
    }

    /// Where files interleave: a time `bound` a few rows ahead in every
    /// file, so that every row before it is in a batch in hand; those
    /// rows, ordered by (time, file, row) as the tree would give them one
    /// by one, gathered into one batch. The files' times are read in
    /// sequence, not one row of another file at a time. False (nothing
    /// taken) where that cannot be shown: a time out of order or null, too
    /// few rows before the bound.
    fn window(&mut self, w: usize) -> bool {
        let Some(first) = self.cursors[w].batch.clone() else {
            return false;
        };
        let live: Vec<usize> = (0..self.cursors.len())
            .filter(|&i| !self.order.ended(i))
            .collect();
        let ahead = (SPAN / live.len().max(1)).max(1);
        let mut bound = i64::MAX;
        for &i in &live {
            let c = &self.cursors[i];
            let Some(b) = c.batch.as_ref() else {
                return false;
            };
            let Some(times) = b.times() else {
                return false;
            };
            // Another table's (or layout's) rows are not gathered with
            // these: the window ends before its next row.
            let at = if b.same_shape(&first) {
                (c.row + ahead).min(times.len() - 1)
            } else {
                c.row
            };
            if !times.is_valid(at) {
                return false;
            }
            bound = bound.min(times.value(at));
        }
        self.runs.clear();
        let mut total = 0;
        for &i in &live {
            let c = &self.cursors[i];
            let Some(times) = c.batch.as_ref().and_then(|b| b.times()) else {
                return false;
            };
            let (from, mut to) = (c.row, c.row);
            let mut last = i64::MIN;
            while to < times.len() && times.is_valid(to) && times.value(to) < bound {
                if times.value(to) < last {
                    return false;
                }
                last = times.value(to);
                to += 1;
            }
            if to > from {
                self.runs.push((i, from, to));
                total += to - from;
            }
        }
        if total < RUN.max(live.len() / 4) {
            return false;
        }
        self.keys.clear();
        self.sources.clear();
        for &(i, from, to) in &self.runs {
            let b = self.cursors[i]
                .batch
                .clone()
                .expect("a run's cursor has a batch");
            let times = b.times().expect("a run's batch has times");
            let at = self.keys.len() as u32;
            self.keys
                .extend((from..to).zip(at..).map(|(r, p)| (times.value(r), p)));
            self.sources.push(b);
        }
        // Runs are in cursor order and rows in file order, so a stable
        // sort by time gives the tree's (time, file, row).
        sort_by_time(&mut self.keys, &mut self.scratch);
        self.places.resize(self.keys.len(), 0);
        for (i, &(_, p)) in self.keys.iter().enumerate() {
            self.places[p as usize] = i as u32;
        }
        self.ranges.clear();
        self.ranges
            .extend(self.runs.iter().map(|&(_, from, to)| (from, to)));
        let order = Order::Runs(Runs {
            ranges: &self.ranges,
            places: &self.places,
        });
        let gathered = Batch::gather(&self.sources, &order);
        if gathered.is_none() {
            // Handed on one by one: the rows as (batch, row) in order.
            self.picks.clear();
            self.picks.extend(order.picks().iter().copied());
        }
        self.emit(gathered);
        for q in 0..self.runs.len() {
            let (i, from, to) = self.runs[q];
            let c = &mut self.cursors[i];
            if let Err(e) = c.skip(to - from, &mut self.interner) {
                self.failed.push((i, e));
            }
        }
        self.order = LoserTree::new(self.cursors.iter().map(FileCursor::ts).collect());
        true
    }

    /// Rows one by one as the tree orders them, into a window of one
    /// layout, until a long run of one batch begins.
    fn row_by_row(&mut self) {
        self.sources.clear();
        self.picks.clear();
        let (mut last, mut streak) = (usize::MAX, 0);
        while self.picks.len() < WINDOW {
            let Some((_, i)) = self.order.first() else {
                break;
            };
            let c = &self.cursors[i];
            let b = c.batch.as_ref().expect("a cursor not done has a batch");
            let slot = match self.sources.iter().rposition(|s| Arc::ptr_eq(s, b)) {
                Some(s) => s,
                None => {
                    if self.sources.first().is_some_and(|f| !f.same_shape(b)) {
                        break;
                    }
                    self.sources.push(b.clone());
                    self.sources.len() - 1
                }
            };
            if slot == last {
                streak += 1;
                if streak >= RUN {
                    // A run begins: the next fill hands it on in place.
                    break;
                }
            } else {
                (last, streak) = (slot, 1);
            }
            self.picks.push((slot, c.row));
            self.advance(i, 1);
        }
        let gathered = match &self.sources[..] {
            [_] => None,
            _ => Batch::gather(&self.sources, &Order::Picks(&self.picks)),
        };
        self.emit(gathered);
    }

    /// The window's rows: `gathered` into one batch, else (one row, or a
    /// column that could not be put together) one by one.
    fn emit(&mut self, gathered: Option<ReadBatch>) {
        if let Some(b) = gathered {
            let n = b.rows;
            self.out.push_back((Arc::new(b), 0..n));
        } else {
            let rows = self
                .picks
                .iter()
                .map(|&(s, row)| (self.sources[s].clone(), row..row + 1));
            self.out.extend(rows);
        }
        // The window's batches are not held past it.
        self.sources.clear();
    }

    /// Moves cursor `i` (the winner) past `n` rows and plays its next time.
    fn advance(&mut self, i: usize, n: usize) {
        let c = &mut self.cursors[i];
        let next = match c.skip(n, &mut self.interner) {
            Ok(()) => c.ts(),
            Err(e) => {
                self.failed.push((i, e));
                None
            }
        };
        self.order.replace_first(next);
    }
}

/// Sorts (time, place) pairs by time, keeping places of equal times in
/// order: a digit of the times at a time from the least significant,
/// over the bits in which the window's times differ, split into digits
/// of at most 11 bits (a window spans little time: two or three passes,
/// every pass's counts taken in one read; a comparison sort of the
/// window was 6% of a run over 507 interleaved files).
fn sort_by_time(keys: &mut Vec<(i64, u32)>, scratch: &mut Vec<(i64, u32)>) {
    let Some(least) = keys.iter().map(|k| k.0).min() else {
        return;
    };
    let most = keys.iter().map(|k| k.0).max().unwrap_or(least);
    let bits = 64 - (most.wrapping_sub(least) as u64).leading_zeros();
    if bits == 0 {
        return;
    }
    let passes = bits.div_ceil(11);
    let width = bits.div_ceil(passes);
    let buckets = 1usize << width;
    let digit = |t: i64, pass: u32| {
        ((t.wrapping_sub(least) as u64 >> (width * pass)) as usize) & (buckets - 1)
    };
    let mut counts = vec![0u32; buckets * passes as usize];
    for k in keys.iter() {
        for pass in 0..passes {
            counts[pass as usize * buckets + digit(k.0, pass)] += 1;
        }
    }
    for pass in 0..passes {
        let c = &mut counts[pass as usize * buckets..][..buckets];
        let mut at = 0;
        for n in c.iter_mut() {
            (*n, at) = (at, at + *n);
        }
        scratch.clear();
        scratch.resize(keys.len(), (0, 0));
        for &k in keys.iter() {
            let d = digit(k.0, pass);
            scratch[c[d] as usize] = k;
            c[d] += 1;
        }
        std::mem::swap(keys, scratch);
    }
}

/// Which of k sorted sequences holds the least next time (ties: the
/// lowest index), as a tree of losers: each internal node keeps the
/// sequence that lost the match played there, the root's winner is
/// first, and when it moves on only its own path to the root is played
/// again, one comparison a level. A binary heap, before, sifted down with
/// two children to look at a level; over 507 interleaved files each was
/// a branch the processor could not predict.
struct LoserTree {
    /// Each sequence's next time: (ended, time, index), compared whole.
    keys: Vec<(bool, i64, usize)>,
    /// `tree[0]` is the winner; `tree[1..k]` the losers of the internal
    /// nodes, whose children are `2n` and `2n + 1`, leaves being `k + i`.
    tree: Vec<usize>,
}

impl LoserTree {
    fn key(i: usize, next: Option<i64>) -> (bool, i64, usize) {
        match next {
            Some(ts) => (false, ts, i),
            None => (true, i64::MAX, i),
        }
    }

    /// Sequences by their first times (None: empty).
    fn new(firsts: Vec<Option<i64>>) -> LoserTree {
        let k = firsts.len();
        let keys: Vec<_> = firsts
            .into_iter()
            .enumerate()
            .map(|(i, t)| Self::key(i, t))
            .collect();
        let mut tree = vec![0; k.max(1)];
        if k > 1 {
            // Winners bottom-up, each node keeping its match's loser.
            let mut winner = vec![0; 2 * k];
            for (i, w) in winner[k..].iter_mut().enumerate() {
                *w = i;
            }
            for n in (1..k).rev() {
                let (a, b) = (winner[2 * n], winner[2 * n + 1]);
                let (w, l) = if keys[a] < keys[b] { (a, b) } else { (b, a) };
                winner[n] = w;
                tree[n] = l;
            }
            tree[0] = winner[1];
        }
        LoserTree { keys, tree }
    }

    /// The least next time and its sequence, None when all have ended.
    #[inline]
    fn first(&self) -> Option<(i64, usize)> {
        let (ended, ts, i) = *self.keys.get(self.tree[0])?;
        (!ended).then_some((ts, i))
    }

    /// Whether sequence `i` has ended.
    fn ended(&self, i: usize) -> bool {
        self.keys[i].0
    }

    /// The least key but the winner's: the best of the losers on the
    /// winner's path (the runner-up lost its one match to the winner).
    fn runner_up(&self) -> (bool, i64, usize) {
        let k = self.keys.len();
        let mut best = (true, i64::MAX, usize::MAX);
        let mut n = (self.tree[0] + k) / 2;
        while n > 0 {
            best = best.min(self.keys[self.tree[n]]);
            n /= 2;
        }
        best
    }

    /// The winner's next time (None: it has ended), then the new winner.
    fn replace_first(&mut self, next: Option<i64>) {
        let k = self.keys.len();
        let mut win = self.tree[0];
        self.keys[win] = Self::key(win, next);
        let mut n = (win + k) / 2;
        while n > 0 {
            let l = self.tree[n];
            if self.keys[l] < self.keys[win] {
                self.tree[n] = win;
                win = l;
            }
            n /= 2;
        }
        self.tree[0] = win;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loser tree gives every (time, sequence) in the order a sort
    /// of them all gives, for any number of sequences, ties across them
    /// (the lowest index first), empty ones and ones that end early.
    #[test]
    fn the_loser_tree_merges_as_a_sort_does() {
        let mut rng = retap_testkit::Rng(0x2545_f491_4f6c_dd1d);
        let mut next = move |n: u64| rng.next() % n;
        for k in [1usize, 2, 3, 5, 8, 13, 64, 507] {
            for _ in 0..4 {
                let seqs: Vec<Vec<i64>> = (0..k)
                    .map(|_| {
                        let mut t = next(5) as i64;
                        (0..next(40))
                            .map(|_| {
                                t += next(3) as i64;
                                t
                            })
                            .collect()
                    })
                    .collect();
                let mut want: Vec<(i64, usize)> = seqs
                    .iter()
                    .enumerate()
                    .flat_map(|(i, s)| s.iter().map(move |t| (*t, i)))
                    .collect();
                want.sort();
                let mut at = vec![0usize; k];
                let mut tree = LoserTree::new(seqs.iter().map(|s| s.first().copied()).collect());
                let mut got = vec![];
                while let Some((t, i)) = tree.first() {
                    got.push((t, i));
                    // The runner-up: the least next key of the others.
                    let others = (0..k)
                        .filter(|&j| j != i)
                        .map(|j| LoserTree::key(j, seqs[j].get(at[j]).copied()));
                    let least = others.min().unwrap_or((true, i64::MAX, usize::MAX));
                    assert_eq!(tree.runner_up(), least, "{k} sequences");
                    at[i] += 1;
                    tree.replace_first(seqs[i].get(at[i]).copied());
                }
                assert_eq!(got, want, "{k} sequences");
            }
        }
        assert_eq!(LoserTree::new(vec![]).first(), None);
    }

    /// The window's sort by time is a stable sort: over times of every
    /// span (equal, a few ns, across the sign, the whole range).
    #[test]
    fn sorting_by_time_keeps_equal_times_in_order() {
        let mut rng = retap_testkit::Rng(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next();
        let mut scratch = vec![];
        for span in [0u64, 1, 7, 300, 70_000, 1 << 40, u64::MAX] {
            for n in [0usize, 1, 2, 100, 5000] {
                let base = next() as i64 / 2;
                let mut keys: Vec<(i64, u32)> = (0..n)
                    .map(|p| {
                        let off = if span == 0 { 0 } else { next() % span.max(1) };
                        (base.wrapping_add(off as i64), p as u32)
                    })
                    .collect();
                if span == u64::MAX {
                    keys.iter_mut().step_by(3).for_each(|k| k.0 = i64::MIN);
                    keys.iter_mut().step_by(5).for_each(|k| k.0 = i64::MAX);
                }
                let mut want = keys.clone();
                want.sort_by_key(|k| k.0);
                sort_by_time(&mut keys, &mut scratch);
                assert_eq!(keys, want, "span {span}, {n} keys");
            }
        }
    }
}
