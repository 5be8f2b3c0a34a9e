//! Pass 5: running an elaborated program over a trace. `begin` probes run
//! before the first event, event and timer probes in trace-time order,
//! `end` probes after the last event or after `exit()`; a runtime error
//! stops the script (after `error` probes) and `end` still runs.

pub mod argstr;
pub mod builtins;
pub mod context;
pub mod errno_table;
pub mod error;
pub mod events;
pub mod hist;
pub mod interp;
pub mod live;
pub mod merge;
pub mod preload;
pub mod printf;
pub mod read_ahead;
pub mod sockaddr;
pub mod softfloat;
pub mod stats;
pub mod symbols;
pub mod syscall_decoders;
pub mod value;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::io::Write;
use std::rc::Rc;

use retap_schema::Table;

use crate::stap::ast::StatOp;
use crate::stap::elaborate::catalog::{Family, ResolvedPoint};
use crate::stap::elaborate::context::CtxVar;
use crate::stap::elaborate::ir::*;
use crate::stap::elaborate::tapset::Builtin;
use crate::stap::source::SourceMap;
use crate::trace::Trace;

use context::EventCtx;
pub use error::RunError;
use events::{Batch, FileCursor};
pub use interp::Limits;
use interp::{Interp, RtError};
use read_ahead::ReadAhead;
use retap_schema::Column;

use preload::{GlobalElements, Preload};

/// Output that plans compute per event (an ordered projection of one
/// probe's printf), written after `begin` in place of that probe's firings.
pub trait Projector {
    /// Scalar globals the projection keeps running (`count++` then
    /// printed): their values after `begin` go in, their last values out.
    fn running(&self) -> Vec<u32>;
    /// Writes every line through `emit`, updating `running` (one value
    /// per global of [`Projector::running`]) as it goes.
    fn run(
        &self,
        emit: &mut dyn FnMut(&[u8]),
        running: &mut [i64],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

#[derive(Default)]
pub struct RunOptions {
    pub limits: Limits,
    pub seed: u64,
    /// Probes whose effects plans computed: not replayed.
    pub skip: BTreeSet<usize>,
    /// Those plans' results, loaded after `begin`.
    pub preload: Option<Preload>,
    /// Keep the globals as they stand before `end` (retap diff --script).
    pub snapshot: bool,
    /// A probe in `skip` whose printf lines a projection writes.
    pub projection: Option<Box<dyn Projector>>,
    /// `--suppress-handler-errors`: a runtime error ends its handler only
    /// (stap wraps each handler in try/catch), counted in `suppressed`.
    pub suppress_handler_errors: bool,
    /// `-t`: time each interpreted handler.
    pub timing: bool,
    /// Write each handler's output as it ends (stap's per-probe flush):
    /// what `-S size` measures its files by.
    pub flush_each_probe: bool,
    /// `-x PID`: target() (else the pid the recording was filtered to,
    /// or -c's command's).
    pub target: Option<i64>,
    /// `switch_file()`: output after it goes to the next file (`-o`).
    /// None: the call does nothing, as in stap without `-o`.
    pub switch_file: Option<SwitchFile>,
}

/// Moves the output on to its next file; called with the output so far
/// flushed into the sink.
pub type SwitchFile = std::rc::Rc<dyn Fn() -> std::io::Result<()>>;

/// One probe's handler times under `-t`, in nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeTime {
    pub runs: u64,
    pub min: u64,
    pub max: u64,
    pub sum: u64,
}

impl ProbeTime {
    fn add(&mut self, ns: u64) {
        if self.runs == 0 || ns < self.min {
            self.min = ns;
        }
        self.max = self.max.max(ns);
        self.sum += ns;
        self.runs += 1;
    }
}

/// What a run did, for `-v` and the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    pub errors: u64,
    pub rows: u64,
    /// (probe text, times it ran), in program order; 0 for the skipped.
    pub probe_hits: Vec<(String, u64)>,
    /// When exit() or an error ended the events early, the trace time
    /// they stopped at (i64::MIN: before any), so that the skipped
    /// probes' hits can be counted up to it.
    pub stopped_at: Option<i64>,
    pub warnings: Vec<String>,
    /// The script's stderr: warn() lines and runtime errors, in order.
    pub stderr: Vec<String>,
    /// With `RunOptions::snapshot`: the globals before `end` ran.
    pub globals: Vec<interp::GlobalSnapshot>,
    /// Damaged files the events could not be read past, and that the
    /// results are partial: the run says so and fails after printing.
    pub damage: Vec<String>,
    /// An interpreted probe stopped the run early, so the interpreter
    /// replayed every probe up to there for `end` (and counted every
    /// probe's hits itself).
    pub replayed: bool,
    /// Runtime errors `--suppress-handler-errors` ended handlers with.
    pub suppressed: u64,
    /// `-t`: per probe (program order), its interpreted handlers' times.
    pub probe_times: Vec<ProbeTime>,
}

