//! `retap run SCRIPT` without `--trace`: starts `retap-record` on what the
//! script reads, with its live stream on a pipe (fd 3 in the recorder), and
//! lets the analyzer run the script on it (analyzer's `live`). Ctrl-C and
//! SIGTERM stop the run (end probes print); the recorder, in the same
//! process group, stops with it, or is asked to when the run ends first.

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use retap_analyzer::live::{FrameSource, LiveSource, Started};
use retap_analyzer::record_for::Needs;
use retap_analyzer::runtime::live::Arrival;
use retap_schema::{Manifest, Table};

use crate::record_for::{command_program, kernel, refused_by};

/// Set by SIGINT/SIGTERM.
pub static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// What `retap run` passes on to the recorder in live mode.
#[derive(Default)]
pub struct LiveArgs {
    /// -c CMD: run and trace it (and its children); stop when it exits.
    pub command: Option<String>,
    /// -x PID: trace only this process.
    pub pid: Option<i64>,
    /// -T SECONDS: stop after this long.
    pub timeout: Option<f64>,
    /// --keep DIR: the events also as a trace there.
    pub keep: Option<PathBuf>,
    /// -s SIZE: the recorder's ring buffer (--ringbuf-size).
    pub buffer: Option<String>,
}

/// The recorder's stream, and the recorder: when the stream ends, how the
/// recorder ended says whether anything was missed.
struct RecorderSource {
    /// None once the run no longer reads it.
    frames: Option<FrameSource>,
    child: Option<Child>,
}

impl LiveSource for RecorderSource {
    fn next(&mut self, timeout: Duration) -> Option<Arrival> {
        match self.frames.as_mut()?.next(timeout)? {
            Arrival::Ended(None) => Some(Arrival::Ended(self.wait())),
            other => Some(other),
        }
    }

    fn stop(&mut self) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
        }
    }
}

impl RecorderSource {
    /// Waits for the recorder; what went wrong with it, if anything.
    fn wait(&mut self) -> Option<String> {
        let mut child = self.child.take()?;
        let pid = child.id();
        match child.wait() {
            Ok(st) if st.success() => None,
            Ok(st) => {
                use std::os::unix::process::ExitStatusExt;
                Some(match st.signal() {
                    Some(sig) => format!(
                        "the recorder (retap-record, pid {pid}) was killed by signal {sig}: \
                         the events after it were not seen"
                    ),
                    None => format!(
                        "the recorder (retap-record, pid {pid}) stopped with exit status {}",
                        st.code().unwrap_or(-1)
                    ),
                })
            }
            Err(e) => Some(format!("waiting for the recorder (pid {pid}): {e}")),
        }
    }
}

impl Drop for RecorderSource {
    /// The run ended first (exit(), an error, Ctrl-C): the recorder is
    /// asked to stop and waited for, so its trace (--keep) is complete.
    fn drop(&mut self) {
        // First the reading end: its thread stops and closes the pipe, so a
        // recorder blocked writing to it gets EPIPE rather than waiting on
        // a reader that no longer reads.
        self.frames = None;
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
        }
        self.wait();
    }
}

/// A fresh directory name for the scratch recording.
fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("retap-live-{}-{nanos}", std::process::id()))
}

