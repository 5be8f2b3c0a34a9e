//! What the recorder's end-to-end tests share: running retap-record,
//! reading its tables back (Parquet, and DuckDB as the independent
//! reader), root.
#![allow(dead_code)] // each test file uses some

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const RECORD: &str = env!("CARGO_BIN_EXE_retap-record");

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[macro_export]
macro_rules! need_root {
    () => {
        if !is_root() {
            return retap_testkit::skip_without(
                "root",
                "loading BPF programs needs it; CI runs as root",
            );
        }
    };
}

pub fn record(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(RECORD)
        .arg("-o")
        .arg(dir)
        .args(args)
        .output()
        .expect("run retap-record");
    assert!(
        out.status.success(),
        "retap-record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `retap-record -o DIR ARGS`, started, its stdout and stderr piped.
pub fn start(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(RECORD)
        .arg("-o")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run retap-record")
}

/// `retap-record -o DIR ARGS` to its end, whatever its exit status.
pub fn attempt(dir: &Path, args: &[&str]) -> Output {
    start(dir, args).wait_with_output().unwrap()
}

/// A table's Parquet files, in name (and so writing) order.
pub fn table_files(dir: &Path, table: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(table))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files
}

/// A table's schema, from its first file's footer: there whether or not
/// the file holds a row (a system-wide event filtered to one command may
/// have none).
pub fn table_schema(dir: &Path, table: &str) -> arrow::datatypes::SchemaRef {
    let files = table_files(dir, table);
    let first = files
        .first()
        .unwrap_or_else(|| panic!("{table} has no file"));
    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(first).unwrap())
        .unwrap()
        .schema()
        .clone()
}

/// Every row of a table, read with the parquet crate (retap's own reader).
pub fn read_table(dir: &Path, table: &str) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for f in table_files(dir, table) {
        let r = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        out.extend(r.map(|b| b.unwrap()));
    }
    out
}

pub fn ints(batches: &[RecordBatch], col: &str) -> Vec<Option<i64>> {
    let mut v = Vec::new();
    for b in batches {
        let a = cast(b.column_by_name(col).unwrap(), &DataType::Int64).unwrap();
        let a = a.as_primitive::<Int64Type>();
        v.extend((0..a.len()).map(|i| (!a.is_null(i)).then(|| a.value(i))));
    }
    v
}

pub fn strs(batches: &[RecordBatch], col: &str) -> Vec<String> {
    let mut v = Vec::new();
    for b in batches {
        let a = cast(b.column_by_name(col).unwrap(), &DataType::Utf8).unwrap();
        let a = a.as_string::<i32>();
        v.extend((0..a.len()).map(|i| a.value(i).to_string()));
    }
    v
}

/// Runs a query in DuckDB over the trace (tables as views) and returns the
/// rows, fields separated by '|'.
pub fn duck(dir: &Path, sql: &str) -> Vec<String> {
    let script = r#"
import duckdb, os, sys
d = sys.argv[1]
con = duckdb.connect()
for t in os.listdir(d):
    if os.path.isdir(os.path.join(d, t)) and any(f.endswith('.parquet') for f in os.listdir(os.path.join(d, t))):
        # Tracepoint tables are system.event, as retap sql names them.
        if '.' in t:
            con.sql(f"create schema if not exists {t.split('.')[0]}")
        con.sql(f"create view {t} as select * from read_parquet('{d}/{t}/*.parquet')")
for row in con.sql(sys.argv[2]).fetchall():
    print('|'.join('NULL' if v is None else str(v) for v in row))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(sql)
        .output()
        .expect("python3 with duckdb (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "duckdb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn kv(stdout: &[u8], key: &str) -> i64 {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("workload did not print {key}: {text}"))
        .parse()
        .unwrap()
}

pub fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("trace.json")).unwrap()).unwrap()
}
