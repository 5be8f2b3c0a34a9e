//! One partition's groups and aggregate states: finding each row's group
//! (first-seen numbers, else hashing), folding the aggregates, merging
//! partitions and building the result batch.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Int64Array, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int32Type, Int64Type, Schema};
use datafusion::common::Result;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_plan::PhysicalExpr;

use super::numbering::{Dense, IntIds, Interner, NO_INDEX};
use super::{Agg, AggKind, KeyKind};

/// Mixes one key word into a row's hash: a folded 64x64->128 multiply,
/// which spreads every input bit over the high bits [`Index`]'s tags use
/// and the low bits its slots use.
#[inline]
fn mix(h: u64, w: u64) -> u64 {
    let x = ((h ^ w) as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_u128);
    (x as u64) ^ ((x >> 64) as u64)
}

/// Asks for the cache line at `p` ahead of its use (a hint: it never
/// faults, whatever the address).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching reads nothing the program sees and cannot fault.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    }
}

/// Group numbers by their keys' hash: open addressing, linear probing,
/// each slot a group's number + 1 (0: empty) beside its hash's high half,
/// so that a probe meeting another key seldom reads that key's words; at
/// most half full. hashbrown's table, before, gave no way to ask for a
/// row's slot ahead of time: with 80k groups (their words 2 MB) each row
/// waited for two misses in turn (`find` 45% of a plan over 500 files).
#[derive(Default)]
struct Index {
    slots: Vec<u64>,
    len: usize,
}

const TAG: u64 = 0xffff_ffff_0000_0000;

impl Index {
    #[inline]
    fn home(&self, h: u64) -> usize {
        h as usize & self.slots.len().wrapping_sub(1)
    }

