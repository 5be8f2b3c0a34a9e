//! A trace directory as found on disk: the manifest, and for each table the
//! Parquet files that are really there, checked by reading their footers.
//! Files still under a temporary name (the recorder was killed while
//! writing them) and files that cannot be read are reported, never used and
//! never silently ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use retap_schema::manifest::{ManifestProblem, MANIFEST_FILE};
use retap_schema::{FileEntry, Manifest, ManifestError, Table};

use crate::store::{Store, TraceFile};

#[derive(Debug, Clone)]
pub struct DataFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// When the file was last written, as listed.
    pub modified: std::time::SystemTime,
    /// Its trace among a run's (`Trace::members`; 0 for a single trace),
    /// and what moves its `ts` onto the run's clock (0 but in a set).
    pub member: u32,
    pub ts_shift: i64,
    /// The footer [`Trace::check`] read, and the file's modification time
    /// then: plans take their schema from it and hand it to DataFusion's
    /// metadata cache rather than read it again.
    pub footer: Option<(Arc<ParquetMetaData>, std::time::SystemTime)>,
    /// What the manifest says of the file (its checksums), when it lists it.
    pub entry: Option<FileEntry>,
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
    /// Whether the files' footers were read (rows are 0 until then, and
    /// unreadable files still listed).
    pub checked: bool,
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

pub use retap_schema::signatures::Signatures;

#[derive(Debug)]
pub struct Trace {
    /// The trace's directory, or its URL in an object store.
    pub dir: PathBuf,
    /// How its files are read.
    pub store: Store,
    /// The traces its files come from: itself, or a set's traces taken as
    /// one (`TraceSet::merged`), each (host, name).
    pub members: Vec<(String, String)>,
    pub manifest: Manifest,
    pub tables: Vec<TableFiles>,
    /// Torn or unreadable files, each with what is wrong.
    pub problems: Vec<Problem>,
    /// The saved syscall signatures, read once when the trace is listed
    /// (elaboration, the plans and the interpreter all ask, and parsing
    /// the 29 KB file three times cost ~0.5 ms a run).
    signatures: Option<Arc<Signatures>>,
}

impl Trace {
    /// The kernel's syscall signatures saved with the trace (None when the
    /// recorder could not read them).
    pub fn signatures(&self) -> Option<&Signatures> {
        self.shared_signatures().map(|s| &**s)
    }

    /// [`Trace::signatures`], to keep beyond the trace's borrow.
    pub fn shared_signatures(&self) -> Option<&Arc<Signatures>> {
        self.signatures.as_ref()
    }

    /// Where `$name` is among a syscall's arguments, and whether it is a C
    /// int (read as its low 32 bits, signed) rather than a long.
    pub fn kernel_arg(sigs: &Signatures, syscall: &str, name: &str) -> Option<(usize, bool)> {
        let args = sigs.get(syscall)?;
        let i = args.iter().position(|(_, n)| n == name)?;
        let ty = &args[i].0;
        Some((i, ty == "int" || ty == "pid_t" || ty == "key_serial_t"))
    }

    /// Opens a trace and checks every table's files (see [`Trace::check`]).
    pub fn open(dir: &Path) -> Result<Trace, ManifestError> {
        let mut t = Trace::list(dir)?;
        let all: Vec<Table> = t.tables.iter().map(|f| f.table).collect();
        t.check(&all);
        Ok(t)
    }

