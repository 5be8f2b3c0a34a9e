//! A GROUP BY operator for the shapes plans produce: integer and string
//! keys, count/sum/min/max of integers. DataFusion's general hash
//! aggregation encodes every row's keys into its row format (a dictionary
//! string is decoded and copied per row) and interns the bytes; that was
//! about half the time of `c[pid(), execname()]++` over a trace. Here a
//! dictionary column is mapped once per batch (a few hundred values) and
//! each row's key is a few machine words looked up in one hash table.
//!
//! [`KeyedAggregateRule`] swaps the pair of partial/final `AggregateExec`s
//! for a [`KeyedAggregateExec`] when every key and aggregate is one it
//! handles, and leaves the plan alone otherwise; the plan keeps its
//! output schema, so whoever reads the result cannot tell the difference
//! (the differential tests hold it to the interpreter's output).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, Int64Type, Schema, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PhysicalExpr, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;
use hashbrown::HashTable;
use rustc_hash::FxHashMap;

/// How a key column's values become a machine word.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyKind {
    /// Any integer (or boolean) type, as its i64 value.
    Int,
    /// Any string type, dictionary-encoded or not, as an interned id.
    Str,
}

/// The aggregates handled, all over integers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum AggKind {
    Count,
    Sum,
    Min,
    Max,
}

#[derive(Clone, Debug)]
struct Agg {
    kind: AggKind,
    arg: Arc<dyn PhysicalExpr>,
    name: String,
}

/// GROUP BY integer/string keys with count/sum/min/max of integers, one
/// output partition (the groups are few; the rows are many).
#[derive(Debug)]
pub struct KeyedAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    keys: Vec<(Arc<dyn PhysicalExpr>, String, KeyKind)>,
    aggs: Vec<Agg>,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
}

fn key_kind(t: &DataType) -> Option<KeyKind> {
    match t {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Some(KeyKind::Int),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(KeyKind::Str),
        DataType::Dictionary(k, v) if k.is_dictionary_key_type() => match key_kind(v) {
            Some(KeyKind::Str) => Some(KeyKind::Str),
            _ => None,
        },
        _ => None,
    }
}

fn is_int(t: &DataType) -> bool {
    key_kind(t) == Some(KeyKind::Int) && *t != DataType::Boolean
}

impl KeyedAggregateExec {
    /// The operator for `agg` (a partial aggregate, or a single one) over
    /// `input`, producing `schema`; None when a key or an aggregate is not
    /// one this operator computes exactly as DataFusion would.
    fn try_new(agg: &AggregateExec, schema: SchemaRef) -> Option<Self> {
        let input = agg.input().clone();
        let in_schema = input.schema();
        let group = agg.group_expr();
        if !group.is_single() || !group.null_expr().is_empty() || group.expr().len() > 4 {
            return None;
        }
        if agg.filter_expr().iter().any(|f| f.is_some()) || agg.limit_options().is_some() {
            return None;
        }
        let mut keys = vec![];
        for (e, name) in group.expr() {
            let kind = key_kind(&e.data_type(&in_schema).ok()?)?;
            keys.push((e.clone(), name.clone(), kind));
        }
        let mut aggs = vec![];
        for a in agg.aggr_expr() {
            if a.is_distinct() || !a.order_bys().is_empty() {
                return None;
            }
            let kind = match a.fun().name() {
                "count" => AggKind::Count,
                "sum" => AggKind::Sum,
                "min" => AggKind::Min,
                "max" => AggKind::Max,
                _ => return None,
            };
            let [arg] = a.expressions().try_into().ok()?;
            let t = arg.data_type(&in_schema).ok()?;
            if kind != AggKind::Count && !is_int(&t) {
                return None;
            }
            aggs.push(Agg {
                kind,
                arg,
                name: a.name().to_string(),
            });
        }
        // Integer results come out as i64 and are cast to the schema's
        // type; anything else would need more than a cast.
        for f in schema.fields().iter().skip(keys.len()) {
            if !is_int(f.data_type()) {
                return None;
            }
        }
        if schema.fields().len() != keys.len() + aggs.len() {
            return None;
        }
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Some(Self {
            input,
            keys,
            aggs,
            schema,
            props: Arc::new(props),
        })
    }
}