    /// The group whose key `eq` accepts among those with hash `h`.
    #[inline]
    fn find(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        loop {
            let e = self.slots[i];
            if e == 0 {
                return None;
            }
            if e & TAG == h & TAG && eq((e as u32) - 1) {
                return Some((e as u32) - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks for the slot of hash `h`.
    #[inline(always)]
    fn prefetch_slot(&self, h: u64) {
        if !self.slots.is_empty() {
            prefetch(&self.slots[self.home(h)]);
        }
    }

    /// The group in the first slot of hash `h` if its tag is `h`'s (the
    /// one whose words a probe reads first).
    #[inline(always)]
    fn first_candidate(&self, h: u64) -> Option<u32> {
        let e = *self.slots.get(self.home(h))?;
        (e != 0 && e & TAG == h & TAG).then(|| (e as u32) - 1)
    }

    /// Adds group `g` of hash `h`; `hashes` holds every group's hash (by
    /// number), those in the index being 0..len.
    fn insert(&mut self, h: u64, g: u32, hashes: &[u64]) {
        if (self.len + 1) * 2 > self.slots.len() {
            let mut grown = Index {
                slots: vec![0; (self.slots.len() * 2).max(1024)],
                len: 0,
            };
            for (g, &h) in hashes[..self.len].iter().enumerate() {
                grown.place(h, g as u32);
            }
            *self = grown;
        }
        self.place(h, g);
    }

    fn place(&mut self, h: u64, g: u32) {
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (h & TAG) | (g as u64 + 1);
        self.len += 1;
    }
}

/// One partition's (or the merged) groups and their aggregate states.
pub(super) struct Table {
    /// Words per group key: one per key column, then the null mask.
    width: usize,
    /// Group numbers, found by a row's hash and its key words.
    index: Index,
    /// Each group's key words, `width` per group, and its hash.
    words: Vec<u64>,
    hashes: Vec<u64>,
    /// The hash-free index while it fits (None after).
    dense: Option<Dense>,
    kinds: Vec<KeyKind>,
    strings: Vec<Interner>,
    /// Per aggregate, per group: the value and whether any row counted
    /// (not kept for counts, which are never null).
    vals: Vec<Vec<i64>>,
    seen: Vec<Vec<bool>>,
    /// Per aggregate, per group, the least of a [`AggKind::MinWide`]
    /// (empty for the others, whose values are in `vals`).
    wide: Vec<Vec<i128>>,
    /// Each aggregate's starting value (what a group without rows holds,
    /// so that folding one in changes nothing).
    identity: Vec<i64>,
    /// Which aggregates keep their values in `wide`.
    is_wide: Vec<bool>,
    /// Dictionary value → string id, per key column, for the last batch's
    /// dictionary (parquet hands the same dictionary to many batches).
    dict_cache: Vec<Option<(ArrayRef, Vec<u64>)>>,
    /// With one dictionary key: the last dictionary, each value's string
    /// id and group (u32::MAX until a row has it).
    dict_groups: Option<(ArrayRef, Vec<u64>, Vec<u32>)>,
}

/// Adds one to each row's group. Runs of rows in one group (a
/// histogram's few buckets) would each wait for the previous addition's
/// store to reach the next load; with four lanes of counts four
/// additions are in flight.
fn count_rows(vals: &mut [i64], gi: &[u32]) {
    let n = vals.len();
    if n > 1024 || gi.len() < 4 * n {
        for &g in gi {
            vals[g as usize] += 1;
        }
        return;
    }
    let mut lanes = vec![0i64; 4 * n];
    let (l01, l23) = lanes.split_at_mut(2 * n);
    let (l0, l1) = l01.split_at_mut(n);
    let (l2, l3) = l23.split_at_mut(n);
    let mut rows = gi.chunks_exact(4);
    for c in &mut rows {
        l0[c[0] as usize] += 1;
        l1[c[1] as usize] += 1;
        l2[c[2] as usize] += 1;
        l3[c[3] as usize] += 1;
    }
    for &g in rows.remainder() {
        l0[g as usize] += 1;
    }
    for (g, v) in vals.iter_mut().enumerate() {
        *v += l0[g] + l1[g] + l2[g] + l3[g];
    }
}

impl Table {
    pub(super) fn new(keys: &[(Arc<dyn PhysicalExpr>, String, KeyKind)], aggs: &[Agg]) -> Self {
        let naggs = aggs.len();
        Table {
            width: keys.len() + 1,
            index: Index::default(),
            words: vec![],
            hashes: vec![],
            dense: Some(Dense {
                ints: keys.iter().map(|_| IntIds::default()).collect(),
                bits: vec![0; keys.len()],
                slots: vec![],
                group_ids: vec![],
                sparse: None,
            }),
            kinds: keys.iter().map(|k| k.2).collect(),
            strings: keys.iter().map(|_| Interner::default()).collect(),
            vals: vec![vec![]; naggs],
            identity: aggs
                .iter()
                .map(|a| match a.kind {
                    AggKind::Min => i64::MAX,
                    AggKind::Max => i64::MIN,
                    AggKind::Count | AggKind::Sum | AggKind::MinWide => 0,
                })
                .collect(),
            seen: vec![vec![]; naggs],
            wide: vec![vec![]; naggs],
            is_wide: aggs.iter().map(|a| a.kind == AggKind::MinWide).collect(),
            dict_cache: keys.iter().map(|_| None).collect(),
            dict_groups: None,
        }
    }

    fn groups(&self) -> std::slice::ChunksExact<'_, u64> {
        self.words.chunks_exact(self.width)
    }

    /// Each row's group number (new keys become new groups). Rows come
    /// column by column: the hashes are computed a column at a time, and
    /// a row with the previous row's key skips the table.
    fn find(&mut self, cols: &[Vec<u64>], mask: &[u64], out: &mut Vec<u32>) {
        if !self.find_dense(cols, mask, out) {
            self.find_hashed(cols, mask, out);
        }
        self.grow_states();
    }

    /// Aggregate states for groups added since (at the identity).
    fn grow_states(&mut self) {
        let n = self.hashes.len();
        let states = self.vals.iter_mut().zip(&mut self.seen).zip(&mut self.wide);
        for (((v, s), w), (&id, &is_wide)) in states.zip(self.identity.iter().zip(&self.is_wide)) {
            if is_wide {
                w.resize(n, i128::MAX);
            } else {
                v.resize(n, id);
                s.resize(n, false);
            }
        }
    }

    /// One Int64 key without nulls while the dense index holds (a
    /// histogram's bucket, `c[pid()]++`): each row's group from its
    /// value's first-seen number, without the general path's key words,
    /// id vectors and null mask (a third of a histogram plan's time went
    /// to them). Groups and numbers come out as [`Table::find`]'s would.
    /// False (having done nothing) for any other keys.
    fn find_one_int(&mut self, arrays: &[ArrayRef], out: &mut Vec<u32>) -> bool {
        let ([a], [KeyKind::Int]) = (arrays, self.kinds.as_slice()) else {
            return false;
        };
        let Some(v) = a.as_primitive_opt::<Int64Type>() else {
            return false;
        };
        if v.null_count() > 0 {
            return false;
        }
        let Some(mut d) = self.dense.take() else {
            return false;
        };
        let words: &[u64] = v.values().inner().typed_data::<u64>();
        let start = out.len();
        out.resize(start + words.len(), 0);
        d.ints[0].ids(words, &[], 1, false, &mut out[start..]);
        if !d.fit(&[d.ints[0].count]) {
            // Too many values: the hashed path from now on, as find_dense.
            out.truncate(start);
            return false;
        }
        // With one column a value's slot is its number.
        for (o, &w) in out[start..].iter_mut().zip(words) {
            let id = *o;
            let mut g = d.slots[id as usize];
            if g == u32::MAX {
                g = self.insert_group(&[w, 0]);
                d.slots[id as usize] = g;
                d.group_ids.push(id);
            }
            *o = g;
        }
        self.dense = Some(d);
        self.grow_states();
        true
    }

    /// [`Table::find`] through the dense index; false (having done
    /// nothing) once the keys have too many distinct values for it.
    fn find_dense(&mut self, cols: &[Vec<u64>], mask: &[u64], out: &mut Vec<u32>) -> bool {
        let Some(mut d) = self.dense.take() else {
            return false;
        };
        let nc = cols.len();
        let n = mask.len();
        let mut ids: Vec<Vec<u32>> = Vec::with_capacity(nc);
        let mut counts = Vec::with_capacity(nc);
        // Which columns have nulls in this batch, in one pass.
        let null_cols = mask.iter().fold(0, |a, m| a | m);
        for (c, col) in cols.iter().enumerate() {
            let bit = 1u64 << c;
            let mut v = Vec::with_capacity(col.len());
            match self.kinds[c] {
                KeyKind::Int => {
                    v.resize(n, 0);
                    d.ints[c].ids(col, mask, bit, null_cols & bit != 0, &mut v);
                    counts.push(d.ints[c].count);
                }
                // Interned ids are first-seen numbers already; 0 is null.
                KeyKind::Str => {
                    v.extend(col.iter().zip(mask).map(
                        |(&w, &m)| {
                            if m & bit != 0 {
                                0
                            } else {
                                w as u32 + 1
                            }
                        },
                    ));
                    counts.push(self.strings[c].strs.len() as u32 + 1);
                }
            }
            ids.push(v);
        }
        // Integer values numbered through a map are hashed already: with
        // several columns the sparse index hashes again, and its map, its
        // lead array and the numbers' map held three times the hashed
        // index's memory (a million pids: 377 against 218 MB, slower).
        if !d.fit(&counts) || (nc > 1 && d.ints.iter().any(|i| i.hashed())) {
            return false;
        }
        // Each row's slot, a column at a time, as Dense::index computes it.
        let mut at = vec![0u64; mask.len()];
        for (v, &b) in ids.iter().zip(&d.bits) {
            for (a, &id) in at.iter_mut().zip(v) {
                *a = (*a << b) | id as u64;
            }
        }
        let mut key = vec![0u64; self.width];
        let start = out.len();
        out.resize(start + n, 0);
        let mut new_group = |me: &mut Self, d: &mut Dense, r: usize| {
            for (c, col) in cols.iter().enumerate() {
                key[c] = col[r];
            }
            key[nc] = mask[r];
            d.group_ids.extend(ids.iter().map(|v| v[r]));
            me.insert_group(&key)
        };
        if let Some(mut sp) = d.sparse.take() {
            let first = &ids[0];
            sp.lead
                .resize(sp.lead.len().max(counts[0] as usize), (NO_INDEX, 0));
            for (r, (&at, o)) in at.iter().zip(&mut out[start..]).enumerate() {
                let lead = &mut sp.lead[first[r] as usize];
                if lead.0 != at {
                    let g = match sp.map.get(&at) {
                        Some(&g) => g,
                        None => {
                            let g = new_group(self, &mut d, r);
                            sp.map.insert(at, g);
                            g
                        }
                    };
                    *lead = (at, g);
                }
                *o = lead.1;
            }
            d.sparse = Some(sp);
        } else {
            for (r, (&at, o)) in at.iter().zip(&mut out[start..]).enumerate() {
                let at = at as usize;
                let mut g = d.slots[at];
                if g == u32::MAX {
                    g = new_group(self, &mut d, r);
                    d.slots[at] = g;
                }
                *o = g;
            }
        }
        self.dense = Some(d);
        true
    }

    /// Adds a new group with these key words.
    fn insert_group(&mut self, key: &[u64]) -> u32 {
        let h = key.iter().fold(0, |h, &w| mix(h, w));
        let g = self.hashes.len() as u32;
        self.words.extend_from_slice(key);
        self.hashes.push(h);
        self.index.insert(h, g, &self.hashes);
        g
    }

    /// [`Table::find`] by hashing the key words.
    fn find_hashed(&mut self, cols: &[Vec<u64>], mask: &[u64], out: &mut Vec<u32>) {
        match self.width {
            1 => self.find_w::<1>(cols, mask, out),
            2 => self.find_w::<2>(cols, mask, out),
            3 => self.find_w::<3>(cols, mask, out),
            4 => self.find_w::<4>(cols, mask, out),
            _ => self.find_w::<5>(cols, mask, out),
        }
    }

    /// [`Table::find`] for keys of `W` words: fixed-size keys compare
    /// inline (a slice comparison was a memcmp call per row).
    fn find_w<const W: usize>(&mut self, cols: &[Vec<u64>], mask: &[u64], out: &mut Vec<u32>) {
        // The same hash as insert_group's: the words in key order.
        let mut hashes: Vec<u64> = vec![0; mask.len()];
        for col in cols {
            for (h, &x) in hashes.iter_mut().zip(col) {
                *h = mix(*h, x);
            }
        }
        for (h, &m) in hashes.iter_mut().zip(mask) {
            *h = mix(*h, m);
        }
        let at = |words: &[u64], g: u32| -> [u64; W] {
            words[g as usize * W..][..W].try_into().expect("W words")
        };
        // Word by word, not as arrays: `key` was just stored a word at a
        // time, and comparing it as a 16-byte vector loaded it before
        // those stores could be forwarded (a stall of its own per row: 4
        // in 10 of find's samples over 507 files' 82k groups).
        let same = |a: [u64; W], b: &[u64; W]| {
            for c in 0..W {
                if a[c] != b[c] {
                    return false;
                }
            }
            true
        };
        let mut last: Option<(u64, u32)> = None;
        // Rows ahead whose slot is asked for, and (half as far, the slot
        // in cache by then) whose first candidate's words are.
        const AHEAD: usize = 16;
        for (r, &h) in hashes.iter().enumerate() {
            if let Some(&h) = hashes.get(r + AHEAD) {
                self.index.prefetch_slot(h);
            }
            if let Some(&h) = hashes.get(r + AHEAD / 2) {
                if let Some(g) = self.index.first_candidate(h) {
                    prefetch(self.words.as_ptr().wrapping_add(g as usize * W));
                }
            }
            let mut key = [0u64; W];
            for (c, col) in cols.iter().enumerate() {
                key[c] = col[r];
            }
            key[W - 1] = mask[r];
            if let Some((lh, lg)) = last {
                if lh == h && same(at(&self.words, lg), &key) {
                    out.push(lg);
                    continue;
                }
            }
            let words = &self.words;
            let g = match self.index.find(h, |g| same(at(words, g), &key)) {
                Some(g) => g,
                None => self.insert_group(&key),
            };
            last = Some((h, g));
            out.push(g);
        }
    }

    /// One key column's words for a batch; sets bit `c` of `mask` on nulls.
    fn key_words(&mut self, c: usize, a: &ArrayRef, mask: &mut [u64]) -> Result<Vec<u64>> {
        let bit = 1u64 << c;
        let mut has_nulls = false;
        if let Some(nulls) = a.logical_nulls().filter(|n| n.null_count() > 0) {
            has_nulls = true;
            for (r, m) in mask.iter_mut().enumerate() {
                if nulls.is_null(r) {
                    *m |= bit;
                }
            }
        }
        let n = a.len();
        match a.data_type() {
            DataType::Dictionary(..) => {
                let d = a.as_any_dictionary();
                let values = d.values();
                let fresh = match &self.dict_cache[c] {
                    Some((v, _)) => !Arc::ptr_eq(v, values),
                    None => true,
                };
                if fresh {
                    let ids = self.string_ids(c, values)?;
                    self.dict_cache[c] = Some((values.clone(), ids));
                }
                let ids = &self.dict_cache[c].as_ref().expect("cached").1;
                // Parquet's dictionaries have i32 keys: read them as they
                // are (a null row's key may be anything, hence the mask).
                if let (false, Some(d)) = (has_nulls, a.as_dictionary_opt::<Int32Type>()) {
                    return Ok(d.keys().values().iter().map(|&k| ids[k as usize]).collect());
                }
                let keys = d.normalized_keys();
                Ok(keys
                    .iter()
                    .enumerate()
                    .map(|(r, &k)| if mask[r] & bit != 0 { 0 } else { ids[k] })
                    .collect())
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                let mut ids = self.string_ids(c, a)?;
                for (r, id) in ids.iter_mut().enumerate() {
                    if mask[r] & bit != 0 {
                        *id = 0;
                    }
                }
                Ok(ids)
            }
            // (A boolean key: plans' `a{i}`, which syscalls stap names
            // by an argument. arrow's cast to integers goes row by row
            // through `value(i)`: 5% of `c[name]++` over 20M rows.)
            DataType::Boolean if !has_nulls => {
                Ok(a.as_boolean().values().iter().map(u64::from).collect())
            }
            _ => {
                let v = cast(a, &DataType::Int64)?;
                let v = v.as_primitive::<Int64Type>();
                if !has_nulls {
                    return Ok(v.values().iter().map(|&x| x as u64).collect());
                }
                Ok((0..n)
                    .map(|r| {
                        if mask[r] & bit != 0 {
                            0
                        } else {
                            v.value(r) as u64
                        }
                    })
                    .collect())
            }
        }
    }

    /// Ids of a string array's values (nulls get 0; the mask tells).
    fn string_ids(&mut self, c: usize, a: &ArrayRef) -> Result<Vec<u64>> {
        let s = cast(a, &DataType::Utf8)?;
        let s = s.as_string::<i32>();
        let interner = &mut self.strings[c];
        Ok(s.iter().map(|v| v.map_or(0, |v| interner.id(v))).collect())
    }

    /// The common `c[name]++`: one dictionary key without nulls. Each
    /// dictionary value's group is found once (through [`Table::find`],
    /// so both paths agree), then rows take their value's group. False
    /// (having done nothing) for any other keys.
    fn find_by_dictionary(&mut self, arrays: &[ArrayRef], out: &mut Vec<u32>) -> Result<bool> {
        let ([a], [KeyKind::Str]) = (arrays, self.kinds.as_slice()) else {
            return Ok(false);
        };
        let Some(d) = a.as_dictionary_opt::<Int32Type>() else {
            return Ok(false);
        };
        if a.logical_nulls().is_some_and(|n| n.null_count() > 0) {
            return Ok(false);
        }
        let values = d.values();
        let mut cache = match self.dict_groups.take() {
            Some(c) if Arc::ptr_eq(&c.0, values) => c,
            _ => {
                let ids = self.string_ids(0, values)?;
                let n = ids.len();
                (values.clone(), ids, vec![u32::MAX; n])
            }
        };
        let mut one = Vec::with_capacity(1);
        let keys = d.keys().values();
        let start = out.len();
        out.resize(start + keys.len(), 0);
        for (o, &k) in out[start..].iter_mut().zip(keys.iter()) {
            let k = k as usize;
            let mut g = cache.2[k];
            if g == u32::MAX {
                one.clear();
                self.find(&[vec![cache.1[k]]], &[0], &mut one);
                g = one[0];
                cache.2[k] = g;
            }
            *o = g;
        }
        self.dict_groups = Some(cache);
        Ok(true)
    }

    pub(super) fn add_batch(
        &mut self,
        b: &RecordBatch,
        keys: &[(Arc<dyn PhysicalExpr>, String, KeyKind)],
        aggs: &[Agg],
    ) -> Result<()> {
        let n = b.num_rows();
        if n == 0 {
            return Ok(());
        }
        let arrays = keys
            .iter()
            .map(|(e, _, _)| e.evaluate(b)?.into_array(n))
            .collect::<Result<Vec<_>>>()?;
        let mut gi = Vec::with_capacity(n);
        if !self.find_by_dictionary(&arrays, &mut gi)? && !self.find_one_int(&arrays, &mut gi) {
            let mut mask = vec![0u64; n];
            let mut cols = Vec::with_capacity(keys.len());
            for (c, a) in arrays.iter().enumerate() {
                cols.push(self.key_words(c, a, &mut mask)?);
            }
            self.find(&cols, &mask, &mut gi);
        }
        for (ai, a) in aggs.iter().enumerate() {
            // Slices, not the Vecs: their lengths stay in registers.
            let (vals, seen): (&mut [i64], &mut [bool]) = (&mut self.vals[ai], &mut self.seen[ai]);
            let v = a.arg.evaluate(b)?;
            if a.kind == AggKind::Count {
                match &v {
                    ColumnarValue::Scalar(s) if s.is_null() => {}
                    ColumnarValue::Scalar(_) => count_rows(vals, &gi),
                    ColumnarValue::Array(a) => {
                        let nulls = a.logical_nulls();
                        for (r, &g) in gi.iter().enumerate() {
                            if nulls.as_ref().is_none_or(|nl| nl.is_valid(r)) {
                                vals[g as usize] += 1;
                            }
                        }
                    }
                }
                continue;
            }
            if a.kind == AggKind::MinWide {
                // i128::MAX, the identity, is past any Decimal128's
                // values (10^38 - 1 at most): a group still holding it
                // has had no row, so no `seen` is kept.
                let v = v.into_array(n)?;
                let v = v.as_primitive::<Decimal128Type>();
                let wide = &mut self.wide[ai][..];
                match v.logical_nulls() {
                    None => {
                        for (&x, &g) in v.values().iter().zip(&gi) {
                            let g = g as usize;
                            wide[g] = wide[g].min(x);
                        }
                    }
                    Some(nl) => {
                        for (r, (&x, &g)) in v.values().iter().zip(&gi).enumerate() {
                            if nl.is_valid(r) {
                                let g = g as usize;
                                wide[g] = wide[g].min(x);
                            }
                        }
                    }
                }
                continue;
            }
            let v = cast(&v.into_array(n)?, &DataType::Int64)?;
            let v = v.as_primitive::<Int64Type>();
            let nulls = v.logical_nulls();
            let values = v.values();
            // Groups start at the aggregate's identity, so each row is one
            // branch-free fold, a loop per kind.
            macro_rules! fold_rows {
                ($f:expr) => {
                    match &nulls {
                        None => {
                            for (&x, &g) in values.iter().zip(&gi) {
                                let g = g as usize;
                                vals[g] = $f(vals[g], x);
                                seen[g] = true;
                            }
                        }
                        Some(nl) => {
                            for (r, (&x, &g)) in values.iter().zip(&gi).enumerate() {
                                if nl.is_valid(r) {
                                    let g = g as usize;
                                    vals[g] = $f(vals[g], x);
                                    seen[g] = true;
                                }
                            }
                        }
                    }
                };
            }
            match a.kind {
                AggKind::Sum => fold_rows!(i64::wrapping_add),
                AggKind::Min => fold_rows!(i64::min),
                _ => fold_rows!(i64::max),
            }
        }
        Ok(())
    }

    /// Folds another table's groups into this one.
    pub(super) fn merge(
        &mut self,
        other: Table,
        keys: &[(Arc<dyn PhysicalExpr>, String, KeyKind)],
        aggs: &[Agg],
    ) {
        let nk = keys.len();
        let n = other.hashes.len();
        let mut cols: Vec<Vec<u64>> = vec![Vec::with_capacity(n); nk];
        let mut mask = Vec::with_capacity(n);
        for key in other.groups() {
            for (c, (_, _, kind)) in keys.iter().enumerate() {
                // String ids are per table: re-intern by the string.
                let w = if *kind == KeyKind::Str && key[nk] & (1 << c) == 0 {
                    self.strings[c].id(&other.strings[c].strs[key[c] as usize])
                } else {
                    key[c]
                };
                cols[c].push(w);
            }
            mask.push(key[nk]);
        }
        let mut gi = Vec::with_capacity(n);
        self.find(&cols, &mask, &mut gi);
        // Both sides hold the identity where no row counted, so folding
        // every group in is right.
        for (ai, a) in aggs.iter().enumerate() {
            let fold: fn(i64, i64) -> i64 = match a.kind {
                AggKind::Count | AggKind::Sum => i64::wrapping_add,
                AggKind::Min => i64::min,
                AggKind::Max => i64::max,
                AggKind::MinWide => {
                    for (og, &g) in gi.iter().enumerate() {
                        let g = g as usize;
                        self.wide[ai][g] = self.wide[ai][g].min(other.wide[ai][og]);
                    }
                    continue;
                }
            };
            for (og, &g) in gi.iter().enumerate() {
                let g = g as usize;
                self.vals[ai][g] = fold(self.vals[ai][g], other.vals[ai][og]);
                self.seen[ai][g] |= other.seen[ai][og];
            }
        }
    }

    pub(super) fn finish(
        mut self,
        schema: &Schema,
        keys: &[(Arc<dyn PhysicalExpr>, String, KeyKind)],
        aggs: &[Agg],
    ) -> Result<RecordBatch> {
        let nk = keys.len();
        // Without keys an aggregate has one row even over no rows (a count
        // of 0, a null sum), as SQL's and DataFusion's do.
        if nk == 0 && self.hashes.is_empty() {
            self.find(&[], &[0], &mut vec![]);
        }
        let mut columns: Vec<ArrayRef> = vec![];
        for (c, (_, _, kind)) in keys.iter().enumerate() {
            let null = |g: &[u64]| g[nk] & (1 << c) != 0;
            let a: ArrayRef = match kind {
                KeyKind::Int => Arc::new(
                    self.groups()
                        .map(|g| (!null(g)).then_some(g[c] as i64))
                        .collect::<Int64Array>(),
                ),
                KeyKind::Str => {
                    let mut b = StringBuilder::new();
                    for g in self.groups() {
                        if null(g) {
                            b.append_null();
                        } else {
                            b.append_value(&self.strings[c].strs[g[c] as usize]);
                        }
                    }
                    Arc::new(b.finish()) as ArrayRef
                }
            };
            columns.push(a);
        }
        for (ai, agg) in aggs.iter().enumerate() {
            if agg.kind == AggKind::MinWide {
                // (Collected, a Decimal128 is of scale 10: the schema's
                // type, not a cast, which would rescale the numbers.)
                let a: Decimal128Array = self.wide[ai]
                    .iter()
                    .map(|&v| (v != i128::MAX).then_some(v))
                    .collect();
                let t = schema.field(nk + ai).data_type().clone();
                columns.push(Arc::new(a.with_data_type(t)));
                continue;
            }
            let count = agg.kind == AggKind::Count;
            let a: Int64Array = self.vals[ai]
                .iter()
                .zip(&self.seen[ai])
                .map(|(v, s)| (*s || count).then_some(*v))
                .collect();
            columns.push(Arc::new(a));
        }
        let columns = columns
            .iter()
            .zip(schema.fields())
            .map(|(a, f)| {
                if a.data_type() == f.data_type() {
                    Ok(a.clone())
                } else {
                    Ok(cast(a, f.data_type())?)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(Arc::new(schema.clone()), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every group inserted is found by its hash and key, across the
    /// index's growth, where hashes share their slot bits (long probe
    /// runs) or their tag (keys told apart by their words only); a hash
    /// never inserted is not found.
    #[test]
    fn the_index_finds_every_group_it_holds() {
        for spread in [u64::MAX, 0xffff_0000_0000_00ff, 0x0000_ffff_0000_0000] {
            let mut index = Index::default();
            let mut hashes = vec![];
            let hash = |k: u64| mix(0, k) & spread;
            for k in 0..20_000u64 {
                let h = hash(k);
                hashes.push(h);
                index.insert(h, k as u32, &hashes);
            }
            assert_eq!(index.len, 20_000);
            for k in 0..20_000u64 {
                let found = index.find(hash(k), |g| g as u64 == k);
                assert_eq!(found, Some(k as u32), "key {k}, spread {spread:x}");
            }
            assert_eq!(index.find(hash(20_001), |g| g as u64 == 20_001), None);
        }
    }
}
