//! Pass 5 live: the same probes on events as the recorder reads them
//! (`retap run` without `--trace`), in real time. Rows come in rounds (what
//! the recorder drained in one wake-up, at most ~50 ms apart); each round
//! is ordered by the time its probes fire before any runs. Syscall entry
//! probes fire on the entry rows the live stream sends when a syscall is
//! entered, return probes on the whole row sent when it returns; other
//! tables' probes fire on their rows, return-side ones (`ioblock.end`) at
//! `ts + dur_ns`. Timers fire on the monotonic clock the events are
//! stamped with. The run ends when the stream does (the recorder stopped:
//! Ctrl-C, `-T`, `-c`'s command exited), when `stop` is set, or when a
//! probe calls exit(); then error and end probes run as over a trace.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use retap_schema::signatures::Signatures;
use retap_schema::{Column, Table};

use super::context::EventCtx;
use super::events::Batch;
use super::interp::Interp;
use super::value::Interner;
use super::{
    finish, hooks, jitter, ordered, point_matches, run_one, set_event, Outcome, Pass, ProbeTime,
    RowFilters, RunError, RunOptions,
};
use crate::stap::elaborate::catalog::Family;
use crate::stap::elaborate::ir::Program;
use crate::stap::source::SourceMap;

/// One batch of the live stream, its table resolved.
pub struct LiveBatch {
    pub table: Table,
    /// Syscalls as they were entered (no return value yet).
    pub entries: bool,
    pub batch: RecordBatch,
}

/// What the live source has next.
pub enum Arrival {
    /// Everything the recorder read in one wake-up.
    Round(Vec<LiveBatch>),
    /// The stream ended: None when the recorder stopped in order, else
    /// what went wrong (the run reports it after `end`).
    Ended(Option<String>),
}

/// Where live rows come from (the recorder's stream, read on a thread).
pub trait LiveSource {
    /// The next arrival, waiting at most `timeout`; None if none came.
    fn next(&mut self, timeout: Duration) -> Option<Arrival>;
}

/// What a live run knows that a trace's manifest would have said.
pub struct LiveSetup {
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, for gettimeofday_*().
    pub wall_clock_offset_ns: i64,
    pub arch: String,
    pub signatures: Signatures,
    /// target(): -c's command or -x's process.
    pub target: i64,
    /// The monotonic clock, in ns (the recorder stamps events with it).
    pub now: fn() -> i64,
    /// Where the recording keeps the kernel's symbols (backtraces).
    pub kallsyms_dir: Option<std::path::PathBuf>,
}

/// How a live run ended besides its output.
pub struct LiveEnd {
    pub outcome: Outcome,
    /// The stream's own failure (the recorder killed, say), if any.
    pub source_failed: Option<String>,
}

/// The wait between looks at `stop` when nothing else is due.
const TICK: Duration = Duration::from_millis(20);

/// Runs `prog` live: begin now, then events and timers as they come, then
/// error and end probes.
pub fn run_live<'p>(
    prog: &'p Program,
    map: &'p SourceMap,
    opts: &RunOptions,
    setup: LiveSetup,
    source: &mut dyn LiveSource,
    stop: &AtomicBool,
    sink: Box<dyn Write + 'p>,
) -> Result<LiveEnd, RunError> {
    let start = (setup.now)();
    let mut ctx = EventCtx::new(
        setup.wall_clock_offset_ns,
        setup.arch.clone(),
        opts.target.unwrap_or(setup.target),
    );
    let now = setup.now;
    ctx.signatures = std::sync::Arc::new(setup.signatures);
    ctx.time = start;
    ctx.entry_time = start;
    if let (true, Some(dir)) = (super::needs_kernel_symbols(prog), &setup.kallsyms_dir) {
        ctx.kallsyms = super::symbols::Kallsyms::load(dir).map(Rc::new);
    }
    let mut it = Interp::new(prog, map, opts.limits.clone(), sink, ctx, opts.seed)
        .map_err(RunError::Setup)?;
    it.suppress_handler_errors = opts.suppress_handler_errors;
    // Live output appears as each handler ends, as stap's does.
    it.flush_each_probe = true;
    it.switch_file = opts.switch_file.clone();
    if opts.timing {
        it.times = Some(vec![ProbeTime::default(); prog.probes.len()]);
    }
    let hooks = hooks(prog, &BTreeSet::new())?;
    let track_procs = prog.reads_process_tree();
    let mut pass = Pass {
        it,
        outcome: Outcome::default(),
        hits: vec![0u64; prog.probes.len()],
        failed: None,
        stopped_before: false,
        end: i64::MAX,
        last_time: start,
        ticks_left: None,
    };
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
    let mut source_failed = None;
    if !pass.stopped_before {
        source_failed = events(prog, &hooks, track_procs, &mut pass, now, source, stop);
    }
    pass.last_time = pass.last_time.max(now());
    if pass.stopped_before {
        pass.outcome.stopped_at = Some(i64::MIN);
    } else if pass.failed.is_some() || pass.it.exit_requested {
        pass.outcome.stopped_at = Some(pass.last_time);
    }
    let outcome = finish(prog, opts, pass)?;
    Ok(LiveEnd {
        outcome,
        source_failed,
    })
}

