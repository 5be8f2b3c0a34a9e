//! One recording from start to finish: checks, set-up, the drain loop,
//! and the orderly stop that loses nothing (drain, then in-flight events,
//! then loss counters, then the manifest).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrow::record_batch::RecordBatch;
use libbpf_rs::RingBufferBuilder;
use retap_schema::tables::TRACEPOINT_KIND;
use retap_schema::{manifest, stream, summary, syscalls, Manifest, Table, TracepointFormat};

use crate::batches::TableRows;
use crate::bpf::{self, Config};
use crate::cli::RecordArgs;
use crate::procfs;
use crate::records::{self, Record};
use crate::sink::SinkConfig;
use crate::tracepoints;
use crate::watermark;
use crate::writer::{self, Msg, Writer};
use retap_schema::manifest::Retention;

/// Records taken from the ring buffer per round of the main loop.
const DRAIN_PER_ROUND: usize = 64 * 1024;

/// Rows the reader gathers per table before handing them to the writer.
const BATCH_ROWS: usize = 16 * 1024;
use crate::records::NR_KINDS;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

static ROTATE: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hangup(_: libc::c_int) {
    ROTATE.store(true, Ordering::SeqCst);
}

static SNAPSHOT: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    SNAPSHOT.store(true, Ordering::SeqCst);
}

use manifest::RECORDER_PID_FILE as PID_FILE;

/// Kept free at the trace's root while recording and removed should the
/// disk fail, so the final trace.json (and the syscall signatures) can
/// still be written.
const RESERVE_FILE: &str = ".retap-reserve";
const RESERVE_BYTES: usize = 128 << 10;

/// Root, or the capabilities that loading tracing BPF programs needs.
pub fn check_privileges() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |bit: u32| eff & (1u64 << bit) != 0;
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    bail!("recording needs root, or the CAP_BPF and CAP_PERFMON capabilities (this process has neither); run it with sudo")
}

