//! Per-event `printf` as an ordered projection: one DataFusion plan per
//! trace file (scan → the rows some printing probe fires on → entry time,
//! return time, and per probe whether it fires and its arguments), merged
//! the way the interpreter orders firings: rows by entry time, then file,
//! then row; a return-side probe's firing (its updates of running globals
//! and its line) waits, as the interpreter's pending returns do, until its
//! return time (ties: rows first, then returns in entry order). Each line
//! is formatted by the interpreter's own printf; filtering and decoding
//! are the plan's.

use super::error::{failed, PlanError};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{cast, Expr};
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use crate::engine::column;
use crate::runtime::printf;
use crate::runtime::value::{Interner, Value};
use crate::runtime::Projector;
use crate::stap::elaborate::format::Format;
use crate::stap::elaborate::ir::{Program, X};
use crate::trace::Trace;
use retap_schema::Column;

use super::analysis::{Projection, Step};
use super::exec::row_filter;
use super::translate::Ctx;

/// The built projection: a plan per file, in file order.
pub struct ProjectionPlans {
    pub text: String,
    /// The scalar globals the probes update as rows go by.
    pub running: Vec<u32>,
    pub files: Vec<DataFrame>,
    /// The printing probes, in the interpreter's hook (program) order.
    members: Vec<Member>,
}

/// One printing probe's part of each row: column `fires` says whether it
/// fires; its printf arguments and update values are columns or running
/// globals.
struct Member {
    fmt: Format,
    fires: usize,
    args: Vec<Arg>,
    steps: Vec<MemberStep>,
    at_return: bool,
}

/// Where a printf argument comes from.
enum Arg {
    /// A result column (a string or a long).
    Column(usize, bool),
    /// A running global (its slot in [`ProjectionPlans::running`]).
    Running(usize),
}

/// What a return-side firing does when its time comes.
enum Job {
    /// Adds to a running global (its slot).
    Add(usize, i64),
    /// Prints member `.0`'s line with these arguments.
    Print(usize, Vec<Pre>),
}

/// A return-side printf argument: an event value read from its row, or a
/// running global read when the line is made.
enum Pre {
    Value(Value),
    Running(usize),
}

