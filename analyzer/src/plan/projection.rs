//! Per-event `printf` as an ordered projection: one DataFusion plan per
//! trace file (scan → the point's filter and the guards → firing time and
//! the arguments), merged by firing time the way the interpreter merges
//! its file cursors (time, then file order, then row order), each row
//! formatted by the interpreter's own printf. Filtering and decoding are
//! the plan's; only printed rows reach the formatter.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{cast, Expr};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use crate::runtime::printf;
use crate::runtime::value::{Interner, Value};
use crate::runtime::Projector;
use crate::stap::elaborate::ir::Program;
use crate::trace::Trace;

use super::analysis::Projection;
use super::exec::row_filter;
use super::translate::Ctx;

/// The built projection: a plan per file, in file order.
pub struct ProjectionPlans {
    pub probe: usize,
    pub text: String,
    pub files: Vec<DataFrame>,
    fmt: crate::stap::elaborate::format::Format,
    /// Per argument: whether it is a string.
    strings: Vec<bool>,
    rt: tokio::runtime::Runtime,
}

impl ProjectionPlans {
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }
}

/// Builds the projection's plans (pass 4).
pub fn build_projection(
    prog: &Program,
    pr: &Projection,
    trace: &Trace,
) -> Result<ProjectionPlans, String> {
    let probe = &prog.probes[pr.probe];
    let pt = &probe.points[0];
    let table = pt.table().ok_or("not an event probe")?;
    let files = trace
        .table(table)
        .map(|t| t.files.clone())
        .unwrap_or_default();
    let signatures = trace.signatures();
    let tctx = Ctx::new(pt, trace.manifest.wall_clock_offset_ns, signatures.as_ref());
    let filter = row_filter(pt, &tctx, &pr.guards)?;
    let mut select: Vec<Expr> = vec![tctx.now().alias("t")];
    let mut strings = vec![];
    for (i, a) in pr.args.iter().enumerate() {
        let t = tctx.expr(a)?;
        strings.push(t.string);
        let e = if t.string {
            cast(t.e, DataType::Utf8)
        } else {
            t.long()
        };
        select.push(e.alias(format!("a{i}")));
    }
    let rt = super::runtime();
    // One partition per file keeps its rows in their stored order.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    let mut dfs = vec![];
    for f in &files {
        let df = rt
            .block_on(ctx.read_parquet(f.path.display().to_string(), ParquetReadOptions::default()))
            .map_err(|e| e.to_string())?;
        let df = match &filter {
            Some(f) => df.filter(f.clone()).map_err(|e| e.to_string())?,
            None => df,
        };
        dfs.push(df.select(select.clone()).map_err(|e| e.to_string())?);
    }
    Ok(ProjectionPlans {
        probe: pr.probe,
        text: format!("{} (printf per event, in firing order)", probe.text),
        files: dfs,
        fmt: pr.fmt.clone(),
        strings,
        rt,
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
    fn time(&mut self, rt: &tokio::runtime::Runtime) -> Result<Option<i64>, String> {
        loop {
            if let Some(b) = &self.batch {
                if self.row < b.num_rows() {
                    let t = b.column(0).as_primitive::<Int64Type>();
                    return Ok(Some(t.value(self.row)));
                }
            }
            match rt.block_on(self.stream.next()) {
                Some(b) => {
                    self.batch = Some(b.map_err(|e| e.to_string())?);
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
pub struct Projected(pub RefCell<Option<ProjectionPlans>>);

impl Projector for Projected {
    fn run(&self, emit: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        let Some(p) = self.0.borrow_mut().take() else {
            return Ok(());
        };
        let rt = &p.rt;
        let mut cursors = vec![];
        for df in p.files {
            let stream = rt
                .block_on(df.execute_stream())
                .map_err(|e| e.to_string())?;
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
        let mut interner = Interner::default();
        let mut line = Vec::with_capacity(256);
        let mut args = Vec::with_capacity(p.strings.len());
        while let Some(Reverse((_, i))) = heap.pop() {
            let c = &mut cursors[i];
            let b = c.batch.as_ref().expect("a cursor in the heap has a batch");
            args.clear();
            for (k, &string) in p.strings.iter().enumerate() {
                let a = b.column(k + 1);
                args.push(if string {
                    let s = a.as_string::<i32>();
                    Value::Str(interner.get(if s.is_null(c.row) { "" } else { s.value(c.row) }))
                } else {
                    let v = a.as_primitive::<Int64Type>();
                    Value::Int(if v.is_null(c.row) { 0 } else { v.value(c.row) })
                });
            }
            line.clear();
            printf::format(&p.fmt, &args, &mut line);
            emit(&line);
            c.row += 1;
            if let Some(t) = c.time(rt)? {
                heap.push(Reverse((t, i)));
            }
        }
        Ok(())
    }
}