/// `--events` as tables, and whether it asks for the default tracepoints
/// (the pseudo-table `tracepoints`).
fn resolve_tables(args: &RecordArgs) -> Result<(Vec<Table>, bool)> {
    let Some(names) = &args.events else {
        return Ok((Table::DEFAULT.to_vec(), true));
    };
    let mut out = Vec::new();
    let mut default_tracepoints = false;
    for n in names {
        if n.trim() == TRACEPOINTS {
            default_tracepoints = true;
            continue;
        }
        let t = Table::from_name(n.trim()).with_context(|| {
            let all: Vec<_> = Table::ALL.iter().map(|t| t.name()).collect();
            format!(
                "--events: unknown table {n:?} (known: {}, {TRACEPOINTS})",
                all.join(", ")
            )
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() && !default_tracepoints && args.tracepoints.is_empty() {
        bail!("--events: no tables given");
    }
    Ok((out, default_tracepoints))
}

/// `--uprobe SPEC`s, each binary checked before anything is attached.
fn resolve_uprobes(specs: &[String]) -> Result<Vec<retap_schema::Uprobe>> {
    let mut out: Vec<retap_schema::Uprobe> = Vec::new();
    for s in specs {
        let u = retap_schema::Uprobe::parse_spec(s).map_err(|e| anyhow::anyhow!("--uprobe {e}"))?;
        if !std::path::Path::new(&u.path).is_file() {
            bail!("--uprobe {s}: {}: no such file", u.path);
        }
        if out.iter().any(|o| o.probe() == u.probe()) {
            bail!("--uprobe {s}: given twice");
        }
        out.push(u);
    }
    if out.len() > 1 << 16 {
        bail!("--uprobe: at most 65536 probes, not {}", out.len());
    }
    Ok(out)
}

/// `--events`' name for the default set of tracepoints.
const TRACEPOINTS: &str = "tracepoints";

fn resolve_syscalls(list: &Option<Vec<String>>) -> Result<Option<Vec<u32>>> {
    let Some(names) = list else { return Ok(None) };
    let arch = syscalls::host_arch();
    names
        .iter()
        .map(|n| {
            syscalls::number(arch, n.trim())
                .with_context(|| format!("--syscalls: {n:?} is not a syscall on {arch}"))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// `--count FIELDS:SYSCALLS` as (field mask, syscall numbers) per slot.
/// What a count slot counts: syscalls (numbers) or one user-space probe
/// (`FIELDS:@SPEC`: a function entry or a mark, counted instead of sent).
type CountSlot = (u8, Vec<u32>, Option<retap_schema::Uprobe>);

fn resolve_counts(specs: &[String]) -> Result<Vec<CountSlot>> {
    if specs.len() > bpf::COUNT_SLOTS {
        bail!("--count: at most {}, not {}", bpf::COUNT_SLOTS, specs.len());
    }
    let arch = syscalls::host_arch();
    specs
        .iter()
        .map(|spec| {
            let (fields, names) = spec
                .split_once(':')
                .with_context(|| format!("--count {spec:?}: expected FIELDS:SYSCALLS"))?;
            let mut mask = 0u8;
            for f in fields.split(',').filter(|f| !f.is_empty()) {
                mask |= match f {
                    "comm" => 1,
                    "pid" => 2,
                    "tid" => 4,
                    "uid" => 8,
                    "cpu" => 16,
                    _ => bail!("--count {spec:?}: unknown field {f:?} (comm, pid, tid, uid, cpu)"),
                };
            }
            if let Some(spec) = names.strip_prefix('@') {
                let u = retap_schema::Uprobe::parse_spec(spec)
                    .map_err(|e| anyhow::anyhow!("--count {e}"))?;
                if u.string.is_some() || u.word.is_some() || u.stack {
                    bail!("--count {spec}: a count keeps no string, word or stack");
                }
                if !std::path::Path::new(&u.path).is_file() {
                    bail!("--count {spec}: {}: no such file", u.path);
                }
                return Ok((mask, vec![], Some(u)));
            }
            let nrs = if names == "*" {
                syscalls::all_names(arch)
                    .iter()
                    .filter_map(|n| syscalls::number(arch, n))
                    .collect()
            } else {
                names
                    .split(',')
                    .map(|n| {
                        syscalls::number(arch, n.trim())
                            .with_context(|| format!("--count: {n:?} is not a syscall on {arch}"))
                    })
                    .collect::<Result<Vec<_>>>()?
            };
            Ok((mask, nrs, None))
        })
        .collect()
}

fn create_trace_dir(dir: &Path) -> Result<()> {
    if dir.join(manifest::MANIFEST_FILE).exists() {
        bail!(
            "{}: already holds a trace; choose another -o or remove it",
            dir.display()
        );
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Whether `prog` names an executable file, as execvp would find it.
fn runnable(prog: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let exec = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if prog.contains('/') {
        return exec(Path::new(prog));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| exec(&d.join(prog))))
}

/// True when `cmd` has no shell syntax: words of ordinary characters only.
fn is_plain(cmd: &str) -> bool {
    cmd.chars()
        .all(|c| c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || "_-./,:+@%=".contains(c))
        && !cmd.split_whitespace().next().unwrap_or("").contains('=')
}

/// A forked child that waits on a pipe before exec'ing `sh -c CMD`, so that
/// its pid can be put in the filter before it runs anything.
struct GatedChild {
    pid: libc::pid_t,
    go: libc::c_int,
}

impl GatedChild {
    fn spawn(cmd: &str) -> Result<GatedChild> {
        // A plain command line runs directly, so the trace holds the
        // command's own calls and not a shell's; anything with shell syntax
        // goes through /bin/sh -c.
        let argv: Vec<CString> = if is_plain(cmd) {
            cmd.split_whitespace()
                .map(CString::new)
                .collect::<Result<_, _>>()?
        } else {
            vec![
                CString::new("/bin/sh")?,
                CString::new("-c")?,
                CString::new(cmd).context("-c: the command contains a NUL byte")?,
            ]
        };
        if argv.is_empty() {
            bail!("-c: the command is empty");
        }
        // Run directly, a missing program would only show as the child's
        // exit status 127: say so before recording.
        if let (true, Some(prog)) = (is_plain(cmd), cmd.split_whitespace().next()) {
            if !runnable(prog) {
                bail!("-c: {prog}: no such command (not a file, nor found on $PATH)");
            }
        }
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into our array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            bail!("pipe: {}", std::io::Error::last_os_error());
        }
        // SAFETY: the child only calls async-signal-safe functions (read,
        // close, execv, _exit) before exec.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            bail!("fork: {}", std::io::Error::last_os_error());
        }
        if pid == 0 {
            unsafe {
                libc::close(fds[1]);
                let mut b = 0u8;
                let n = libc::read(fds[0], &mut b as *mut u8 as *mut libc::c_void, 1);
                if n != 1 {
                    libc::_exit(127);
                }
                libc::execvp(argv_ptrs[0], argv_ptrs.as_ptr());
                libc::_exit(127);
            }
        }
        // SAFETY: closing our copy of the read end.
        unsafe { libc::close(fds[0]) };
        Ok(GatedChild { pid, go: fds[1] })
    }

    fn release(&mut self) {
        let b = 1u8;
        // SAFETY: writing one byte to the pipe we own, then closing it.
        unsafe {
            libc::write(self.go, &b as *const u8 as *const libc::c_void, 1);
            libc::close(self.go);
        }
        self.go = -1;
    }

    /// The exit status once the child has exited.
    fn try_wait(&self) -> Option<i32> {
        let mut status = 0;
        // SAFETY: waitpid on our own child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        (r == self.pid).then_some(status)
    }
}

impl Drop for GatedChild {
    fn drop(&mut self) {
        if self.go >= 0 {
            // Never released (set-up failed): let it exit without running.
            // SAFETY: closing our fd makes the child's read return 0.
            unsafe { libc::close(self.go) };
            let mut st = 0;
            unsafe { libc::waitpid(self.pid, &mut st, 0) };
        }
    }
}

/// The live stream's descriptor as a file, closed on exec so that -c's
/// command does not hold the pipe open (nor write into it).
fn stream_file(fd: i32) -> Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl on a descriptor number; failure is reported.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        bail!("--stream-fd {fd}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (fcntl succeeded) and handed to us.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Whether `pid` is a process that still runs: one that exited but is not
/// reaped yet (a zombie, whose parent has not waited) has ended too.
fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    let exists = unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM };
    exists && !is_zombie(pid)
}

/// /proc/PID/stat's state, after the command name in parentheses.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z")
    })
}

/// What the ring buffer callback fills.
struct Collector {
    rows: BTreeMap<Table, TableRows>,
    /// `--snapshot-when`: (syscall number or any, longer than ns), and the
    /// earliest trace time the next may fire.
    snapshot_when: Option<(Option<u32>, u64)>,
    snapshot_quiet_until: u64,
    snapshot_every_ns: u64,
    received: [u64; NR_KINDS],
    /// Tracepoint tables by slot (what the BPF side writes over a record's
    /// first bytes).
    tracepoint_slots: Vec<Table>,
    /// File names read at a syscall's entry, by thread, until its row comes.
    pending_paths: HashMap<u32, records::Paths>,
    string_max: u32,
    /// Processes seen with user stacks in CPU samples, and where their
    /// memory maps were saved (for user-space symbolisation).
    sampled_pids: std::collections::BTreeSet<i32>,
    maps_saved: Vec<String>,
    trace_dir: std::path::PathBuf,
    malformed: u64,
    /// The latest stamp of any record read (each record's first 8 bytes):
    /// what a live round cut short can vouch for (see the drain loop).
    latest_ts: i64,
    tx: SyncSender<Msg>,
    writer_gone: bool,
    /// `--stream`: every batch also goes to stdout as it is made.
    stream: Option<LiveStream>,
}

/// The live stream's side of the collector: syscalls as they are entered
/// (never written to the trace: the same syscall comes whole when it
/// returns), and where frames go.
struct LiveStream {
    entries: TableRows,
    out: std::io::BufWriter<std::fs::File>,
}

impl Collector {
    /// A finished batch of `table`: to the live stream (entries first, so a
    /// syscall's entry always precedes its return), then to the writer. A
    /// reader that went away stops the recording as a writer that did.
    fn emit(&mut self, table: Table, b: RecordBatch) {
        if let Some(s) = self.stream.as_mut() {
            let mut sent = Ok(());
            if table == Table::Syscalls && !s.entries.is_empty() {
                let e = s.entries.finish();
                sent = stream::write_batch(&mut s.out, Table::Syscalls.name(), true, &e);
            }
            let sent = sent.and_then(|()| stream::write_batch(&mut s.out, table.name(), false, &b));
            if sent.is_err() {
                self.writer_gone = true;
            }
        }
        if self.tx.send(Msg::Batch(table, b)).is_err() {
            self.writer_gone = true;
        }
    }

    /// The in-kernel counts, once, on the live stream.
    fn emit_counts(&mut self, counts: &[bpf::Count]) {
        use arrow::array::{ArrayRef, Int64Array, StringArray, UInt32Array};
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let int = |f: &dyn Fn(&bpf::Count) -> i64| -> ArrayRef {
            std::sync::Arc::new(Int64Array::from_iter_values(counts.iter().map(f)))
        };
        let cols: Vec<ArrayRef> = vec![
            std::sync::Arc::new(UInt32Array::from_iter_values(counts.iter().map(|c| c.slot))),
            std::sync::Arc::new(StringArray::from_iter_values(
                counts.iter().map(|c| &c.comm),
            )),
            int(&|c| c.pid as i64),
            int(&|c| c.tid as i64),
            int(&|c| c.uid as i64),
            int(&|c| c.cpu as i64),
            int(&|c| c.n as i64),
            int(&|c| c.first as i64),
        ];
        let batch = RecordBatch::try_from_iter(stream::COUNT_COLUMNS.iter().zip(cols))
            .expect("columns of one length");
        if stream::write_batch(&mut s.out, stream::COUNTS, false, &batch).is_err() {
            self.writer_gone = true;
        }
    }

    /// The end of a drain round on the live stream: everything read so far
    /// is sent, then the round's end with its watermark (see
    /// `retap_schema::stream`), and the pipe flushed.
    fn end_round(&mut self, watermark: i64) {
        if self.stream.is_none() {
            return;
        }
        self.flush();
        let s = self.stream.as_mut().expect("checked above");
        let mut sent = Ok(());
        if !s.entries.is_empty() {
            let e = s.entries.finish();
            sent = stream::write_batch(&mut s.out, Table::Syscalls.name(), true, &e);
        }
        let sent = sent
            .and_then(|()| stream::write_round_end(&mut s.out, watermark))
            .and_then(|()| s.out.flush());
        if sent.is_err() {
            self.writer_gone = true;
        }
    }

    fn push(&mut self, rec: &Record) {
        let table = match rec {
            Record::Syscall(_) => Table::Syscalls,
            Record::Proc(_) => Table::Processes,
            Record::Net(_) => Table::Net,
            Record::Block(_) => Table::Block,
            Record::Sample(_) => Table::Samples,
            Record::Vfs(_) => Table::Vfs,
            Record::Uprobe(_) => Table::Uprobes,
        };
        if let (Record::Syscall(s), Some(live)) = (rec, self.stream.as_mut()) {
            if s.h.flags & records::F_ENTRY != 0 {
                // Its file names, read just before; kept for its return.
                if let Some(p) = self.pending_paths.get(&s.h.tid) {
                    if p.entry_ts == s.h.ts {
                        live.entries.set_next_paths(p.strings.clone());
                    }
                }
                live.entries.push(rec);
                return;
            }
        }
        let Some(rows) = self.rows.get_mut(&table) else {
            return;
        };
        if let (Record::Syscall(s), false) = (rec, self.pending_paths.is_empty()) {
            // Its file names, when they were read at its entry.
            if let Some(p) = self.pending_paths.remove(&s.h.tid) {
                if p.entry_ts == s.h.ts {
                    rows.set_next_paths(p.strings);
                }
            }
        }
        // The memory maps of a process with user stacks, the first time:
        // it may be gone at stop.
        let ustack_of = match rec {
            Record::Sample(s) if !s.ustack.is_empty() => Some(s.h.pid),
            Record::Uprobe(u) if !u.ustack.is_empty() => Some(u.h.pid),
            _ => None,
        };
        if let Some(pid) = ustack_of {
            if self.sampled_pids.insert(pid as i32) {
                self.maps_saved
                    .extend(procfs::save_maps(&self.trace_dir, pid as i32));
            }
        }
        rows.push(rec);
        self.received[table.index()] += 1;
        if let (Record::Syscall(s), Some((nr, over))) = (rec, self.snapshot_when) {
            let slow = s.h.flags & records::F_DONE != 0 && s.dur > over;
            if slow && nr.is_none_or(|n| n == s.nr) && s.h.ts >= self.snapshot_quiet_until {
                self.snapshot_quiet_until = s.h.ts + self.snapshot_every_ns;
                SNAPSHOT.store(true, Ordering::SeqCst);
            }
        }
        if rows.len() >= BATCH_ROWS {
            let b = rows.finish();
            self.emit(table, b);
        }
    }

    fn on_bytes(&mut self, data: &[u8]) -> i32 {
        if let Some(ts) = data.get(..8) {
            let ts = i64::from_ne_bytes(ts.try_into().expect("8 bytes"));
            self.latest_ts = self.latest_ts.max(ts);
        }
        match data.get(records::KIND_AT) {
            Some(&k) if k == TRACEPOINT_KIND as u8 => {
                self.push_tracepoint(data);
                return i32::from(self.writer_gone);
            }
            Some(&records::KIND_PATHS) => {
                match records::decode_paths(data, self.string_max) {
                    Ok(p) => match self.pending_paths.get_mut(&p.tid) {
                        // Read again at exit: what entry could not read.
                        Some(q) if q.entry_ts == p.entry_ts => {
                            for (old, new) in q.strings.iter_mut().zip(p.strings) {
                                if new.is_some() {
                                    *old = new;
                                }
                            }
                        }
                        _ => {
                            self.pending_paths.insert(p.tid, p);
                        }
                    },
                    Err(_) => self.malformed += 1,
                }
                return i32::from(self.writer_gone);
            }
            _ => {}
        }
        match records::decode(data) {
            Ok(rec) => self.push(&rec),
            Err(_) => self.malformed += 1,
        }
        i32::from(self.writer_gone)
    }

    /// A raw tracepoint record: decoded straight into its table's builders.
    fn push_tracepoint(&mut self, data: &[u8]) {
        let (Ok(h), Some(raw)) = (records::decode_hdr(data), data.get(records::HDR_LEN..)) else {
            self.malformed += 1;
            return;
        };
        let Some(slot) = raw
            .get(..4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        else {
            self.malformed += 1;
            return;
        };
        let Some(&table) = self.tracepoint_slots.get(slot as usize) else {
            self.malformed += 1;
            return;
        };
        let Some(rows) = self.rows.get_mut(&table) else {
            return;
        };
        // A stack, when recorded, ends the record (bpf/records.h tp_rec).
        let (raw, stack) = if h.flags & records::F_STACK != 0 {
            match records::split_stack(raw) {
                Some(x) => x,
                None => {
                    self.malformed += 1;
                    return;
                }
            }
        } else {
            (raw, &[][..])
        };
        rows.push_tracepoint(&h, raw, stack);
        self.received[TRACEPOINT_KIND] += 1;
        if rows.len() >= BATCH_ROWS {
            let b = rows.finish();
            self.emit(table, b);
        }
    }

    fn flush(&mut self) {
        let ready: Vec<(Table, RecordBatch)> = self
            .rows
            .iter_mut()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(t, rows)| (*t, rows.finish()))
            .collect();
        for (t, b) in ready {
            self.emit(t, b);
        }
    }
}

pub fn run(args: RecordArgs) -> Result<Manifest> {
    check_privileges()?;
    let (mut tables, default_tracepoints) = resolve_tables(&args)?;
    if args.string_max != 0 && !(2..=4096).contains(&args.string_max) {
        bail!(
            "--string-max must be between 2 and 4096 bytes (or 0: no file names), not {}",
            args.string_max
        );
    }
    let string_max = args.string_max as u32;
    let formats = if default_tracepoints || !args.tracepoints.is_empty() {
        let fs = tracepoints::tracefs()?;
        let mut formats = tracepoints::resolve(&fs, default_tracepoints, &args.tracepoints)?;
        tracepoints::mark_stacks(&fs, &mut formats, &args.stacks)?;
        formats
    } else {
        if let Some(s) = args.stacks.first() {
            bail!("--stacks {s}: no tracepoints are recorded (--events leaves out `tracepoints` and no --tracepoints are given)");
        }
        Vec::new()
    };
    let formats: Vec<&'static TracepointFormat> = formats.into_iter().map(|f| f.intern()).collect();
    tables.extend(formats.iter().map(|f| Table::Tracepoint(f)));
    let uprobes = resolve_uprobes(&args.uprobes)?;
    match (uprobes.is_empty(), tables.contains(&Table::Uprobes)) {
        (false, false) => tables.push(Table::Uprobes),
        (true, true) => bail!("--events uprobes: say which with --uprobe"),
        _ => {}
    }
    let syscall_nrs = resolve_syscalls(&args.syscalls)?;
    let rb = args.ringbuf_size;
    if !rb.is_power_of_two() || !(4096..=(1 << 30)).contains(&rb) {
        bail!("--ringbuf-size must be a power of two between 4K and 1G, not {rb}");
    }
    if let Some(c) = &args.comm {
        if c.is_empty() || c.len() > 15 {
            bail!("--comm: {c:?} cannot match: a comm is 1 to 15 bytes");
        }
    }
    if let Some(pid) = args.pid {
        if pid <= 0 || !process_alive(pid) {
            bail!("-x {pid}: no such process");
        }
    }
    let vfs = if tables.contains(&Table::Vfs) {
        Some(bpf::choose_vfs_hook()?)
    } else {
        None
    };
    let dir = args.output.clone();
    let rotate_every = args.rotate_every.unwrap_or_else(|| match args.flight {
        Some(f) => (f / 10).clamp(Duration::from_millis(100), Duration::from_secs(60)),
        None => Duration::from_secs(60),
    });
    let max_age = args.max_age.or(args.flight);
    let rotate_size = args
        .rotate_size
        .unwrap_or_else(|| args.max_size.map_or(256 << 20, |m| (m / 16).max(64 << 10)));
    if let Some(max) = args.max_size {
        if rotate_size > max / 4 {
            bail!(
                "--rotate-size ({rotate_size} bytes) must be at most a quarter of --max-size ({max} bytes): the files being written count toward the bound"
            );
        }
    }
    create_trace_dir(&dir)?;
    manifest::write_private(&dir.join(RESERVE_FILE), &vec![0u8; RESERVE_BYTES]).with_context(
        || {
            format!(
                "{}: no room to start a recording (it keeps {} KiB free for its manifest)",
                dir.display(),
                RESERVE_BYTES >> 10
            )
        },
    )?;

    // Before -c's command is forked, so it does not inherit the stream.
    let live_out = args.stream_fd.map(stream_file).transpose()?;
    let mut child = match &args.command {
        Some(cmd) => Some(GatedChild::spawn(cmd)?),
        None => None,
    };
    let (targets, filter_pids, follow) = match (&child, args.pid) {
        (Some(c), _) => (vec![c.pid as u32], true, true),
        (None, Some(p)) => (vec![p as u32], true, false),
        (None, None) => (vec![], false, false),
    };

    let arch = syscalls::host_arch();
    let (start_ns, offset) = procfs::clock_offset();
    let mut m = Manifest::new();
    m.host = procfs::hostname();
    m.kernel = procfs::kernel_release();
    m.hz = retap_schema::kernel_config::hz();
    m.arch = arch.to_string();
    m.recorder_version = env!("CARGO_PKG_VERSION").to_string();
    m.command_line = std::env::args().collect();
    m.wall_clock_offset_ns = offset;
    m.start_ns = start_ns;
    m.filters.pid = args.pid;
    m.filters.command = args.command.clone();
    m.filters.command_pid = child.as_ref().map(|c| c.pid);
    m.filters.comm = args.comm.clone();
    m.filters.syscalls = args.syscalls.clone();
    m.sample_hz = tables.contains(&Table::Samples).then_some(args.sample_hz);
    for t in &tables {
        m.tables.insert(t.name().to_string(), Default::default());
    }
    for f in &formats {
        m.tracepoints
            .insert(f.table_name().to_string(), (*f).clone());
    }
    m.uprobes = uprobes.clone();
    let signatures = retap_schema::tracefs::syscall_signatures();
    // Written at the start, so that a snapshot taken at any time has them.
    let stacks = formats.iter().any(|f| f.stack);
    // kmem's call_site is a kernel code address that scripts name
    // (stap's vm.kmalloc caller_function = symname(call_site)).
    let code_addresses = formats
        .iter()
        .any(|f| f.fields.iter().any(|x| x.name == "call_site"));
    if tables.contains(&Table::Samples) || stacks || code_addresses {
        m.attachments.extend(procfs::save_kallsyms(&dir));
    }
    if tables.contains(&Table::Syscalls) && !signatures.is_empty() {
        let text = retap_schema::signatures::to_json(&signatures);
        manifest::write_private(&dir.join(retap_schema::signatures::FILE), text.as_bytes())?;
        m.attachments.push(retap_schema::signatures::FILE.into());
    }
    manifest::write_private(
        &dir.join(PID_FILE),
        format!("{}\n", std::process::id()).as_bytes(),
    )?;
    m.store(&dir)
        .with_context(|| format!("writing {}", dir.join(manifest::MANIFEST_FILE).display()))?;

    let user_memory: Vec<bpf::UserMemory> = if tables.contains(&Table::Syscalls) {
        signatures
            .iter()
            .filter_map(|(name, sig)| {
                let nr = syscalls::number(arch, name)?;
                let paths = if string_max > 0 {
                    syscalls::path_args(name, sig)
                } else {
                    vec![]
                };
                let addr = syscalls::addr_arg(name, sig);
                let exec = name.starts_with("execve");
                (!paths.is_empty() || addr.is_some()).then_some(bpf::UserMemory {
                    nr,
                    paths,
                    exec,
                    addr,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    if user_memory.iter().any(|u| !u.paths.is_empty()) {
        m.string_max = Some(string_max);
    }
    m.socket_addresses = user_memory.iter().any(|u| u.addr.is_some());
    let counts = resolve_counts(&args.counts)?;
    let cfg = Config {
        tables: tables.clone(),
        self_tgid: std::process::id(),
        targets,
        filter_pids,
        follow_children: follow,
        comm: args.comm.clone(),
        syscalls: syscall_nrs,
        ringbuf_bytes: rb as u32,
        sample_hz: args.sample_hz,
        string_max,
        user_memory,
        tracepoints: formats.clone(),
        uprobes: uprobes.clone(),
        emit_entries: args.stream_fd.is_some() && tables.contains(&Table::Syscalls),
        entries_only: args.entries_only,
        mark_programs: args.stream_fd.is_some(),
        counted_uprobes: counts
            .iter()
            .enumerate()
            .filter_map(|(slot, (_, _, u))| Some((slot as u8, u.clone()?)))
            .collect(),
        counts: counts.iter().map(|(m, nrs, _)| (*m, nrs.clone())).collect(),
    };
    let mut obj = MaybeUninit::uninit();
    let mut session = bpf::load(&mut obj, &cfg, vfs)?;
    m.probes = session.attached.clone();
    // Every program attached: scripts' time begins here (stored now, so a
    // live run can start its begin probes and timers from it).
    m.attached_ns = Some(procfs::clock_offset().0);
    m.store(&dir)
        .with_context(|| format!("writing {}", dir.join(manifest::MANIFEST_FILE).display()))?;

    let retention = (args.max_size.is_some() || max_age.is_some()).then(|| Retention {
        max_bytes: args.max_size,
        max_age_ns: max_age.map(|d| d.as_nanos() as u64),
    });
    m.retention = retention.clone();
    let writer = Writer::start(
        dir.clone(),
        &tables,
        SinkConfig {
            rotate_bytes: rotate_size,
            rotate_age: rotate_every,
            zstd_level: args.zstd_level,
        },
        retention,
        m.clone(),
    )?;
    let mut arity = vec![6u8; syscalls::MAX_NR];
    for (name, args) in &signatures {
        if let Some(nr) = syscalls::number(arch, name) {
            arity[nr as usize] = args.len().min(6) as u8;
        }
    }
    let mut rows: BTreeMap<Table, TableRows> = tables
        .iter()
        .map(|t| (*t, TableRows::new(*t, arch)))
        .collect();
    if let Some(r) = rows.get_mut(&Table::Syscalls) {
        r.set_syscall_arity(arity);
    }
    if let Some(r) = rows.get_mut(&Table::Uprobes) {
        r.set_uprobe_names(uprobes.iter().map(|u| u.probe()).collect());
    }
    let snapshot_when = match &args.snapshot_when {
        None => None,
        Some(w) => {
            let nr = match &w.syscall {
                None => None,
                Some(name) => Some(syscalls::number(arch, name).ok_or_else(|| {
                    anyhow::anyhow!("--snapshot-when: {name:?} is not a syscall of {arch}")
                })?),
            };
            if !tables.contains(&Table::Syscalls) {
                bail!("--snapshot-when watches syscalls, which --events leaves out");
            }
            Some((nr, w.over.as_nanos() as u64))
        }
    };
    let collector = Rc::new(RefCell::new(Collector {
        snapshot_when,
        snapshot_quiet_until: 0,
        snapshot_every_ns: args.flight.unwrap_or(Duration::from_secs(60)).as_nanos() as u64,
        rows,
        received: [0; NR_KINDS],
        tracepoint_slots: formats.iter().map(|f| Table::Tracepoint(f)).collect(),
        pending_paths: HashMap::new(),
        string_max,
        sampled_pids: Default::default(),
        maps_saved: Vec::new(),
        trace_dir: dir.clone(),
        malformed: 0,
        latest_ts: i64::MIN,
        tx: writer.tx.clone(),
        writer_gone: false,
        stream: live_out.map(|out| LiveStream {
            entries: TableRows::new(Table::Syscalls, arch),
            out: std::io::BufWriter::with_capacity(1 << 20, out),
        }),
    }));

    if tables.contains(&Table::Processes) {
        let mut c = collector.borrow_mut();
        // Alive at the start: dated so, before any event (readers follow
        // the process tree in time order).
        let now = start_ns;
        let pid_filter = args.pid;
        if let Some(rows) = c.rows.get_mut(&Table::Processes) {
            for p in procfs::snapshot() {
                if pid_filter.is_some_and(|x| x != p.pid) || child.is_some() {
                    continue;
                }
                if args.comm.as_ref().is_some_and(|c| *c != p.comm) {
                    continue;
                }
                for tid in std::iter::once(p.pid).chain(p.threads.iter().copied()) {
                    rows.push_snapshot(
                        now,
                        p.pid,
                        tid,
                        p.ppid,
                        p.uid,
                        &p.comm,
                        p.exe.as_deref(),
                        &p.cmdline,
                    );
                }
            }
        }
    }

    let mut rbb = RingBufferBuilder::new();
    let cb = collector.clone();
    rbb.add(&session.skel.maps.events, move |data: &[u8]| {
        cb.borrow_mut().on_bytes(data)
    })?;
    let ring = rbb.build()?;

    // SAFETY: installing an async-signal-safe handler that stores a flag.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_hangup as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
    }
    if let Some(c) = child.as_mut() {
        c.release();
    }

    // Only a live stream has a watermark to vouch for.
    let positions = match args.stream_fd {
        Some(_) => Some(watermark::RingPositions::map(
            session.skel.maps.events.as_fd(),
        )?),
        None => None,
    };
    let started = Instant::now();
    let progress = !args.quiet && unsafe { libc::isatty(2) } == 1;
    let mut last_tick = Instant::now();
    let mut last_events = 0u64;
    let mut child_status = None;
    let mut watermark = i64::MIN;
    loop {
        // The BPF side only wakes us when a quarter of the ring is full;
        // otherwise the wait times out and we take what trickled in, so no
        // event waits more than ~50 ms. Each round takes a bounded number
        // of records: libbpf's poll/consume keep going while a producer
        // keeps up, which would starve the stop checks below.
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: waiting on libbpf's epoll fd with one event slot we own.
        unsafe { libc::epoll_wait(ring.epoll_fd(), &mut ev, 1, 50) };
        // The live round's watermark (watermark.rs): read in this order.
        let clock = procfs::monotonic_ns();
        let oldest_in_progress = match &positions {
            Some(_) => session.oldest_in_progress()?,
            None => None,
        };
        let producer_before = positions.as_ref().map_or(0, |p| p.producer());
        let n = ring.consume_raw_n(DRAIN_PER_ROUND);
        let vouched = watermark::vouched(watermark::Round {
            clock,
            oldest_in_progress,
            producer_before,
            consumer_after: positions.as_ref().map_or(0, |p| p.consumer()),
            cut_short: !(0..DRAIN_PER_ROUND as i32).contains(&n),
            latest_ts: collector.borrow().latest_ts,
        })
        .unwrap_or(watermark);
        watermark = watermark.max(vouched);
        collector.borrow_mut().end_round(watermark);
        if collector.borrow().writer_gone {
            break;
        }
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        if writer.failed.load(Ordering::SeqCst) {
            break;
        }
        if ROTATE.swap(false, Ordering::SeqCst) {
            let mut c = collector.borrow_mut();
            c.flush();
            let _ = c.tx.send(Msg::Rotate);
        }
        if SNAPSHOT.swap(false, Ordering::SeqCst) {
            // What the writer cannot know: losses so far, attachments.
            let mut base = m.clone();
            let losses = session.losses()?;
            let tracepoint_losses = session.tracepoint_losses()?;
            fill_losses(&mut base, &tables, &formats, &losses, &tracepoint_losses);
            let mut c = collector.borrow_mut();
            base.attachments.extend(c.maps_saved.iter().cloned());
            base.end_ns = Some(procfs::monotonic_ns());
            base.state = "complete".into();
            c.flush();
            let _ = c.tx.send(Msg::Snapshot(Box::new(base)));
        }
        if args.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if let Some(c) = &child {
            if let Some(st) = c.try_wait() {
                child_status = Some(st);
                break;
            }
        }
        if let Some(p) = args.pid {
            if !process_alive(p) {
                break;
            }
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            let mut c = collector.borrow_mut();
            c.flush();
            let _ = c.tx.send(Msg::Tick);
            if progress {
                let total: u64 = c.received.iter().sum();
                let rate = (total - last_events) as f64 / last_tick.elapsed().as_secs_f64();
                let lost: u64 = session
                    .losses()
                    .map(|l| l.iter().map(|(a, b)| a + b).sum())
                    .unwrap_or(0);
                eprint!(
                    "\r\x1b[2K[retap] {:6.1} s  {total} events  {:.0}/s  {lost} lost",
                    started.elapsed().as_secs_f64(),
                    rate
                );
                let _ = std::io::stderr().flush();
                last_events = total;
            }
            last_tick = Instant::now();
        }
    }
    if progress {
        eprint!("\r\x1b[2K");
    }

    // Orderly stop: no new events, then everything the kernel still holds,
    // each exactly once (see Session::begin_stop).
    session.begin_stop();
    let end_ns = procfs::monotonic_ns();
    session.settle(end_ns)?;
    let in_flight = if cfg.tables.contains(&Table::Syscalls) && !cfg.entries_only {
        session.syscalls_in_flight()?
    } else {
        Vec::new()
    };
    session.detach();
    let _ = ring.consume();
    {
        let mut c = collector.borrow_mut();
        for rec in &in_flight {
            c.push(rec);
        }
        for rec in session.block_in_flight()? {
            c.push(&rec);
        }
        c.flush();
        if !cfg.counts.is_empty() {
            c.emit_counts(&session.counts()?);
        }
        c.end_round(i64::MAX);
    }
    let losses = session.losses()?;
    drop(ring);
    let (malformed, maps_saved) = {
        let c = collector.borrow();
        (c.malformed, c.maps_saved.clone())
    };
    drop(collector);
    let out = writer.finish()?;
    if out.failure.is_some() {
        // Room for the manifest and the signatures.
        let _ = std::fs::remove_file(dir.join(RESERVE_FILE));
    }
    writer::table_stats(&mut m, &out.sinks, &out.expired, out.complete_from_ns);
    for (t, (rows, from)) in &out.unwritten {
        let e = m.tables.entry(t.name().to_string()).or_default();
        e.unwritten = *rows;
        e.unwritten_from_ns = *from;
    }
    m.stopped_by = out.failure.clone();
    let tracepoint_losses = session.tracepoint_losses()?;
    fill_losses(&mut m, &tables, &formats, &losses, &tracepoint_losses);
    if tables.contains(&Table::Samples) {
        m.attachments.extend(maps_saved);
    }
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    m.end_ns = Some(end_ns);
    m.state = "complete".into();
    let _ = std::fs::remove_file(dir.join(RESERVE_FILE));
    if let Err(e) = m.store(&dir) {
        // After a failed write the disk may refuse this too (read-only,
        // gone): the manifest last stored lists the files completed then.
        return match summary::stop_cause(&m) {
            Some(head) => {
                let tail = if dir.exists() {
                    format!("trace.json could not be updated ({e}): it lists the files completed before the failure")
                } else {
                    "the trace directory is gone".to_string()
                };
                Err(RecordStopped(format!("{head}; {tail}")).into())
            }
            None => Err(anyhow::Error::from(e).context(format!(
                "writing {}",
                dir.join(manifest::MANIFEST_FILE).display()
            ))),
        };
    }
    if malformed > 0 {
        eprintln!(
            "retap-record: WARNING: {malformed} malformed records from the kernel were skipped"
        );
    }
    if let Some(st) = child_status {
        if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) != 0 {
            eprintln!(
                "retap-record: the command exited with status {}",
                libc::WEXITSTATUS(st)
            );
        } else if libc::WIFSIGNALED(st) {
            eprintln!(
                "retap-record: the command was killed by signal {}",
                libc::WTERMSIG(st)
            );
        }
    }
    if !args.quiet {
        eprintln!(
            "retap-record: {} -> {}",
            summary::one_line(&m),
            dir.display()
        );
    }
    if let Some(w) = summary::loss_warning(&m) {
        eprintln!("retap-record: {w}");
    }
    if let Some(line) = summary::stop_line(&m) {
        return Err(RecordStopped(line).into());
    }
    Ok(m)
}

/// The kernel's loss counters into the manifest's tables.
fn fill_losses(
    m: &mut Manifest,
    tables: &[Table],
    formats: &[&'static TracepointFormat],
    losses: &[(u64, u64)],
    tracepoint_losses: &bpf::TracepointLosses,
) {
    m.tracepoints_skipped = tracepoint_losses.unattributed;
    for t in tables {
        let e = m.tables.entry(t.name().to_string()).or_default();
        if let Table::Tracepoint(f) = t {
            let slot = formats.iter().position(|x| x == f).expect("recorded");
            (e.dropped, e.skipped) = tracepoint_losses.per_table[slot];
        } else {
            e.dropped = losses[t.index()].0;
            e.unpaired = losses[t.index()].1;
        }
        if *t == Table::Syscalls {
            let (full, unreadable) = losses[records::KIND_PATHS as usize];
            e.strings_lost = full + unreadable;
        }
    }
}

/// The recording stopped because the disk failed; the trace is written.
/// Its message is the one line the CLI prints.
#[derive(Debug)]
pub struct RecordStopped(pub String);

impl std::fmt::Display for RecordStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecordStopped {}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_commands_skip_the_shell() {
        assert!(super::is_plain("/usr/bin/make -j2 all"));
        assert!(super::is_plain("prog --x=1 a.b,c"));
        assert!(!super::is_plain("make && make install"));
        assert!(!super::is_plain("echo $HOME"));
        assert!(!super::is_plain("A=1 prog"));
        assert!(!super::is_plain("ls > out"));
    }

    #[test]
    fn an_exited_child_not_yet_reaped_is_not_alive() {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id() as i32;
        // Exited, not waited for: a zombie.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !super::is_zombie(pid) {
            assert!(std::time::Instant::now() < end, "no zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!super::process_alive(pid));
        c.wait().unwrap();
        assert!(super::process_alive(std::process::id() as i32));
    }

    #[test]
    fn commands_are_found_as_execvp_finds_them() {
        assert!(super::runnable("sh"));
        assert!(super::runnable("/bin/sh"));
        assert!(!super::runnable("/nonexistent/cmd"));
        assert!(!super::runnable("no-such-command-here"));
        // A directory is not a command.
        assert!(!super::runnable("/tmp"));
    }
}