/// One firing of a round, in the order they run.
struct Firing {
    at: i64,
    entry: i64,
    seq: usize,
    batch: Rc<Batch>,
    row: usize,
    /// Return-side hooks (else entry-side).
    at_return: bool,
}

/// Events and timers until the stream ends, `stop` is set, a probe fails
/// or exit() is called; returns the stream's failure, if any.
fn events<'p>(
    prog: &'p Program,
    hooks: &super::Hooks,
    track_procs: bool,
    pass: &mut Pass<'p>,
    clock: fn() -> i64,
    source: &mut dyn LiveSource,
    stop: &AtomicBool,
) -> Option<String> {
    let periods: HashMap<(usize, usize), (i64, i64)> = hooks.timers.iter().copied().collect();
    let mut timers: BinaryHeap<Reverse<(i64, usize, usize)>> = BinaryHeap::new();
    let start = pass.last_time;
    for &((pi, k), (period, rand)) in &hooks.timers {
        let first = start + period + jitter(&mut pass.it, rand);
        timers.push(Reverse((first, pi, k)));
    }
    let mut interner = Interner::default();
    let mut entry_filters = RowFilters::default();
    let mut return_filters = RowFilters::default();
    let live_entries = prog
        .probes
        .iter()
        .flat_map(|p| &p.points)
        .any(|pt| pt.table() == Some(Table::Syscalls));
    loop {
        if pass.failed.is_some() || pass.it.exit_requested || stop.load(Ordering::SeqCst) {
            return None;
        }
        // Timers due now.
        let now = clock();
        while let Some(&Reverse((at, pi, k))) = timers.peek() {
            if at > now || pass.failed.is_some() || pass.it.exit_requested {
                break;
            }
            timers.pop();
            let pt = &prog.probes[pi].points[k];
            let it = &mut pass.it;
            it.ctx.batch = None;
            it.ctx.time = at;
            it.ctx.entry_time = at;
            it.ctx.family = Some(pt.family);
            it.ctx.point_text = Rc::from(pt.text.as_str());
            run_one(it, prog, pi, k, false, &mut pass.hits, &mut pass.failed);
            pass.last_time = pass.last_time.max(at);
            let (period, rand) = periods[&(pi, k)];
            let next = at + period + jitter(it, rand);
            timers.push(Reverse((next.max(at + 1), pi, k)));
        }
        if pass.failed.is_some() || pass.it.exit_requested {
            return None;
        }
        let wait = timers
            .peek()
            .map(|Reverse((at, _, _))| Duration::from_nanos((at - now).max(0) as u64))
            .unwrap_or(TICK)
            .min(TICK);
        let round = match source.next(wait) {
            None => continue,
            Some(Arrival::Ended(failure)) => return failure,
            Some(Arrival::Round(r)) => r,
        };
        // The round's firings, in the order of their times.
        let mut firings: Vec<Firing> = vec![];
        for lb in round {
            let batch = match Batch::from_record_batch(lb.table, &lb.batch, &mut interner) {
                Ok(b) => Rc::new(b),
                Err(e) => return Some(format!("live stream: {}: {e}", lb.table)),
            };
            pass.outcome.rows += batch.rows as u64;
            let table_hooks = hooks.of(lb.table);
            let wants_return = table_hooks.iter().any(|h| h.at_return);
            let wants_entry = table_hooks.iter().any(|h| !h.at_return);
            let tree = track_procs && lb.table == Table::Processes;
            for row in 0..batch.rows {
                let ts = batch.int(Column::Ts, row).unwrap_or(0);
                let seq = firings.len();
                let firing = |at, at_return| Firing {
                    at,
                    entry: ts,
                    seq,
                    batch: batch.clone(),
                    row,
                    at_return,
                };
                if lb.entries {
                    if wants_entry {
                        firings.push(firing(ts, false));
                    }
                    continue;
                }
                // Syscalls' entry probes fired on their entry rows.
                let entry_side = wants_entry && !(live_entries && lb.table == Table::Syscalls);
                if entry_side || tree {
                    firings.push(firing(ts, false));
                }
                if wants_return {
                    if let Some(d) = batch.int(Column::DurNs, row) {
                        firings.push(firing(ts + d, true));
                    }
                }
            }
        }
        firings.sort_by_key(|f| (f.at, f.seq));
        for f in firings {
            if pass.failed.is_some() || pass.it.exit_requested {
                return None;
            }
            let it = &mut pass.it;
            if !f.at_return && track_procs && f.batch.table == Table::Processes {
                it.ctx.procs.observe(&f.batch, f.row);
            }
            let table_hooks = hooks.of(f.batch.table);
            let filters = if f.at_return {
                return_filters.get(table_hooks, &f.batch)
            } else {
                entry_filters.get(table_hooks, &f.batch)
            };
            for (hi, h) in table_hooks.iter().enumerate() {
                if h.at_return != f.at_return {
                    continue;
                }
                if !point_matches(h, &f.batch, f.row, &filters[hi]) {
                    continue;
                }
                let pt = &prog.probes[h.probe].points[h.point];
                set_event(it, &f.batch, f.row, f.at, f.entry, pt);
                run_one(
                    it,
                    prog,
                    h.probe,
                    h.point,
                    false,
                    &mut pass.hits,
                    &mut pass.failed,
                );
                if pass.failed.is_some() || it.exit_requested {
                    break;
                }
            }
            pass.last_time = pass.last_time.max(f.at);
        }
    }
}
