//! Damaged traces never give a wrong answer silently: a copy of the mixed
//! dataset, written as the recorder writes files now (page checksums, and
//! file and tail checksums in the manifest), gets random bit flips in its
//! syscalls files; every run of a stap script and of a SQL GROUP BY either
//! prints exactly what it prints over the pristine copy or reports the
//! damage (an error, or a warning naming the file).

use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use retap_analyzer::run::{run, Note, RunRequest};
use retap_analyzer::sql::{SqlSession, TraceArg};
use retap_analyzer::trace::Trace;
use retap_schema::files::{writer_properties, FileWriter};
use retap_schema::{Manifest, Table};
use retap_testkit::Rng;

/// The shipped dataset with every file written again through the
/// recorder's writer, and the manifest's entries replaced.
fn rewritten(dataset: &str, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../datasets")
        .join(dataset);
    retap_testkit::copy_dir(&from, to);
    let mut m = Manifest::load(to).unwrap();
    for (name, stats) in m.tables.iter_mut() {
        let table = Table::from_name(name).unwrap();
        for e in stats.files.iter_mut() {
            let path = to.join(&e.path);
            let batches: Vec<_> =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
                    .unwrap()
                    .build()
                    .unwrap()
                    .map(|b| b.unwrap())
                    .collect();
            let props = writer_properties(3, "integrity test").unwrap();
            let mut w =
                FileWriter::new(std::fs::File::create(&path).unwrap(), table, props).unwrap();
            for b in &batches {
                // Files recorded before a nullable column was appended to
                // the table (syscalls' path, path2) get it as nulls.
                let schema = table.schema();
                let mut cols = b.columns().to_vec();
                for f in &schema.fields()[cols.len()..] {
                    cols.push(arrow::array::new_null_array(f.data_type(), b.num_rows()));
                }
                let b = arrow::record_batch::RecordBatch::try_new(schema, cols).unwrap();
                w.write(&b).unwrap();
            }
            let (_, entry) = w.finish(e.path.clone()).unwrap();
            assert_eq!(entry.rows, e.rows);
            *e = entry;
        }
    }
    m.store(to).unwrap();
}

/// What a user sees of a run: stdout, then WARNING lines and the error.
fn stap(dir: &Path, script: &str) -> String {
    let out = dir.with_extension("out");
    let req = RunRequest {
        script_text: Some(script.into()),
        trace: Some(dir.to_path_buf()),
        output: Some(out.clone()),
        last_pass: 5,
        ..Default::default()
    };
    let mut warnings = String::new();
    let mut notes = |n: Note| match n {
        Note::Warning(w) => warnings.push_str(&format!("WARNING: {w}\n")),
        Note::Script(s) => warnings.push_str(&s),
        Note::Verbose(_) | Note::Report(_) => {}
    };
    let result = run(&req, &mut notes);
    let mut seen = std::fs::read_to_string(&out).unwrap_or_default();
    seen.push_str(&warnings);
    if let Err(e) = result {
        seen.push_str(&format!("ERROR: {}\n", e.message));
    }
    seen
}

fn sql(dir: &Path, q: &str) -> String {
    let arg = TraceArg {
        name: None,
        dir: dir.to_path_buf(),
    };
    let sess = match SqlSession::open(&[arg]) {
        Ok(s) => s,
        Err(e) => return format!("ERROR: {e}\n"),
    };
    let mut seen: String = sess
        .warnings
        .iter()
        .map(|w| format!("WARNING: {w}\n"))
        .collect();
    match sess.query(q) {
        Ok(r) => seen.push_str(&format!("{:?}\n", r.batches)),
        Err(e) => seen.push_str(&format!("ERROR: {e}\n")),
    }
    seen
}

const SCRIPT: &str = "global c, s probe syscall.* { c[execname(), name]++ } \
    probe syscall.read.return { s[execname()] <<< retval } \
    probe end { foreach ([e, n] in c- limit 20) printf(\"%s %s %d\\n\", e, n, c[e, n]) \
    foreach (e in s-) printf(\"%s %d %d\\n\", e, @count(s[e]), @sum(s[e])) }";
const QUERY: &str = "SELECT execname, syscall, count(*), sum(dur_ns), max(ret) FROM syscalls \
    WHERE syscall IN ('read', 'write', 'openat') GROUP BY 1, 2 ORDER BY 1, 2";

fn syscall_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("syscalls"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    v.sort();
    v
}

#[test]
fn bit_flips_are_reported_or_change_nothing() {
    let flips: usize = std::env::var("RETAP_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    rewritten("mixed", &pristine);
    let t = Trace::open(&pristine).unwrap();
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let want = (stap(&pristine, SCRIPT), sql(&pristine, QUERY));
    assert!(
        !want.0.contains("WARNING") && !want.0.contains("ERROR"),
        "{}",
        want.0
    );
    assert!(!want.1.contains("ERROR"), "{}", want.1);
    let mut r = Rng(0x0b17_f115_5eed_0001);
    let (mut reported, mut unchanged) = (0, 0);
    for i in 0..flips {
        let copy = tmp.path().join(format!("c{i}"));
        retap_testkit::copy_dir(&pristine, &copy);
        let files = syscall_files(&copy);
        // 1-3 bits in one file, anywhere in it.
        let f = &files[(r.next() % files.len() as u64) as usize];
        let mut bytes = std::fs::read(f).unwrap();
        let mut at = vec![];
        for _ in 0..1 + r.next() % 3 {
            let bit = r.next() % (bytes.len() as u64 * 8);
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
            at.push(bit / 8);
        }
        std::fs::write(f, &bytes).unwrap();
        let got = (stap(&copy, SCRIPT), sql(&copy, QUERY));
        for (what, g, w) in [("script", &got.0, &want.0), ("sql", &got.1, &want.1)] {
            if g == w {
                unchanged += 1;
                continue;
            }
            let name = f.file_name().unwrap().to_str().unwrap();
            assert!(
                (g.contains("WARNING") && g.contains(name)) || g.contains("ERROR"),
                "flip {i} (bytes {at:?} of {}) changed the {what}'s answer silently:\n{g}",
                f.display()
            );
            reported += 1;
        }
        std::fs::remove_dir_all(&copy).unwrap();
    }
    eprintln!(
        "{flips} damaged copies: {reported} answers reported the damage, {unchanged} unchanged"
    );
    assert!(
        reported > flips / 2,
        "most flips land in data pages: {reported}"
    );
}
