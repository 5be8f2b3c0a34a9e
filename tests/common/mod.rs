//! Helpers shared by the CLI tests.

use std::path::Path;
use std::process::Command;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Rows of a DuckDB query over a dataset (tables as views; `start` and
/// `stop10` are the trace start and start + 10 s), fields joined by '|'.
/// None when DuckDB is missing (setup.sh installs it), with why.
pub fn duck(dataset: &str, sql: &str) -> Option<Vec<String>> {
    let script = r#"
import duckdb, json, os, sys
d = sys.argv[1]
m = json.load(open(os.path.join(d, "trace.json")))
con = duckdb.connect()
for t in os.listdir(d):
    p = os.path.join(d, t)
    if os.path.isdir(p) and any(f.endswith('.parquet') for f in os.listdir(p)):
        con.sql(f"create view {t} as select * from read_parquet('{p}/*.parquet', file_row_number=true, filename='file')")
sql = sys.argv[2].replace("$start", str(m["start_ns"])).replace("$stop10", str(m["start_ns"] + 10_000_000_000))
for row in con.sql(sql).fetchall():
    print('|'.join('NULL' if v is None else str(v) for v in row))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(root().join("datasets").join(dataset))
        .arg(sql)
        .output()
        .ok()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'duckdb'") {
            eprintln!("SKIP: python3 has no duckdb (scripts/setup.sh installs it)");
            return None;
        }
        panic!("duckdb: {err}");
    }
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
    )
}