/// The fields of tracepoint `f` the program reads (indexes in its format).
fn tracepoint_fields_of(prog: &Program, f: &retap_schema::TracepointFormat) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    // A context of the task switched in reads its id and name.
    let switched_in = prog.probes.iter().flat_map(|p| &p.points).any(|pt| {
        pt.switched_in && matches!(pt.family, Family::Tracepoint(g) if std::ptr::eq(g, f))
    });
    if switched_in {
        for (i, x) in f.fields.iter().enumerate() {
            if x.name == "next_pid" || x.name == "next_comm" {
                out.insert(i);
            }
        }
    }
    prog.for_each_expr(&mut |e| {
        if let X::Ctx(CtxVar::TracepointField(g, i)) = e {
            if std::ptr::eq(*g, f) {
                out.insert(*i as usize);
            }
        }
    });
    out
}

/// Columns the program's expressions read, per context variable and
/// builtin (the shared walk finds every expression).
fn columns_of(prog: &Program) -> HashSet<Column> {
    let mut c = HashSet::new();
    prog.for_each_expr(&mut |e| match e {
        X::Ctx(v) => {
            use CtxVar::*;
            let need: &[Column] = match v {
                SyscallName => {
                    // The registers some names depend on (epoll_create1's flags).
                    for (_, reg, ..) in crate::stap::elaborate::syscall_args::names_by_value() {
                        c.insert(Column::arg(reg as usize));
                    }
                    &[Column::Syscall]
                }
                SyscallNr => &[Column::Nr],
                SyscallKernelName => &[Column::Syscall],
                // (where a named argument sits depends on the syscall)
                Argstr | SyscallVar(_) | SyscallStringAt(_) => {
                    c.insert(Column::Syscall);
                    c.insert(Column::Path);
                    c.insert(Column::Path2);
                    c.insert(Column::Sockaddr);
                    &Column::ARGS
                }
                SyscallKernelArg(_) => {
                    c.insert(Column::Syscall);
                    &Column::ARGS
                }
                // (a mark's arguments go to twelve; other tables have six)
                RawArg(_) => &Column::MARK_ARGS,
                UprobeParam { .. } => &Column::ARGS,
                Retval | Retstr => &[Column::Ret],
                DevName => &[Column::DevName],
                Length => &[Column::Length],
                Protocol => &[Column::Protocol],
                BlockDev => &[Column::Dev],
                BlockDevname => &[Column::Devname],
                Sector => &[Column::Sector],
                Bytes | VfsBytes => &[Column::Bytes],
                Rw => &[Column::Rwbs],
                BlockError => &[Column::Error],
                Filename => &[Column::Filename],
                Args => &[Column::Argv],
                NewPid => &[Column::ChildPid],
                NewTid => &[Column::ChildTid],
                ExitCode => &[Column::ExitCode],
                // Read by name: tracepoint_fields_of.
                TracepointField(..) => &[],
                // From the point itself.
                MarkName | MarkProvider => &[],
            };
            c.extend(need);
        }
        X::Call(b, _, _) => {
            use Builtin::*;
            let need: &[Column] = match b {
                Execname => &[Column::Execname],
                Pid | Ppid | Pexecname | Cmdline | CmdlineArg | CmdlineArgs => &[Column::Pid],
                // (the process whose maps name the address)
                Usymname | Usymdata | Usymline | Usymfile | Usymfileline | Umodname => {
                    &[Column::Pid]
                }
                Tid => &[Column::Tid],
                Uid | Euid => &[Column::Uid],
                Cpu => &[Column::Cpu],
                Ppfunc | Probefunc | Pn => &[Column::Syscall],
                Returnstr | Returnval => &[Column::Ret],
                Backtrace | PrintBacktrace | SprintBacktrace | Stack | Callers | Caller
                | CallerAddr => &[Column::Kstack],
                Ubacktrace
                | PrintUbacktrace
                | SprintUbacktrace
                | PrintUbacktraceBrief
                | PrintUbacktraceFileline
                | Ustack
                | Ucallers => &[Column::Ustack, Column::Pid],
                UserMode => &[Column::UserMode],
                Addr | Uaddr => &[Column::Ip],
                UlongArg => &Column::ARGS,
                UprobeString => &[Column::UserString],
                UprobeWord => &[Column::UserLong],
                // The row's time (always read), the process tree (read when
                // `Program::reads_process_tree`), the point, or their arguments only.
                Hostname | TraceName | Target | Pp | Pnlabel | Pid2execname | TidTgid
                | IsReturn | GettimeofdayS | GettimeofdayMs | GettimeofdayUs | GettimeofdayNs
                | LocalClockS | LocalClockMs | LocalClockUs | LocalClockNs | CpuClockS
                | CpuClockMs | CpuClockUs | CpuClockNs | Jiffies | Hz | GetCycles | Ctime
                | TzCtime | Strlen | Substr | Isinstr | StrReplace | Strtol | FpToString
                | StringToFp | LongToFp | FpToLong | FpAdd | FpSub | FpMul | FpDiv | FpRem
                | FpSqrt | FpEq | FpLe | FpLt | Fp32ToFp64 | Tokenize | TokenizeNext | TextStr
                | TextStrn | Stringat | Isdigit | ErrnoStr | ReturnStr | Exit | Error | Symname
                | Randint | Abs | SyscallName | SwitchFile | SprintStack | PrintStack
                | SprintUstack | PrintUstack | Matched | MatchedStr | Abort | Strpos | Symdata
                | Modname | ProcfsValue | ProcfsSet | ProcfsAppend | ProcfsOpen | ProbeType => &[],
            };
            c.extend(need);
        }
        X::Stat(StatOp::Variance, _, _) => {
            c.insert(Column::Cpu);
        }
        _ => {}
    });
    c
}