/// Starts the recorder on `needs`; the stream comes on a pipe.
fn start(
    recorder: &Path,
    needs: &Needs,
    tables: &[Table],
    a: &LiveArgs,
    dir: &Path,
) -> Result<Started, String> {
    if let Some(why) = refused_by(recorder, &[]) {
        return Err(format!(
            "{why}; or record as root and analyse later: sudo retap record --for SCRIPT -o DIR"
        ));
    }
    if needs.tables.contains(&Table::Vfs) {
        if let Some(why) = refused_by(recorder, &["vfs"]) {
            return Err(format!("vfs cannot be recorded on this kernel: {why}"));
        }
    }
    let mut args = needs.recorder_args();
    args.extend(["-q".into(), "--stream-fd".into(), "3".into()]);
    args.extend(["-o".into(), dir.display().to_string()]);
    if a.keep.is_none() {
        // A scratch recording: bounded, and removed afterwards.
        args.extend(["--max-size".into(), "256M".into()]);
        if needs.tables.contains(&Table::Syscalls) && !needs.syscall_returns {
            // No probe fires at a return: half the records.
            args.push("--entries-only".into());
        }
    }
    if let Some(c) = &a.command {
        args.extend(["-c".into(), c.clone()]);
    }
    if let Some(p) = a.pid {
        args.extend(["-x".into(), p.to_string()]);
    }
    if let Some(b) = &a.buffer {
        args.extend(["--ringbuf-size".into(), b.clone()]);
    }
    if let Some(t) = a.timeout {
        args.extend(["--duration".into(), format!("{t}s")]);
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into our array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just made and are ours alone.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let w = fds[1];
    let mut cmd = Command::new(recorder);
    cmd.args(&args);
    // SAFETY: between fork and exec only dup2 (async-signal-safe) runs;
    // the copy on fd 3 is not close-on-exec, the original is.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(w, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {} ({e})", recorder.display()))?;
    drop(write);
    // The recorder writes trace.json once it is set up (and -c's command
    // forked, its pid in it), and again with `attached_ns` once its
    // programs are attached: the script's begin and timers start there.
    let manifest = dir.join(retap_schema::manifest::MANIFEST_FILE);
    let deadline = Instant::now() + Duration::from_secs(60);
    let m = loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!(
                "the recorder stopped before recording ({st}); its message is above"
            ));
        }
        if let Ok(m) = Manifest::load(dir) {
            if m.attached_ns.is_some() {
                break m;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "the recorder did not start within a minute ({})",
                manifest.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let target = m.filters.pid.or(m.filters.command_pid).map_or(0, i64::from);
    let frames = FrameSource::spawn(std::fs::File::from(read), tables.to_vec());
    Ok(Started {
        source: Box::new(RecorderSource {
            frames: Some(frames),
            child: Some(child),
        }),
        target,
        trace_dir: dir.to_path_buf(),
        begin_ns: m.begin_ns(),
        wall_clock_offset_ns: m.wall_clock_offset_ns,
        hz: m.hz,
    })
}

/// Runs the request live; prints what the run says and returns the exit
/// status.
pub fn run(
    req: &retap_analyzer::run::RunRequest,
    a: &LiveArgs,
    recorder: &Path,
    notes: &mut dyn FnMut(retap_analyzer::run::Note),
) -> Result<(), retap_analyzer::run::RunFailure> {
    // SAFETY: installing an async-signal-safe handler that stores a flag.
    unsafe {
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
    }
    let dir = a.keep.clone().unwrap_or_else(scratch_dir);
    let mut started = false;
    let result = retap_analyzer::live::run(
        req,
        // Not root: the kernel's tracepoints cannot be read; the analyzer
        // then runs what needs no events and says how to trace the rest.
        &mut || {
            kernel().ok().map(|mut k| {
                k.target_program = a.command.as_deref().and_then(command_program);
                k
            })
        },
        &mut |needs, k| {
            started = true;
            let tables: Vec<Table> = k.tracepoints.iter().map(|f| Table::Tracepoint(f)).collect();
            start(recorder, needs, &tables, a, &dir)
        },
        &STOP,
        // Counting in the kernel leaves nothing to keep.
        a.keep.is_none(),
        notes,
    );
    let lost = started.then(|| lost_events(&dir)).flatten();
    if started && a.keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result?;
    if let Some(n) = lost {
        // As stap reports probes it had to skip: the run's answer is short.
        return Err(retap_analyzer::run::RunFailure {
            message: format!(
                "WARNING: Number of errors: 0, skipped probes: {n}\n\
                 WARNING: {n} event(s) were lost (the recorder's ring buffer was full); \
                 the output above misses them\n"
            ),
            code: 1,
        });
    }
    Ok(())
}

/// Events the recording lost, from its manifest (None: none).
fn lost_events(dir: &Path) -> Option<u64> {
    let m = Manifest::load(dir).ok()?;
    let n: u64 = m.tables.values().map(|t| t.dropped + t.unpaired).sum();
    (n > 0).then_some(n)
}
