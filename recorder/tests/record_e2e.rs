//! End-to-end tests of the recorder: record a workload whose every call is
//! known (retap-workload) and check each count and length in the trace,
//! through retap's own Parquet reading and through DuckDB, independently.
//! They need root (BPF); elsewhere each test says why it skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::AsArray;

const WORKLOAD: &str = env!("CARGO_BIN_EXE_retap-workload");

mod common;
use common::*;

#[test]
fn a_known_workload_is_recorded_exactly() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let (syncs, writes, wbase, udp, ubase) = (7, 11, 100, 5, 1000);
    let cmd = format!(
        "{WORKLOAD} calls --sync {syncs} --write {writes} --write-base {wbase} --udp {udp} --udp-base {ubase} --sleep-ms 10 --fork-exit 3"
    );
    let out = record(&dir, &["--events", "syscalls,processes,net", "-c", &cmd]);
    let pid = kv(&out.stdout, "pid");
    let child = kv(&out.stdout, "child_pid");
    let null_fd = kv(&out.stdout, "null_fd");

    // --- retap's own reading ---
    let sc = read_table(&dir, "syscalls");
    let (pids, names, args0, args2, rets, durs) = (
        ints(&sc, "pid"),
        strs(&sc, "syscall"),
        ints(&sc, "arg0"),
        ints(&sc, "arg2"),
        ints(&sc, "ret"),
        ints(&sc, "dur_ns"),
    );
    let mine = |i: usize| pids[i] == Some(pid);
    let count = |name: &str| {
        (0..sc.iter().map(|b| b.num_rows()).sum())
            .filter(|&i| mine(i) && names[i] == name)
            .count()
    };
    assert_eq!(count("sync"), syncs);
    let mut write_lens: Vec<i64> = (0..names.len())
        .filter(|&i| mine(i) && names[i] == "write" && args0[i] == Some(null_fd))
        .map(|i| {
            assert_eq!(rets[i], args2[i], "a write to /dev/null returns its length");
            args2[i].unwrap()
        })
        .collect();
    write_lens.sort();
    assert_eq!(
        write_lens,
        (wbase..wbase + writes as i64).collect::<Vec<_>>()
    );
    assert_eq!(count("sendto"), udp);
    let sleeps: Vec<i64> = (0..names.len())
        .filter(|&i| mine(i) && (names[i] == "nanosleep" || names[i] == "clock_nanosleep"))
        .map(|i| durs[i].unwrap())
        .collect();
    assert_eq!(sleeps.len(), 1);
    assert!(sleeps[0] >= 10_000_000, "slept {} ns", sleeps[0]);
    // exit_group never returns: present once per process, without ret/dur.
    let exits: Vec<usize> = (0..names.len())
        .filter(|&i| names[i] == "exit_group" && (pids[i] == Some(pid) || pids[i] == Some(child)))
        .collect();
    assert_eq!(exits.len(), 2);
    assert!(exits
        .iter()
        .all(|&i| rets[i].is_none() && durs[i].is_none()));

    let pr = read_table(&dir, "processes");
    let (ev, ppid, cpid, code, fname, ppids) = (
        strs(&pr, "event"),
        ints(&pr, "pid"),
        ints(&pr, "child_pid"),
        ints(&pr, "exit_code"),
        strs(&pr, "filename"),
        ints(&pr, "ppid"),
    );
    let n = ev.len();
    assert!(
        (0..n).any(|i| ev[i] == "exec"
            && ppid[i] == Some(pid)
            && fname[i].ends_with("/retap-workload")),
        "exec of the workload with its file name"
    );
    assert!((0..n).any(|i| ev[i] == "fork" && ppid[i] == Some(pid) && cpid[i] == Some(child)));
    assert!((0..n).any(|i| ev[i] == "exit"
        && ppid[i] == Some(child)
        && code[i] == Some(3 << 8)
        && ppids[i] == Some(pid)));

    let net = read_table(&dir, "net");
    let (dirn, dev, len, npid) = (
        strs(&net, "direction"),
        strs(&net, "dev_name"),
        ints(&net, "length"),
        ints(&net, "pid"),
    );
    let lens = |d: &str| {
        let mut v: Vec<i64> = (0..dirn.len())
            .filter(|&i| dirn[i] == d && dev[i] == "lo" && npid[i] == Some(pid))
            .map(|i| len[i].unwrap())
            .collect();
        v.sort();
        v
    };
    // Ethernet (14) + IPv4 (20) + UDP (8) headers on transmit; the Ethernet
    // header is already pulled when netif_receive_skb sees the packet.
    assert_eq!(
        lens("tx"),
        (ubase + 42..ubase + 42 + udp as i64).collect::<Vec<_>>()
    );
    assert_eq!(
        lens("rx"),
        (ubase + 28..ubase + 28 + udp as i64).collect::<Vec<_>>()
    );

    // --- the same facts through DuckDB ---
    let q = |sql: &str| duck(&dir, sql);
    assert_eq!(
        q(&format!(
            "select count(*) from syscalls where pid={pid} and syscall='sync'"
        )),
        [syncs.to_string()]
    );
    assert_eq!(
        q(&format!("select count(*), sum(arg2), min(arg2), max(arg2), count(*) filter (where ret = arg2) from syscalls where pid={pid} and syscall='write' and arg0={null_fd}")),
        [format!("{writes}|{}|{wbase}|{}|{writes}", (wbase..wbase + writes as i64).sum::<i64>(), wbase + writes as i64 - 1)]
    );
    assert_eq!(
        q(&format!("select direction, count(*), min(length), max(length) from net where pid={pid} and dev_name='lo' group by 1 order by 1")),
        [format!("rx|{udp}|{}|{}", ubase + 28, ubase + 27 + udp as i64), format!("tx|{udp}|{}|{}", ubase + 42, ubase + 41 + udp as i64)]
    );
    assert_eq!(
        q(&format!("select count(*) from syscalls where syscall in ('nanosleep','clock_nanosleep') and pid={pid} and dur_ns >= 10000000")),
        ["1"]
    );
    assert_eq!(
        q(&format!(
            "select exit_code from processes where event='exit' and pid={child}"
        )),
        ["768"]
    );

    // The manifest agrees with the files, nothing was lost, files are private.
    let m = manifest(&dir);
    assert_eq!(m["state"], "complete");
    // The kernel's HZ, as its configuration states it (this machine's
    // kernel has /proc/config.gz).
    let hz = retap_schema::kernel_config::hz().expect("CONFIG_HZ readable here");
    assert_eq!(m["hz"], hz);
    for t in ["syscalls", "processes", "net"] {
        let rows: u64 = read_table(&dir, t)
            .iter()
            .map(|b| b.num_rows() as u64)
            .sum();
        assert_eq!(m["tables"][t]["events"].as_u64().unwrap(), rows, "{t}");
        assert_eq!(m["tables"][t]["dropped"].as_u64().unwrap(), 0, "{t}");
        for f in m["tables"][t]["files"].as_array().unwrap() {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(dir.join(f["path"].as_str().unwrap())).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
    }
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("recorded ") && summary.contains(" 0 lost"),
        "{summary}"
    );
    // Every file carries checksums, and they hold: every page and byte.
    let trace = retap_analyzer::trace::Trace::open(&dir).unwrap();
    let files: Vec<_> = trace.tables.iter().flat_map(|t| &t.files).collect();
    assert!(files.iter().all(|f| f
        .entry
        .as_ref()
        .is_some_and(|e| e.crc32.is_some() && e.tail.is_some())));
    let v = retap_analyzer::integrity::verify(&trace, &[]);
    assert_eq!((v.files, v.checksummed), (files.len(), files.len()));
    assert!(v.damage.is_empty(), "{:?}", v.damage);
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs");
        SmallDisk { _dir: dir, path }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Bytes of every file under `dir` (temporary files included); a file