/// Whether the script can name kernel symbols (the saved kallsyms, some
/// 200K lines, take ~17 ms to load: not for every run).
fn needs_kernel_symbols(prog: &Program) -> bool {
    let mut found = false;
    prog.for_each_expr(&mut |x| {
        found |= matches!(x, X::Call(b, _, _) if b.reads_kernel_symbols());
    });
    found
}

/// Whether the hook's point fires on `row` (its [`ResolvedPoint::rows`]);
/// `taken` says, per dictionary value of the batch's filter column,
/// whether the hook takes it.
fn point_matches(
    h: &Hook,
    b: &Batch,
    row: usize,
    taken: &[bool],
    procs: &context::ProcTree,
) -> bool {
    if h.not_null.is_some_and(|c| b.int(c, row).is_none()) {
        return false;
    }
    let rows = match &h.one_of {
        None => true,
        Some((c, values)) => match b.dict_key(*c, row) {
            Some(k) => taken.get(k).copied().unwrap_or(false),
            // (a column that is not a dictionary, or null)
            None => b.string(*c, row).is_some_and(|v| values.contains(&*v)),
        },
    };
    rows && h
        .process
        .as_ref()
        .is_none_or(|p| process_matches(p, b, row, procs))
}

/// Whether a processes-table row is a begin or end of the tasks a process
/// lifecycle point follows: the main thread (or, for `.thread.*`, another)
/// of a process running its program (the tree has seen the row already).
fn process_matches(
    p: &crate::stap::elaborate::catalog::ProcessOf,
    b: &Batch,
    row: usize,
    procs: &context::ProcTree,
) -> bool {
    use retap_schema::tables::process_event as ev;
    let new_task = matches!(
        b.string(Column::Event, row).as_deref(),
        Some(ev::THREAD | ev::FORK)
    );
    let (pid, tid) = if new_task {
        (b.int(Column::ChildPid, row), b.int(Column::ChildTid, row))
    } else {
        (b.int(Column::Pid, row), b.int(Column::Tid, row))
    };
    let (Some(pid), Some(tid)) = (pid, tid) else {
        return false;
    };
    if (pid != tid) != p.thread {
        return false;
    }
    match &p.exe {
        None => true,
        Some(want) => procs.runs(pid, want),
    }
}

/// A batch and, per hook of its table, which dictionary values of its
/// filter column the hook takes.
type Filtered = (Rc<Batch>, Rc<Vec<Vec<bool>>>);

/// For the batch in hand, which dictionary values of its filter column
/// each hook of its table takes, computed once per batch. Rows of many
/// overlapping files come interleaved (the merge takes a row from each
/// in turn where their times are equal), so the batches in use are
/// cached, not only the last one. Each entry holds its batch, so a new
/// batch at a reused address cannot be mistaken for it; entries whose
/// batch nothing else holds any more are dropped as the cache grows.
struct RowFilters {
    last: Option<Filtered>,
    cached: rustc_hash::FxHashMap<usize, Filtered>,
    /// Size past which the next insertion sweeps out unused batches.
    sweep_at: usize,
}

impl Default for RowFilters {
    fn default() -> Self {
        RowFilters {
            last: None,
            cached: Default::default(),
            sweep_at: 8,
        }
    }
}

impl RowFilters {
    fn get(&mut self, hooks: &[Hook], batch: &Rc<Batch>) -> Rc<Vec<Vec<bool>>> {
        if let Some((b, f)) = &self.last {
            if Rc::ptr_eq(b, batch) {
                return f.clone();
            }
        }
        let key = Rc::as_ptr(batch) as usize;
        let f = match self.cached.get(&key) {
            Some((b, f)) if Rc::ptr_eq(b, batch) => f.clone(),
            _ => {
                let f: Rc<Vec<Vec<bool>>> = Rc::new(
                    hooks
                        .iter()
                        .map(|h| match &h.one_of {
                            Some((c, set)) => batch
                                .dict_values(*c)
                                .unwrap_or(&[])
                                .iter()
                                .map(|v| set.contains(&**v))
                                .collect(),
                            None => vec![],
                        })
                        .collect(),
                );
                if self.cached.len() >= self.sweep_at {
                    // Held by the cache alone (and perhaps `last`): done with.
                    let last = self.last.as_ref().map(|(b, _)| Rc::as_ptr(b));
                    self.cached.retain(|_, (b, _)| {
                        Rc::strong_count(b) > 1 + usize::from(last == Some(Rc::as_ptr(b)))
                    });
                    self.sweep_at = (2 * self.cached.len()).max(8);
                }
                self.cached.insert(key, (batch.clone(), f.clone()));
                f
            }
        };
        self.last = Some((batch.clone(), f.clone()));
        f
    }
}

/// A return-side firing waiting for its time (`ts + dur_ns`); the heap
/// pops the earliest, ties in the order the rows were met.
struct Pending {
    at: i64,
    seq: u64,
    batch: Rc<Batch>,
    row: usize,
    ts: i64,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Pending) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Pending) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Pending) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// One event probe point on a table, with its rows in the batches' terms.
