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
    finish, hooks, jitter, point_matches, run_begin, run_one, set_event, Outcome, Pass, ProbeTime,
    RowFilters, RunError, RunOptions,
};
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
    /// Everything the recorder read in one wake-up; every event stamped
    /// before `watermark` has now come (`retap_schema::stream`).
    Round {
        batches: Vec<LiveBatch>,
        watermark: i64,
    },
    /// The syscalls counted in the kernel (schema's `stream::COUNTS`),
    /// once, when the recorder stopped.
    Counts(RecordBatch),
    /// The stream ended: None when the recorder stopped in order, else
    /// what went wrong (the run reports it after `end`).
    Ended(Option<String>),
}

/// Where live rows come from (the recorder's stream, read on a thread).
pub trait LiveSource {
    /// The next arrival, waiting at most `timeout`; None if none came.
    fn next(&mut self, timeout: Duration) -> Option<Arrival>;
    /// Asks the recorder to stop (the run ended first), so that what it
    /// sends at its stop (the counts) comes.
    fn stop(&mut self) {}
}

/// What a probe counted in the kernel keys its array by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountKey {
    Comm,
    Pid,
    Tid,
    Uid,
    Cpu,
}

/// A probe whose only effect, `g[keys]++` at syscall entries, the kernel
/// counts (slot = its index among them): the interpreter skips it and
/// merges the counts before `end`.
#[derive(Clone, Debug)]
pub struct LiveCount {
    pub probe: usize,
    pub global: u32,
    pub keys: Vec<CountKey>,
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
    /// When the recording started (on that clock): begin's time, and the
    /// timers' first period counts from it.
    pub start: i64,
    /// The kernel's HZ (the recording's manifest), for HZ() and jiffies().
    pub hz: Option<u32>,
    /// Where the recording keeps the kernel's symbols (backtraces).
    pub kallsyms_dir: Option<std::path::PathBuf>,
    /// Probes counted in the kernel.
    pub counted: Vec<LiveCount>,
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
    let start = setup.start;
    let mut ctx = EventCtx::new(
        setup.wall_clock_offset_ns,
        setup.arch.clone(),
        opts.target.unwrap_or(setup.target),
    );
    let now = setup.now;
    ctx.signatures = std::sync::Arc::new(setup.signatures);
    ctx.hz = setup.hz;
    ctx.time = start;
    ctx.entry_time = start;
    if let (true, Some(dir)) = (super::needs_kernel_symbols(prog), &setup.kallsyms_dir) {
        ctx.kallsyms =
            super::symbols::Kallsyms::load(&crate::store::Store::Local, dir).map(Rc::new);
    }
    // hostname(): this machine's, as the recorder writes it in manifests.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    ctx.members = Rc::from(vec![(Rc::from(host.trim()), Rc::from("live"))]);
    ctx.usyms = Rc::new(super::symbols::UserSymbols::new(
        setup
            .kallsyms_dir
            .as_deref()
            .map(|d| (&crate::store::Store::Local, d)),
        true,
    ));
    let mut it = Interp::new(prog, map, opts.limits.clone(), sink, ctx, opts.seed)
        .map_err(RunError::Setup)?;
    it.suppress_handler_errors = opts.suppress_handler_errors;
    // Live output appears as each handler ends, as stap's does.
    it.flush_each_probe = true;
    it.switch_file = opts.switch_file.clone();
    if opts.timing {
        it.times = Some(vec![ProbeTime::default(); prog.probes.len()]);
    }
    let skip: BTreeSet<usize> = setup.counted.iter().map(|c| c.probe).collect();
    let counted = setup.counted.clone();
    let hooks = hooks(prog, &skip)?;
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
    run_begin(prog, &mut pass);
    let mut source_failed = None;
    let mut counts = None;
    if !pass.stopped_before {
        source_failed = events(
            prog,
            &hooks,
            track_procs,
            &mut pass,
            now,
            source,
            stop,
            &mut counts,
        );
    }
    if !counted.is_empty() && !pass.stopped_before {
        if counts.is_none() && source_failed.is_none() {
            counts = last_counts(source, &mut source_failed);
        }
        match counts {
            Some(b) => merge_counts(&mut pass, &counted, &b)?,
            None if source_failed.is_none() => {
                source_failed = Some("the recorder stopped without its syscall counts".into())
            }
            None => {}
        }
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

/// The counts, once the run ended before the stream did: the recorder is
/// asked to stop, and what it sends read until they come (a minute at
/// most).
fn last_counts(source: &mut dyn LiveSource, failed: &mut Option<String>) -> Option<RecordBatch> {
    source.stop();
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < end {
        match source.next(TICK) {
            Some(Arrival::Counts(b)) => return Some(b),
            Some(Arrival::Ended(f)) => {
                *failed = f;
                return None;
            }
            _ => {}
        }
    }
    None
}

/// The kernel's counts into their globals, as the interpreter would have
/// made them: elements in the order of their first count, hits added.
fn merge_counts(
    pass: &mut Pass<'_>,
    counted: &[LiveCount],
    b: &RecordBatch,
) -> Result<(), RunError> {
    use super::preload::Acc;
    use super::value::Value;
    use arrow::array::{Array, Int64Array, StringArray, UInt32Array};
    let bad = |what: &str| RunError::Setup(format!("live stream: the syscall counts: {what}"));
    let col = |name: &str| b.column_by_name(name).ok_or_else(|| bad(name));
    let ints = |name: &str| -> Result<Int64Array, RunError> {
        col(name)?
            .as_any()
            .downcast_ref::<Int64Array>()
            .cloned()
            .ok_or_else(|| bad(name))
    };
    use retap_schema::stream::count_column as cc;
    let slot = col(cc::SLOT)?
        .as_any()
        .downcast_ref::<UInt32Array>()
        .cloned()
        .ok_or_else(|| bad(cc::SLOT))?;
    let comm = col(cc::COMM)?
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| bad(cc::COMM))?;
    let (pid, tid, uid, cpu) = (
        ints(cc::PID)?,
        ints(cc::TID)?,
        ints(cc::UID)?,
        ints(cc::CPU)?,
    );
    let (count, first) = (ints(cc::COUNT)?, ints(cc::FIRST)?);
    let mut interner = Interner::default();
    // global -> key -> (count, first)
    let mut per: HashMap<u32, HashMap<Vec<Value>, (i64, i64)>> = HashMap::new();
    for r in 0..b.num_rows() {
        let Some(c) = counted.get(slot.value(r) as usize) else {
            return Err(bad("a slot no probe has"));
        };
        let key: Vec<Value> = c
            .keys
            .iter()
            .map(|k| match k {
                CountKey::Comm => Value::Str(interner.get(comm.value(r))),
                CountKey::Pid => Value::Int(pid.value(r)),
                CountKey::Tid => Value::Int(tid.value(r)),
                CountKey::Uid => Value::Int(uid.value(r)),
                CountKey::Cpu => Value::Int(cpu.value(r)),
            })
            .collect();
        let e = per
            .entry(c.global)
            .or_default()
            .entry(key)
            .or_insert((0, i64::MAX));
        e.0 += count.value(r);
        e.1 = e.1.min(first.value(r));
        pass.hits[c.probe] += count.value(r) as u64;
    }
    let mut globals: Vec<u32> = per.keys().copied().collect();
    globals.sort();
    for g in globals {
        let mut rows: Vec<(Vec<Value>, (i64, i64))> =
            per.remove(&g).unwrap_or_default().into_iter().collect();
        rows.sort_by(|a, b| (a.1 .1, &a.0).cmp(&(b.1 .1, &b.0)));
        let elements = rows
            .into_iter()
            .map(|(k, (n, _))| (k, Acc::Int(n)))
            .collect();
        pass.it.merge(&[(g, elements)]);
    }
    Ok(())
}

/// One probe firing on a row, waiting for its turn.
struct Firing {
    at: i64,
    entry: i64,
    /// Arrival order, for firings at the same time.
    seq: usize,
    batch: Rc<Batch>,
    row: usize,
    /// Return-side hooks (else entry-side).
    at_return: bool,
}

/// Events and timers until the stream ends, `stop` is set, a probe fails
/// or exit() is called; returns the stream's failure, if any. The
/// kernel's counts, when they come, go to `counts`.
///
/// Firings and timers run in the order of their times, as far as each
/// round's watermark says nothing earlier can still come: a row stamped
/// after it waits for the next round, and a timer due now waits until a
/// round has passed its time (at most one drain, ~50 ms), so that a timer
/// sees every event before it, as stap's do.
#[allow(clippy::too_many_arguments)]
fn events<'p>(
    prog: &'p Program,
    hooks: &super::Hooks,
    track_procs: bool,
    pass: &mut Pass<'p>,
    clock: fn() -> i64,
    source: &mut dyn LiveSource,
    stop: &AtomicBool,
    counts: &mut Option<RecordBatch>,
) -> Option<String> {
    let periods: HashMap<(usize, usize), (i64, i64)> = hooks.timers.iter().copied().collect();
    let mut timers: BinaryHeap<Reverse<(i64, usize, usize)>> = BinaryHeap::new();
    let start = pass.last_time;
    for &((pi, k), (period, rand)) in &hooks.timers {
        let first = start + period + jitter(&mut pass.it, rand);
        timers.push(Reverse((first, pi, k)));
    }
    let mut interner = Interner::default();
    let mut filters = [RowFilters::default(), RowFilters::default()];
    let live_entries = prog
        .probes
        .iter()
        .flat_map(|p| &p.points)
        .any(|pt| pt.table() == Some(Table::Syscalls));
    // Firings that came and have not run, in time order.
    let mut pending: Vec<Firing> = vec![];
    let mut watermark = i64::MIN;
    let mut seq = 0usize;
    let mut ended = None;
    loop {
        if pass.failed.is_some() || pass.it.exit_requested || stop.load(Ordering::SeqCst) {
            return None;
        }
        let mut ran = 0;
        loop {
            let event = pending.get(ran).map(|f| f.at).filter(|&at| at <= watermark);
            let timer = timers.peek().map(|Reverse((at, _, _))| *at);
            match (event, timer) {
                (Some(e), t) if t.is_none_or(|t| e <= t) => {
                    fire(prog, hooks, track_procs, pass, &pending[ran], &mut filters);
                    ran += 1;
                }
                (_, Some(t)) if t <= watermark && t <= clock() => {
                    let Some(Reverse((at, pi, k))) = timers.pop() else {
                        break;
                    };
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
                _ => break,
            }
            if pass.failed.is_some() || pass.it.exit_requested {
                return None;
            }
        }
        pending.drain(..ran);
        if let Some(failure) = ended {
            return failure;
        }
        // Until the next timer, or the next round when one is due already.
        let now = clock();
        let wait = match timers.peek() {
            Some(Reverse((at, _, _))) if *at > now => Duration::from_nanos((at - now) as u64),
            _ => TICK,
        }
        .min(TICK);
        let (round, w) = match source.next(wait) {
            None => continue,
            Some(Arrival::Ended(failure)) => {
                // What came runs, then the run ends.
                ended = Some(failure);
                watermark = i64::MAX;
                continue;
            }
            Some(Arrival::Counts(b)) => {
                *counts = Some(b);
                continue;
            }
            Some(Arrival::Round { batches, watermark }) => (batches, watermark),
        };
        watermark = watermark.max(w);
        let before = pending.len();
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
                let mut push = |at, at_return| {
                    pending.push(Firing {
                        at,
                        entry: ts,
                        seq,
                        batch: batch.clone(),
                        row,
                        at_return,
                    });
                    seq += 1;
                };
                if lb.entries {
                    if wants_entry {
                        push(ts, false);
                    }
                    continue;
                }
                // Syscalls' entry probes fired on their entry rows.
                let entry_side = wants_entry && !(live_entries && lb.table == Table::Syscalls);
                if entry_side || tree {
                    push(ts, false);
                }
                if wants_return {
                    if let Some(d) = batch.int(Column::DurNs, row) {
                        push(ts + d, true);
                    }
                }
            }
        }
        if pending.len() > before {
            pending.sort_by_key(|f| (f.at, f.seq));
        }
    }
}

/// The probes one firing runs (entry- or return-side hooks of its table
/// whose point matches its row).
fn fire<'p>(
    prog: &'p Program,
    hooks: &super::Hooks,
    track_procs: bool,
    pass: &mut Pass<'p>,
    f: &Firing,
    filters: &mut [RowFilters; 2],
) {
    let it = &mut pass.it;
    if !f.at_return && track_procs && f.batch.table == Table::Processes {
        it.ctx.procs.observe(&f.batch, f.row);
    }
    let table_hooks = hooks.of(f.batch.table);
    let filters = filters[usize::from(f.at_return)].get(table_hooks, &f.batch);
    for (hi, h) in table_hooks.iter().enumerate() {
        if h.at_return != f.at_return {
            continue;
        }
        if !point_matches(h, &f.batch, f.row, &filters[hi], &it.ctx.procs) {
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
