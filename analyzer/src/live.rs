//! `retap run SCRIPT` without `--trace`: the script live. Passes 1-2 run
//! against the running kernel (as `retap record --for`), the caller starts
//! the recorder on what the script reads (record_for's `Needs`) with its
//! live stream, and pass 5 runs on the stream's rows as they come
//! (runtime/live.rs). A script without event or timer probes runs as it
//! does without a trace, and needs no recorder.
//!
//! The analyzer knows nothing of how the recorder is started: the caller
//! hands back a [`LiveSource`], and this module offers one over any byte
//! stream of frames ([`FrameSource`]).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use retap_schema::stream::{self, Frame};
use retap_schema::Table;

use crate::record_for::{self, Kernel, Needs};
use crate::run::{self, Note, RunFailure, RunRequest};
use crate::runtime::live::{run_live, Arrival, LiveBatch, LiveSetup};
use crate::runtime::{self, RunOptions};
use crate::stap::elaborate::ElabOptions;

pub use crate::runtime::live::LiveSource;

/// A started recorder, as the caller reports it.
pub struct Started {
    pub source: Box<dyn LiveSource>,
    /// target(): -c's command or -x's process (else 0).
    pub target: i64,
    /// The recording's directory (kernel symbols for backtraces).
    pub trace_dir: PathBuf,
}

/// Runs `req`'s script live. `kernel` reads the running kernel, None when
/// it cannot (not root): it is asked only when the script has event or
/// timer probes (a script of begin and end probes runs at once, as without
/// a trace). `start` starts the recorder for what the script needs.
pub fn run(
    req: &RunRequest,
    kernel: &mut dyn FnMut() -> Option<Kernel>,
    start: &mut dyn FnMut(&Needs, &Kernel) -> Result<Started, String>,
    stop: &AtomicBool,
    notes: &mut dyn FnMut(Note),
) -> Result<(), RunFailure> {
    if req.last_pass == 2 {
        // As stap's -p2: against the kernel the script would run on.
        if let Some(k) = kernel() {
            return run::pass2_on_host(req, &record_for::kernel_options(&k), notes);
        }
    }
    if req.last_pass < 5 {
        return run::run(req, notes).map(|_| ());
    }
    // Without the kernel first: most scripts that need no events say so
    // here, and run without reading it.
    let bare = ElabOptions {
        arch: std::env::consts::ARCH.to_string(),
        signatures: None,
        tables: None,
        syscall_strings: false,
        socket_addresses: false,
    };
    let mut quiet = vec![];
    let first = run::front_on_host(req, &bare, &mut |n| quiet.push(n));
    if let Ok((program, _)) = &first {
        if !runtime::needs_trace(program) {
            return run::run(req, notes).map(|_| ());
        }
    }
    let Some(kernel) = kernel() else {
        // (what failed without the kernel says what a recording must hold)
        return match first {
            Err(f) => Err(f),
            Ok(_) => Err(RunFailure::new(
                "retap run: this script's probes need events, and tracing them live needs root \
                 (or CAP_BPF and CAP_PERFMON): run it with sudo, or record as root and analyse \
                 here: sudo retap record --for SCRIPT -o DIR, then retap run SCRIPT --trace DIR",
            )),
        };
    };
    let (program, map) = run::front_on_host(req, &record_for::kernel_options(&kernel), notes)?;
    let needs = record_for::needs(&program);
    if req.verbose > 0 {
        notes(Note::Verbose(
            "live: recording what the script reads:".into(),
        ));
        for r in &needs.reasons {
            notes(Note::Verbose(format!("  {r}")));
        }
    }
    let started = start(&needs, &kernel).map_err(|e| RunFailure::new(format!("retap run: {e}")))?;
    let Started {
        mut source,
        target,
        trace_dir,
    } = started;
    let t = Instant::now();
    let (sink, switch_file) = run::output_sink(req)?;
    let sink: Box<dyn Write> = Box::new(FlushEach(sink));
    let run_opts = RunOptions {
        limits: run::limits(req)?,
        seed: req.seed,
        suppress_handler_errors: req.suppress_handler_errors,
        timing: req.timing,
        target: req.target,
        switch_file,
        ..RunOptions::default()
    };
    let setup = LiveSetup {
        wall_clock_offset_ns: realtime_offset(),
        arch: std::env::consts::ARCH.to_string(),
        signatures: kernel.signatures.clone(),
        target,
        now: monotonic_ns,
        kallsyms_dir: Some(trace_dir),
    };
    let end = run_live(
        &program,
        &map,
        &run_opts,
        setup,
        source.as_mut(),
        stop,
        sink,
    )
    .map_err(|e| RunFailure::new(format!("retap: {e}")))?;
    drop(source);
    let concluded = run::conclude(
        &program,
        &map,
        None,
        &BTreeSet::new(),
        end.outcome,
        t,
        req,
        notes,
    );
    if let Some(why) = end.source_failed {
        return Err(RunFailure::new(format!("retap run: {why}")));
    }
    concluded.map(|_| ())
}

/// The monotonic clock the recorder stamps events with, in ns.
pub fn monotonic_ns() -> i64 {
    clock(libc::CLOCK_MONOTONIC)
}

fn clock(id: libc::clockid_t) -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(id, &mut t) };
    t.tv_sec * 1_000_000_000 + t.tv_nsec
}

/// CLOCK_REALTIME - CLOCK_MONOTONIC now, as a recording's manifest keeps it.
fn realtime_offset() -> i64 {
    let m = monotonic_ns();
    clock(libc::CLOCK_REALTIME) - m
}

/// A sink that hands each handler's output on at once (live output is
/// read as it happens, partial lines too).
struct FlushEach<W: Write>(W);

impl<W: Write> Write for FlushEach<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(b)?;
        self.0.flush()?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Frames read from a byte stream on a thread of their own, handed over a
/// round at a time.
pub struct FrameSource {
    rx: Receiver<Arrival>,
}

impl FrameSource {
    /// `tables`: those the stream may name (fixed ones are found by name
    /// anyway); a name outside them ends the stream with an error.
    pub fn spawn(mut input: impl Read + Send + 'static, tables: Vec<Table>) -> FrameSource {
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        std::thread::spawn(move || {
            let mut input = std::io::BufReader::with_capacity(1 << 20, &mut input);
            let mut round = vec![];
            loop {
                let frame = match stream::read_frame(&mut input) {
                    Ok(Some(f)) => f,
                    Ok(None) => {
                        let _ = tx.send(Arrival::Ended(None));
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Arrival::Ended(Some(e.to_string())));
                        return;
                    }
                };
                match frame {
                    Frame::RoundEnd => {
                        if tx.send(Arrival::Round(std::mem::take(&mut round))).is_err() {
                            // The run is over: dropping the pipe tells the
                            // recorder (a write that fails stops it).
                            return;
                        }
                    }
                    Frame::Batch {
                        table,
                        entries,
                        batch,
                    } => {
                        let t = Table::from_name(&table)
                            .or_else(|| tables.iter().copied().find(|t| t.name() == table));
                        let Some(t) = t else {
                            let _ = tx.send(Arrival::Ended(Some(format!(
                                "live stream: a table the script does not read: {table}"
                            ))));
                            return;
                        };
                        round.push(LiveBatch {
                            table: t,
                            entries,
                            batch,
                        });
                    }
                }
            }
        });
        FrameSource { rx }
    }
}

impl LiveSource for FrameSource {
    fn next(&mut self, timeout: Duration) -> Option<Arrival> {
        match self.rx.recv_timeout(timeout) {
            Ok(a) => Some(a),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Arrival::Ended(None)),
        }
    }
}