impl DisplayAs for KeyedAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|(e, n, _)| format!("{e} as {n}"))
            .collect();
        let aggs: Vec<&str> = self.aggs.iter().map(|a| a.name.as_str()).collect();
        write!(
            f,
            "KeyedAggregateExec: gby=[{}], aggr=[{}], input_partitions={}",
            keys.join(", "),
            aggs.join(", "),
            self.input.output_partitioning().partition_count()
        )
    }
}

impl ExecutionPlan for KeyedAggregateExec {
    fn name(&self) -> &str {
        "KeyedAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for (e, _, _) in &self.keys {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        for a in &self.aggs {
            if f(&a.arg)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = children
            .try_into()
            .map_err(|_| DataFusionError::Internal("KeyedAggregateExec takes one input".into()))?;
        Ok(Arc::new(Self {
            input,
            keys: self.keys.clone(),
            aggs: self.aggs.clone(),
            schema: self.schema.clone(),
            props: self.props.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "KeyedAggregateExec has one partition, not {partition}"
            )));
        }
        let parts = self.input.output_partitioning().partition_count();
        let streams = (0..parts)
            .map(|p| self.input.execute(p, context.clone()))
            .collect::<Result<Vec<_>>>()?;
        let keys = self.keys.clone();
        let aggs = self.aggs.clone();
        let schema = self.schema.clone();
        let run = async move {
            // One table per input partition, each on its own task (a core
            // each), merged at the end.
            let tasks: Vec<_> = streams
                .into_iter()
                .map(|mut s| {
                    let keys = keys.clone();
                    let aggs = aggs.clone();
                    tokio::spawn(async move {
                        let mut t = Table::new(&keys, &aggs);
                        while let Some(b) = s.next().await {
                            t.add_batch(&b?, &keys, &aggs)?;
                        }
                        Ok::<Table, DataFusionError>(t)
                    })
                })
                .collect();
            let mut merged = Table::new(&keys, &aggs);
            for t in tasks {
                let t = t
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))??;
                merged.merge(t, &keys, &aggs);
            }
            merged.finish(&schema, &keys, &aggs)
        };
        let stream = futures::stream::once(run);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

/// Strings seen in one table, numbered in first-seen order.
#[derive(Default)]
struct Interner {
    ids: FxHashMap<Box<str>, u64>,
    strs: Vec<Box<str>>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u64 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.strs.len() as u64;
        self.strs.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
}

/// Mixes one key word into a row's hash: a folded 64x64->128 multiply,
/// which spreads every input bit over the high bits hashbrown's control
/// bytes use and the low bits its buckets use.
#[inline]
fn mix(h: u64, w: u64) -> u64 {
    let x = ((h ^ w) as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_u128);
    (x as u64) ^ ((x >> 64) as u64)
}

/// Most bits a dense group index may take (4 MiB of group numbers).
const DENSE_BITS: u32 = 20;

/// Widest span of integer key values numbered through a direct array.
const SLOTS_SPAN: i64 = 1 << 22;

/// Small numbers for one integer key column's values, in first-seen order.
#[derive(Default)]
struct IntIds {
    /// value - lo → id + 1 (0: not seen), while the values stay close.
    lo: i64,
    slots: Vec<u32>,
    /// Once they spread too far, a map instead.
    map: Option<FxHashMap<i64, u32>>,
    null_id: Option<u32>,
    count: u32,
}