/// A row's return-side firings, waiting for their time: ordered by
/// (return time, entry order) alone.
struct Pending {
    at: i64,
    seq: u64,
    jobs: Vec<Job>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// Formats one line from its arguments, running globals read now.
fn print_line(
    fmt: &Format,
    pre: impl Iterator<Item = Pre>,
    running: &[i64],
    args: &mut Vec<Value>,
    line: &mut Vec<u8>,
    emit: &mut dyn FnMut(&[u8]),
) {
    args.clear();
    args.extend(pre.map(|a| match a {
        Pre::Value(v) => v,
        Pre::Running(slot) => Value::Int(running[slot]),
    }));
    line.clear();
    printf::format(fmt, args, line);
    emit(line);
}

/// A body statement, as the merge runs it.
enum MemberStep {
    /// Adds ±1 (no column) or ± a result column to a running global.
    Add {
        slot: usize,
        sign: i64,
        value: Option<usize>,
    },
    Print,
}

/// Column 0 is the entry time, 1 the return time (entry time again when no
/// probe fires at return).
const T: usize = 0;
const RETURN_T: usize = 1;

/// Builds the projections' plans (pass 4).
pub fn build_projection(
    prog: &Program,
    prs: &[Projection],
    trace: &Trace,
) -> Result<ProjectionPlans, PlanError> {
    let first = prs.first().ok_or_else(|| failed("no projection"))?;
    let table = prog.probes[first.probe].points[0]
        .table()
        .ok_or_else(|| failed("not an event probe"))?;
    let files = trace
        .table(table)
        .map(|t| t.files.clone())
        .unwrap_or_default();
    let signatures = trace.signatures();
    let wall = trace.manifest.wall_clock_offset_ns;
    let any_return = prs
        .iter()
        .any(|p| prog.probes[p.probe].points[0].family.fires_at_return());
    let mut select: Vec<Expr> = vec![
        column(Column::Ts).alias("t"),
        if any_return {
            column(Column::Ts) + column(Column::DurNs)
        } else {
            column(Column::Ts)
        }
        .alias("r"),
    ];
    let mut members = vec![];
    let mut running: Vec<u32> = vec![];
    let mut any: Option<Expr> = None;
    for (j, pr) in prs.iter().enumerate() {
        let pt = &prog.probes[pr.probe].points[0];
        if pt.table() != Some(table) {
            return Err(failed("printing probes on several tables"));
        }
        let tctx = Ctx::new(pt, wall, signatures).with_members(&trace.members);
        let at_return = pt.family.fires_at_return();
        let mut fires =
            row_filter(pt, &tctx, &pr.guards)?.unwrap_or(datafusion::prelude::lit(true));
        // A return fires once the call has returned.
        if at_return {
            fires = fires.and(column(Column::DurNs).is_not_null());
        }
        any = Some(match any {
            Some(a) => a.or(fires.clone()),
            None => fires.clone(),
        });
        let at = select.len();
        select.push(fires.is_true().alias(format!("f{j}")));
        let slot = |g: u32, running: &mut Vec<u32>| match running.iter().position(|r| *r == g) {
            Some(i) => i,
            None => {
                running.push(g);
                running.len() - 1
            }
        };
        let own = pr.running();
        let mut args = vec![];
        for (i, a) in pr.args.iter().enumerate() {
            if let X::Global(g) = a {
                if own.contains(g) {
                    args.push(Arg::Running(slot(*g, &mut running)));
                    continue;
                }
            }
            let t = tctx.expr(a)?;
            args.push(Arg::Column(select.len(), t.string));
            let e = if t.string {
                cast(t.e, DataType::Utf8)
            } else {
                t.long()
            };
            select.push(e.alias(format!("a{j}_{i}")));
        }
        let mut steps = vec![];
        for (k, st) in pr.steps.iter().enumerate() {
            steps.push(match st {
                Step::Print => MemberStep::Print,
                Step::Add {
                    global,
                    sign,
                    value,
                } => {
                    let value = match value {
                        Some(v) => {
                            select.push(tctx.expr(v)?.long().alias(format!("u{j}_{k}")));
                            Some(select.len() - 1)
                        }
                        None => None,
                    };
                    MemberStep::Add {
                        slot: slot(*global, &mut running),
                        sign: *sign,
                        value,
                    }
                }
            });
        }
        members.push(Member {
            fmt: pr.fmt.clone(),
            fires: at,
            args,
            steps,
            at_return,
        });
    }
    // One partition per file keeps its rows in their stored order.
    let ctx =
        crate::engine::plan_session(crate::engine::session_config().with_target_partitions(1));
    let mut dfs = vec![];
    for f in &files {
        let df = super::exec::read_files(&ctx, &trace.members, std::slice::from_ref(f))?;
        let df = match &any {
            Some(f) => df.filter(f.clone()).map_err(PlanError::from)?,
            None => df,
        };
        dfs.push(df.select(select.clone()).map_err(PlanError::from)?);
    }
    let names: Vec<&str> = prs
        .iter()
        .map(|p| prog.probes[p.probe].text.as_str())
        .collect();
    Ok(ProjectionPlans {
        text: format!("{} (printf per event, in firing order)", names.join(", ")),
        files: dfs,
        running,
        members,
    })
}

/// One file's result stream and the batch being read.
struct Cursor {
    stream: SendableRecordBatchStream,
    batch: Option<RecordBatch>,
    row: usize,
}

impl Cursor {
    /// Moves to the next row (pulling batches as needed); its firing time.
    fn time(&mut self, rt: &tokio::runtime::Runtime) -> Result<Option<i64>, PlanError> {
        loop {
            if let Some(b) = &self.batch {
                if self.row < b.num_rows() {
                    let t = b.column(T).as_primitive::<Int64Type>();
                    return Ok(Some(t.value(self.row)));
                }
            }
            match rt.block_on(self.stream.next()) {
                Some(b) => {
                    self.batch = Some(b.map_err(PlanError::from)?);
                    self.row = 0;
                }
                None => {
                    self.batch = None;
                    return Ok(None);
                }
            }
        }
    }
}

/// Runs the plans when the interpreter asks (after `begin`), writing each
/// row's line through `emit`.
pub struct Projected(RefCell<Option<ProjectionPlans>>);

impl Projected {
    pub fn new(p: ProjectionPlans) -> Projected {
        Projected(RefCell::new(Some(p)))
    }
}

impl Projector for Projected {
    fn running(&self) -> Vec<u32> {
        self.0
            .borrow()
            .as_ref()
            .map(|p| p.running.clone())
            .unwrap_or_default()
    }