/// removed while it is looked at counts nothing.
fn du(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else {
                continue;
            };
            n += if m.is_dir() { du(&e.path()) } else { m.len() };
        }
    }
    n
}

/// The write lengths (`calls --write`) of the trace's completed files, in
/// time order.
fn write_lengths(dir: &Path, pid: i64) -> Vec<i64> {
    duck(
        dir,
        &format!("select arg2 from syscalls where pid = {pid} and syscall = 'write' and arg0 > 2 order by ts"),
    )
    .iter()
    .map(|l| l.parse().unwrap())
    .collect()
}

#[test]
fn max_size_keeps_a_long_recording_within_a_small_disk() {
    need_root!();
    let disk = SmallDisk::new("1m");
    let dir = disk.path.join("t");
    let bound: u64 = 512 << 10;
    let n = 600_000;
    let base = 100;
    let mut child = start(
        &dir,
        &[
            "--events",
            "syscalls",
            "--max-size",
            "512K",
            "--ringbuf-size",
            "64M",
            "-q",
            "-c",
            &format!("{WORKLOAD} calls --write {n} --write-base {base}"),
        ],
    );
    // The Parquet files never take more than the bound (the manifest and
    // the recorder's reserve for it are not Parquet).
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        let parquet = du(&dir.join("syscalls"));
        most = most.max(parquet);
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        most <= bound,
        "{most} bytes of Parquet on a {bound}-byte bound"
    );
    let pid = kv(&out.stdout, "pid");
    let m = manifest(&dir);
    let t = &m["tables"]["syscalls"];
    assert_eq!(t["dropped"], 0);
    let expired = t["expired"].as_u64().unwrap();
    assert!(t["expired_files"].as_u64().unwrap() >= 5, "{t}");
    // Many times the disk went through it.
    let rows = t["events"].as_u64().unwrap() + expired;
    assert!(rows >= n as u64, "{rows}");
    // What remains is the last writes, every one of them, and the trace
    // says from when it is complete: no write before that instant is left
    // and the first one left comes right after the removed ones.
    let lens = write_lengths(&dir, pid);
    assert!(!lens.is_empty());
    let last = base + n - 1;
    assert_eq!(*lens.last().unwrap(), last);
    let first = lens[0];
    assert_eq!(lens, (first..=last).collect::<Vec<_>>());
    assert!(first > base, "{first}: nothing was removed");
    let from = m["complete_from_ns"].as_i64().unwrap();
    let first_ts: i64 = duck(
        &dir,
        &format!(
            "select min(ts) from syscalls where pid = {pid} and syscall = 'write' and arg0 > 2"
        ),
    )[0]
    .parse()
    .unwrap();
    assert!(
        first_ts >= from - 1_000_000,
        "{first_ts} vs complete from {from}"
    );
    assert_eq!(
        duck(
            &dir,
            &format!("select count(*) from syscalls where ts < {from}")
        )[0],
        duck(
            &dir,
            &format!("select count(*) from syscalls where ts < {from} and ts >= {from} - 1000000")
        )[0],
        "rows older than complete_from_ns beyond a late file's margin"
    );
}

#[test]
fn a_full_disk_stops_the_recording_and_keeps_every_completed_row() {
    need_root!();
    let disk = SmallDisk::new("1m");
    let dir = disk.path.join("t");
    let n = 600_000;
    let base = 100;
    let out = attempt(
        &dir,
        &[
            "--events",
            "syscalls",
            "--rotate-size",
            "64K",
            "--ringbuf-size",
            "64M",
            "-q",
            "-c",
            &format!("{WORKLOAD} calls --write {n} --write-base {base}"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // One line, the OS's words once. The disk may fill while a data file
    // is written or while trace.json is rewritten after a completed file
    // (the old one stays: it is replaced by a rename); the line says which.
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let head = format!(
        "retap-record: recording stopped: writing {} failed: ",
        dir.display()
    );
    let rest = lines[0]
        .strip_prefix(&head)
        .unwrap_or_else(|| panic!("{err}"));
    let rest = rest.strip_prefix("writing trace.json: ").unwrap_or(rest);
    assert!(
        rest.starts_with("No space left on device (os error 28); rows not written: syscalls "),
        "{err}"
    );
    assert!(!err.contains("External"), "{err}");
    let m = manifest(&dir);
    assert_eq!(m["state"], "complete");
    let t = &m["tables"]["syscalls"];
    let unwritten = t["unwritten"].as_u64().unwrap();
    let from = t["unwritten_from_ns"].as_i64().unwrap();
    assert!(unwritten > 0);
    assert!(m["stopped_by"]
        .as_str()
        .unwrap()
        .contains("No space left on device"));
    // No torn file is left; the completed ones are listed and readable,
    // and hold the workload's writes from the first on, none missing, all
    // before the first row not written.
    let names: Vec<String> = std::fs::read_dir(dir.join("syscalls"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".parquet") && !n.starts_with('.')),
        "{names:?}"
    );
    assert_eq!(names.len(), t["files"].as_array().unwrap().len());
    let pid: i64 = duck(
        &dir,
        "select pid from syscalls where syscall = 'write' and arg0 > 2 limit 1",
    )[0]
    .parse()
    .unwrap();
    let lens = write_lengths(&dir, pid);
    assert!(!lens.is_empty());
    assert_eq!(lens, (base..base + lens.len() as i64).collect::<Vec<_>>());
    let last_ts: i64 = duck(&dir, "select max(ts) from syscalls")[0]
        .parse()
        .unwrap();
    assert!(last_ts < from, "{last_ts} {from}");
    assert_eq!(
        duck(&dir, "select count(*) from syscalls")[0],
        t["events"].to_string()
    );
}

#[test]
fn a_vanished_trace_directory_stops_the_recording_the_same_way() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let child = start(
        &dir,
        &[
            "--events",
            "syscalls",
            "--rotate-size",
            "64K",
            "-q",
            "-c",
            &format!("{WORKLOAD} calls --write 300000 --sleep-ms 2000"),
        ],
    );
    assert!(wait_for_file(&dir.join("syscalls/part-000000.parquet")));
    // The recorder keeps writing: a file it makes while the tree is being
    // removed leaves a directory not empty, so remove until it is gone.
    for tries in 0.. {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 100 => {}
            Err(e) => panic!("removing {}: {e}", dir.display()),
        }
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // One line, no panic: what failed, what was not written, and that
    // even the manifest could not be.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "retap-record: recording stopped: writing {} failed: ",
            dir.display()
        )) && err.contains("No such file or directory (os error 2)")
            && err.contains("rows not written: syscalls ")
            && err.trim_end().ends_with("; the trace directory is gone"),
        "{err}"
    );
}

