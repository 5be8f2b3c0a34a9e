//! `trace.json`: what a trace is, where it came from, and how much of it was
//! lost. Written when recording starts (state "recording"), rewritten at each
//! file rotation and when recording ends (state "complete"), always via a
//! temporary file and rename so a reader never sees half a manifest.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const FORMAT_NAME: &str = "retap-trace";
/// Bumped when a change would make old readers misread new traces. Readers
/// accept any trace whose version is <= theirs and refuse newer ones.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "trace.json";

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// "recording" while the recorder runs; "complete" once it finalised.
    pub state: String,
    pub host: String,
    pub kernel: String,
    pub arch: String,
    pub recorder_version: String,
    pub command_line: Vec<String>,
    /// Clock of every `ts` column.
    pub clock: String,
    /// Add to a `ts` to get nanoseconds since the Unix epoch.
    pub wall_clock_offset_ns: i64,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    /// When the recorder's programs were all attached: the first moment
    /// any event can be recorded, after its set-up (process snapshot,
    /// symbols, loading the programs; 0.3-0.5 s). stap runs begin probes
    /// and starts its timers once its probes are registered, so scripts
    /// count from here ([`Manifest::begin_ns`]). Absent in traces made
    /// before it was kept, and while the recorder sets up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_ns: Option<i64>,
    /// Probe points attached, e.g. "tp_btf/sys_enter".
    pub probes: Vec<String>,
    pub filters: Filters,
    pub sample_hz: Option<u64>,
    pub tables: BTreeMap<String, TableStats>,
    /// The longest file name the recorder kept, in bytes (longer ones end
    /// in `...`); absent in traces recorded before file names were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_max: Option<u32>,
    /// The recorded kernel's CONFIG_HZ (jiffies per second), when the
    /// recorder could read its build configuration: what stap's HZ(),
    /// jiffies() and timer.jiffies answer from. Absent in traces made
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hz: Option<u32>,
    /// Whether the syscalls table's `sockaddr` column holds the socket
    /// addresses of the syscalls that take or return one (connect, accept,
    /// sendto, ...); false in traces recorded before it did.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub socket_addresses: bool,
    /// The layout of each tracepoint table, by table name, as the recording
    /// kernel described it (tracepoints.rs). Older readers skip these
    /// tables as unknown, so adding them needed no new format version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tracepoints: BTreeMap<String, crate::TracepointFormat>,
    /// The user-space probes attached (`uprobes` table rows name them by
    /// [`crate::Uprobe::probe`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uprobes: Vec<crate::Uprobe>,
    /// Extra files beside the tables (kallsyms, process maps), relative paths.
    #[serde(default)]
    pub attachments: Vec<String>,
    /// Why the recording ended before it was asked to: the disk failed
    /// (full, read-only, gone). Rows it could not write are each table's
    /// `unwritten`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Events of tracepoints recorded through the classic hook that the
    /// kernel did not hand over because a BPF program was already running
    /// on that CPU. One program serves every such tracepoint and the
    /// kernel counts per program, so which table lost them is not known
    /// (with one such tracepoint, they are its table's `skipped`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tracepoints_skipped: u64,
    /// The bounds the recording kept its files within (`--max-size`,
    /// `--max-age`), oldest files removed first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// With retention, once files were removed: the time (trace clock)
    /// from which every table holds every row it recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_from_ns: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Retention {
    /// Most bytes of Parquet files on disk at any time.
    pub max_bytes: Option<u64>,
    /// Completed files whose newest row is older than this are removed.
    pub max_age_ns: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Filters {
    pub pid: Option<i32>,
    pub command: Option<String>,
    /// The pid `-c`'s command ran as (stap's `target()` with `-c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_pid: Option<i32>,
    pub comm: Option<String>,
    pub syscalls: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TableStats {
    /// Rows written to completed files.
    pub events: u64,
    /// Events the kernel could not hand over (ring buffer full), counted in
    /// the kernel per table.
    pub dropped: u64,
    /// Syscall or block completions whose start was lost because the
    /// in-flight map was full; counted separately so that `dropped` stays
    /// "events lost to the ring buffer".
    #[serde(default)]
    pub unpaired: u64,
    /// Events the kernel did not run the recorder's program for, because
    /// that program was already running on the CPU (the tracepoint fired
    /// again inside its own record, from an interrupt): the kernel counts
    /// them per program. Rows lost, as `dropped`'s are.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Syscalls table: file-name arguments and socket addresses not
    /// recorded (their `path` or `sockaddr` is null): the ring buffer was
    /// full, or the caller's memory was not readable (paged out). Not rows
    /// lost.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub strings_lost: u64,
    /// Rows recorded but never written because the disk failed, from
    /// `unwritten_from_ns` (the oldest of them) on. Not ring-buffer losses.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unwritten: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwritten_from_ns: Option<i64>,
    /// Rows written and later removed by retention, in `expired_files`
    /// whole files (oldest first). Not losses: the bound asked for it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expired: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expired_files: u64,
    pub files: Vec<FileEntry>,
}

impl TableStats {
    /// Rows the table lost: ring buffer full, in-flight map full, skipped
    /// by the kernel.
    pub fn lost(&self) -> u64 {
        self.dropped + self.unpaired + self.skipped
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the trace directory, e.g. "syscalls/part-000000.parquet".
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    /// CRC32 of the whole file (`retap info --verify`, copies, uploads);
    /// absent in traces written before checksums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32: Option<u32>,
    /// The file's tail (page index and footer), checked whenever a reader
    /// reads the footer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<Tail>,
}

/// Where a file's page index and footer start, and their CRC32.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Tail {
    pub from: u64,
    pub crc32: u32,
}

impl Manifest {
    pub fn new() -> Manifest {
        Manifest {
            format: FORMAT_NAME.into(),
            format_version: FORMAT_VERSION,
            state: "recording".into(),
            clock: "CLOCK_MONOTONIC".into(),
            ..Default::default()
        }
    }

    /// Where a script's time begins: begin probes run and timers count
    /// from the attachment (stap starts them once its probes are
    /// registered), or from the start for traces that do not say it.
    pub fn begin_ns(&self) -> i64 {
        self.attached_ns.unwrap_or(self.start_ns).max(self.start_ns)
    }

    /// A table by its name in this trace: a fixed table, or one of its
    /// tracepoints.
    pub fn table(&self, name: &str) -> Option<crate::Table> {
        crate::Table::from_name(name).or_else(|| {
            let f = self.tracepoints.get(name)?;
            Some(crate::Table::Tracepoint(f.clone().intern()))
        })
    }

    pub fn total_events(&self) -> u64 {
        self.tables.values().map(|t| t.events).sum()
    }

    /// Every row lost: ring buffer full, in-flight map full, skipped by
    /// the kernel.
    pub fn total_dropped(&self) -> u64 {
        self.tables.values().map(TableStats::lost).sum::<u64>() + self.tracepoints_skipped
    }

    pub fn total_bytes(&self) -> u64 {
        self.tables
            .values()
            .flat_map(|t| &t.files)
            .map(|f| f.bytes)
            .sum()
    }

    /// Reads and checks `DIR/trace.json`. Errors name the path and what is
    /// wrong with it.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let fail = |problem| ManifestError {
            path: path.clone(),
            problem,
        };
        if !dir.is_dir() {
            return Err(ManifestError {
                path: dir.to_path_buf(),
                problem: ManifestProblem::NoDirectory,
            });
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| fail(ManifestProblem::Unreadable(e)))?;
        Manifest::parse(&path, &text)
    }

    /// Checks a manifest's text, read from `path` (a file or an object):
    /// JSON of this format, not newer than this reader.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let fail = |problem| ManifestError {
            path: path.to_path_buf(),
            problem,
        };
        let m: Manifest =
            serde_json::from_str(text).map_err(|e| fail(ManifestProblem::Invalid(e)))?;
        if m.format != FORMAT_NAME {
            return Err(fail(ManifestProblem::OtherFormat(m.format)));
        }
        if m.format_version > FORMAT_VERSION {
            return Err(fail(ManifestProblem::Newer(m.format_version)));
        }
        Ok(m)
    }

    pub fn store(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(".trace.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, dir.join(MANIFEST_FILE))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The recorder's pid, in the trace directory while it records (what
/// `retap snapshot DIR` signals).
pub const RECORDER_PID_FILE: &str = ".retap-recorder.pid";

/// Creates `path` readable by its owner only: traces hold command lines and
/// file names.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A trace directory whose manifest cannot be used: which path, and why.
#[derive(Debug)]
pub struct ManifestError {
    pub path: std::path::PathBuf,
    pub problem: ManifestProblem,
}

#[derive(Debug)]
pub enum ManifestProblem {
    NoDirectory,
    /// An object store prefix with nothing under it.
    NoObjects,
    /// The object store could not be read (what it said).
    Store(String),
    Unreadable(std::io::Error),
    Invalid(serde_json::Error),
    /// Some other program's JSON (its `format`).
    OtherFormat(String),
    /// Written by a newer recorder (its `format_version`).
    Newer(u32),
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.path.display();
        match &self.problem {
            ManifestProblem::NoDirectory => write!(f, "{p}: no such trace directory"),
            ManifestProblem::NoObjects => write!(f, "{p}: no trace there (nothing under that prefix)"),
            ManifestProblem::Store(e) => write!(f, "{p}: {e}"),
            ManifestProblem::Unreadable(e) => write!(
                f,
                "{p}: cannot read the trace manifest: {e} (is this a retap trace directory?)"
            ),
            ManifestProblem::Invalid(e) => write!(f, "{p}: not a valid trace manifest: {e}"),
            ManifestProblem::OtherFormat(found) => {
                write!(f, "{p}: format is {found:?}, expected {FORMAT_NAME:?}")
            }
            ManifestProblem::Newer(v) => write!(
                f,
                "{p}: trace format version {v} is newer than this retap understands ({FORMAT_VERSION}); upgrade retap"
            ),
        }
    }
}

impl std::error::Error for ManifestError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_load_round_trip_and_version_check() {
        let dir = std::env::temp_dir().join(format!("retap-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Manifest::new();
        m.host = "h".into();
        m.tables.insert(
            "syscalls".into(),
            TableStats {
                events: 3,
                dropped: 1,
                unpaired: 0,
                strings_lost: 0,
                files: vec![],
                ..Default::default()
            },
        );
        m.store(&dir).unwrap();
        assert_eq!(Manifest::load(&dir).unwrap(), m);

        m.format_version = FORMAT_VERSION + 1;
        m.store(&dir).unwrap();
        let err = Manifest::load(&dir).unwrap_err().to_string();
        assert!(err.contains("newer than this retap understands"), "{err}");

        std::fs::write(dir.join(MANIFEST_FILE), "{").unwrap();
        let err = Manifest::load(&dir).unwrap_err().to_string();
        assert!(err.contains("not a valid trace manifest"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();

        let err = Manifest::load(&dir).unwrap_err().to_string();
        assert!(err.ends_with("no such trace directory"), "{err}");
    }
}
