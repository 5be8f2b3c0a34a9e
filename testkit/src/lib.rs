//! What retap's tests share, so that each rule is written once: how a test
//! whose peer (DuckDB, Chromium, root, stap's example scripts) is missing
//! behaves, and copying a dataset to damage or edit it, and rewriting a
//! data file's footer.

pub mod scripts;

use std::path::Path;

use arrow::array::{BooleanArray, RecordBatch};

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

/// A real S3-compatible server (s3s-fs, which scripts/setup.sh installs
/// into target/tools) on a free loopback port, over a directory of its
/// own, stopped when dropped. A bucket is a directory under `root`.
pub struct S3Server {
    bin: std::path::PathBuf,
    port: u16,
    pub endpoint: String,
    pub root: std::path::PathBuf,
    pub access_key: &'static str,
    pub secret_key: &'static str,
    child: std::sync::Mutex<std::process::Child>,
    _dir: TempDir,
}

/// The s3s-fs binary: `RETAP_S3S_FS`, else where setup.sh installs it.
fn s3s_fs() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("RETAP_S3S_FS") {
        return Some(p.into());
    }
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let p = ws.join("target/tools/bin/s3s-fs");
    p.exists().then_some(p)
}

/// A free loopback port no other server of this process was given: the
/// kernel hands a port just released to the next bind, so two tests
/// starting servers at once could both get it; the second s3s-fs then
/// failed to listen while the first answered its readiness check, and
/// its requests met a closed port once the first test ended. (Every
/// server a test starts takes its port from here: S3, a Ballista
/// cluster's scheduler and executors.)
pub fn unused_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(vec![]);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl S3Server {
    /// Starts one with `buckets`; None (having said why, or failed under
    /// CI) when s3s-fs is not installed.
    #[track_caller]
    pub fn start(buckets: &[&str]) -> Option<S3Server> {
        let Some(bin) = s3s_fs() else {
            skip_without(
                "s3s-fs",
                "bash scripts/setup.sh installs it into target/tools",
            );
            return None;
        };
        let dir = TempDir::new("s3");
        let root = dir.0.join("root");
        for b in buckets {
            std::fs::create_dir_all(root.join(b)).expect("bucket directory");
        }
        let port = unused_port();
        let child = S3Server::spawn(&bin, port, &root);
        Some(S3Server {
            bin,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            access_key: "retap-test",
            secret_key: "retap-secret",
            child: std::sync::Mutex::new(child),
            _dir: dir,
        })
    }

    /// Starts s3s-fs and waits until it listens.
    fn spawn(bin: &Path, port: u16, root: &Path) -> std::process::Child {
        let child = std::process::Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "retap-test", "--secret-key", "retap-secret"])
            .arg(root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "s3s-fs did not listen on port {port} within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut child = child;
        // (What listens must be this server, not one that exited.)
        if let Ok(Some(status)) = child.try_wait() {
            panic!("s3s-fs exited ({status}) instead of listening on port {port}");
        }
        child
    }

    /// Starts it again after [`S3Server::stop`], on the same port and
    /// directory (a store that comes back).
    pub fn restart(&self) {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        *c = S3Server::spawn(&self.bin, self.port, &self.root);
    }

    /// The environment a client of this server runs with (and no other
    /// AWS settings from the caller's).
    pub fn env(&self, cmd: &mut std::process::Command) {
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", self.secret_key);
    }

    /// Stops the server now (a store that goes away).
    pub fn stop(&self) {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory removed when dropped (the testkit has no dependencies).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "retap-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temporary directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a data file again, its rows as they were and its footer's
/// key-value pairs (but the Arrow schema's) as `edit` leaves them: a
/// file written without a rollup, or by another version of the format.
/// A rollup's pair comes with its bytes, not its place, and is written
/// as the writer writes rollups (`rollups::write_into`), after the rows.
/// For traces without checksums (the manifest's would disagree).
pub fn rewrite_footer(f: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) {
    rewrite(f, edit, None);
}

/// Writes a data file again with the rows `keep` keeps of each batch
/// (true: kept), its rollups counted again from those rows as the
/// recorder counts them: a file of rows other than a generator wrote.
/// For traces without checksums, as [`rewrite_footer`]; the manifest's
/// count of the file's rows stays (readers take it from the footer).
pub fn rewrite_rows(f: &Path, mut keep: impl FnMut(&RecordBatch) -> BooleanArray) {
    rewrite(f, |_| {}, Some(&mut keep));
}

type Keep<'a> = Option<&'a mut dyn FnMut(&RecordBatch) -> BooleanArray>;

fn rewrite(f: &Path, edit: impl FnOnce(&mut Vec<(String, Vec<u8>)>), keep: Keep) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use retap_schema::rollups::{Grain, Place, Rollup};
    let bytes = std::fs::read(f).unwrap();
    let grain_of = |k: &str| Grain::ALL.into_iter().find(|g| g.metadata_key() == k);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(f).unwrap()).unwrap();
    let mut kv: Vec<(String, Vec<u8>)> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter(|kv| kv.key != "ARROW:schema")
        .map(|kv| {
            let v = kv.value.clone().unwrap_or_default();
            let v = match grain_of(&kv.key) {
                Some(_) => {
                    let r = Place::parse(&v).unwrap().range();
                    bytes[r.start as usize..r.end as usize].to_vec()
                }
                None => v.into_bytes(),
            };
            (kv.key.clone(), v)
        })
        .collect();
    edit(&mut kv);
    let reader = builder.build().unwrap();
    let mut batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    if let Some(keep) = keep {
        for b in &mut batches {
            let kept = keep(b);
            *b = arrow::compute::filter_record_batch(b, &kept).unwrap();
        }
        // The rollups of the rows kept, where the file had any.
        let mut rollup = Rollup::default();
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        batches.iter().for_each(|b| rollup.add(b));
        let had = kv.iter().any(|(k, _)| grain_of(k).is_some());
        kv.retain(|(k, _)| grain_of(k).is_none());
        if had {
            let counted = rollup.finish(rows as u64);
            kv.extend(
                counted
                    .into_iter()
                    .map(|(g, v)| (g.metadata_key().to_string(), v)),
            );
        }
    }
    let tmp = f.with_extension("tmp");
    let props = retap_schema::files::writer_properties(1, "test").unwrap();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&tmp).unwrap(),
        batches[0].schema(),
        Some(props),
    )
    .unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.flush().unwrap();
    let mut rollups = vec![];
    for (k, v) in kv {
        match grain_of(&k) {
            Some(g) => rollups.push((g, v)),
            None => w.append_key_value_metadata(KeyValue::new(k, String::from_utf8(v).unwrap())),
        }
    }
    retap_schema::rollups::write_into(&mut w, rollups).unwrap();
    w.close().unwrap();
    std::fs::rename(&tmp, f).unwrap();
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
