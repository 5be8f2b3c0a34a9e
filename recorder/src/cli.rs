//! Command line of `retap-record` (and of `retap record`, which hands over
//! to it).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "retap-record",
    version,
    about = "Record kernel events (syscalls, processes, net, block I/O, CPU samples, tracepoints) into a Parquet trace",
    after_help = "Examples:\n  retap record -o /var/tmp/web1 --duration 60s\n  retap record -o trace1 -c 'make -j2'\n  retap record -o trace2 -x 1234 --events syscalls,net\n  retap record -o trace3 --tracepoints 'kmem:mm_page_alloc,-irq:*'\n  retap record -o trace4 --stacks sched_switch -c ./server\n  retap record -o /var/tmp/box --max-size 2G --max-age 1h\n  retap record -o /var/tmp/fr --flight 10m   (then: retap snapshot /var/tmp/fr)\n  retap record --for top.stp -o trace5 -c ./server   (retap record only: records just what the script reads; -v says what and why)\n\nStops on Ctrl-C/SIGTERM, at --duration, or when -c's command or -x's process exits; SIGHUP completes the files being written and starts new ones. A write that fails (disk full, read-only) stops the recording with the completed files and trace.json intact and the rows not written counted."
)]
pub struct RecordArgs {
    /// Trace directory to create.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Stop after this long (e.g. 500ms, 10s, 5m, 1h; a bare number is seconds).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Run this shell command and trace it and its children; stop when it exits.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "CMD",
        conflicts_with = "pid"
    )]
    pub command: Option<String>,
    /// Trace only this process (its threads included); stop when it exits.
    #[arg(short = 'x', long = "pid", value_name = "PID")]
    pub pid: Option<i32>,
    /// Tables to record: syscalls,processes,net,block,samples,tracepoints
    /// (default) and vfs (needs kprobes or fentry). `tracepoints` is the
    /// default set of kernel tracepoints (scheduler, signals, interrupts).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub events: Option<Vec<String>>,
    /// Kernel tracepoints to record besides the default set, each as a table
    /// of its own: `system:event` or `event`, globs allowed
    /// ('sched:*,irq:irq_handler_*'); `-NAME` leaves one out.
    #[arg(long, value_name = "LIST", allow_hyphen_values = true)]
    pub tracepoints: Vec<String>,
    /// User-space probes, each a row of the `uprobes` table per firing:
    /// `function:PATH:NAME` (entry: the argument registers),
    /// `return:PATH:NAME` (return value, time since entry, the entry's
    /// registers), `mark:PATH:PROVIDER:NAME` (a USDT mark's arguments);
    /// `:string=argN` or `:string=return` also keeps that C string.
    /// Repeat for more.
    #[arg(long = "uprobe", value_name = "SPEC")]
    pub uprobes: Vec<String>,
    /// Recorded tracepoints whose rows also carry the kernel stack where
    /// they fired (a `kstack` column, as CPU samples have), e.g.
    /// `sched_switch` for off-CPU analysis; names or globs as for
    /// --tracepoints.
    #[arg(long, value_name = "LIST")]
    pub stacks: Vec<String>,
    /// Record only tasks whose comm (execname) is exactly NAME.
    #[arg(long, value_name = "NAME")]
    pub comm: Option<String>,
    /// Record only these syscalls (names, e.g. read,write,openat).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub syscalls: Option<Vec<String>>,
    /// Longest file name kept from a syscall's arguments, in bytes (2-4096);
    /// longer ones are cut and end in "...". 0 records no file names.
    #[arg(long, default_value_t = 256, value_name = "BYTES")]
    pub string_max: u64,
    /// CPU sampling rate per CPU for the samples table.
    #[arg(long, default_value_t = 99, value_name = "HZ")]
    pub sample_hz: u64,
    /// BPF ring buffer size (power of two; K/M suffixes). 8M holds ~50 ms of
    /// one core's syscalls; the reader wakes when a quarter is filled.
    #[arg(long, default_value = "8M", value_parser = parse_size, value_name = "SIZE")]
    pub ringbuf_size: u64,
    /// Start a new Parquet file once the current one reaches this size
    /// [default: 256M, or a sixteenth of --max-size].
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub rotate_size: Option<u64>,
    /// Keep the trace's Parquet files within SIZE on disk: the oldest
    /// completed files are removed as new ones are written (each table
    /// keeps its newest); the manifest says what was removed and from when
    /// the trace is complete.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub max_size: Option<u64>,
    /// Remove completed files whose newest row is older than DURATION.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub max_age: Option<Duration>,
    /// Flight recorder: keep only the last DURATION (as --max-age, files
    /// rotated every tenth of it), and on SIGUSR1 (`retap snapshot DIR`)
    /// write what is kept as a complete trace of its own,
    /// DIR/snapshot-TIME/. On exit DIR holds the last DURATION.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", conflicts_with = "max_age")]
    pub flight: Option<Duration>,
    /// Take a snapshot (as SIGUSR1 does) when a syscall takes longer than
    /// DURATION: 'syscall latency > 1s' (or 'latency > 1s'), or of one
    /// syscall, 'fsync latency > 100ms'. At most one per --flight window (or per minute).
    #[arg(long, value_parser = parse_condition, value_name = "CONDITION")]
    pub snapshot_when: Option<SnapshotWhen>,
    /// Start a new Parquet file after this long [default: 60s, or a tenth
    /// of --flight].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub rotate_every: Option<Duration>,
    /// zstd level for the Parquet files (1-22).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub zstd_level: i32,
    /// No progress line and no summary.
    #[arg(short, long)]
    pub quiet: bool,
    /// Also write every event to file descriptor FD as soon as it is read
    /// (at most ~50 ms after it happened), syscalls as they are entered
    /// too: the live stream `retap run` runs scripts on
    /// (schema/src/stream.rs). -c's command does not inherit it.
    #[arg(long, value_name = "FD")]
    pub stream_fd: Option<i32>,
    /// With --stream-fd: syscalls only as they are entered, none when they
    /// return (nor in the trace): for live scripts without return probes,
    /// at about half the cost per syscall.
    #[arg(long, requires = "stream_fd")]
    pub entries_only: bool,
    /// With --stream-fd: count syscalls in the kernel instead of sending
    /// each, by FIELDS (comm,pid,tid,uid,cpu; none: one total) for the
    /// syscalls listed (names, or * for all): `comm:read,write`; or the
    /// firings of one user-space probe (entry, return or mark), `@` and its
    /// --uprobe spelling: `comm:@function:/bin/app:work`. The counts go to
    /// the stream when the recording stops. At most 16.
    #[arg(
        long = "count",
        value_name = "FIELDS:SYSCALLS|@UPROBE",
        requires = "stream_fd"
    )]
    pub counts: Vec<String>,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 500ms, 10s, 5m)"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" => v / 1e6,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?}: a duration must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `--snapshot-when`: a syscall (or any) that took longer than `over`.
