//! `retap-record` as one file to copy to a production box: it links
//! libelf and zlib statically (only the C library remains), and, copied
//! alone into a minimal root with nothing but that C library, /proc and
//! /sys, it records. Root: the test chroots and mounts.

use std::path::{Path, PathBuf};
use std::process::Command;

const REC: &str = env!("CARGO_BIN_EXE_retap-record");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The shared libraries `bin` loads, as ldd resolves them.
fn needed(bin: &str) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            // "libc.so.6 => /lib/.../libc.so.6 (0x...)" or "/lib64/ld-linux... (0x...)"
            let path = l.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Unmounts what the test mounted, even when it fails.
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-R").arg("-l").arg(m).status();
        }
    }
}

fn copy_into(root: &Path, file: &Path) {
    let dst = root.join(file.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(file, &dst).unwrap();
}

#[test]
fn the_recorder_copied_alone_into_a_minimal_root_records() {
    let libs = needed(REC);
    let names: Vec<String> = libs.iter().map(|p| p.display().to_string()).collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains("libelf") || n.contains("libz.")),
        "retap-record loads {names:?}"
    );
    if !is_root() {
        return retap_testkit::skip_without("root", "the test chroots; CI runs as root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(REC, root.join("bin/retap-record")).unwrap();
    for l in &libs {
        copy_into(root, l);
    }
    for d in ["proc", "sys", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let mut mounts = Mounts(vec![]);
    for (what, how) in [("proc", "--rbind"), ("sys", "--rbind")] {
        let st = Command::new("mount")
            .arg(how)
            .arg(format!("/{what}"))
            .arg(root.join(what))
            .status()
            .unwrap();
        assert!(st.success(), "mounting /{what}");
        mounts.0.push(root.join(what));
    }
    // Nothing else there: no libelf, no shell, no /etc.
    assert!(!root.join("usr/lib/x86_64-linux-gnu/libelf.so.1").exists());
    // A workload of our own during the recording: a quiet machine may
    // make no other syscall in that second (CI's did not).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: getppid has no preconditions.
                unsafe { libc::getppid() };
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let out = Command::new("chroot")
        .arg(root)
        .args([
            "/bin/retap-record",
            "-o",
            "/tmp/t",
            "--events",
            "syscalls,processes",
            "--duration",
            "1",
            "-q",
        ])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.join().unwrap();
    drop(mounts);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("tmp/t/trace.json")).unwrap())
            .unwrap();
    assert_eq!(m["state"], "complete");
    let rows = m["tables"]["syscalls"]["events"].as_u64().unwrap();
    assert!(rows > 0, "{m}");
}