    /// Opens a trace: the manifest and each table's files, found on disk
    /// but not yet read. Errors (missing dir, bad manifest, newer format)
    /// name the path; torn files go to `problems`. A run reads only the
    /// tables its probes need, and checks only those: reading the footers
    /// of a 100M-event trace's 12 syscalls files took 2.5 ms, a tenth of a
    /// histogram of its packets.
    pub fn list(dir: &Path) -> Result<Trace, ManifestError> {
        let store = Store::of(dir).map_err(|e| ManifestError {
            path: dir.to_path_buf(),
            problem: ManifestProblem::Store(e.to_string()),
        })?;
        let manifest = load_manifest(&store, dir)?;
        let mut tables = Vec::new();
        let mut problems = Vec::new();
        for name in manifest.tables.keys() {
            let Some(table) = manifest.table(name) else {
                problems.push(Problem {
                    path: dir.join(name),
                    what: format!("unknown table {name:?} (made by a newer recorder?); skipped"),
                });
                continue;
            };
            let tdir = dir.join(name);
            let mut files = Vec::new();
            let entries = match store.list(&tdir) {
                Ok(listed) => listed,
                Err(e) => {
                    problems.push(Problem {
                        path: tdir.clone(),
                        what: format!("cannot list the table's files: {e}"),
                    });
                    Vec::new()
                }
            };
            let listed = &manifest.tables[name].files;
            for found in entries {
                let p = found.path;
                let bytes = found.bytes;
                let fname = p.file_name().and_then(|f| f.to_str()).unwrap_or("");
                if fname.ends_with(".tmp") {
                    problems.push(Problem {
                        path: p.clone(),
                        what: format!(
                            "torn: {bytes} bytes never completed (the recorder stopped while writing it); skipped"
                        ),
                    });
                    continue;
                }
                if fname.ends_with(".parquet") {
                    let rel = format!("{name}/{fname}");
                    let entry = listed.iter().find(|e| e.path == rel).cloned();
                    files.push(DataFile {
                        path: p,
                        rows: 0,
                        bytes,
                        modified: found.modified,
                        member: 0,
                        ts_shift: 0,
                        footer: None,
                        entry,
                    });
                }
            }
            // A file the manifest names that is not there (deleted, or
            // not uploaded): its rows are in no result, and that is said.
            for e in listed {
                let here = files.iter().any(|f| f.entry.as_ref() == Some(e));
                if !here {
                    problems.push(Problem {
                        path: dir.join(&e.path),
                        what: format!(
                            "missing: the manifest names it ({} rows, {} bytes) but it is not there; its rows are in no result",
                            e.rows, e.bytes
                        ),
                    });
                }
            }
            tables.push(TableFiles {
                table,
                files,
                checked: false,
            });
        }
        let signatures = match read_signatures(&store, dir) {
            Ok(s) => s.map(Arc::new),
            Err(p) => {
                problems.push(p);
                None
            }
        };
        let name = dir
            .to_string_lossy()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Trace {
            dir: dir.to_path_buf(),
            store,
            members: vec![(manifest.host.clone(), name)],
            manifest,
            tables,
            problems,
            signatures,
        })
    }

    /// A trace made of `like`'s location, store and signatures with other
    /// contents: a set's traces as one (`TraceSet::merged`).
    pub(crate) fn assemble(
        like: Trace,
        dir: PathBuf,
        manifest: Manifest,
        tables: Vec<TableFiles>,
        problems: Vec<Problem>,
        members: Vec<(String, String)>,
    ) -> Trace {
        Trace {
            dir,
            manifest,
            tables,
            problems,
            members,
            ..like
        }
    }

    /// Reads the footers of these tables' files, a few threads at a time:
    /// each file's row count, and files that cannot be read moved to
    /// `problems`. Tables checked before are left alone.
    pub fn check(&mut self, tables: &[Table]) {
        let todo: Vec<(usize, usize)> = self
            .tables
            .iter()
            .enumerate()
            .filter(|(_, tf)| !tf.checked && tables.contains(&tf.table))
            .flat_map(|(ti, tf)| (0..tf.files.len()).map(move |fi| (ti, fi)))
            .collect();
        // Err: what is wrong with the file.
        let results: Vec<Result<Footer, String>> = {
            let this = &*self;
            let read = |&(ti, fi): &(usize, usize)| footer(&this.store, &this.tables[ti].files[fi]);
            crate::map_on_threads(&todo, self.store.parallelism(), read)
        };
        let mut bad: Vec<(usize, usize)> = vec![];
        for (&(ti, fi), r) in todo.iter().zip(results) {
            match r {
                Ok((meta, modified)) => {
                    let f = &mut self.tables[ti].files[fi];
                    f.rows = meta.file_metadata().num_rows().max(0) as u64;
                    f.footer = Some((meta, modified));
                }
                Err(what) => {
                    self.problems.push(Problem {
                        path: self.tables[ti].files[fi].path.clone(),
                        what: format!("{what}; skipped"),
                    });
                    bad.push((ti, fi));
                }
            }
        }
        for &(ti, fi) in bad.iter().rev() {
            self.tables[ti].files.remove(fi);
        }
        for tf in &mut self.tables {
            tf.checked |= tables.contains(&tf.table);
        }
    }

    /// A table's files; it must have been checked.
    pub fn table(&self, t: Table) -> Option<&TableFiles> {
        let f = self.tables.iter().find(|f| f.table == t);
        debug_assert!(
            f.is_none_or(|f| f.checked),
            "the {t} table is read before its files were checked"
        );
        f
    }
}

