//! The operator against DataFusion's own aggregation on the same data:
//! nulls in keys and values, dictionary and plain strings, integer keys
//! spread too wide for the direct array, more distinct keys than the
//! dense index takes, one dictionary key whose dictionaries differ from
//! batch to batch, several partitions, and no rows at all.
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, DictionaryArray, Int32Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::engine::keyed_session;

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
    let (mut f, mut g) = (vec![], vec![]);
    for _ in 0..n {
        let r = next();
        a.push((r % 7 != 0).then_some((r % 50) as i64 * spread - spread * 10));
        b.push((r % 11 != 0).then_some(names[(r >> 8) as usize % names.len()]));
        c.push((r % 13 != 0).then(|| format!("s{}", (r >> 16) % 40)));
        d.push(((r >> 24) % 3000) as i32 - 1500);
        e.push((r % 5 != 0).then_some((r >> 32) as i64 - (1 << 31)));
        f.push(names[(r >> 40) as usize % names.len()]);
        g.push(names[(r >> 48) as usize % names.len()]);
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
        Field::new(
            "g",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
    ]));
    let b: DictionaryArray<Int32Type> = b.into_iter().collect();
    let f: DictionaryArray<Int32Type> = f.into_iter().collect();
    let g: DictionaryArray<Int32Type> = g.into_iter().collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(a)),
            Arc::new(b),
            Arc::new(StringArray::from(c)),
            Arc::new(Int32Array::from(d)),
            Arc::new(Int64Array::from(e)),
            Arc::new(f),
            Arc::new(g),
        ],
    )
    .unwrap()
}

fn ctx(keyed: bool, parts: Vec<Vec<RecordBatch>>) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(2);
    let ctx = if keyed {
        keyed_session(config)
    } else {
        SessionContext::new_with_config(config)
    };
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

/// A query's rows from DataFusion alone and from the keyed session, and
/// the keyed session's physical plan.
fn both_ways(parts: &[Vec<RecordBatch>], q: &str) -> (Vec<String>, Vec<String>, String) {
    let rt = crate::engine::runtime();
    let plain = rt
        .block_on(async { ctx(false, parts.to_vec()).sql(q).await?.collect().await })
        .unwrap();
    let keyed_ctx = ctx(true, parts.to_vec());
    let df = rt.block_on(keyed_ctx.sql(q)).unwrap();
    let phys = rt.block_on(df.clone().create_physical_plan()).unwrap();
    let shown = datafusion::physical_plan::displayable(phys.as_ref())
        .indent(false)
        .to_string();
    let keyed = rt.block_on(df.collect()).unwrap();
    (rows(&plain), rows(&keyed), shown)
}

#[test]
fn same_results_as_datafusions_aggregation() {
    // Partition 1 spreads `a` past the direct array's span, so that
    // column goes through a map mid-run.
    let parts = vec![
        vec![batch(1, 5000, 1), batch(2, 3000, 3)],
        vec![batch(3, 4000, 1), batch(4, 4000, 1 << 20)],
    ];
    let queries = [
        "select a, b, count(1), sum(e), min(e), max(e), max(d) from t group by a, b",
        "select b, c, a, count(1), min(d) from t group by b, c, a",
        "select count(1), sum(e), min(e), max(d) from t",
        "select count(1), sum(e), min(e) from t where d > 100000",
        "select a, count(1) from t where d > 100000 group by a",
        // 3000 x 50 distinct pairs: past the dense index's bits.
        "select d, a, count(1), sum(e) from t group by d, a",
        // Past the dense index's bits: the sparse index, its first column
        // deciding the rest (e, f), not deciding it (f, e), and d, e.
        "select e, f, count(1), max(d) from t group by e, f",
        "select f, e, count(1), min(d) from t group by f, e",
        "select d, e, count(1), sum(a) from t group by d, e",
        // Past 63 bits of numbers side by side: hashed.
        "select e, e + 1, e + 2, e + 3, e + 4, count(1) from t group by 1, 2, 3, 4, 5",
        "select c, count(e), sum(d) from t group by c",
        "select f, d, count(1), max(e) from t group by f, d",
        // One dictionary key without nulls (each batch has its own
        // dictionary, values in another order): groups per dictionary value.
        "select f, count(1), sum(e), min(d) from t group by f",
        "select b, count(1) from t group by b",
        // One integer key: with nulls, and past the direct array into a
        // map in partition 1; without nulls.
        "select a, count(1), sum(e), max(d) from t group by a",
        "select d, count(1), min(e) from t group by d",
        // One Int64 key without nulls (the histogram's bucket): through
        // the direct array, through a map, and few groups in long runs.
        "select cast(d as bigint) as k, count(1), sum(e) from t group by k",
        "select cast(d as bigint) * 100000 as k, count(1) from t group by k",
        "select cast(d as bigint) % 4 as k, count(1), max(e) from t group by k",
        // The least of 128-bit numbers (plans' first firing places: time
        // in the high 64 bits), with nulls, keyed and not.
        "select a, b, count(1), min(cast(e as decimal(38, 0)) * cast(18446744073709551616 as decimal(38, 0)) + cast(d as decimal(38, 0))) from t group by a, b",
        "select f, min(cast(e as decimal(38, 0))), max(d) from t group by f",
        "select min(cast(e as decimal(38, 0)) * cast(18446744073709551616 as decimal(38, 0)) - cast(d as decimal(38, 0))) from t",
        // Boolean keys (plans' `a{i}`: a syscall stap names by an
        // argument), without nulls and with them.
        "select f, f = 'make' and d % 2 = 0 as k, count(1), sum(e) from t group by f, k",
        "select e > 0 as k, count(1), max(d) from t group by k",
        // DataFusion rewrites this to two GROUP BYs; both become ours.
        "select a, count(distinct e) from t group by a",
    ];
    for q in queries {
        let (plain, keyed, shown) = both_ways(&parts, q);
        assert!(shown.contains("KeyedAggregateExec"), "{q}: {shown}");
        assert_eq!(keyed, plain, "{q}");
        // Every query but the one selecting no rows with keys has rows.
        assert_eq!(plain.is_empty(), q.contains("100000 group"), "{q}");
    }
}