#[test]
fn a_flight_recording_snapshot_holds_the_last_seconds_whole() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let flight_ns: i64 = 2_000_000_000;
    let base = 100;
    // ~2.2 ms a write for ~7 s.
    let child = start(
        &dir,
        &[
            "--events",
            "syscalls",
            "--flight",
            "2s",
            "-q",
            "-c",
            &format!("{WORKLOAD} calls --write 3000 --write-base {base} --write-pace-us 2000"),
        ],
    );
    assert!(wait_for_file(&dir.join(".retap-recorder.pid")));
    std::thread::sleep(Duration::from_millis(4500));
    unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
    let snap = {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let found = std::fs::read_dir(&dir).unwrap().flatten().find(|e| {
                e.file_name().to_string_lossy().starts_with("snapshot-")
                    && e.path().join("trace.json").exists()
            });
            if let Some(e) = found {
                break e.path();
            }
            assert!(Instant::now() < end, "no snapshot");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let pid = kv(&out.stdout, "pid");
    // The snapshot is a trace of its own, untouched by the retention that
    // went on after it: every file it lists is there and read.
    let m = manifest(&snap);
    assert_eq!(m["state"], "complete");
    let end_ns = m["end_ns"].as_i64().unwrap();
    let t = &m["tables"]["syscalls"];
    assert_eq!(
        duck(&snap, "select count(*) from syscalls")[0],
        t["events"].to_string()
    );
    assert!(snap.join("syscall_signatures.json").exists());
    // It holds the last two seconds before it was taken, whole: the
    // writes in it are consecutive, from before the window's start to
    // the moment of the snapshot, and nothing older than the window and
    // the span of one file (rotation is a tenth of the window, ticked
    // once a second).
    let lens = write_lengths(&snap, pid);
    let first = lens[0];
    assert_eq!(lens, (first..first + lens.len() as i64).collect::<Vec<_>>());
    let ts: Vec<i64> = duck(
        &snap,
        &format!("select min(ts), max(ts) from syscalls where pid = {pid} and syscall = 'write' and arg0 > 2"),
    )[0]
    .split('|')
    .map(|v| v.parse().unwrap())
    .collect();
    assert!(ts[0] <= end_ns - flight_ns, "window start missing");
    assert!(
        ts[0] >= end_ns - flight_ns - 2_500_000_000,
        "{} s too old",
        (end_ns - ts[0]) as f64 / 1e9
    );
    assert!(
        end_ns - ts[1] < 200_000_000,
        "the last writes before the snapshot are missing"
    );
    // And the recording itself, at its end, keeps its own last two seconds.
    let main = manifest(&dir);
    assert!(main["tables"]["syscalls"]["expired"].as_u64().unwrap() > 0);
    assert_eq!(main["retention"]["max_age_ns"], 2_000_000_000u64);
}

#[test]
fn a_slow_syscall_takes_a_snapshot_once_per_window() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    // 200 writes, a 300 ms sleep, then a shell's wait for it and another
    // sleep: the first slow syscall takes a snapshot, the later ones fall
    // in the same 10 s window and do not.
    let out = record(
        &dir,
        &[
            "--events",
            "syscalls",
            "--flight",
            "10s",
            "--snapshot-when",
            "latency > 200ms",
            "-q",
            "-c",
            &format!("{WORKLOAD} calls --write 200 --sleep-ms 300; sleep 0.3"),
        ],
    );
    let pid = kv(&out.stdout, "pid");
    let snaps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("snapshot-")
        })
        .collect();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let slow_calls: i64 = duck(
        &dir,
        "select count(*) from syscalls where dur_ns > 200000000",
    )[0]
    .parse()
    .unwrap();
    assert!(
        slow_calls >= 2,
        "only {slow_calls} slow call(s): the window went untested"
    );
    // It holds what led to it: the writes, and the slow call itself.
    let snap = &snaps[0];
    assert_eq!(write_lengths(snap, pid).len(), 200);
    let slow = duck(
        snap,
        &format!("select syscall, dur_ns >= 300000000 from syscalls where pid = {pid} and dur_ns > 200000000"),
    );
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert!(slow[0].ends_with("|True"), "{slow:?}");
    // A condition that cannot be met is refused before recording.
    let bad = attempt(
        &tmp.path().join("bad"),
        &["--snapshot-when", "notacall latency > 1s"],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("--snapshot-when: \"notacall\" is not a syscall of x86_64"));
}

#[test]
fn a_read_only_disk_is_refused_before_recording() {
    need_root!();
    let disk = SmallDisk::new("1m");
    let st = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&disk.path)
        .status()
        .unwrap();
    assert!(st.success());
    let dir = disk.path.join("t");
    let out = attempt(&dir, &["--events", "syscalls", "-c", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "retap-record: creating {}: Read-only file system (os error 30)",
            dir.display()
        )
    );
}

#[test]
fn sighup_completes_the_files_being_written() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let child = start(
        &dir,
        &[
            "--events",
            "syscalls",
            "-q",
            "-c",
            &format!("{WORKLOAD} calls --sleep-ms 2500"),
        ],
    );
    assert!(wait_for_file(&dir.join("trace.json")));
    std::thread::sleep(Duration::from_millis(1000));
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let m = manifest(&dir);
    let files = m["tables"]["syscalls"]["files"].as_array().unwrap();
    // Without the signal: one file (rotation is at 256M or 60 s).
    assert_eq!(files.len(), 2, "{files:?}");
    let rows = duck(&dir, "select count(*) from syscalls")[0].clone();
    assert_eq!(rows, m["tables"]["syscalls"]["events"].to_string());
}