/// The manifest of the trace at `dir`: a missing directory or an empty
/// prefix says so, a store that cannot be read says what it said.
fn load_manifest(store: &Store, dir: &Path) -> Result<Manifest, ManifestError> {
    if let Store::Local = store {
        return Manifest::load(dir);
    }
    let path = dir.join(MANIFEST_FILE);
    let fail = |path: &Path, problem| ManifestError {
        path: path.to_path_buf(),
        problem,
    };
    match store.read(&path) {
        Ok(bytes) => Manifest::parse(&path, &String::from_utf8_lossy(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match store.exists(dir) {
            Ok(false) => Err(fail(dir, ManifestProblem::NoObjects)),
            Ok(true) => Err(fail(&path, ManifestProblem::Unreadable(e))),
            Err(e) => Err(fail(dir, ManifestProblem::Store(e.to_string()))),
        },
        Err(e) => Err(fail(dir, ManifestProblem::Store(e.to_string()))),
    }
}

/// The signatures the recorder saved: None when it saved none (it could
/// not read them from tracefs), a problem when the file is damaged.
fn read_signatures(store: &Store, dir: &Path) -> Result<Option<Signatures>, Problem> {
    let path = dir.join(retap_schema::signatures::FILE);
    let damaged = |what: String| Problem {
        path: path.clone(),
        what: format!(
            "{what}; ignored: syscall arguments by their kernel names ($fd, ...) read as 0"
        ),
    };
    let text = match store.read(&path) {
        Ok(t) => String::from_utf8_lossy(&t).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(damaged(format!("cannot be read ({e})"))),
    };
    retap_schema::signatures::from_json(&text)
        .map(Some)
        .map_err(|e| damaged(format!("not a valid signatures file ({e})")))
}

/// A file's footer and its modification time when read.
type Footer = (Arc<ParquetMetaData>, std::time::SystemTime);

/// A file's footer, once its tail (page index and footer) matches the
/// manifest's checksum where the manifest has one. Err says what is wrong.
/// In a bucket, the manifest's tail offset makes it one request.
fn footer(store: &Store, file: &DataFile) -> Result<Footer, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("unreadable Parquet file ({e})");
    let p = &file.path;
    let mut tail = None;
    if let Some(entry) = &file.entry {
        if let Some(t) = &entry.tail {
            if file.bytes != entry.bytes || t.from > file.bytes {
                return Err(format!(
                    "damaged: {} bytes where the manifest says {}",
                    file.bytes, entry.bytes
                ));
            }
            let bytes = store
                .read_tail(p, t.from, file.bytes)
                .map_err(|e| unreadable(&e))?;
            retap_schema::files::check_tail(entry, &bytes).map_err(|e| format!("damaged: {e}"))?;
            tail = Some((t.from, bytes));
        }
    }
    let f: TraceFile = store
        .open(p, file.bytes, None, tail)
        .map_err(|e| unreadable(&e))?;
    let modified = match &f {
        TraceFile::Local(f) => f
            .metadata()
            .and_then(|m| m.modified())
            .map_err(|e| unreadable(&e))?,
        TraceFile::Remote(_) => file.modified,
    };
    // With the page index, which a plan's scan would read next; a file
    // whose index cannot be read is still as readable as its footer.
    let meta = match ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional)
        .parse_and_finish(&f)
    {
        Ok(m) => m,
        Err(_) => ParquetMetaDataReader::new()
            .parse_and_finish(&f)
            .map_err(|e| unreadable(&e))?,
    };
    Ok((Arc::new(meta), modified))
}