struct Hook {
    probe: usize,
    point: usize,
    at_return: bool,
    /// The dictionary column and the values the point takes (None: every
    /// row).
    one_of: Option<(Column, HashSet<String>)>,
    /// A column the row must have set.
    not_null: Option<Column>,
    /// A process lifecycle point: whose.
    process: Option<crate::stap::elaborate::catalog::ProcessOf>,
}

impl Hook {
    fn new(probe: usize, point: usize, pt: &ResolvedPoint) -> Hook {
        let rows = pt.rows();
        Hook {
            probe,
            point,
            at_return: pt.family.fires_at_return(),
            one_of: rows
                .one_of
                .map(|(c, values)| (c, values.into_iter().collect())),
            not_null: rows.not_null,
            process: pt.process.clone(),
        }
    }
}

/// Whether a program needs a recording (event or timer probes).
pub fn needs_trace(prog: &Program) -> bool {
    prog.probes
        .iter()
        .flat_map(|p| &p.points)
        .any(|pt| pt.table().is_some() || matches!(pt.family, Family::Timer { .. }))
}

/// Runs `prog` over `trace`; with no trace (a script of begin/end probes
/// only) the clock is the analysing machine's, as `stap -e 'probe begin
/// {...}'` would see it.
///
/// Plans compute what nothing reads before `end`, so everything printed
/// before `end` is the reference's. When an interpreted event probe stops
/// the run early (a runtime error), `end` must see the plan results as
/// they stood at that event, which whole-trace plans cannot give: the
/// interpreter then replays begin and the events alone, silently, and
/// `error`/`end` run on its state (see [`Outcome::replayed`]).
pub fn run<'p>(
    prog: &'p Program,
    map: &'p SourceMap,
    trace: Option<&Trace>,
    opts: &RunOptions,
    sink: Box<dyn Write + 'p>,
) -> Result<Outcome, RunError> {
    let with_plans = Plans {
        skip: &opts.skip,
        preload: opts.preload.as_ref(),
        projection: opts.projection.as_deref(),
    };
    let mut pass = events_pass(prog, map, trace, opts, &with_plans, sink)?;
    if pass.stopped_in_events() && !opts.skip.is_empty() {
        pass.it.flush()?;
        let sink = std::mem::replace(&mut pass.it.sink, Box::new(std::io::sink()));
        let none = BTreeSet::new();
        let alone = Plans {
            skip: &none,
            preload: None,
            projection: None,
        };
        let muted = Box::new(std::io::sink());
        pass = events_pass(prog, map, trace, opts, &alone, muted)?;
        pass.it.out.clear();
        pass.it.sink = sink;
        pass.outcome.replayed = true;
    }
    finish(prog, opts, pass)
}

/// What plans hand the interpreter for one pass over the events.
struct Plans<'a> {
    /// Probes whose effects plans computed: not replayed.
    skip: &'a BTreeSet<usize>,
    preload: Option<&'a Preload>,
    projection: Option<&'a dyn Projector>,
}

/// The interpreter after begin and the events: what `error` and `end`
/// probes run on.
struct Pass<'p> {
    it: Interp<'p>,
    outcome: Outcome,
    hits: Vec<u64>,
    failed: Option<RtError>,
    /// Whether begin already stopped the run.
    stopped_before: bool,
    /// The trace's end, and the time the events reached.
    end: i64,
    last_time: i64,
    /// The first of the plans' results per timer interval not merged yet
    /// (None: the pass had none).
    ticks_left: Option<usize>,
}

impl Pass<'_> {
    /// Whether an event or timer probe (not begin) stopped the run.
    fn stopped_in_events(&self) -> bool {
        !self.stopped_before && (self.failed.is_some() || self.it.exit_requested)
    }
}

/// The trace's clock and the context every probe starts from.
fn clock(prog: &Program, trace: Option<&Trace>) -> (i64, i64, EventCtx) {
    let Some(trace) = trace else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let arch = std::env::consts::ARCH.to_string();
        // No recording: the script runs here and now, on this kernel.
        let mut ctx = EventCtx::new(now, arch, 0);
        ctx.hz = retap_schema::kernel_config::hz();
        return (0, 0, ctx);
    };
    let m = &trace.manifest;
    let target = m.filters.pid.or(m.filters.command_pid).unwrap_or(0) as i64;
    let mut ctx = EventCtx::new(m.wall_clock_offset_ns, m.arch.clone(), target);
    ctx.hz = m.hz;
    if let Some(sigs) = trace.shared_signatures() {
        ctx.signatures = sigs.clone();
    }
    if needs_kernel_symbols(prog) {
        ctx.kallsyms = symbols::Kallsyms::load(&trace.store, &trace.dir).map(Rc::new);
    }
    ctx.usyms = Rc::new(symbols::UserSymbols::new(
        Some((&trace.store, &trace.dir)),
        false,
    ));
    ctx.members = trace
        .members
        .iter()
        .map(|(h, n)| (Rc::from(h.as_str()), Rc::from(n.as_str())))
        .collect();
    // A trace whose recorder died has no end time: run to the last event.
    let begin = m.begin_ns();
    let end = m.end_ns.unwrap_or(i64::MAX).max(begin);
    (begin, end, ctx)
}

