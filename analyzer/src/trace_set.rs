//! Many traces as one: a directory or object store prefix that holds
//! traces (each with its `trace.json`, at any depth: `fleet/web1/run7`).
//! `retap sql` shows each table as the union over the set with `host` and
//! `trace` columns. Traces of different recorders or kernels may hold
//! different columns: the union has them all (null where a trace lacks
//! one), and the differences are reported, never silent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use retap_schema::manifest::MANIFEST_FILE;

use crate::store::Store;
use crate::trace::Trace;

/// One trace of a set.
#[derive(Debug)]
pub struct Member {
    /// Its path under the set (`web1/run7`), the `trace` column.
    pub name: String,
    pub trace: Trace,
}

#[derive(Debug)]
pub struct TraceSet {
    pub location: PathBuf,
    pub members: Vec<Member>,
}

impl TraceSet {
    /// Whether `dir` is a set rather than a trace: no manifest of its own.
    /// (A URL or directory that is neither is for opening to say.)
    pub fn is_set(dir: &Path) -> bool {
        match Store::of(dir) {
            Ok(Store::Local) => dir.is_dir() && !dir.join(MANIFEST_FILE).exists(),
            Ok(store) => {
                store.read(&dir.join(MANIFEST_FILE)).is_err() && store.exists(dir).unwrap_or(false)
            }
            Err(_) => false,
        }
    }

    /// Finds and opens every trace under `dir` (each listed, its footers
    /// read when a command reads its tables). Err: the store cannot be
    /// read, no trace is there, or a trace cannot be opened.
    pub fn open(dir: &Path) -> Result<TraceSet, String> {
        let store = Store::of(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let files = store
            .list_all(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let roots: Vec<PathBuf> = files
            .iter()
            .filter(|f| f.file_name().is_some_and(|n| n == MANIFEST_FILE))
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        if roots.is_empty() {
            return Err(format!(
                "{}: no traces there (no {MANIFEST_FILE} at any depth)",
                dir.display()
            ));
        }
        let mut members = vec![];
        for r in roots {
            // A snapshot or trace inside another trace is a trace of its own.
            let name = r
                .strip_prefix(dir)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| r.display().to_string());
            let name = if name.is_empty() { ".".into() } else { name };
            let trace = Trace::list(&r).map_err(|e| e.to_string())?;
            members.push(Member { name, trace });
        }
        Ok(TraceSet {
            location: dir.to_path_buf(),
            members,
        })
    }

    /// The tables any member recorded, each with the members that did.
    pub fn tables(&self) -> BTreeMap<String, Vec<usize>> {
        let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, m) in self.members.iter().enumerate() {
            for name in m.trace.manifest.tables.keys() {
                out.entry(name.clone()).or_default().push(i);
            }
        }
        out
    }

    /// The hosts, each with its number of traces.
    pub fn hosts(&self) -> BTreeMap<&str, usize> {
        let mut h = BTreeMap::new();
        for m in &self.members {
            *h.entry(m.trace.manifest.host.as_str()).or_default() += 1;
        }
        h
    }

    /// What differs between the members in ways a union shows: format
    /// versions, kernels, tables some traces lack.
    pub fn differences(&self) -> Vec<String> {
        let mut out = vec![];
        let n = self.members.len();
        let count = |f: &dyn Fn(&Member) -> String| {
            let mut c: BTreeMap<String, usize> = BTreeMap::new();
            for m in &self.members {
                *c.entry(f(m)).or_default() += 1;
            }
            c
        };
        let versions = count(&|m| m.trace.manifest.format_version.to_string());
        if versions.len() > 1 {
            out.push(format!("format versions differ: {}", tally(&versions)));
        }
        let kernels = count(&|m| m.trace.manifest.kernel.clone());
        if kernels.len() > 1 {
            out.push(format!("kernels differ: {}", tally(&kernels)));
        }
        // Tables and columns some traces lack, grouped by how many have them.
        let mut partial: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for (t, have) in self.tables() {
            if have.len() < n {
                partial.entry(have.len()).or_default().push(t.clone());
            }
            let mut cols: BTreeMap<String, usize> = BTreeMap::new();
            let mut read = 0;
            for &i in &have {
                let m = &self.members[i].trace;
                let table = m.manifest.table(&t);
                let footer = m
                    .tables
                    .iter()
                    .find(|f| Some(f.table) == table)
                    .and_then(|f| f.files.first())
                    .and_then(|f| f.footer.as_ref());
                if let Some((meta, _)) = footer {
                    read += 1;
                    let schema = meta.file_metadata().schema_descr();
                    let mut names: Vec<&str> = schema
                        .columns()
                        .iter()
                        .map(|c| c.path().parts()[0].as_str())
                        .collect();
                    names.dedup();
                    for c in names {
                        *cols.entry(c.to_string()).or_default() += 1;
                    }
                }
            }
            let missing: Vec<String> = cols
                .iter()
                .filter(|(_, k)| **k < read)
                .map(|(c, k)| format!("{c} ({k} of {read})"))
                .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "table {t}: columns not in every trace's, null in the others': {}",
                    missing.join(", ")
                ));
            }
        }
        for (k, tables) in partial {
            out.push(format!(
                "{} in {k} of {n} traces only: {}",
                if tables.len() == 1 { "table" } else { "tables" },
                tables.join(", ")
            ));
        }
        out
    }
}

fn tally(c: &BTreeMap<String, usize>) -> String {
    c.iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}