fn wait_for_file(p: &Path) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn sigint_leaves_a_finalised_trace() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let child = start(&dir, &["--events", "syscalls,processes"]);
    std::thread::sleep(Duration::from_millis(1000));
    // A syscall entered while recording that is still running at stop.
    let mut sleeper = Command::new(WORKLOAD)
        .args(["calls", "--sleep-ms", "3000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // And one blocked in openat with a file name: a FIFO without a writer.
    let fifo = tmp.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut opener = Command::new("cat").arg(&fifo).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let sleeper_pid = sleeper.id();
    sleeper.wait().unwrap();
    let opener_pid = opener.id();
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    opener.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = manifest(&dir);
    assert_eq!(m["state"], "complete");
    assert!(m["end_ns"].as_i64().unwrap() > m["start_ns"].as_i64().unwrap());
    let rows = duck(&dir, "select count(*) from syscalls")[0]
        .parse::<u64>()
        .unwrap();
    assert_eq!(m["tables"]["syscalls"]["events"].as_u64().unwrap(), rows);
    assert!(rows > 0, "a system always makes some syscalls in 1.5 s");
    // Every file is sorted by ts, in its stored row order.
    assert_eq!(
        duck(&dir, "select count(*) from (select ts < lag(ts) over (partition by filename order by file_row_number) as back from read_parquet('PLACEHOLDER/syscalls/*.parquet', filename=true, file_row_number=true)) where back"
            .replace("PLACEHOLDER", dir.to_str().unwrap())
            .as_str()),
        ["0"]
    );
    // Exactly once, with neither return value nor duration.
    assert_eq!(
        duck(&dir, &format!("select count(*), count(ret), count(dur_ns) from syscalls where pid={sleeper_pid} and syscall in ('nanosleep', 'clock_nanosleep')")),
        ["1|0|0"]
    );
    // The open still waiting at stop, once, with its file name.
    assert_eq!(
        duck(&dir, &format!("select path, count(ret), count(dur_ns) from syscalls where pid={opener_pid} and syscall = 'openat' and path like '%fifo' group by path")),
        [format!("{}|0|0", fifo.display())]
    );
}

/// Each syscalls file's rollups hold exactly its rows grouped as
/// DuckDB groups them (first time, key columns, count, first row), at
/// every grain it has, and the workload's own calls are all there:
/// 100,000 getppid.
#[test]
fn each_syscalls_files_rollup_is_its_rows_grouped() {
    use retap_schema::rollups::{self, Grain};
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    // Rotated every 16 KiB: several files, each with its own rollup.
    let cmd = format!("{WORKLOAD} loop getppid 100000");
    record(
        &dir,
        &["--events", "syscalls", "--rotate-size", "16K", "-c", &cmd],
    );
    let files = table_files(&dir, "syscalls");
    let (mut rolled, mut by_process, mut by_syscall, mut getppid) = (0, 0, 0, 0);
    for f in &files {
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(f).unwrap(),
        )
        .unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .clone();
        let bytes = std::fs::read(f).unwrap();
        let read = |r: std::ops::Range<u64>| Ok(bytes[r.start as usize..r.end as usize].to_vec());
        for grain in Grain::ALL {
            let rows = meta.num_rows() as u64;
            let Some(r) = rollups::from_footer(meta.key_value_metadata(), grain, rows, read) else {
                continue;
            };
            let b = r.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let col = |name: &str| -> Vec<String> {
                let c = arrow::compute::cast(
                    b.column_by_name(name).unwrap(),
                    &arrow::datatypes::DataType::Utf8,
                )
                .unwrap();
                c.as_string::<i32>()
                    .iter()
                    .map(|v| v.unwrap().to_string())
                    .collect()
            };
            let keys: Vec<&str> = grain.key_columns().iter().map(|c| c.name()).collect();
            let cols: Vec<Vec<String>> = std::iter::once("ts")
                .chain(keys.iter().copied())
                .chain([rollups::ROWS, rollups::FIRST_ROW])
                .map(col)
                .collect();
            let mut mine: Vec<String> = (0..b.num_rows())
                .map(|i| {
                    cols.iter()
                        .map(|c| c[i].as_str())
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            mine.sort();
            let keys = keys.join(", ");
            let mut want = duck(
                &dir,
                &format!(
                    "select min(ts), {keys}, count(*), min(file_row_number) \
                     from read_parquet('{}', file_row_number = true) group by {keys}",
                    f.display()
                ),
            );
            want.sort();
            assert_eq!(mine, want, "{} by {}", f.display(), grain.name());
            match grain {
                Grain::Process => by_process += 1,
                Grain::Syscall => by_syscall += 1,
                Grain::ProcessSyscall => {
                    rolled += 1;
                    getppid += mine
                        .iter()
                        .filter(|l| l.contains("|getppid|"))
                        .map(|l| l.split('|').nth(6).unwrap().parse::<u64>().unwrap())
                        .sum::<u64>();
                }
            }
        }
    }
    assert!(
        // (By syscall only where some syscall is made by two processes:
        // a file of one process's getppid has none.)
        rolled >= 2 && by_process >= 1,
        "{rolled} of {} files have rollups by process and syscall, {by_process} by process, \
         {by_syscall} by syscall",
        files.len()
    );
    assert_eq!(getppid, 100_000);
}

/// A syscall that ends while the stop detaches its probes is written, and
/// nothing after it overwrites it. The stop drops entries before exits;
/// the other way round, a sleep ending between the two was lost with
/// every call after it but the last (which a live run had seen enter).
/// The ~0.2 ms between detachments is widened to 80 ms (a debug-build
/// knob), longer than the workload's 30 ms sleeps, so that without the
/// order this fails every run; real-time scheduling keeps the workload's
/// own calls microseconds apart on a busy machine.
#[test]
fn a_syscall_ending_during_the_stop_is_written_and_nothing_after_it() {
    need_root!();
    let mut service = Command::new(WORKLOAD)
        .args(["service", "--fifo", "--requests", "1000", "--reads", "1"])
        .args(["--sleep-us", "30000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let pid = service.id().to_string();
    let child = Command::new(RECORD)
        .arg("-o")
        .arg(&dir)
        .args(["--events", "syscalls", "-x", &pid])
        .env("RETAP_TEST_DETACH_PAUSE_MS", "80")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let _ = service.kill();
    service.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = duck(
        &dir,
        &format!(
            "select syscall, ts, coalesce(dur_ns, -1) from syscalls where pid = {pid} \
             and syscall in ('pread64', 'write', 'nanosleep', 'clock_nanosleep') order by ts"
        ),
    );
    assert!(rows.len() > 20, "{rows:?}");
    let row = |r: &String| -> (String, i64, i64) {
        let f: Vec<&str> = r.split('|').collect();
        (f[0].into(), f[1].parse().unwrap(), f[2].parse().unwrap())
    };
    let rows: Vec<_> = rows.iter().map(row).collect();
    let cycle = ["pread64", "write"];
    let first = rows.iter().position(|r| r.0 == "pread64").unwrap();
    for (i, w) in rows[first..].windows(2).enumerate() {
        let ((a, ts, dur), (b, next, _)) = (&w[0], &w[1]);
        let want = match a.as_str() {
            "pread64" => cycle[1],
            "write" => "sleep",
            _ => cycle[0],
        };
        assert!(
            b == want || (want == "sleep" && b.ends_with("nanosleep")),
            "row {i}: {a} then {b}: calls lost at the stop\n{rows:?}"
        );
        assert!(*dur >= 0, "row {i}: {a} has no end but is not the last");
        assert!(
            next - (ts + dur) < 10_000_000,
            "row {i}: {} ms between {a}'s end and {b}: calls lost at the stop",
            (next - (ts + dur)) / 1_000_000
        );
    }
}

#[test]
fn sigkill_leaves_completed_files_readable_and_info_reports_the_torn_one() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let mut rec = start(
        &dir,
        &[
            "--events",
            "syscalls",
            "--rotate-size",
            "256K",
            "--syscalls",
            "getppid",
        ],
    );
    let mut load = Command::new(WORKLOAD)
        .args(["loop", "getppid", "200000000"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let sdir = dir.join("syscalls");
    loop {
        let names: Vec<String> = std::fs::read_dir(&sdir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let done = names.iter().filter(|n| n.ends_with(".parquet")).count();
        let torn = names.iter().any(|n| n.ends_with(".tmp"));
        if done >= 1 && torn {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no completed + open file within 60 s: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rec.kill().unwrap();
    rec.wait().unwrap();
    load.kill().unwrap();
    load.wait().unwrap();
    // Every completed file reads in DuckDB.
    let rows = duck(&dir, "select count(*) from syscalls")[0]
        .parse::<u64>()
        .unwrap();
    assert!(rows > 0);
    // retap info says the recording did not finish and names the torn file.
    let trace = retap_analyzer::trace::Trace::open(&dir).unwrap();
    let text = retap_analyzer::info::render(&trace);
    assert!(text.contains("did not finish"), "{text}");
    assert!(
        text.contains("DAMAGED") && text.contains(".tmp") && text.contains("torn"),
        "{text}"
    );
    assert_eq!(
        trace.table(retap_schema::Table::Syscalls).unwrap().rows(),
        rows
    );
}

#[test]
fn a_tiny_ring_buffer_counts_every_loss() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let n = 300_000;
    let out = record(
        &dir,
        &[
            "--events",
            "syscalls",
            "--syscalls",
            "getppid",
            "--ringbuf-size",
            "8K",
            "-c",
            &format!("{WORKLOAD} loop getppid {n}"),
        ],
    );
    let m = manifest(&dir);
    let dropped = m["tables"]["syscalls"]["dropped"].as_u64().unwrap();
    let unpaired = m["tables"]["syscalls"]["unpaired"].as_u64().unwrap();
    let rows = duck(
        &dir,
        "select count(*) from syscalls where syscall='getppid'",
    )[0]
    .parse::<u64>()
    .unwrap();
    assert!(
        dropped > 0,
        "an 8 KiB ring buffer must overflow under {n} calls"
    );
    assert_eq!(
        rows + dropped + unpaired,
        n,
        "recorded {rows} + lost {dropped}+{unpaired}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("WARNING: {} events lost", dropped + unpaired)),
        "{err}"
    );
}

#[test]
fn without_privileges_the_error_says_what_is_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let out = if is_root() {
        // Drop to nobody with no capabilities, as a user without sudo would be.
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(RECORD)
            .arg("-o")
            .arg(&dir)
            .output()
            .expect("setpriv (util-linux)")
    } else {
        Command::new(RECORD).arg("-o").arg(&dir).output().unwrap()
    };
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "retap-record: recording needs root, or the CAP_BPF and CAP_PERFMON capabilities (this process has neither); run it with sudo"
    );
    assert!(
        !dir.exists(),
        "nothing is created when recording cannot start"
    );
}

#[test]
fn vfs_records_where_the_kernel_can_and_says_why_not_where_it_cannot() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let out = attempt(
        &dir,
        &[
            "--events",
            "vfs",
            "-c",
            &format!("{WORKLOAD} calls --write 20"),
        ],
    );
    let kprobes = Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    if out.status.success() {
        let rows = duck(
            &dir,
            "select count(*) from vfs where op='write' and bytes >= 100",
        )[0]
        .parse::<u64>()
        .unwrap();
        assert!(rows >= 20, "vfs_write rows: {rows}");
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!kprobes, "kprobes exist, yet vfs failed: {err}");
        assert!(
            err.contains("--events vfs needs fentry/fexit or kprobes, and this kernel lacks both")
                && err.contains("CONFIG_KPROBES"),
            "{err}"
        );
    }
}

#[test]
fn bad_options_are_clear_errors() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 13] = [
        (
            &["--max-size", "1M", "--rotate-size", "512K"],
            "--rotate-size (524288 bytes) must be at most a quarter of --max-size (1048576 bytes)",
        ),
        (
            &["--events", "syscalls,bogus"],
            "--events: unknown table \"bogus\"",
        ),
        (
            &["--syscalls", "read,notacall"],
            "--syscalls: \"notacall\" is not a syscall",
        ),
        (&["-x", "999999999"], "-x 999999999: no such process"),
        (
            &["--ringbuf-size", "12K"],
            "--ringbuf-size must be a power of two",
        ),
        (
            &["--comm", "a-very-long-command-name"],
            "--comm: \"a-very-long-command-name\" cannot match",
        ),
        (
            &["--string-max", "1"],
            "--string-max must be between 2 and 4096 bytes (or 0: no file names), not 1",
        ),
        (
            &["--tracepoints", "sched:sched_swtich"],
            "--tracepoints: no tracepoint \"sched:sched_swtich\" in this kernel (closest: sched:sched_switch)",
        ),
        (
            &["--tracepoints", "kmem:nothing_*"],
            "--tracepoints: \"kmem:nothing_*\" matches no tracepoint of this kernel",
        ),
        (
            &["--stacks", "sched_swtich"],
            "--stacks: no tracepoint \"sched_swtich\" in this kernel (closest: sched:sched_switch)",
        ),
        (
            &["--stacks", "kmem:mm_page_alloc"],
            "--stacks kmem:mm_page_alloc: kmem:mm_page_alloc is not recorded (add --tracepoints kmem:mm_page_alloc)",
        ),
        (
            &["--events", "syscalls", "--stacks", "sched_switch"],
            "--stacks sched_switch: no tracepoints are recorded",
        ),
        (
            // ftrace's own events have formats but are not tracepoints.
            &["--events", "syscalls", "--tracepoints", "ftrace:function"],
            "the kernel refused tracepoint ftrace:function: failed to attach tracepoint: Operation not permitted",
        ),
    ];
    for (i, (args, msg)) in cases.iter().enumerate() {
        let out = Command::new(RECORD)
            .arg("-o")
            .arg(tmp.path().join(i.to_string()))
            .args(*args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
}

#[test]
fn file_names_are_recorded_at_entry_exactly() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let files = tmp.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let n = 25;
    let cmd = format!("{WORKLOAD} calls --paths {n} --dir {}", files.display());
    let out = record(&dir, &["--events", "syscalls", "-c", &cmd, "-q"]);
    assert_eq!(kv(&out.stdout, "paths"), n);
    // Every open of the workload's files, by name, in order; the rename's
    // both names.
    let opened_and_renamed = |dir: &Path, files: &Path, n: i64| {
        let d = files.display();
        let opened = duck(
            dir,
            &format!(
                "select path from syscalls where syscall = 'openat' and path like '{d}/%' order by ts"
            ),
        );
        let want: Vec<String> = (0..n).map(|i| format!("{d}/file-{i}")).collect();
        assert_eq!(opened, want);
        assert_eq!(
            duck(
                dir,
                "select path, path2, ret from syscalls where syscall in ('rename', 'renameat', 'renameat2') and path like '%/file-0'"
            ),
            [format!("{d}/file-0|{d}/renamed|0")]
        );
    };
    opened_and_renamed(&dir, &files, n);
    // Syscalls without file names have none.
    assert_eq!(
        duck(
            &dir,
            "select count(*) from syscalls where syscall in ('close', 'write') and (path is not null or path2 is not null)"
        ),
        ["0"]
    );
    let m = manifest(&dir);
    assert_eq!(m["string_max"], 256);
    assert_eq!(m["tables"]["syscalls"]["dropped"], 0);

    // A name longer than --string-max is cut and marked.
    let dir2 = tmp.path().join("t2");
    let long = files.join("x".repeat(60));
    std::fs::create_dir(&long).unwrap();
    let cmd = format!("{WORKLOAD} calls --paths 1 --dir {}", long.display());
    record(
        &dir2,
        &[
            "--events",
            "syscalls",
            "--string-max",
            "32",
            "-c",
            &cmd,
            "-q",
        ],
    );
    let cut = duck(
        &dir2,
        "select path from syscalls where syscall = 'openat' and path like '%...' and ret >= 0 order by ts desc limit 1",
    );
    assert_eq!(cut, [format!("{}...", &long.display().to_string()[..31])]);

    // Past the default maximum (256), with --string-max 1000: every name
    // whole, the rename's two (the second starts 400+ bytes in).
    let dir3 = tmp.path().join("t3");
    let deep = files.join("y".repeat(200)).join("z".repeat(200));
    std::fs::create_dir_all(&deep).unwrap();
    let n = 5;
    let cmd = format!("{WORKLOAD} calls --paths {n} --dir {}", deep.display());
    record(
        &dir3,
        &[
            "--events",
            "syscalls",
            "--string-max",
            "1000",
            "-c",
            &cmd,
            "-q",
        ],
    );
    opened_and_renamed(&dir3, &deep, n);
    assert_eq!(manifest(&dir3)["string_max"], 1000);

    // A first name of the longest kind (4095 bytes and its NUL, at
    // --string-max 4096): cut as the maximum says, and the second name
    // after it, not over it.
    let dir4 = tmp.path().join("t4");
    let target = 4095 - "/file-0".len();
    let mut deepest = files.clone();
    while deepest.as_os_str().len() < target {
        let k = (target - deepest.as_os_str().len() - 1).min(200);
        deepest.push("w".repeat(k));
    }
    assert_eq!(deepest.as_os_str().len(), target);
    std::fs::create_dir_all(&deepest).unwrap();
    let src = deepest.join("file-0");
    std::fs::write(&src, b"").unwrap();
    let dst = files.join("moved");
    let cmd = format!("mv {} {}", src.display(), dst.display());
    let out = record(
        &dir4,
        &["--events", "syscalls", "--string-max", "4096", "-c", &cmd],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("malformed"), "{err}");
    assert_eq!(
        duck(
            &dir4,
            "select path, path2, ret from syscalls where syscall in ('rename', 'renameat', 'renameat2')"
        ),
        [format!("{}...|{}|0", src.display(), dst.display())]
    );
}

/// A workload line `key=a,b,c` as numbers.
fn kv_list(stdout: &[u8], key: &str) -> Vec<i64> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("workload did not print {key}: {text}"))
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect()
}

