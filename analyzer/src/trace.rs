//! A trace directory as found on disk: the manifest, and for each table the
//! Parquet files that are really there, checked by reading their footers.
//! Files still under a temporary name (the recorder was killed while
//! writing them) and files that cannot be read are reported, never used and
//! never silently ignored.

use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use retap_schema::{Manifest, Table};

#[derive(Debug, Clone)]
pub struct DataFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub path: PathBuf,
    pub what: String,
}

#[derive(Debug, Clone)]
pub struct TableFiles {
    pub table: Table,
    pub files: Vec<DataFile>,
}

impl TableFiles {
    /// The files' paths, as DataFusion's readers take them.
    pub fn paths(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect()
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// syscall name → [(C type, argument name)], as the recorder saved them.
pub type Signatures = std::collections::BTreeMap<String, Vec<(String, String)>>;

#[derive(Debug)]
pub struct Trace {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub tables: Vec<TableFiles>,
    /// Torn or unreadable files, each with what is wrong.
    pub problems: Vec<Problem>,
}

impl Trace {
    /// The kernel's syscall signatures saved with the trace (None when the
    /// recorder could not read them).
    pub fn signatures(&self) -> Option<Signatures> {
        let text = std::fs::read_to_string(self.dir.join("syscall_signatures.json")).ok()?;
        let v: std::collections::BTreeMap<String, Vec<[String; 2]>> =
            serde_json::from_str(&text).ok()?;
        Some(
            v.into_iter()
                .map(|(k, args)| (k, args.into_iter().map(|[t, n]| (t, n)).collect()))
                .collect(),
        )
    }

    /// Where `$name` is among a syscall's arguments, and whether it is a C
    /// int (read as its low 32 bits, signed) rather than a long.
    pub fn kernel_arg(sigs: &Signatures, syscall: &str, name: &str) -> Option<(usize, bool)> {
        let args = sigs.get(syscall)?;
        let i = args.iter().position(|(_, n)| n == name)?;
        let ty = &args[i].0;
        Some((i, ty == "int" || ty == "pid_t" || ty == "key_serial_t"))
    }

    /// Opens and checks a trace. Errors (missing dir, bad manifest, newer
    /// format) name the path; per-file damage goes to `problems`.
    pub fn open(dir: &Path) -> Result<Trace, String> {
        let manifest = Manifest::load(dir)?;
        let mut tables = Vec::new();
        let mut problems = Vec::new();
        for name in manifest.tables.keys() {
            let Some(table) = Table::from_name(name) else {
                problems.push(Problem {
                    path: dir.join(name),
                    what: format!("unknown table {name:?} (made by a newer recorder?); skipped"),
                });
                continue;
            };
            let tdir = dir.join(name);
            let mut files = Vec::new();
            let mut entries: Vec<_> = match std::fs::read_dir(&tdir) {
                Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
                Err(e) => {
                    problems.push(Problem {
                        path: tdir.clone(),
                        what: format!("cannot list the table's files: {e}"),
                    });
                    Vec::new()
                }
            };
            entries.sort();
            for p in entries {
                let fname = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
                let bytes = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                if fname.ends_with(".tmp") {
                    problems.push(Problem {
                        path: p.clone(),
                        what: format!(
                            "torn: {bytes} bytes never completed (the recorder stopped while writing it); skipped"
                        ),
                    });
                    continue;
                }
                if !fname.ends_with(".parquet") {
                    continue;
                }
                match footer_rows(&p) {
                    Ok(rows) => files.push(DataFile {
                        path: p,
                        rows,
                        bytes,
                    }),
                    Err(e) => problems.push(Problem {
                        path: p,
                        what: format!("unreadable Parquet file ({e}); skipped"),
                    }),
                }
            }
            tables.push(TableFiles { table, files });
        }
        Ok(Trace {
            dir: dir.to_path_buf(),
            manifest,
            tables,
            problems,
        })
    }

    pub fn table(&self, t: Table) -> Option<&TableFiles> {
        self.tables.iter().find(|f| f.table == t)
    }
}

fn footer_rows(p: &Path) -> Result<u64, String> {
    let f = std::fs::File::open(p).map_err(|e| e.to_string())?;
    let r = SerializedFileReader::new(f).map_err(|e| e.to_string())?;
    Ok(r.metadata().file_metadata().num_rows().max(0) as u64)
}
