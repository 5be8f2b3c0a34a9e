//! The interpreter's merge of a table's files: over files that overlap
//! in time however they do (dealt row by row, copies with equal times,
//! blocks, a file out of time order), every row comes once, in the order
//! the merge's definition gives: the least next (time, file) first, each
//! file read in its own order. The expected order is computed here by
//! that definition, one row at a time, from the files as written; the
//! merge hands rows on in runs and gathered windows, so this is what
//! shows those give the same rows in the same order.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, Int32Array, Int64Array, RecordBatch, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use retap_analyzer::runtime::{self, RunOptions};
use retap_analyzer::stap::elaborate::{elaborate, ElabOptions};
use retap_analyzer::stap::{self, PpEnv};
use retap_analyzer::trace::Trace;
use retap_testkit::copy_dir;

fn mixed() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/mixed")
}

/// datasets/mixed's syscalls, one batch.
fn syscalls() -> RecordBatch {
    let f = std::fs::File::open(mixed().join("syscalls/part-000000.parquet")).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .with_batch_size(1 << 20)
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = r.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// A file's rows: (row of `all`, its time).
type Plan = Vec<Vec<(usize, i64)>>;

/// Writes a trace of mixed with its syscalls replaced by `files` (rows
/// of `all` with their times), each row's tid made unique (100000 +
/// its place in the trace) so that the output names every row.
/// Returns, per file, its rows' (time, tid).
fn write_trace(dir: &Path, all: &RecordBatch, files: &Plan) -> Vec<Vec<(i64, i32)>> {
    copy_dir(&mixed(), dir);
    std::fs::remove_dir_all(dir.join("syscalls")).unwrap();
    std::fs::create_dir(dir.join("syscalls")).unwrap();
    let schema = all.schema();
    let ts_i = schema.index_of("ts").unwrap();
    let tid_i = schema.index_of("tid").unwrap();
    let mut entries = vec![];
    let mut written = vec![];
    let mut next_tid = 100_000;
    for (k, rows) in files.iter().enumerate() {
        let idx = UInt32Array::from(rows.iter().map(|&(r, _)| r as u32).collect::<Vec<_>>());
        let mut cols: Vec<Arc<dyn Array>> = all
            .columns()
            .iter()
            .map(|c| arrow::compute::take(c, &idx, None).unwrap())
            .collect();
        let times: Vec<i64> = rows.iter().map(|&(_, t)| t).collect();
        let tids: Vec<i32> = (0..rows.len() as i32).map(|i| next_tid + i).collect();
        next_tid += rows.len() as i32;
        cols[ts_i] = Arc::new(Int64Array::from(times.clone()));
        cols[tid_i] = Arc::new(Int32Array::from(tids.clone()));
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let path = format!("syscalls/part-{k:06}.parquet");
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(dir.join(&path)).unwrap(),
            schema.clone(),
            None,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        entries.push(serde_json::json!({
            "path": path,
            "rows": rows.len(),
            "bytes": std::fs::metadata(dir.join(&path)).unwrap().len(),
            "min_ts": times.iter().min().unwrap(),
            "max_ts": times.iter().max().unwrap(),
        }));
        written.push(times.into_iter().zip(tids).collect());
    }
    let m = dir.join("trace.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    let total: usize = files.iter().map(Vec::len).sum();
    v["tables"]["syscalls"]["files"] = serde_json::Value::Array(entries);
    v["tables"]["syscalls"]["events"] = total.into();
    std::fs::write(&m, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    written
}

/// The merge by its definition: each step, the file whose next row has
/// the least (time, file) gives that row.
fn merged(files: &[Vec<(i64, i32)>]) -> Vec<(i64, i32)> {
    let mut at = vec![0; files.len()];
    let mut out = vec![];
    loop {
        let next = (0..files.len())
            .filter(|&k| at[k] < files[k].len())
            .min_by_key(|&k| (files[k][at[k]].0, k));
        let Some(k) = next else { break };
        out.push(files[k][at[k]]);
        at[k] += 1;
    }
    out
}

/// (time, tid) of every event the interpreter hands `syscall.*`.
fn interpreted(dir: &Path) -> Vec<(i64, i32)> {
    interpreted_until(dir, None)
}

/// The same, the script calling exit() at the `stop`th event if given.
fn interpreted_until(dir: &Path, stop: Option<usize>) -> Vec<(i64, i32)> {
    let trace = Trace::open(dir).unwrap();
    assert!(trace.problems.is_empty(), "{:?}", trace.problems);
    let offset = trace.manifest.wall_clock_offset_ns;
    let script = format!(
        "global n\nprobe syscall.* {{ printf(\"%d %d\\n\", gettimeofday_ns(), tid()); if (++n == {}) exit() }}",
        stop.map_or(-1, |s| s as i64)
    );
    let env = PpEnv {
        macros: Default::default(),
        kernel_release: "6.18.0".into(),
        arch: "x86_64".into(),
        args: vec![],
    };
    let (p, diags) = stap::parse("merge.stp", &script, &env);
    assert!(diags.is_empty());
    let opts = ElabOptions {
        tables: Some(trace.tables.iter().map(|f| f.table).collect()),
        ..ElabOptions::no_trace("x86_64")
    };
    let (prog, errors, _) = elaborate(&p.script, &opts);
    assert!(errors.is_empty());
    let mut out: Vec<u8> = vec![];
    let outcome = runtime::run(
        &prog,
        &p.map,
        Some(&trace),
        &RunOptions {
            seed: 1,
            ..Default::default()
        },
        Box::new(&mut out),
    )
    .unwrap();
    assert_eq!(outcome.errors, 0);
    assert!(outcome.damage.is_empty(), "{:?}", outcome.damage);
    String::from_utf8(out)
        .unwrap()
        .lines()
        // (stap prints the global at the end: no probe prints it)
        .filter(|l| !l.starts_with("n="))
        .map(|l| {
            let (t, tid) = l.split_once(' ').unwrap();
            (t.parse::<i64>().unwrap() - offset, tid.parse().unwrap())
        })
        .collect()
}

/// Runs the interpreter over `files` and compares with the definition.
fn check(name: &str, files: Plan) {
    let all = syscalls();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    let written = write_trace(&dir, &all, &files);
    let ours = interpreted(&dir);
    // syscall.* fires on most rows, not all (rows of no syscall it
    // names, which the scan leaves out before the merge): the
    // definition's order of the rows it fired on.
    let fired: std::collections::HashSet<i32> = ours.iter().map(|&(_, tid)| tid).collect();
    assert_eq!(fired.len(), ours.len(), "{name}: a row came twice");
    let kept: Vec<Vec<(i64, i32)>> = written
        .iter()
        .map(|f| {
            f.iter()
                .copied()
                .filter(|(_, tid)| fired.contains(tid))
                .collect()
        })
        .collect();
    let want = merged(&kept);
    let total: usize = files.iter().map(Vec::len).sum();
    assert!(
        ours.len() * 10 > total * 9,
        "{name}: {} of {total} rows",
        ours.len()
    );
    if let Some(i) = (0..want.len()).find(|&i| ours.get(i) != want.get(i)) {
        let o = ours[i].1;
        let w = want.iter().position(|x| x.1 == o);
        panic!(
            "{name}: row {i} of {} (ours there is at {w:?} by definition): ours {:?}, by definition {:?}",
            want.len(),
            &ours[i..(i + 4).min(ours.len())],
            &want[i..(i + 4).min(want.len())]
        );
    }
    assert_eq!(ours.len(), want.len(), "{name}");
}

/// The rows of `all` dealt to `k` files in turn, with their times.
fn dealt(all: &RecordBatch, k: usize) -> Plan {
    let mut files: Plan = vec![vec![]; k];
    for (r, &t) in times(all).iter().enumerate() {
        files[r % k].push((r, t));
    }
    files
}

fn times(all: &RecordBatch) -> Vec<i64> {
    let ts = all.column(all.schema().index_of("ts").unwrap());
    ts.as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

#[test]
fn rows_dealt_to_files_in_turn_come_back_in_time_order() {
    check("dealt", dealt(&syscalls(), 7));
}

/// The first 3000 rows of `all` copied to 40 files, times equal.
fn copies(all: &RecordBatch) -> Plan {
    let ts = times(all);
    (0..40)
        .map(|_| (0..3000).map(|r| (r, ts[r])).collect())
        .collect()
}

#[test]
fn copies_with_equal_times_come_file_by_file_at_each_time() {
    check("copies", copies(&syscalls()));
}

#[test]
fn blocks_runs_and_interleaving_together() {
    // Four files taking blocks of rows in turn (runs handed on in place),
    // three dealt row by row across the same hours (windows), and one
    // holding a single row in the middle.
    let all = syscalls();
    let ts = times(&all);
    let mut files: Plan = vec![vec![]; 8];
    for (r, &t) in ts.iter().enumerate() {
        let k = if r == ts.len() / 2 {
            7
        } else if r % 2 == 0 {
            (r / 600) % 4
        } else {
            4 + r % 3
        };
        files[k].push((r, t));
    }
    check("blocks", files);
}

#[test]
fn a_file_out_of_time_order_is_merged_as_defined() {
    // Dealt in turn, then every 50th row of one file moved 3 ms early:
    // its times go backwards there, and the merge's definition (the
    // least next time first, each file in its own order) decides.
    let mut files = dealt(&syscalls(), 5);
    for (i, row) in files[2].iter_mut().enumerate() {
        if i % 50 == 49 {
            row.1 -= 3_000_000;
        }
    }
    check("unsorted", files);
}

/// A run that stops (exit()) while the reading thread is far ahead, over
/// many overlapping files, ends with the rows it ran on: the first ones
/// of the whole order, and no more.
#[test]
fn a_run_that_stops_early_ends_with_the_rows_it_took() {
    let all = syscalls();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stop");
    write_trace(&dir, &all, &copies(&all));
    let whole = interpreted(&dir);
    assert!(whole.len() > 100_000, "{} rows", whole.len());
    for stop in [1, 5000, 70_001] {
        let ours = interpreted_until(&dir, Some(stop));
        assert_eq!(ours, whole[..stop], "stopped at {stop}");
    }
}