#[test]
fn other_aggregates_stay_datafusions() {
    let rt = crate::engine::runtime();
    let c = ctx(true, vec![vec![batch(5, 100, 1)]]);
    for q in [
        "select a, avg(e) from t group by a",
        "select a, sum(cast(e as double)) from t group by a",
        "select cast(e as double) fl, count(1) from t group by fl",
        "select a, min(cast(e as decimal(20, 2))) from t group by a",
        "select a, max(cast(e as decimal(38, 0))) from t group by a",
        "select arrow_cast(c, 'Utf8View') v, count(1) from t group by v",
    ] {
        let df = rt.block_on(c.sql(q)).unwrap();
        let phys = rt.block_on(df.create_physical_plan()).unwrap();
        let shown = datafusion::physical_plan::displayable(phys.as_ref())
            .indent(false)
            .to_string();
        assert!(!shown.contains("KeyedAggregateExec"), "{q}: {shown}");
    }
}

/// Filters on one dictionary column, or a conjunction of such over
/// several (DictFilterExec, same session), give DataFusion's rows: some
/// rows kept, most, all, none, null keys (the general path, where `IS NULL`
/// holds), a plain string column or a conjunct over a plain column (not
/// replaced), under a GROUP BY or alone, and with no column left to pass
/// on.
#[test]
fn dictionary_filters_keep_the_rows_filter_exec_keeps() {
    let parts = vec![
        vec![batch(11, 5000, 1), batch(12, 3000, 3)],
        vec![batch(13, 4000, 1), batch(14, 100, 1)],
    ];
    let queries = [
        (
            "select f, count(1), sum(e) from t where f = 'postgres' group by f",
            true,
        ),
        (
            "select a, count(1) from t where f in ('bash', 'make') or f = 'ld' group by a",
            true,
        ),
        (
            "select a, count(1), max(d) from t where f <> 'zzz' group by a",
            true,
        ),
        ("select count(1), sum(e) from t where f = 'nope'", true),
        // Some rows kept and no column read past the filter: the kept
        // batches carry a row count alone (`probe syscall.read { c++ }`).
        ("select count(1) from t where f = 'postgres'", true),
        ("select a, d, e from t where f like 'p%' or f = 'cc1'", true),
        // Five rows in six kept: Arrow's filter copies runs of rows
        // rather than gathering them, nulls, dictionaries and all.
        ("select a, b, c, d, e from t where f <> 'postgres'", true),
        (
            "select b, count(1), sum(e) from t where b in ('bash', 'make') group by b",
            true,
        ),
        ("select a, d from t where b is null", true),
        ("select a, count(1) from t where c = 's3' group by a", false),
        (
            "select a, count(1) from t where f = 'make' and d > 0 group by a",
            false,
        ),
        // Conjunctions over two dictionary columns: some rows, one
        // conjunct passing every row, one none, three conjuncts, and a
        // column with null keys (the general path).
        (
            "select a, count(1), sum(e) from t where f = 'postgres' and g in ('bash', 'make') group by a",
            true,
        ),
        (
            "select g, count(1) from t where f <> 'zzz' and g like '%s%' group by g",
            true,
        ),
        (
            "select count(1), sum(e) from t where g = 'nope' and f = 'bash'",
            true,
        ),
        (
            "select count(1) from t where f <> 'ld' and g <> 'cc1' and f <> 'sshd'",
            true,
        ),
        (
            "select f, count(1) from t where f in ('bash', 'ld') and b = 'make' group by f",
            true,
        ),
    ];
    for (q, replaced) in queries {
        let (plain, keyed, shown) = both_ways(&parts, q);
        assert_eq!(shown.contains("DictFilterExec"), replaced, "{q}: {shown}");
        assert_eq!(keyed, plain, "{q}");
        if q.contains("= 'nope'") {
            assert_eq!(plain, vec!["0|NULL".to_string()]);
        } else {
            assert!(!plain.is_empty(), "{q}");
        }
    }
}
