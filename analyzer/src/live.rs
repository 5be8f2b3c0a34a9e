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

use crate::plan;
use crate::record_for::{self, Kernel, Needs};
use crate::run::{self, Note, RunFailure, RunRequest};
use crate::runtime::live::{run_live, Arrival, CountKey, LiveBatch, LiveCount, LiveSetup};
use crate::runtime::{self, RunOptions};
use crate::stap::elaborate::ir::Program;
use crate::stap::elaborate::ElabOptions;

pub use crate::runtime::live::LiveSource;

/// A started recorder, as the caller reports it.
pub struct Started {
    pub source: Box<dyn LiveSource>,
    /// target(): -c's command or -x's process (else 0).
    pub target: i64,
    /// The recording's directory (kernel symbols for backtraces).
    pub trace_dir: PathBuf,
    /// Where the script's time begins (the manifest's `begin_ns`: the
    /// recorder's programs attached) and CLOCK_REALTIME - CLOCK_MONOTONIC:
    /// begin and the timers count from the same moment as a run over the
    /// kept trace does, so both print the same.
    pub begin_ns: i64,
    pub wall_clock_offset_ns: i64,
    /// The kernel's HZ, as the manifest says it.
    pub hz: Option<u32>,
}

/// Runs `req`'s script live. `kernel` reads the running kernel, None when
/// it cannot (not root): it is asked only when the script has event or
/// timer probes (a script of begin and end probes runs at once, as without
/// a trace). `start` starts the recorder for what the script needs.
///
/// With `count_in_kernel`, probes whose only effect is `g[keys]++` at
/// syscall entries (keys among execname(), pid(), tid(), uid(), cpu()) are
/// counted in the kernel rather than streamed (`Needs::counts`); the
/// caller sets it unless the events must be kept (`--keep`).
pub fn run(
    req: &RunRequest,
    kernel: &mut dyn FnMut() -> Option<Kernel>,
    start: &mut dyn FnMut(&Needs, &Kernel) -> Result<Started, String>,
    stop: &AtomicBool,
    count_in_kernel: bool,
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
    let bare = ElabOptions::no_trace(std::env::consts::ARCH);
    let first = run::front_on_host(req, &bare, &mut |_| {});
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
    let counted = if count_in_kernel && !req.interpret_only {
        kernel_counted(&program)
    } else {
        vec![]
    };
    let skip: BTreeSet<usize> = counted.iter().map(|(c, _)| c.probe).collect();
    let mut needs = record_for::needs_except(&program, &skip);
    needs.counts = counted
        .iter()
        .map(|(c, on)| count_arg(&c.keys, on))
        .collect();
    if req.verbose > 0 {
        notes(Note::Verbose(
            "live: recording what the script reads:".into(),
        ));
        for r in &needs.reasons {
            notes(Note::Verbose(format!("  {r}")));
        }
        for (c, _) in &counted {
            notes(Note::Verbose(format!(
                "  {}: counted in the kernel",
                program.probes[c.probe].text
            )));
        }
    }
    let started = start(&needs, &kernel).map_err(|e| RunFailure::new(format!("retap run: {e}")))?;
    let Started {
        mut source,
        target,
        trace_dir,
        begin_ns,
        wall_clock_offset_ns,
        hz,
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
        wall_clock_offset_ns,
        start: begin_ns,
        hz,
        arch: std::env::consts::ARCH.to_string(),
        signatures: kernel.signatures.clone(),
        target,
        now: monotonic_ns,
        kallsyms_dir: Some(trace_dir),
        counted: counted.into_iter().map(|(c, _)| c).collect(),
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

/// Probes the kernel can count for a live run: all of whose effect is
/// `g[keys]++` (no guard) at syscall entries without conditions, keyed by
/// what the kernel knows of the current task, into arrays nothing but
/// such probes and `end`/`error` touch (the plan analysis' compiled
/// probes), with no timers (which would read them as they go). At most 16
/// (the kernel's slots: whole arrays that fit). With the syscalls each
/// counts (None: all).
fn kernel_counted(program: &Program) -> Vec<(LiveCount, CountedOn)> {
    use crate::plan::UpdateKind;
    use crate::stap::elaborate::catalog::Family;
    use crate::stap::elaborate::ir::X;
    use crate::stap::elaborate::tapset::Builtin;
    let compiled = plan::analyse(program);
    if compiled.period.is_some() {
        return vec![];
    }
    let key_of = |x: &X| match x {
        X::Call(b, args, _) if args.is_empty() => match b {
            Builtin::Execname => Some(CountKey::Comm),
            Builtin::Pid => Some(CountKey::Pid),
            Builtin::Tid => Some(CountKey::Tid),
            Builtin::Uid => Some(CountKey::Uid),
            Builtin::Cpu => Some(CountKey::Cpu),
            _ => None,
        },
        _ => None,
    };
    let mut out: Vec<(LiveCount, CountedOn)> = vec![];
    for &pi in &compiled.probes {
        let p = &program.probes[pi];
        let at_entry = p.points.iter().all(|pt| {
            matches!(
                pt.family,
                Family::Syscall { ret: false } | Family::SyscallAny { ret: false }
            ) && pt.condition.is_none()
        });
        // One user-space probe (a slot counts one).
        let uprobe = match p.points.as_slice() {
            [pt] if matches!(pt.family, Family::Uprobe { .. }) && pt.condition.is_none() => {
                pt.uprobe.clone()
            }
            _ => None,
        };
        let updates: Vec<_> = compiled.updates.iter().filter(|u| u.probe == pi).collect();
        let Some(first) = updates.first() else {
            continue;
        };
        let keys: Option<Vec<CountKey>> = first.keys.iter().map(key_of).collect();
        let Some(keys) = keys else { continue };
        let counts_only = updates.iter().all(|u| {
            u.global == first.global
                && u.guards.is_empty()
                && matches!(u.kind, UpdateKind::Count(1))
                && u.keys
                    .iter()
                    .map(key_of)
                    .collect::<Option<Vec<_>>>()
                    .as_ref()
                    == Some(&keys)
        });
        if !(at_entry || uprobe.is_some()) || !counts_only || keys.is_empty() || p.body.len() != 1 {
            continue;
        }
        let on = match uprobe {
            Some(u) => CountedOn::Uprobe(u),
            None => {
                let mut syscalls: Option<Vec<String>> = Some(vec![]);
                for pt in &p.points {
                    match (&pt.syscalls, syscalls.as_mut()) {
                        (None, _) => syscalls = None,
                        (Some(names), Some(s)) => s.extend(names.iter().cloned()),
                        _ => {}
                    }
                }
                CountedOn::Syscalls(syscalls)
            }
        };
        out.push((
            LiveCount {
                probe: pi,
                global: first.global,
                keys,
            },
            on,
        ));
    }
    // Every update of a counted array must be counted: elements made by
    // the interpreter and by the kernel would not keep one order.
    let counted: BTreeSet<usize> = out.iter().map(|(c, _)| c.probe).collect();
    out.retain(|(c, _)| {
        compiled
            .updates
            .iter()
            .filter(|u| u.global == c.global)
            .all(|u| counted.contains(&u.probe))
    });
    // The kernel's slots, a probe each: whole arrays, first come.
    let mut slots = 0;
    let mut fits: BTreeSet<u32> = BTreeSet::new();
    let mut globals: Vec<u32> = out.iter().map(|(c, _)| c.global).collect();
    globals.dedup();
    for g in globals {
        let n = out.iter().filter(|(c, _)| c.global == g).count();
        if slots + n <= COUNT_SLOTS {
            slots += n;
            fits.insert(g);
        }
    }
    out.retain(|(c, _)| fits.contains(&c.global));
    out
}

/// How many probes the kernel counts at most (bpf/records.h COUNT_SLOTS).
const COUNT_SLOTS: usize = 16;

/// What a probe counted in the kernel counts.
#[derive(Clone, Debug, PartialEq)]
enum CountedOn {
    /// Syscall entries (None: every syscall).
    Syscalls(Option<Vec<String>>),
    /// A user-space probe's firings.
    Uprobe(retap_schema::Uprobe),
}

/// `--count`'s argument for a counted probe.
fn count_arg(keys: &[CountKey], on: &CountedOn) -> String {
    let fields: Vec<&str> = keys
        .iter()
        .map(|k| match k {
            CountKey::Comm => "comm",
            CountKey::Pid => "pid",
            CountKey::Tid => "tid",
            CountKey::Uid => "uid",
            CountKey::Cpu => "cpu",
        })
        .collect();
    let what = match on {
        CountedOn::Syscalls(None) => "*".to_string(),
        CountedOn::Syscalls(Some(s)) => s.join(","),
        CountedOn::Uprobe(u) => format!("@{}", u.spec()),
    };
    format!("{}:{what}", fields.join(","))
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
                    Frame::RoundEnd { watermark } => {
                        let batches = std::mem::take(&mut round);
                        if tx.send(Arrival::Round { batches, watermark }).is_err() {
                            // The run is over: dropping the pipe tells the
                            // recorder (a write that fails stops it).
                            return;
                        }
                    }
                    Frame::Batch { table, batch, .. } if table == stream::COUNTS => {
                        if tx.send(Arrival::Counts(batch)).is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stap::{self, PpEnv};

    fn counted(text: &str) -> Vec<(Vec<CountKey>, Option<Vec<String>>)> {
        counted_on(text)
            .into_iter()
            .map(|(k, on)| match on {
                CountedOn::Syscalls(s) => (k, s),
                CountedOn::Uprobe(u) => panic!("{text}: counts {}", u.probe()),
            })
            .collect()
    }

    fn counted_on(text: &str) -> Vec<(Vec<CountKey>, CountedOn)> {
        let (p, d) = stap::parse("t.stp", text, &PpEnv::host(vec![]));
        assert!(d.is_empty(), "{text}");
        let opts = ElabOptions::no_trace("x86_64");
        let (prog, errors, _) = crate::stap::elaborate::elaborate(&p.script, &opts);
        assert!(errors.is_empty(), "{text}: {errors:?}");
        kernel_counted(&prog)
            .into_iter()
            .map(|(c, on)| (c.keys, on))
            .collect()
    }

    const END: &str = "probe end { foreach (k in c) printf(\"%d\\n\", c[k]) }";

    /// Only `g[keys]++` at syscall entries, keyed by the current task,
    /// into arrays nothing else updates, without timers, is counted in the
    /// kernel; anything else is streamed and interpreted.
    #[test]
    fn what_the_kernel_counts() {
        use CountKey::*;
        let c = |body: &str| counted(&format!("global c, x\n{body}\n{END}"));
        assert_eq!(
            c("probe syscall.* { c[execname()]++ }"),
            [(
                vec![Comm],
                c("probe syscall.* { c[execname()]++ }")[0].1.clone()
            )]
        );
        let four =
            "global c\nprobe syscall.read, syscall.write { c[pid(), tid(), uid(), cpu()]++ }\n\
                    probe end { foreach ([a, b, d, e] in c) printf(\"%d\\n\", c[a, b, d, e]) }";
        // (one probe per point, as stap derives them: a slot each)
        assert_eq!(
            counted(four),
            [
                (vec![Pid, Tid, Uid, Cpu], Some(vec!["read".to_string()])),
                (vec![Pid, Tid, Uid, Cpu], Some(vec!["write".to_string()]))
            ]
        );
        // More probes than slots: the array is streamed whole.
        let many: Vec<String> = (0..17)
            .map(|i| {
                format!(
                    "probe syscall.{} {{ c[execname()]++ }}",
                    [
                        "read", "write", "openat", "close", "fstat", "mmap2", "munmap", "brk",
                        "ioctl", "pread", "pwrite", "readv", "writev", "access", "pipe", "select",
                        "dup"
                    ][i]
                )
            })
            .collect();
        assert_eq!(c(&many[..16].join("\n")).len(), 16);
        assert_eq!(c(&many.join("\n")), []);
        let two = "global c\nprobe syscall.write, syscall.sync { c[execname(), pid()]++ }\n\
                   probe end { foreach ([e, p] in c) printf(\"%s %d %d\\n\", e, p == target(), c[e, p]) }";
        assert_eq!(counted(two).len(), 2);
        assert_eq!(
            c("probe syscall_any { c[execname()]++ }"),
            [(vec![Comm], None)]
        );
        for streamed in [
            // a guard, a value, a return, a key the kernel does not count by
            "probe syscall.read { if (pid() > 1) c[execname()]++ }",
            "probe syscall.read { c[execname()] += 2 }",
            "probe syscall.read.return { c[execname()]++ }",
            "probe syscall.read { c[fd]++ }",
            "probe syscall.read { c[execname()]++; x++ }",
            "probe syscall.read { c[execname()]++ } probe timer.s(1) { x++ }",
            // the array also updated by a probe the kernel cannot count
            "probe syscall.read { c[execname()]++ } probe syscall.write { if (pid() > 1) c[execname()]++ }",
            "probe syscall.read { c[execname()]++ } probe kprocess.exit { c[execname()]++ }",
        ] {
            assert_eq!(c(streamed), [], "{streamed}");
        }
        assert_eq!(
            count_arg(
                &[Comm, Pid],
                &CountedOn::Syscalls(Some(vec!["read".to_string(), "write".to_string()]))
            ),
            "comm,pid:read,write"
        );
        assert_eq!(count_arg(&[Uid], &CountedOn::Syscalls(None)), "uid:*");
    }

    /// A user-space probe counted by the task, one probe a slot; values,
    /// guards and strings are streamed.
    #[test]
    fn what_the_kernel_counts_of_user_space_probes() {
        use crate::stap::elaborate::catalog::UserProbes;
        use retap_schema::Uprobe;
        let probes: Vec<Uprobe> = ["function:/bin/x:f", "return:/bin/x:f", "mark:/bin/x:p:m"]
            .iter()
            .map(|s| Uprobe::parse_spec(s).unwrap())
            .collect();
        let counted = |body: &str| {
            let text = format!("global c, x\n{body}\n{END}");
            let (p, d) = stap::parse("t.stp", &text, &PpEnv::host(vec![]));
            assert!(d.is_empty(), "{text}");
            let opts = ElabOptions {
                user_probes: UserProbes::Recorded(probes.clone()),
                ..ElabOptions::no_trace("x86_64")
            };
            let (prog, errors, _) = crate::stap::elaborate::elaborate(&p.script, &opts);
            assert!(errors.is_empty(), "{text}: {errors:?}");
            kernel_counted(&prog)
                .into_iter()
                .map(|(c, on)| count_arg(&c.keys, &on))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            counted(r#"probe process("/bin/x").function("f") { c[execname()]++ }"#),
            ["comm:@function:/bin/x:f"]
        );
        assert_eq!(
            counted(r#"probe process("/bin/x").mark("m") { c[tid()]++ }"#),
            ["tid:@mark:/bin/x:p:m"]
        );
        assert_eq!(
            counted(r#"probe process("/bin/x").function("f").return { c[execname()]++ }"#),
            ["comm:@return:/bin/x:f"]
        );
        for streamed in [
            r#"probe process("/bin/x").function("f").return { c[$return]++ }"#,
            r#"probe process("/bin/x").function("f") { c[ulong_arg(1)]++ }"#,
            r#"probe process("/bin/x").function("f") { if (pid() > 1) c[execname()]++ }"#,
        ] {
            assert_eq!(counted(streamed), Vec::<String>::new(), "{streamed}");
        }
    }
}