#[test]
fn socket_addresses_and_packet_ports_are_recorded_exactly() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let n = 6;
    let cmd = format!("{WORKLOAD} calls --connects {n}");
    let out = record(&dir, &["--events", "syscalls,net", "-c", &cmd, "-q"]);
    let listen = kv(&out.stdout, "listen_port");
    let clients = kv_list(&out.stdout, "client_ports");
    let accepted = kv_list(&out.stdout, "accepted_ports");
    let udp = kv(&out.stdout, "udp_msg_port");
    assert_eq!(clients.len(), n);
    assert_eq!(clients, accepted);
    let pid = "(select pid from syscalls where syscall = 'accept4' limit 1)";
    let rows = |what: &str| -> Vec<String> {
        duck(
            &dir,
            &format!(
                "select {what} from syscalls where pid = {pid} and syscall in \
                 ('connect', 'accept4', 'bind', 'sendmsg', 'recvmsg', 'getsockname') order by ts"
            ),
        )
    };
    let c = |sys: &str, ret: &str, fam: &str, addr: &str, port: i64| {
        format!("{sys}|{ret}|{fam}|{addr}|{port}")
    };
    let mut want = vec![
        // bind to port 0, listen, getsockname says which port.
        c("bind", "0", "AF_INET", "127.0.0.1", 0),
        c("getsockname", "0", "AF_INET", "127.0.0.1", listen),
    ];
    for (i, p) in clients.iter().enumerate() {
        want.push(c("connect", "0", "AF_INET", "127.0.0.1", listen));
        want.push(c("getsockname", "0", "AF_INET", "127.0.0.1", *p));
        // The address accept4 wrote for the caller: the client's port.
        want.push(format!(
            "accept4|{}|AF_INET|127.0.0.1|{}",
            i * 2 + 5,
            accepted[i]
        ));
    }
    want.push(c("bind", "0", "AF_INET", "127.0.0.1", 0));
    want.push(c("getsockname", "0", "AF_INET", "127.0.0.1", udp));
    want.push(c("sendmsg", "1", "AF_INET", "127.0.0.1", udp));
    want.push(c("recvmsg", "1", "AF_INET", "127.0.0.1", udp));
    want.push("connect|-2|AF_UNIX|/nonexistent/retap-workload.sock|NULL".into());
    let got = rows("syscall, ret, sa_family, sa_addr, sa_port");
    // accept4's descriptors depend on what the process had open: compare
    // them apart from the rest.
    let strip = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|r| {
                if r.starts_with("accept4|") {
                    let f: Vec<&str> = r.split('|').collect();
                    format!("accept4|fd|{}", f[2..].join("|"))
                } else {
                    r.clone()
                }
            })
            .collect()
    };
    assert_eq!(strip(&got), strip(&want));
    // The raw bytes are the struct the caller passed: 16 for sockaddr_in,
    // the path's length + 3 for the Unix one.
    assert_eq!(
        rows("octet_length(sockaddr)").last().unwrap(),
        &("/nonexistent/retap-workload.sock".len() + 3).to_string()
    );
    assert!(rows("octet_length(sockaddr)")[..got.len() - 1]
        .iter()
        .all(|l| l == "16"));
    assert_eq!(manifest(&dir)["socket_addresses"], true);

    // Packets: every TCP segment between the listener and each client was
    // sent and received once on lo, and carries those ports.
    let pairs = duck(
        &dir,
        &format!(
            "select sport, dport, count(*) filter (where direction = 'tx'), \
             count(*) filter (where direction = 'rx') from net \
             where transport = 'tcp' and saddr = '127.0.0.1' and daddr = '127.0.0.1' \
             and (sport = {listen} or dport = {listen}) group by all order by 1, 2"
        ),
    );
    let mut want_pairs: Vec<(i64, i64)> = clients
        .iter()
        .flat_map(|p| [(*p, listen), (listen, *p)])
        .collect();
    want_pairs.sort();
    assert_eq!(pairs.len(), want_pairs.len(), "{pairs:?}");
    for (row, (s, d)) in pairs.iter().zip(&want_pairs) {
        let f: Vec<&str> = row.split('|').collect();
        assert_eq!(
            (f[0], f[1]),
            (s.to_string().as_str(), d.to_string().as_str())
        );
        assert_eq!(f[2], f[3], "tx and rx of {row}");
        assert!(
            f[2].parse::<i64>().unwrap() >= 3,
            "handshake, data, fin: {row}"
        );
    }
    // The datagram: sent and received once, port to itself.
    assert_eq!(
        duck(
            &dir,
            &format!(
                "select direction, transport, sport, dport from net where dport = {udp} \
                 and transport = 'udp' order by ts"
            ),
        ),
        [format!("tx|udp|{udp}|{udp}"), format!("rx|udp|{udp}|{udp}")]
    );
}

