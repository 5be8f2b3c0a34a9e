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
                "{}: no traces there (no {MANIFEST_FILE} here or below: is this a retap trace directory?)",
                dir.display()
            ));
        }
        // Listed a few at a time: in a bucket each is a few requests.
        let list = |r: &PathBuf| -> Result<Member, String> {
            // A snapshot or trace inside another trace is a trace of its own.
            let name = r
                .strip_prefix(dir)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| r.display().to_string());
            let name = if name.is_empty() { ".".into() } else { name };
            let trace = Trace::list(r).map_err(|e| e.to_string())?;
            Ok(Member { name, trace })
        };
        let members: Vec<Member> = crate::map_on_threads(&roots, store.parallelism(), list)
            .into_iter()
            .collect::<Result<_, _>>()?;
        Ok(TraceSet {
            location: dir.to_path_buf(),
            members,
        })
    }

    /// Reads the footers of every table of every trace, a few traces at a
    /// time (each reads its files a few at a time).
    pub fn check_all(&mut self) {
        let n = self.members.len();
        let chunk = n.div_ceil(4).max(1);
        std::thread::scope(|s| {
            for part in self.members.chunks_mut(chunk) {
                s.spawn(move || {
                    for m in part {
                        let all: Vec<retap_schema::Table> =
                            m.trace.tables.iter().map(|f| f.table).collect();
                        m.trace.check(&all);
                    }
                });
            }
        });
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

impl TraceSet {
    /// The set as one trace, for `retap run`: every trace's files, each
    /// moved onto the first trace's clock by the difference of their
    /// wall-clock offsets, so rows merge in wall-clock order and
    /// gettimeofday_*() read as each host's; time begins at the earliest
    /// attachment and ends at the last end. Each file keeps its trace
    /// (`DataFile::member`): hostname() and trace_name() say it.
    ///
    /// Err where the traces cannot be one: different architectures,
    /// syscall signatures or tracepoint layouts (run them --per-trace).
    pub fn merged(self) -> Result<Trace, String> {
        let shown = self.location.display().to_string();
        let mut members = self.members.into_iter();
        let first = members
            .next()
            .ok_or_else(|| format!("{shown}: no traces"))?;
        let mut all = vec![first];
        all.extend(members);
        let base = all[0].trace.manifest.clone();
        let wall = base.wall_clock_offset_ns;
        let differ = |what: &str, a: &Member, b: &Member| {
            format!(
                "{shown}: {what} differ between {} and {}: run the script --per-trace",
                a.name, b.name
            )
        };
        for m in &all[1..] {
            if m.trace.manifest.arch != base.arch {
                return Err(differ("architectures", &all[0], m));
            }
            if m.trace.signatures() != all[0].trace.signatures() {
                return Err(differ("the kernels' syscall signatures", &all[0], m));
            }
            for (name, f) in &m.trace.manifest.tracepoints {
                if all[0]
                    .trace
                    .manifest
                    .tracepoints
                    .get(name)
                    .is_some_and(|g| g != f)
                {
                    return Err(differ(&format!("tracepoint {name}'s layouts"), &all[0], m));
                }
            }
        }
        let mut manifest = base.clone();
        let mut tables: Vec<crate::trace::TableFiles> = vec![];
        let mut problems = vec![];
        let mut names = vec![];
        let (mut start, mut end, mut begin) = (i64::MAX, Some(i64::MIN), i64::MAX);
        manifest.tables.clear();
        for (i, m) in all.iter().enumerate() {
            let t = &m.trace;
            let mm = &t.manifest;
            let shift = mm.wall_clock_offset_ns - wall;
            start = start.min(mm.start_ns + shift);
            begin = begin.min(mm.begin_ns() + shift);
            end = match (end, mm.end_ns) {
                (Some(e), Some(x)) => Some(e.max(x + shift)),
                _ => None,
            };
            manifest.complete_from_ns = match (manifest.complete_from_ns, mm.complete_from_ns) {
                (a, None) => a,
                (None, Some(b)) => Some(b + shift),
                (Some(a), Some(b)) => Some(a.max(b + shift)),
            };
            manifest.stopped_by = manifest.stopped_by.clone().or(mm.stopped_by.clone());
            manifest.string_max = manifest.string_max.or(mm.string_max);
            manifest.socket_addresses |= mm.socket_addresses;
            manifest.tracepoints_skipped += mm.tracepoints_skipped;
            if mm.hz != base.hz {
                manifest.hz = None;
            }
            for (k, f) in &mm.tracepoints {
                manifest.tracepoints.entry(k.clone()).or_insert(f.clone());
            }
            for (k, st) in &mm.tables {
                let e = manifest.tables.entry(k.clone()).or_default();
                e.events += st.events;
                e.dropped += st.dropped;
                e.unpaired += st.unpaired;
                e.skipped += st.skipped;
                e.strings_lost += st.strings_lost;
                e.unwritten += st.unwritten;
                e.expired += st.expired;
                e.expired_files += st.expired_files;
                e.files.extend(st.files.iter().cloned());
            }
            for tf in &t.tables {
                let files = tf.files.iter().cloned().map(|mut f| {
                    f.member = i as u32;
                    f.ts_shift = shift;
                    f
                });
                match tables.iter_mut().find(|x| x.table == tf.table) {
                    Some(x) => {
                        x.files.extend(files);
                        x.checked &= tf.checked;
                    }
                    None => tables.push(crate::trace::TableFiles {
                        table: tf.table,
                        files: files.collect(),
                        checked: tf.checked,
                    }),
                }
            }
            problems.extend(t.problems.iter().cloned());
            names.push((mm.host.clone(), m.name.clone()));
        }
        manifest.start_ns = start;
        manifest.end_ns = end;
        manifest.attached_ns = Some(begin);
        let hosts: std::collections::BTreeSet<&str> =
            names.iter().map(|(h, _)| h.as_str()).collect();
        if hosts.len() > 1 {
            manifest.host = format!("{} hosts", hosts.len());
        }
        let first = all.swap_remove(0).trace;
        Ok(Trace::assemble(
            first,
            self.location,
            manifest,
            tables,
            problems,
            names,
        ))
    }
}

fn tally(c: &BTreeMap<String, usize>) -> String {
    c.iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}