/// The probes the interpreter runs: event points per table, timers.
struct Hooks {
    /// Each table's hooks (tables without any are absent).
    per_table: Vec<(Table, Vec<Hook>)>,
    /// (probe, point) → (period, randomization) of each timer.
    timers: Vec<((usize, usize), (i64, i64))>,
}

fn hooks(prog: &Program, skip: &BTreeSet<usize>) -> Result<Hooks, RunError> {
    let mut per_table: Vec<(Table, Vec<Hook>)> = vec![];
    let mut timers = vec![];
    for (pi, p) in prog.probes.iter().enumerate() {
        if skip.contains(&pi) {
            continue;
        }
        for (k, pt) in p.points.iter().enumerate() {
            if let Some(t) = pt.table() {
                let h = Hook::new(pi, k, pt);
                match per_table.iter_mut().find(|(x, _)| *x == t) {
                    Some((_, v)) => v.push(h),
                    None => per_table.push((t, vec![h])),
                }
            }
            if let Family::Timer {
                period_ns,
                randomize_ns,
            } = pt.family
            {
                timers.push(((pi, k), (period_ns, randomize_ns)));
            }
        }
    }
    Ok(Hooks { per_table, timers })
}

impl Hooks {
    /// The hooks on `table` (looked up once per batch).
    fn of(&self, table: Table) -> &[Hook] {
        self.per_table
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

/// The files the hooks read, each opened on the columns the program and
/// its points' filters need; unreadable files become warnings.
fn open_cursors(
    prog: &Program,
    trace: Option<&Trace>,
    hooks: &Hooks,
    track_procs: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<FileCursor>, RunError> {
    let mut cols: HashSet<Column> = columns_of(prog);
    cols.insert(Column::Ts);
    let mut tables: Vec<Table> = hooks.per_table.iter().map(|(t, _)| *t).collect();
    if track_procs && !tables.contains(&Table::Processes) {
        tables.push(Table::Processes);
    }
    tables.sort();
    let mut cursors = vec![];
    // Every file is open at once, each holding a decoded batch: with
    // hundreds of files (rotation, a set, a fleet's copies) full batches
    // would hold gigabytes, touched fresh each time (the kernel zeroing
    // pages was a quarter of a run over 507 files) and far from cache.
    let files: usize = tables
        .iter()
        .filter_map(|t| trace.and_then(|tr| tr.table(*t)))
        .map(|f| f.files.len())
        .sum();
    let batch_rows = events::batch_rows(files);
    for t in &tables {
        // Only what the script and its points' filters read: decoding
        // unused columns (dur_ns, ret) costs more than running the probe.
        let mut tcols: Vec<Column> = cols.iter().copied().collect();
        let th = hooks.of(*t);
        let fields: Vec<&str> = match t {
            Table::Tracepoint(f) => tracepoint_fields_of(prog, f)
                .into_iter()
                .map(|i| f.fields[i].column.as_str())
                .collect(),
            _ => vec![],
        };
        if th.iter().any(|h| h.at_return) || *t == Table::Block {
            tcols.push(Column::DurNs);
        }
        for h in th {
            tcols.extend(h.one_of.as_ref().map(|(c, _)| *c));
            tcols.extend(h.not_null);
        }
        if *t == Table::Processes {
            tcols.extend(context::ProcTree::COLUMNS);
        }
        let Some(trace) = trace else {
            return Err(RunError::Trace(format!(
                "probes on the {t} table need a recording: give --trace DIR"
            )));
        };
        let Some(files) = trace.table(*t) else {
            return Err(RunError::Trace(format!(
                "this trace has no {t} table (recorded with --events {})",
                trace
                    .tables
                    .iter()
                    .map(|f| f.table.name())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        };
        // When every point on the table selects by the same dictionary
        // column, the union of their values is pushed into the scan: the
        // other columns of other rows are never decoded.
        let only: Option<(Column, HashSet<String>)> = match th.first().map(|h| &h.one_of) {
            Some(Some((c, _)))
                if th
                    .iter()
                    .all(|h| h.one_of.as_ref().is_some_and(|o| o.0 == *c)) =>
            {
                let values = th
                    .iter()
                    .flat_map(|h| h.one_of.iter().flat_map(|o| o.1.iter().cloned()));
                Some((*c, values.collect()))
            }
            _ => None,
        };
        for f in &files.files {
            let only = only.as_ref().map(|(c, v)| (c.name(), v));
            let opened = FileCursor::open(*t, &trace.store, f, (&tcols, &fields), only, batch_rows);
            match opened {
                Ok(c) => cursors.push(c),
                Err(e) => warnings.push(format!("skipped unreadable file {e}")),
            }
        }
    }
    Ok(cursors)
}

/// Begin, then the events and timers in trace time, with what the plans
/// computed: the state `error` and `end` probes will see.
fn events_pass<'p>(
    prog: &'p Program,
    map: &'p SourceMap,
    trace: Option<&Trace>,
    opts: &RunOptions,
    plans: &Plans,
    sink: Box<dyn Write + 'p>,
) -> Result<Pass<'p>, RunError> {
    let mut outcome = Outcome::default();
    let (start, end, mut ctx) = clock(prog, trace);
    ctx.time = start;
    if let Some(t) = opts.target {
        ctx.target = t;
    }
    let mut it = Interp::new(prog, map, opts.limits.clone(), sink, ctx, opts.seed)
        .map_err(RunError::Setup)?;
    it.suppress_handler_errors = opts.suppress_handler_errors;
    it.flush_each_probe = opts.flush_each_probe;
    it.switch_file = opts.switch_file.clone();
    if opts.timing {
        it.times = Some(vec![ProbeTime::default(); prog.probes.len()]);
    }
    let hooks = hooks(prog, plans.skip)?;
    let track_procs = prog.reads_process_tree();
    let cursors = open_cursors(prog, trace, &hooks, track_procs, &mut outcome.warnings)?;
    for p in trace.iter().flat_map(|t| &t.problems) {
        outcome
            .warnings
            .push(format!("{}: {}", p.path.display(), p.what));
    }
    let mut pass = Pass {
        it,
        outcome,
        hits: vec![0u64; prog.probes.len()],
        failed: None,
        stopped_before: false,
        end,
        last_time: start,
        ticks_left: None,
    };
    let mut timers: BinaryHeap<Reverse<(i64, usize, usize)>> = BinaryHeap::new();
    for &((pi, k), (period, rand)) in &hooks.timers {
        let first = start + period + jitter(&mut pass.it, rand);
        timers.push(Reverse((first, pi, k)));
    }

    pass.it.ctx.time = start;
    pass.it.ctx.entry_time = start;
    run_begin(prog, &mut pass);

    // Plan results: all at once now, or (with timers) interval by interval
    // as the timers fire, the rest before `end`.
    let ticks: &[(i64, Vec<GlobalElements>)] = plans.preload.map_or(&[], |l| &l.ticks);
    let mut next_tick = 0;
    let period = plans.preload.and_then(|l| l.period);
    if !pass.stopped_before && period.is_none() {
        for (_, g) in ticks {
            pass.it.merge(g);
        }
        next_tick = ticks.len();
    }
    // A projection is the only per-event output (analysis made sure), so
    // its lines go out in one piece between begin and end.
    if let (Some(p), false) = (plans.projection, pass.stopped_before) {
        let globals = p.running();
        let mut values: Vec<i64> = globals.iter().map(|g| pass.it.scalar_long(*g)).collect();
        let it = &mut pass.it;
        p.run(&mut |line| it.emit(line), &mut values)
            .map_err(RunError::Projection)?;
        for (g, v) in globals.iter().zip(values) {
            pass.it.set_scalar_long(*g, v);
        }
    }
    if !pass.stopped_before {
        let mut on_tick = |it: &mut Interp<'p>, at: i64| {
            if let Some(p) = period {
                let k = (at - start) / p;
                while next_tick < ticks.len() && ticks[next_tick].0 <= k {
                    it.merge(&ticks[next_tick].1);
                    next_tick += 1;
                }
            }
        };
        let mut merge = ReadAhead::spawn(cursors).map_err(|e| {
            RunError::Setup(format!("cannot start the thread that reads the trace: {e}"))
        })?;
        event_loop(
            prog,
            &hooks,
            &mut merge,
            timers,
            track_procs,
            &mut pass,
            &mut on_tick,
        )?;
        let read = merge.finish();
        pass.outcome.warnings.extend(read.skipped);
        pass.outcome.damage = damage_of(trace, read.failed)?;
    }
    pass.ticks_left = plans.preload.map(|_| next_tick);
    pass.last_time = pass.it.ctx.time.max(start);
    let stopped = pass.failed.is_some() || pass.it.exit_requested;
    if pass.stopped_before {
        pass.outcome.stopped_at = Some(i64::MIN);
    } else if stopped {
        pass.outcome.stopped_at = Some(pass.last_time);
    }
    Ok(pass)
}

/// The begin probes in stap's order, until one fails or calls exit()
/// (`Pass::stopped_before` says whether one did).
fn run_begin<'p>(prog: &'p Program, pass: &mut Pass<'p>) {
    for pi in ordered(prog, Family::Begin) {
        run_one(
            &mut pass.it,
            prog,
            pi,
            0,
            true,
            &mut pass.hits,
            &mut pass.failed,
        );
        if pass.failed.is_some() || pass.it.exit_requested {
            break;
        }
    }
    pass.stopped_before = pass.failed.is_some() || pass.it.exit_requested;
}

/// Where the files that failed part-way are damaged: their rows from the
/// damage on were not read, so the results are partial. A read error in a
/// file with no damage is an error.
fn damage_of(
    trace: Option<&Trace>,
    failed: Vec<read_ahead::Failed>,
) -> Result<Vec<String>, RunError> {
    let mut lines = vec![];
    for read_ahead::Failed { table, path, error } in failed {
        let entry = trace
            .and_then(|t| t.table(table))
            .and_then(|tf| tf.files.iter().find(|f| f.path == path))
            .and_then(|f| f.entry.as_ref());
        let store = trace.map_or(crate::store::Store::Local, |t| t.store.clone());
        let found = crate::integrity::verify_file(&store, &path, table, entry);
        // A file that cannot be read at all now (a store gone away) is an
        // error, not damage: no partial result.
        let unreadable = found
            .iter()
            .all(|d| d.row_group.is_none() && d.what.starts_with("cannot be read"));
        if found.is_empty() || unreadable {
            return Err(error.into());
        }
        lines.extend(found.iter().map(|d| format!("DAMAGED: {d}")));
        let from = match found.iter().find_map(|d| d.row_group) {
            Some(g) => format!("from row group {g} on"),
            None => "from the damage on".into(),
        };
        lines.push(format!(
            "results are partial: the rows of {} {from} were not read",
            path.display()
        ));
    }
    Ok(lines)
}

/// Events and timers in trace time until the trace ends, a probe fails or
/// exit() is called. `on_tick` runs before each timer fires.
fn event_loop<'p>(
    prog: &'p Program,
    hooks: &Hooks,
    merge: &mut ReadAhead,
    mut timers: BinaryHeap<Reverse<(i64, usize, usize)>>,
    track_procs: bool,
    pass: &mut Pass<'p>,
    on_tick: &mut dyn FnMut(&mut Interp<'p>, i64),
) -> Result<(), RunError> {
    let periods: HashMap<(usize, usize), (i64, i64)> = hooks.timers.iter().copied().collect();
    let it = &mut pass.it;
    let (hits, failed) = (&mut pass.hits, &mut pass.failed);
    let mut pending: BinaryHeap<Pending> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut entry_filters = RowFilters::default();
    let mut return_filters = RowFilters::default();
    while failed.is_none() && !it.exit_requested {
        let next_row = merge.peek_ts();
        let next_ret = pending.peek().map(|p| p.at);
        let next_timer = timers
            .peek()
            .map(|Reverse((t, _, _))| *t)
            .filter(|t| *t <= pass.end);
        // Rows first at equal times, then returns, then timers.
        let pick = [(next_row, 0), (next_ret, 1), (next_timer, 2)]
            .into_iter()
            .filter_map(|(t, k)| t.map(|t| (t, k)))
            .min();
        let Some((time, kind)) = pick else { break };
        match kind {
            0 => {
                let Some((batch, row)) = merge.pop() else {
                    break;
                };
                pass.outcome.rows += 1;
                if batch.table == Table::Processes && track_procs {
                    it.ctx.procs.observe(&batch, row);
                }
                let table_hooks = hooks.of(batch.table);
                if table_hooks.is_empty() {
                    continue;
                }
                let filters = entry_filters.get(table_hooks, &batch);
                let mut wants_return = false;
                for (hi, h) in table_hooks.iter().enumerate() {
                    if !point_matches(h, &batch, row, &filters[hi], &it.ctx.procs) {
                        continue;
                    }
                    let pt = &prog.probes[h.probe].points[h.point];
                    if h.at_return {
                        wants_return = true;
                        continue;
                    }
                    set_event(it, &batch, row, time, time, pt);
                    run_one(it, prog, h.probe, h.point, false, hits, failed);
                    if failed.is_some() {
                        break;
                    }
                }
                if let (true, Some(d)) = (wants_return, batch.int(Column::DurNs, row)) {
                    seq += 1;
                    pending.push(Pending {
                        at: time + d,
                        seq,
                        batch: batch.clone(),
                        row,
                        ts: time,
                    });
                }
            }
            1 => {
                let Some(Pending {
                    at, batch, row, ts, ..
                }) = pending.pop()
                else {
                    break;
                };
                let table_hooks = hooks.of(batch.table);
                let filters = return_filters.get(table_hooks, &batch);
                for (hi, h) in table_hooks.iter().enumerate().filter(|(_, h)| h.at_return) {
                    if !point_matches(h, &batch, row, &filters[hi], &it.ctx.procs) {
                        continue;
                    }
                    let pt = &prog.probes[h.probe].points[h.point];
                    set_event(it, &batch, row, at, ts, pt);
                    run_one(it, prog, h.probe, h.point, false, hits, failed);
                    if failed.is_some() || it.exit_requested {
                        break;
                    }
                }
            }
            _ => {
                let Some(Reverse((at, pi, k))) = timers.pop() else {
                    break;
                };
                on_tick(it, at);
                let pt = &prog.probes[pi].points[k];
                it.ctx.batch = None;
                it.ctx.time = at;
                it.ctx.entry_time = at;
                it.ctx.family = Some(pt.family);
                it.ctx.point_text = Rc::from(pt.text.as_str());
                run_one(it, prog, pi, k, false, hits, failed);
                let (period, rand) = periods[&(pi, k)];
                let next = at + period + jitter(it, rand);
                timers.push(Reverse((next.max(at + 1), pi, k)));
            }
        }
    }
    Ok(())
}

/// The rest of the plans' results, error probes, the snapshot, end probes
/// and the globals nothing read.
fn finish<'p>(
    prog: &'p Program,
    opts: &RunOptions,
    mut pass: Pass<'p>,
) -> Result<Outcome, RunError> {
    let it = &mut pass.it;
    let mut outcome = pass.outcome;
    if let (None, false, Some(from), Some(l)) = (
        &pass.failed,
        it.exit_requested,
        pass.ticks_left,
        &opts.preload,
    ) {
        for (_, g) in &l.ticks[from..] {
            it.merge(g);
        }
    }
    // error probes, then end
    let mut failed = pass.failed.take();
    if let Some(e) = failed.take() {
        report(it, &e, &mut outcome);
        it.ctx.batch = None;
        for pi in ordered(prog, Family::Error) {
            run_one(it, prog, pi, 0, true, &mut pass.hits, &mut failed);
            if let Some(e) = failed.take() {
                report(it, &e, &mut outcome);
            }
        }
    }
    it.ctx.batch = None;
    if opts.snapshot {
        outcome.globals = it.snapshot();
    }
    it.ctx.time = if it.exit_requested || pass.end == i64::MAX {
        pass.last_time
    } else {
        pass.end
    };
    it.ctx.entry_time = it.ctx.time;
    for pi in ordered(prog, Family::End) {
        run_one(it, prog, pi, 0, true, &mut pass.hits, &mut failed);
        if let Some(e) = failed.take() {
            report(it, &e, &mut outcome);
        }
    }
    it.print_unread_globals();
    it.flush()?;
    let unknown = it.ctx.procs.unknown_tids.get();
    if unknown > 0 {
        outcome.warnings.push(format!(
            "{unknown} thread id(s) named by tracepoints were of threads the trace never saw begin or alive at start (their process id read as 0); record the processes table, without -x/-c, to know them all"
        ));
    }
    outcome.stderr = std::mem::take(&mut it.stderr);
    outcome.suppressed = it.suppressed;
    outcome.probe_times = it.times.take().unwrap_or_default();
    outcome.probe_hits = prog
        .probes
        .iter()
        .zip(&pass.hits)
        .map(|(p, h)| {
            (
                p.points.first().map(|p| p.text.clone()).unwrap_or_default(),
                *h,
            )
        })
        .collect();
    Ok(outcome)
}

fn report(it: &mut Interp, e: &RtError, outcome: &mut Outcome) {
    let msg = it.render_error(e);
    it.stderr.push(msg);
    outcome.errors += 1;
}

fn jitter(it: &mut Interp, randomize_ns: i64) -> i64 {
    if randomize_ns <= 0 {
        return 0;
    }
    let span = (2 * randomize_ns + 1) as u64;
    (it.next_rand() % span) as i64 - randomize_ns
}

fn set_event(
    it: &mut Interp,
    batch: &Rc<Batch>,
    row: usize,
    time: i64,
    entry: i64,
    pt: &ResolvedPoint,
) {
    if !it.ctx.batch.as_ref().is_some_and(|b| Rc::ptr_eq(b, batch)) {
        it.ctx.batch = Some(batch.clone());
    }
    it.ctx.row = row;
    it.ctx.time = time;
    it.ctx.entry_time = entry;
    it.ctx.family = Some(pt.family);
    it.ctx.switched_in = match (pt.switched_in, pt.family) {
        (true, Family::Tracepoint(f)) => {
            let at = |n: &str| f.fields.iter().position(|x| x.name == n);
            at("next_pid").zip(at("next_comm"))
        }
        _ => None,
    };
    // A process lifecycle point at a fork or thread row: the new task's.
    it.ctx.child_task = pt.process.is_some() && {
        use retap_schema::tables::process_event as ev;
        matches!(
            batch.string(Column::Event, row).as_deref(),
            Some(ev::FORK | ev::THREAD)
        )
    };
    // By content: the context's copy never shares the point's memory, and
    // an empty copy's pointer (one past its allocation) can equal the
    // start of the point's text, which left pp() and pn() empty.
    if &*it.ctx.point_text != pt.text.as_str() {
        it.ctx.point_text = Rc::from(pt.text.as_str());
    }
}

/// Probes of a family (begin/end/error) in stap's order: by N, then source.
fn ordered(prog: &Program, fam: Family) -> Vec<usize> {
    let mut v: Vec<(i64, usize)> = prog
        .probes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.points
                .iter()
                .find(|pt| pt.family == fam)
                .map(|pt| (pt.order, i))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, i)| i).collect()
}