#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotWhen {
    pub syscall: Option<String>,
    pub over: Duration,
}

pub fn parse_condition(s: &str) -> Result<SnapshotWhen, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let (syscall, rest) = match words.as_slice() {
        ["latency", rest @ ..] | ["syscall", "latency", rest @ ..] => (None, rest),
        [name, "latency", rest @ ..] => (Some(name.to_string()), rest),
        _ => {
            return Err(format!(
                "{s:?}: expected 'latency > DURATION' or 'SYSCALL latency > DURATION'"
            ))
        }
    };
    match rest {
        [">", d] => Ok(SnapshotWhen {
            syscall,
            over: parse_duration(d)?,
        }),
        _ => Err(format!(
            "{s:?}: expected '> DURATION' after latency (e.g. 'latency > 1s')"
        )),
    }
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (try 4096, 64K, 32M, 1G)"))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("{s:?}: size out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("abc")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse_duration("3 weeks")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("0s").unwrap_err().contains("positive"));
    }

    #[test]
    fn conditions() {
        assert_eq!(
            parse_condition("latency > 1s").unwrap(),
            SnapshotWhen {
                syscall: None,
                over: Duration::from_secs(1)
            }
        );
        assert_eq!(
            parse_condition("fsync latency > 100ms").unwrap().syscall,
            Some("fsync".into())
        );
        assert_eq!(
            parse_condition("syscall latency > 1s").unwrap().syscall,
            None
        );
        assert!(parse_condition("latency >= 1s")
            .unwrap_err()
            .contains("expected '> DURATION'"));
        assert!(parse_condition("slow")
            .unwrap_err()
            .contains("expected 'latency"));
        assert!(parse_condition("latency > soon")
            .unwrap_err()
            .contains("not a duration"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32M").unwrap(), 32 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("16k").unwrap(), 16 << 10);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }
}