impl IntIds {
    /// Ids of a batch's values (bit `bit` set in `mask` means null).
    fn ids(&mut self, words: &[u64], mask: &[u64], bit: u64, out: &mut Vec<u32>) {
        let nulls = mask.iter().any(|m| m & bit != 0);
        for (&w, &m) in words.iter().zip(mask) {
            if nulls && m & bit != 0 {
                let id = *self.null_id.get_or_insert_with(|| {
                    self.count += 1;
                    self.count - 1
                });
                out.push(id);
                continue;
            }
            // One unsigned comparison keeps values inside the window on
            // the fast path; the rest widen it or go to the map.
            let off = (w as i64).wrapping_sub(self.lo) as u64;
            if (off as usize) < self.slots.len() {
                let slot = &mut self.slots[off as usize];
                if *slot == 0 {
                    self.count += 1;
                    *slot = self.count;
                }
                out.push(*slot - 1);
            } else {
                out.push(self.slow(w as i64));
            }
        }
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
            if let Some(span) = span.filter(|&s| s <= SLOTS_SPAN) {
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
/// group numbers. Used while the numbers fit [`DENSE_BITS`] together.
struct Dense {
    ints: Vec<IntIds>,
    /// Bits per column in the index, and each group's column numbers.
    bits: Vec<u32>,
    slots: Vec<u32>,
    group_ids: Vec<u32>,
}

impl Dense {
    fn index(&self, ids: impl Iterator<Item = u32>) -> usize {
        // (Kept in step with find_dense's column-at-a-time version.)
        let mut at = 0usize;
        for (id, b) in ids.zip(&self.bits) {
            at = (at << b) | id as usize;
        }
        at
    }

    /// Makes room for column numbers below `counts`; false when they no
    /// longer fit in [`DENSE_BITS`].
    fn fit(&mut self, counts: &[u32]) -> bool {
        let need: Vec<u32> = counts
            .iter()
            .zip(&self.bits)
            .map(|(&n, &b)| b.max(32 - n.saturating_sub(1).leading_zeros()))
            .collect();
        if need == self.bits && !self.slots.is_empty() {
            return true;
        }
        if need.iter().sum::<u32>() > DENSE_BITS {
            return false;
        }
        self.bits = need;
        self.slots = vec![u32::MAX; 1 << self.bits.iter().sum::<u32>()];
        let nc = self.bits.len();
        for g in 0..self.group_ids.len() / nc.max(1) {
            let at = self.index(self.group_ids[g * nc..][..nc].iter().copied());
            self.slots[at] = g as u32;
        }
        true
    }
}

/// One partition's (or the merged) groups and their aggregate states.
struct Table {
    /// Words per group key: one per key column, then the null mask.
    width: usize,
    /// Group numbers, found by a row's hash and its key words.
    index: HashTable<u32>,
    /// Each group's key words, `width` per group, and its hash.
    words: Vec<u64>,
    hashes: Vec<u64>,
    /// The hash-free index while it fits (None after).
    dense: Option<Dense>,
    kinds: Vec<KeyKind>,
    strings: Vec<Interner>,
    /// Per aggregate, per group: the value and whether any row counted.
    vals: Vec<Vec<i64>>,
    seen: Vec<Vec<bool>>,
    /// Each aggregate's starting value (what a group without rows holds,
    /// so that folding one in changes nothing).
    identity: Vec<i64>,
    /// Dictionary value → string id, per key column, for the last batch's
    /// dictionary (parquet hands the same dictionary to many batches).
    dict_cache: Vec<Option<(ArrayRef, Vec<u64>)>>,
}

impl Table {
    fn new(keys: &[(Arc<dyn PhysicalExpr>, String, KeyKind)], aggs: &[Agg]) -> Self {
        let naggs = aggs.len();
        Table {
            width: keys.len() + 1,
            index: HashTable::new(),
            words: vec![],
            hashes: vec![],
            dense: Some(Dense {
                ints: keys.iter().map(|_| IntIds::default()).collect(),
                bits: vec![0; keys.len()],
                slots: vec![],
                group_ids: vec![],
            }),
            kinds: keys.iter().map(|k| k.2).collect(),
            strings: keys.iter().map(|_| Interner::default()).collect(),
            vals: vec![vec![]; naggs],
            identity: aggs
                .iter()
                .map(|a| match a.kind {
                    AggKind::Min => i64::MAX,
                    AggKind::Max => i64::MIN,
                    AggKind::Count | AggKind::Sum => 0,
                })
                .collect(),
            seen: vec![vec![]; naggs],
            dict_cache: keys.iter().map(|_| None).collect(),
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
        let n = self.hashes.len();
        for ((v, s), &id) in self.vals.iter_mut().zip(&mut self.seen).zip(&self.identity) {
            v.resize(n, id);
            s.resize(n, false);
        }
    }

    /// [`Table::find`] through the dense index; false (having done
    /// nothing) once the keys have too many distinct values for it.
    fn find_dense(&mut self, cols: &[Vec<u64>], mask: &[u64], out: &mut Vec<u32>) -> bool {
        let Some(mut d) = self.dense.take() else {
            return false;
        };
        let nc = cols.len();
        let mut ids: Vec<Vec<u32>> = Vec::with_capacity(nc);
        let mut counts = Vec::with_capacity(nc);
        for (c, col) in cols.iter().enumerate() {
            let bit = 1u64 << c;
            let mut v = Vec::with_capacity(col.len());
            match self.kinds[c] {
                KeyKind::Int => {
                    d.ints[c].ids(col, mask, bit, &mut v);
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
        if !d.fit(&counts) {
            return false;
        }
        // Each row's slot, a column at a time, as Dense::index computes it.
        let mut at = vec![0u32; mask.len()];
        for (v, &b) in ids.iter().zip(&d.bits) {
            for (a, &id) in at.iter_mut().zip(v) {
                *a = (*a << b) | id;
            }
        }
        let mut key = vec![0u64; self.width];
        for (r, &at) in at.iter().enumerate() {
            let at = at as usize;
            let mut g = d.slots[at];
            if g == u32::MAX {
                for (c, col) in cols.iter().enumerate() {
                    key[c] = col[r];
                }
                key[nc] = mask[r];
                g = self.insert_group(&key);
                d.slots[at] = g;
                d.group_ids.extend(ids.iter().map(|v| v[r]));
            }
            out.push(g);
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
        let hs = &self.hashes;
        self.index.insert_unique(h, g, |&g| hs[g as usize]);
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
        let mut last: Option<(u64, u32)> = None;
        for (r, &h) in hashes.iter().enumerate() {
            let mut key = [0u64; W];
            for (c, col) in cols.iter().enumerate() {
                key[c] = col[r];
            }
            key[W - 1] = mask[r];
            if let Some((lh, lg)) = last {
                if lh == h && at(&self.words, lg) == key {
                    out.push(lg);
                    continue;
                }
            }
            let words = &self.words;
            let g = match self.index.find(h, |&g| at(words, g) == key) {
                Some(&g) => g,
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

    fn add_batch(
        &mut self,
        b: &RecordBatch,
        keys: &[(Arc<dyn PhysicalExpr>, String, KeyKind)],
        aggs: &[Agg],
    ) -> Result<()> {
        let n = b.num_rows();
        if n == 0 {
            return Ok(());
        }
        let mut mask = vec![0u64; n];
        let mut cols = Vec::with_capacity(keys.len());
        for (c, (e, _, _)) in keys.iter().enumerate() {
            let a = e.evaluate(b)?.into_array(n)?;
            cols.push(self.key_words(c, &a, &mut mask)?);
        }
        let mut gi = Vec::with_capacity(n);
        self.find(&cols, &mask, &mut gi);
        for (ai, a) in aggs.iter().enumerate() {
            let (vals, seen) = (&mut self.vals[ai], &mut self.seen[ai]);
            let v = a.arg.evaluate(b)?;
            if a.kind == AggKind::Count {
                match &v {
                    ColumnarValue::Scalar(s) if s.is_null() => {}
                    ColumnarValue::Scalar(_) => {
                        for &g in &gi {
                            vals[g as usize] += 1;
                        }
                    }
                    ColumnarValue::Array(a) => {
                        let nulls = a.logical_nulls();
                        for (r, &g) in gi.iter().enumerate() {
                            if nulls.as_ref().is_none_or(|nl| nl.is_valid(r)) {
                                vals[g as usize] += 1;
                            }
                        }
                    }
                }
                for &g in &gi {
                    seen[g as usize] = true;
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
    fn merge(
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
        for (ai, a) in aggs.iter().enumerate() {
            for (og, &g) in gi.iter().enumerate() {
                let g = g as usize;
                if !other.seen[ai][og] {
                    continue;
                }
                let x = other.vals[ai][og];
                let acc = &mut self.vals[ai][g];
                *acc = if !self.seen[ai][g] {
                    x
                } else {
                    match a.kind {
                        AggKind::Count | AggKind::Sum => acc.wrapping_add(x),
                        AggKind::Min => (*acc).min(x),
                        AggKind::Max => (*acc).max(x),
                    }
                };
                self.seen[ai][g] = true;
            }
        }
    }

    fn finish(
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
            for (ai, a) in aggs.iter().enumerate() {
                self.seen[ai][0] = a.kind == AggKind::Count;
            }
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
        for ai in 0..aggs.len() {
            let a: Int64Array = self.vals[ai]
                .iter()
                .zip(&self.seen[ai])
                .map(|(v, s)| s.then_some(*v))
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

/// Replaces final(partial(x)) and single(x) aggregations that
/// [`KeyedAggregateExec`] computes with one over x.
#[derive(Debug, Default)]
pub struct KeyedAggregateRule;

fn partial_below(plan: &Arc<dyn ExecutionPlan>) -> Option<&AggregateExec> {
    if let Some(r) = plan.downcast_ref::<RepartitionExec>() {
        return partial_below(r.input());
    }
    if let Some(c) = plan.downcast_ref::<CoalescePartitionsExec>() {
        return partial_below(c.input());
    }
    plan.downcast_ref::<AggregateExec>()
        .filter(|a| *a.mode() == AggregateMode::Partial)
}

impl PhysicalOptimizerRule for KeyedAggregateRule {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|plan| {
            let Some(agg) = plan.downcast_ref::<AggregateExec>() else {
                return Ok(Transformed::no(plan));
            };
            let source = match agg.mode() {
                AggregateMode::Final | AggregateMode::FinalPartitioned => {
                    partial_below(agg.input())
                }
                AggregateMode::Single | AggregateMode::SinglePartitioned => Some(agg),
                _ => None,
            };
            match source.and_then(|s| KeyedAggregateExec::try_new(s, agg.schema())) {
                Some(k) => Ok(Transformed::yes(Arc::new(k) as Arc<dyn ExecutionPlan>)),
                None => Ok(Transformed::no(plan)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "keyed_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    //! The operator against DataFusion's own aggregation on the same data:
    //! nulls in keys and values, dictionary and plain strings, integer keys
    //! spread too wide for the direct array, more distinct keys than the
    //! dense index takes, several partitions, and no rows at all.
    use super::*;
    use datafusion::arrow::array::{DictionaryArray, Int32Array, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::arrow::util::display::array_value_to_string;
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    fn batch(seed: u64, n: usize, spread: i64) -> RecordBatch {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let names = ["bash", "make", "cc1", "ld", "sshd", "postgres"];
        let (mut a, mut b, mut c, mut d, mut e) = (vec![], vec![], vec![], vec![], vec![]);
        let mut f = vec![];
        for _ in 0..n {
            let r = next();
            a.push((r % 7 != 0).then_some((r % 50) as i64 * spread - spread * 10));
            b.push((r % 11 != 0).then_some(names[(r >> 8) as usize % names.len()]));
            c.push((r % 13 != 0).then(|| format!("s{}", (r >> 16) % 40)));
            d.push(((r >> 24) % 3000) as i32 - 1500);
            e.push((r % 5 != 0).then_some((r >> 32) as i64 - (1 << 31)));
            f.push(names[(r >> 40) as usize % names.len()]);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new(
                "b",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ),
            Field::new("c", DataType::Utf8, true),
            Field::new("d", DataType::Int32, false),
            Field::new("e", DataType::Int64, true),
            Field::new(
                "f",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                false,
            ),
        ]));
        let b: DictionaryArray<Int32Type> = b.into_iter().collect();
        let f: DictionaryArray<Int32Type> = f.into_iter().collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(a)),
                Arc::new(b),
                Arc::new(StringArray::from(c)),
                Arc::new(Int32Array::from(d)),
                Arc::new(Int64Array::from(e)),
                Arc::new(f),
            ],
        )
        .unwrap()
    }

    fn ctx(keyed: bool, parts: Vec<Vec<RecordBatch>>) -> SessionContext {
        let mut b = SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(2))
            .with_default_features();
        if keyed {
            b = b.with_physical_optimizer_rule(Arc::new(KeyedAggregateRule));
        }
        let ctx = SessionContext::new_with_state(b.build());
        let schema = parts[0][0].schema();
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, parts).unwrap()))
            .unwrap();
        ctx
    }

    fn rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut out = vec![];
        for b in batches {
            for r in 0..b.num_rows() {
                let cells: Vec<String> = b
                    .columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            "NULL".into()
                        } else {
                            array_value_to_string(c, r).unwrap()
                        }
                    })
                    .collect();
                out.push(cells.join("|"));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn same_results_as_datafusions_aggregation() {
        // Partition 1 spreads `a` past the direct array's span, so that
        // column goes through a map mid-run.
        let parts = vec![
            vec![batch(1, 5000, 1), batch(2, 3000, 3)],
            vec![batch(3, 4000, 1), batch(4, 4000, 1 << 20)],
        ];
        let rt = crate::plan::runtime();
        let queries = [
            "select a, b, count(1), sum(e), min(e), max(e), max(d) from t group by a, b",
            "select b, c, a, count(1), min(d) from t group by b, c, a",
            "select count(1), sum(e), min(e), max(d) from t",
            "select count(1), sum(e), min(e) from t where d > 100000",
            "select a, count(1) from t where d > 100000 group by a",
            // 3000 x 50 distinct pairs: past the dense index's bits.
            "select d, a, count(1), sum(e) from t group by d, a",
            "select c, count(e), sum(d) from t group by c",
            "select f, d, count(1), max(e) from t group by f, d",
            // DataFusion rewrites this to two GROUP BYs; both become ours.
            "select a, count(distinct e) from t group by a",
        ];
        for q in queries {
            let plain = rt
                .block_on(async { ctx(false, parts.clone()).sql(q).await?.collect().await })
                .unwrap();
            let keyed_ctx = ctx(true, parts.clone());
            let df = rt.block_on(keyed_ctx.sql(q)).unwrap();
            let phys = rt.block_on(df.clone().create_physical_plan()).unwrap();
            let shown = datafusion::physical_plan::displayable(phys.as_ref())
                .indent(false)
                .to_string();
            assert!(shown.contains("KeyedAggregateExec"), "{q}: {shown}");
            let keyed = rt.block_on(df.collect()).unwrap();
            assert_eq!(rows(&keyed), rows(&plain), "{q}");
            // Every query but the one selecting no rows with keys has rows.
            assert_eq!(rows(&plain).is_empty(), q.contains("100000 group"), "{q}");
        }
    }

    #[test]
    fn other_aggregates_stay_datafusions() {
        let rt = crate::plan::runtime();
        let c = ctx(true, vec![vec![batch(5, 100, 1)]]);
        for q in [
            "select a, avg(e) from t group by a",
            "select a, sum(cast(e as double)) from t group by a",
            "select cast(e as double) fl, count(1) from t group by fl",
        ] {
            let df = rt.block_on(c.sql(q)).unwrap();
            let phys = rt.block_on(df.create_physical_plan()).unwrap();
            let shown = datafusion::physical_plan::displayable(phys.as_ref())
                .indent(false)
                .to_string();
            assert!(!shown.contains("KeyedAggregateExec"), "{q}: {shown}");
        }
    }
}