#[test]
fn tracepoints_hold_every_signal_and_context_switch() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let (k, rounds) = (7, 300);
    // On one CPU, so each thread's read blocks until the other has run
    // (on two, a CI run once saw a thread find its byte already written
    // in 111 of 300 rounds, never switching out).
    let cmd = format!("taskset -c 0 {WORKLOAD} calls --signals {k} --pingpong {rounds}");
    let out = record(
        &dir,
        &["--events", "tracepoints,processes", "-c", &cmd, "-q"],
    );
    let pid = kv(&out.stdout, "pid");
    assert_eq!(kv(&out.stdout, "signals"), k);
    let text = String::from_utf8_lossy(&out.stdout);
    let tids: Vec<i64> = text
        .lines()
        .find_map(|l| l.strip_prefix("pingpong_tids="))
        .unwrap()
        .split(',')
        .map(|t| t.parse().unwrap())
        .collect();

    // Every SIGUSR1 the workload sent itself, generated and delivered,
    // through retap's reader and through DuckDB.
    let gen = read_table(&dir, "signal.signal_generate");
    let sent = ints(&gen, "sig")
        .iter()
        .zip(ints(&gen, "tp_pid"))
        .filter(|(s, p)| **s == Some(10) && *p == Some(pid))
        .count();
    assert_eq!(sent as i64, k);
    let q = |sql: &str| duck(&dir, sql);
    assert_eq!(
        q(&format!(
            "select count(*) from signal.signal_generate where sig = 10 and tp_pid = {pid} and pid = {pid} and comm = 'retap-workload'"
        )),
        [k.to_string()]
    );
    assert_eq!(
        q(&format!(
            "select count(*) from signal.signal_deliver where sig = 10 and pid = {pid}"
        )),
        [k.to_string()]
    );
    // The ping-pong threads were switched out (they are the current task
    // at sched_switch, so tid = prev_pid). Under -c a row is kept when the
    // current task is traced, so switches *to* them from other tasks (the
    // idle task, mostly) are not recorded: only the switched-out side is
    // checked.
    let list = format!("{}, {}", tids[0], tids[1]);
    assert_eq!(
        q(&format!(
            "select count(distinct prev_pid), count(*) filter (where tid <> prev_pid or pid <> {pid}) from sched.sched_switch where prev_pid in ({list})"
        )),
        ["2|0"]
    );
    // Each round blocks each thread on its read (seen: rounds to rounds+2
    // switches out per thread); a read that finds its byte already there
    // does not switch, hence the margin.
    for tid in &tids {
        let outs: i64 = q(&format!(
            "select count(*) from sched.sched_switch where prev_pid = {tid}"
        ))[0]
            .parse()
            .unwrap();
        assert!(
            outs >= rounds * 9 / 10,
            "{outs} switches out of thread {tid} in {rounds} rounds"
        );
    }
    // The layout is in the manifest and nothing was lost.
    let m = manifest(&dir);
    assert_eq!(
        m["tracepoints"]["sched.sched_switch"]["fields"][1]["name"],
        "prev_pid"
    );
    for t in ["sched.sched_switch", "signal.signal_generate"] {
        assert_eq!(m["tables"][t]["dropped"], 0, "{t}");
    }
}