fn run_one<'p>(
    it: &mut Interp<'p>,
    prog: &'p Program,
    pi: usize,
    point: usize,
    interruptible: bool,
    hits: &mut [u64],
    failed: &mut Option<RtError>,
) {
    let probe = &prog.probes[pi];
    if let Some(c) = probe.points.get(point).and_then(|p| p.condition.as_ref()) {
        match it.condition(c) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                if it.suppress_handler_errors {
                    it.suppressed += 1;
                } else {
                    *failed = Some(e);
                }
                return;
            }
        }
    }
    if matches!(
        probe.points.get(point).map(|p| p.family),
        Some(Family::Begin | Family::End | Family::Error)
    ) {
        it.ctx.family = probe.points.get(point).map(|p| p.family);
        it.ctx.point_text = Rc::from(probe.points[point].text.as_str());
    }
    hits[pi] += 1;
    let started = it.times.is_some().then(std::time::Instant::now);
    let result = it.run_probe(probe, interruptible);
    if let (Some(t), Some(times)) = (started, it.times.as_mut()) {
        times[pi].add(t.elapsed().as_nanos() as u64);
    }
    if it.flush_each_probe {
        it.write_out();
    }
    if let Err(e) = result {
        if it.suppress_handler_errors {
            it.suppressed += 1;
        } else {
            *failed = Some(e);
        }
    }
}