    fn run(
        &self,
        emit: &mut dyn FnMut(&[u8]),
        running: &mut [i64],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.write(emit, running).map_err(|e| e.into())
    }
}

impl Projected {
    fn write(&self, emit: &mut dyn FnMut(&[u8]), running: &mut [i64]) -> Result<(), PlanError> {
        let Some(p) = self.0.borrow_mut().take() else {
            return Ok(());
        };
        let rt = crate::engine::runtime();
        let mut cursors = vec![];
        for df in p.files {
            let stream = rt.block_on(df.execute_stream()).map_err(PlanError::from)?;
            cursors.push(Cursor {
                stream,
                batch: None,
                row: 0,
            });
        }
        let mut heap = BinaryHeap::new();
        for (i, c) in cursors.iter_mut().enumerate() {
            if let Some(t) = c.time(rt)? {
                heap.push(Reverse((t, i)));
            }
        }
        let mut pending: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
        let mut seq = 0u64;
        let mut interner = Interner::default();
        let mut line = Vec::with_capacity(256);
        let mut later: Vec<Job> = vec![];
        let mut args = vec![];
        loop {
            let next_row = heap.peek().map(|Reverse((t, _))| *t);
            // Rows first at equal times, then returns.
            if let Some(Reverse(first)) = pending.peek() {
                if next_row.is_none_or(|t| first.at < t) {
                    let Some(Reverse(due)) = pending.pop() else {
                        break;
                    };
                    // Updates and lines as the return fires: running
                    // values read now, event values as the row had them.
                    for job in due.jobs {
                        match job {
                            Job::Add(slot, d) => running[slot] = running[slot].wrapping_add(d),
                            Job::Print(m, pre) => print_line(
                                &p.members[m].fmt,
                                pre.into_iter(),
                                running,
                                &mut args,
                                &mut line,
                                emit,
                            ),
                        }
                    }
                    continue;
                }
            }
            let Some(Reverse((_, i))) = heap.pop() else {
                break;
            };
            let c = &mut cursors[i];
            let b = c.batch.as_ref().expect("a cursor in the heap has a batch");
            let r = c.row;
            later.clear();
            for (mi, m) in p.members.iter().enumerate() {
                let fires = b.column(m.fires).as_boolean();
                if fires.is_null(r) || !fires.value(r) {
                    continue;
                }
                let long = |col: usize| {
                    let v = b.column(col).as_primitive::<Int64Type>();
                    if v.is_null(r) {
                        0
                    } else {
                        v.value(r)
                    }
                };
                for step in &m.steps {
                    match step {
                        MemberStep::Add { slot, sign, value } => {
                            let d = value.map_or(1, long).wrapping_mul(*sign);
                            if m.at_return {
                                later.push(Job::Add(*slot, d));
                            } else {
                                running[*slot] = running[*slot].wrapping_add(d);
                            }
                        }
                        MemberStep::Print => {
                            // Event values from the row; running values
                            // now, or (at return) when the line is made.
                            let mut event = |a: &Arg| match *a {
                                Arg::Column(col, true) => {
                                    let s = b.column(col).as_string::<i32>();
                                    let v = if s.is_null(r) { "" } else { s.value(r) };
                                    Pre::Value(Value::Str(interner.get(v)))
                                }
                                Arg::Column(col, false) => Pre::Value(Value::Int(long(col))),
                                Arg::Running(slot) => Pre::Running(slot),
                            };
                            if m.at_return {
                                later.push(Job::Print(mi, m.args.iter().map(&mut event).collect()));
                            } else {
                                print_line(
                                    &m.fmt,
                                    m.args.iter().map(&mut event),
                                    running,
                                    &mut args,
                                    &mut line,
                                    emit,
                                );
                            }
                        }
                    }
                }
            }
            if !later.is_empty() {
                let at = b.column(RETURN_T).as_primitive::<Int64Type>().value(r);
                seq += 1;
                pending.push(Reverse(Pending {
                    at,
                    seq,
                    jobs: std::mem::take(&mut later),
                }));
            }
            c.row += 1;
            if let Some(t) = c.time(rt)? {
                heap.push(Reverse((t, i)));
            }
        }
        Ok(())
    }
}
