//! What the recorder reads from /proc and /sys: the process snapshot taken
//! at start, host facts for the manifest, and the symbol sources that
//! later symbolisation of samples needs.

use std::path::Path;

/// One live process at recording start.
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub comm: String,
    pub exe: Option<String>,
    pub cmdline: String,
    /// Its other threads' ids (not the main thread's, which is `pid`), so
    /// readers can tell which process a thread id in a tracepoint's fields
    /// belongs to.
    pub threads: Vec<i32>,
}

/// Every process in /proc; processes that vanish while being read are
/// skipped (they exited, and their exit is not in the window).
pub fn snapshot() -> Vec<ProcInfo> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<ProcInfo> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect();
    out.sort_by_key(|p| p.pid);
    out
}

fn read_proc(pid: i32) -> Option<ProcInfo> {
    let base = format!("/proc/{pid}");
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let comm = field("Name:")?;
    let ppid = field("PPid:")?.parse().ok()?;
    let uid = field("Uid:")?.split_whitespace().next()?.parse().ok()?;
    let raw = std::fs::read(format!("{base}/cmdline")).unwrap_or_default();
    let exe = std::fs::read_link(format!("{base}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let mut threads: Vec<i32> = std::fs::read_dir(format!("{base}/task"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|t| *t != pid)
                .collect()
        })
        .unwrap_or_default();
    threads.sort_unstable();
    Some(ProcInfo {
        pid,
        ppid,
        uid,
        comm,
        exe,
        cmdline: crate::records::argv_line(&raw),
        threads,
    })
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// (CLOCK_MONOTONIC now, CLOCK_REALTIME - CLOCK_MONOTONIC), both in ns.
/// The offset is taken as the midpoint of two monotonic reads around one
/// realtime read, so it is good to well under a microsecond.
pub fn clock_offset() -> (i64, i64) {
    fn now(clock: libc::clockid_t) -> i64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we own.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
    let m1 = now(libc::CLOCK_MONOTONIC);
    let r = now(libc::CLOCK_REALTIME);
    let m2 = now(libc::CLOCK_MONOTONIC);
    let mid = m1 + (m2 - m1) / 2;
    (m1, r - mid)
}

pub fn monotonic_ns() -> i64 {
    clock_offset().0
}

/// Saves /proc/kallsyms (zstd) for symbolising kernel stacks. Returns the
/// path written, relative to the trace dir.
pub fn save_kallsyms(trace: &Path) -> Option<String> {
    let dir = trace.join("symbols");
    std::fs::create_dir_all(&dir).ok()?;
    // kallsyms is ~5 MB of text on a typical kernel and ~1 MB in zstd.
    let k = std::fs::read("/proc/kallsyms").ok()?;
    let z = zstd::encode_all(&k[..], 9).ok()?;
    retap_schema::manifest::write_private(&dir.join("kallsyms.zst"), &z).ok()?;
    Some("symbols/kallsyms.zst".to_string())
}

/// Saves /proc/PID/maps, for symbolising the process's user stacks; taken
/// when the process is first sampled, since it may be gone at stop.
pub fn save_maps(trace: &Path, pid: i32) -> Option<String> {
    let maps = std::fs::read(format!("/proc/{pid}/maps")).ok()?;
    let rel = format!("symbols/maps/{pid}");
    std::fs::create_dir_all(trace.join("symbols/maps")).ok()?;
    retap_schema::manifest::write_private(&trace.join(&rel), &maps).ok()?;
    Some(rel)
}

pub fn online_cpus() -> Vec<u32> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.parse::<u32>().ok()),
        }
    }
    if cpus.is_empty() {
        cpus.push(0);
    }
    cpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sees_this_process() {
        let me = std::process::id() as i32;
        let snap = snapshot();
        let p = snap.iter().find(|p| p.pid == me).expect("own pid in /proc");
        assert!(p.ppid > 0);
        assert!(!p.cmdline.is_empty());
    }

    #[test]
    fn clock_offset_is_plausible() {
        let (mono, off) = clock_offset();
        assert!(mono > 0);
        // Realtime is after 2020 once the monotonic part is added back.
        assert!(mono + off > 1_577_836_800_000_000_000);
        assert!(!online_cpus().is_empty());
    }
}