#[test]
fn sched_switch_stacks_show_where_each_thread_blocked() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let rounds = 200;
    let cmd = format!("{WORKLOAD} calls --pingpong {rounds}");
    let out = record(
        &dir,
        &[
            "--events",
            "tracepoints",
            "--stacks",
            "sched_switch",
            "-c",
            &cmd,
            "-q",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let tids: Vec<String> = text
        .lines()
        .find_map(|l| l.strip_prefix("pingpong_tids="))
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    let m = manifest(&dir);
    assert_eq!(m["tracepoints"]["sched.sched_switch"]["stack"], true);
    assert!(m["tracepoints"]["sched.sched_wakeup"]
        .get("stack")
        .is_none());
    assert!(m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "symbols/kallsyms.zst"));
    // Every switch out of a ping-pong thread has its stack, and the stack
    // says where: in the scheduler, called from the pipe read it blocked in.
    let syms = retap_analyzer::runtime::symbols::Kallsyms::load(
        &retap_analyzer::store::Store::Local,
        &dir,
    )
    .expect("kallsyms saved");
    let batches = read_table(&dir, "sched.sched_switch");
    let mut checked = 0;
    let mut in_pipe_read = 0;
    for b in &batches {
        let prev = b
            .column_by_name("prev_pid")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>()
            .clone();
        let state = b
            .column_by_name("prev_state")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>()
            .clone();
        let stacks = b.column_by_name("kstack").unwrap().as_list::<i32>().clone();
        for row in 0..b.num_rows() {
            if !tids.contains(&prev.value(row).to_string()) {
                continue;
            }
            // Preempted (still runnable) rather than blocked: elsewhere.
            let blocked = state.value(row) != 0;
            let frames = stacks.value(row);
            let frames = frames.as_primitive::<arrow::datatypes::UInt64Type>();
            let names: Vec<&str> = frames
                .values()
                .iter()
                .filter_map(|a| syms.lookup(*a).map(|s| s.0))
                .collect();
            assert!(
                names.iter().any(|n| n.contains("schedule")),
                "row {row}: {names:?}"
            );
            if blocked {
                in_pipe_read += usize::from(names.iter().any(|n| n.contains("pipe_read")));
                checked += 1;
            }
        }
    }
    // Each round at least one of the two blocks in its read (both, unless
    // a wake-up preempts the writer, as other tests running beside this
    // one make likely).
    assert!(
        checked as i64 >= rounds * 9 / 10,
        "{checked} blocking switches"
    );
    assert!(
        in_pipe_read * 10 >= checked * 9,
        "{in_pipe_read} of {checked}"
    );
    // A script's backtrace() at the tracepoint is that stack, symbolised:
    // the threads' commonest is their pipe read. Plans and the interpreter
    // must agree.
    let script = format!(
        r#"global n
probe kernel.trace("sched_switch") {{ if ((tid() == {} || tid() == {}) && $prev_state != 0) n[sprint_backtrace()]++ }}
probe end {{ foreach (s in n- limit 1) printf("%s\n", s) }}"#,
        tids[0], tids[1]
    );
    let run = |interpret_only: bool| -> String {
        let out = tmp.path().join(format!("out-{interpret_only}"));
        let req = retap_analyzer::run::RunRequest {
            script_text: Some(script.clone()),
            trace: Some(dir.clone()),
            output: Some(out.clone()),
            last_pass: 5,
            interpret_only,
            strict_plans: true,
            ..Default::default()
        };
        retap_analyzer::run::run(&req, &mut |_| {}).unwrap_or_else(|e| panic!("{}", e.message));
        std::fs::read_to_string(out).unwrap()
    };
    let text = run(false);
    assert_eq!(text, run(true));
    let frames: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(frames[0].starts_with("__schedule+0x"), "{text}");
    assert!(frames.iter().any(|f| f.contains("pipe_read+0x")), "{text}");
    assert!(frames.iter().all(|f| f.ends_with(" [kernel]")), "{text}");
    // Only the tracepoint asked for carries stacks. (The schema, not a
    // row: a wake-up queued to another CPU fires there, in whatever task
    // runs, so the command's filter may leave the table without rows.)
    assert!(table_schema(&dir, "sched.sched_wakeup")
        .field_with_name("kstack")
        .is_err());
    assert!(table_schema(&dir, "sched.sched_switch")
        .field_with_name("kstack")
        .is_ok());
}

