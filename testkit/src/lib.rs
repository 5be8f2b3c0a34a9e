//! What retap's tests share, so that each rule is written once: how a test
//! whose peer (DuckDB, Chromium, root, stap's example scripts) is missing
//! behaves, and copying a dataset to damage or edit it.

use std::path::Path;

/// Whether this is a CI run (`CI=true`, which `.ci/run` sets): there a
/// test never passes without its peer.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// For a test whose `peer` is missing (`install` says how to get it): under
/// CI the test fails, naming the peer; elsewhere it says it skipped. The
/// caller returns right after.
#[track_caller]
pub fn skip_without(peer: &str, install: &str) {
    skip_or_fail(in_ci(), peer, install)
}

#[track_caller]
fn skip_or_fail(ci: bool, peer: &str, install: &str) {
    assert!(
        !ci,
        "{peer} is missing ({install}); under CI=true a test does not pass without its peer"
    );
    eprintln!("SKIPPED: {peer} is missing ({install})");
}

/// A small deterministic generator (xorshift64) for generated test cases:
/// the same seed makes the same cases on every machine.
pub struct Rng(pub u64);

impl Rng {
    /// The next number (endless, so not an Iterator's Option).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// One of `v`.
    pub fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
    /// True `pct` times in a hundred.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// Copies a directory tree (a dataset, to edit or damage the copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for e in std::fs::read_dir(from).expect("read the directory to copy") {
        let p = e.expect("directory entry").path();
        let dest = to.join(p.file_name().expect("a file name"));
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy a file");
        }
    }
}

/// Builds `c/uprobe_target.c` (functions and USDT marks with known calls,
/// for the user-space probe tests) into `dir`, with `-g` when `debug`;
/// `strip` removes every symbol table. Needs a C compiler (cc, or clang
/// from scripts/setup.sh) and <sys/sdt.h> (systemtap-sdt-dev).
pub fn uprobe_target(dir: &Path, debug: bool, strip: bool) -> std::path::PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/c/uprobe_target.c");
    let out = dir.join(match (debug, strip) {
        (_, true) => "uprobe_target_stripped",
        (true, _) => "uprobe_target_g",
        _ => "uprobe_target",
    });
    let cc = ["cc", "clang"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("a C compiler (cc or clang; scripts/setup.sh installs clang)");
    let mut cmd = std::process::Command::new(cc);
    // Frame pointers: user stacks unwind through them.
    cmd.args(["-O2", "-Wall", "-fno-omit-frame-pointer", "-o"])
        .arg(&out)
        .arg(src);
    if debug {
        cmd.arg("-g");
    }
    if strip {
        cmd.arg("-s");
    }
    let o = cmd.output().expect("run the C compiler");
    assert!(
        o.status.success(),
        "building {src}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_peer_skips_locally_and_fails_under_ci() {
        super::skip_or_fail(false, "duckdb", "pip install duckdb");
        let failed = std::panic::catch_unwind(|| super::skip_or_fail(true, "duckdb", "pip"));
        let msg = *failed
            .expect_err("fails under CI")
            .downcast::<String>()
            .unwrap();
        assert!(
            msg.starts_with("duckdb is missing (pip); under CI=true"),
            "{msg}"
        );
    }
}