/// The default set's busiest tracepoints are recorded through raw hooks
/// that write the classic tracepoint's record themselves: two recorders
/// side by side, one of them made to use the classic hooks, must record
/// the workload's events identically (all but the header's time, which
/// each program reads for itself).
#[test]
fn raw_hooks_record_what_the_classic_tracepoints_do() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let set = "--tracepoints=-*,sched:sched_switch,sched:sched_wakeup,sched:sched_wakeup_new,irq:softirq_entry,irq:softirq_exit,signal:signal_generate,signal:signal_deliver,sched:sched_migrate_task";
    let dirs = [tmp.path().join("classic"), tmp.path().join("raw")];
    let recorders: Vec<std::process::Child> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut c = Command::new(RECORD);
            c.arg("-o")
                .arg(d)
                .args(["--events", "tracepoints", set, "-q"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if i == 0 {
                c.env("RETAP_CLASSIC_TRACEPOINTS", "1");
            }
            c.spawn().unwrap()
        })
        .collect();
    // Both attached (the manifest names its attach time once they are).
    let end = Instant::now() + Duration::from_secs(30);
    while !dirs.iter().all(|d| {
        std::fs::read_to_string(d.join("trace.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|m| !m["attached_ns"].is_null())
    }) {
        assert!(Instant::now() < end, "the recorders did not attach");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (rounds, udp) = (300, 200);
    let out = Command::new(WORKLOAD)
        .args(["calls", "--udp", &udp.to_string(), "--fork-exit", "0"])
        .args(["--signals", "3", "--tkills", "2", "--migrate", "6"])
        .args(["--pingpong", &rounds.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    // Each recorder leaves out its own events, not the other's: neither's
    // are compared.
    let recs = format!("{},{}", recorders[0].id(), recorders[1].id());
    for mut r in recorders {
        unsafe { libc::kill(r.id() as i32, libc::SIGINT) };
        let o = r.wait().unwrap();
        assert!(o.success());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .unwrap_or_else(|| panic!("{k} in {text}"))
            .to_string()
    };
    let tids = field("pingpong_tids=");
    let child = field("child_pid=");
    let queries = [
        format!("select cpu, pid, tid, prev_comm, prev_pid, prev_prio, prev_state, next_comm, next_pid, next_prio from sched.sched_switch where (prev_pid in ({tids}, {child}) or next_pid in ({tids}, {child})) and pid not in ({recs}) order by cpu, ts"),
        format!("select cpu, pid, tid, comm, tp_pid, prio, target_cpu from sched.sched_wakeup where tp_pid in ({tids}) and pid not in ({recs}) order by cpu, ts"),
        format!("select cpu, pid, tid, comm, tp_pid, prio, target_cpu from sched.sched_wakeup_new where tp_pid in ({tids}, {child}) order by cpu, ts"),
        // Loopback packets' NET_RX, run as each sendto enables bottom
        // halves again (the sender's context, never inside another BPF
        // program, where the classic hook would skip it).
        format!("select cpu, pid, tid, vec from irq.softirq_entry where vec = 3 and pid in ({tids}) order by cpu, ts"),
        format!("select cpu, pid, tid, vec from irq.softirq_exit where vec = 3 and pid in ({tids}) order by cpu, ts"),
        // kill (SI_USER), tgkill (SI_TKILL) and the child's SIGCHLD
        // (CLD_EXITED, from a siginfo).
        format!("select cpu, pid, tid, sig, errno, code, comm, tp_pid, \"group\", result from signal.signal_generate where pid in ({tids}, {child}) order by cpu, ts"),
        format!("select cpu, pid, tid, sig, errno, code, sa_handler, sa_flags from signal.signal_deliver where pid in ({tids}) order by cpu, ts"),
        // Moved by its own affinity (by the CPU's stopper thread), and on
        // wake-ups; comm is a __data_loc string in 6.x.
        format!("select cpu, pid, tid, comm, tp_pid, prio, orig_cpu, dest_cpu from sched.sched_migrate_task where tp_pid in ({tids}) and pid not in ({recs}) order by cpu, ts"),
    ];
    let least = [
        2 * rounds * 9 / 10,
        rounds * 9 / 10,
        2,
        udp / 2,
        udp / 2,
        3 + 4 + 1,
        3 + 4,
        // (the first move is none when it already runs on CPU 0)
        5,
    ];
    for (q, least) in queries.iter().zip(least) {
        let [classic, raw] = [&dirs[0], &dirs[1]].map(|d| duck(d, q));
        assert!(classic.len() >= least, "{} rows: {q}", classic.len());
        if let Some(i) = (0..classic.len().max(raw.len())).find(|i| classic.get(*i) != raw.get(*i))
        {
            panic!(
                "{q}\n{} rows classic, {} raw; first difference at {i}: {:?} against {:?}",
                classic.len(),
                raw.len(),
                classic.get(i),
                raw.get(i)
            );
        }
    }
    // The switches compared cover the states the raw hook computes as the
    // kernel does: blocked in a read (S = 1), and the child's last switch
    // as it exits (Z = 32, or X = 16 when reaped first).
    let states = duck(
        &dirs[1],
        &format!("select distinct prev_state from sched.sched_switch where prev_pid in ({tids}, {child}) and prev_state in (1, 16, 32) order by 1"),
    );
    assert!(states.len() >= 2 && states[0] == "1", "{states:?}");
    let [classic, raw] = [&dirs[0], &dirs[1]].map(|d| manifest(d));
    for t in [
        "sched.sched_switch",
        "sched.sched_wakeup",
        "sched.sched_wakeup_new",
        "irq.softirq_entry",
        "irq.softirq_exit",
        "signal.signal_generate",
        "signal.signal_deliver",
        "sched.sched_migrate_task",
    ] {
        assert_eq!(classic["tables"][t]["dropped"], 0, "{t}");
        assert_eq!(raw["tables"][t]["dropped"], 0, "{t}");
    }
    let probes = |m: &serde_json::Value| m["probes"].to_string();
    assert!(probes(&classic).contains("\"tracepoint/sched/sched_switch\""));
    assert!(probes(&raw).contains("\"tp_btf/sched_switch\""));
    assert!(probes(&raw).contains("\"tp_btf/softirq_exit\""));
    assert!(probes(&raw).contains("\"tp_btf/signal_generate\""));
    assert!(probes(&raw).contains("\"tp_btf/sched_migrate_task\""));
    assert!(!probes(&raw).contains("tracepoint/"));
}

#[test]
fn samples_carry_stacks_and_the_symbol_sources_are_saved() {
    need_root!();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    record(
        &dir,
        &[
            "--events",
            "samples",
            "--sample-hz",
            "499",
            "-c",
            &format!("{WORKLOAD} loop getppid 10000000"),
        ],
    );
    let m = manifest(&dir);
    let rows = duck(
        &dir,
        "select pid, count(*), count(*) filter (where len(kstack) > 0 or len(ustack) > 0) from samples where execname = 'retap-workload' group by 1",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    let f: Vec<i64> = rows[0].split('|').map(|v| v.parse().unwrap()).collect();
    assert!(
        f[1] >= 50,
        "a ~1 s busy loop at 499 Hz gives hundreds of samples: {f:?}"
    );
    assert_eq!(f[1], f[2], "every sample has a stack");
    let att: Vec<&str> = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(att.contains(&"symbols/kallsyms.zst"), "{att:?}");
    let kallsyms =
        zstd::decode_all(std::fs::File::open(dir.join("symbols/kallsyms.zst")).unwrap()).unwrap();
    assert!(
        String::from_utf8_lossy(&kallsyms).contains(" T "),
        "text symbols in kallsyms"
    );
    let maps = format!("symbols/maps/{}", f[0]);
    assert!(att.contains(&maps.as_str()), "{att:?}");
    assert!(std::fs::read_to_string(dir.join(&maps))
        .unwrap()
        .contains("retap-workload"));
}

/// Fresh recordings of the same request loop: five unchanged runs, one
/// with twice the reads, one with 1 ms added to each sleep. `retap diff`
/// (its library, at default settings) must find nothing among the five and
/// exactly the injected change in each variant.
#[test]
fn diff_finds_exactly_the_injected_change_in_fresh_recordings() {
    need_root!();
    use retap_analyzer::diff::{collect, compare, DiffOptions};
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &str| -> PathBuf {
        let dir = tmp.path().join(name);
        // Real-time scheduling: how late a sleep wakes on a CFS task follows
        // the load of the tests running beside it (p90 1.1-1.8 ms between
        // recordings of the same command), which is a change to `diff`.
        let cmd = format!("{WORKLOAD} service --fifo --requests 300 --file {WORKLOAD} {extra}");
        record(&dir, &["--events", "syscalls,processes", "-c", &cmd]);
        dir
    };
    let bases: Vec<PathBuf> = (1..=5).map(|i| run(&format!("base-{i}"), "")).collect();
    let reads = run("reads2x", "--reads 10");
    let slow = run("slow", "--sleep-us 2000");
    let o = DiffOptions::default();
    // What changed, and every verdict's summary (for the failure message:
    // a latency change between bases is load, and its figures say how much).
    let changes = |a: &Path, b: &Path| -> (Vec<(String, &'static str)>, String) {
        let d = compare(
            collect(
                a,
                b,
                &o,
                std::sync::Arc::new(retap_analyzer::diff::NoProgress),
            )
            .unwrap(),
            &o,
        );
        let changed = d
            .keys
            .iter()
            .flat_map(|k| {
                k.verdicts
                    .iter()
                    .filter(|v| v.changed)
                    .map(|v| (k.key.join(" "), v.metric))
            })
            .collect();
        let said = d
            .keys
            .iter()
            .flat_map(|k| {
                k.verdicts
                    .iter()
                    .map(move |v| format!("{}: {} (p {:.2e})", k.key.join(" "), v.summary, v.p))
            })
            .collect::<Vec<_>>()
            .join("\n");
        (changed, said)
    };
    for i in 0..bases.len() {
        for j in i + 1..bases.len() {
            let (changed, said) = changes(&bases[i], &bases[j]);
            assert_eq!(changed, vec![], "base-{} vs base-{}:\n{said}", i + 1, j + 1);
        }
    }
    let (changed, said) = changes(&bases[0], &reads);
    assert_eq!(
        changed,
        vec![("retap-workload pread64".to_string(), "count")],
        "{said}"
    );
    let (changed, said) = changes(&bases[0], &slow);
    assert_eq!(
        changed,
        vec![("retap-workload clock_nanosleep".to_string(), "latency")],
        "{said}"
    );
}
