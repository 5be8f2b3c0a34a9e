//! `retap record -o s3://bucket/prefix`: the recorder writes to a local
//! spool directory as ever (it has no network code, which production boxes
//! prefer), and this process uploads each file once it is complete (the
//! recorder renames it from `.tmp` then), removing the local copy, so the
//! disk holds only the files in flight. A manifest is uploaded only when
//! every file it names is in the store, and the final one last, so a
//! reader never finds a manifest naming a missing object. When the store
//! goes away, files stay in the spool and are retried; if it is still
//! away when the recording ends, the spool is kept and the command that
//! pushes it is printed: nothing recorded is lost.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use retap_analyzer::store::Store;
use retap_schema::manifest::{Manifest, MANIFEST_FILE};

/// The output argument of a recorder command line, when it is a URL:
/// (its index in `args`, the URL, whether the flag and value are one word).
pub fn url_output(args: &[String]) -> Option<(usize, String, bool)> {
    for (i, a) in args.iter().enumerate() {
        let (value, joined) = if a == "-o" || a == "--output" {
            (args.get(i + 1)?.clone(), false)
        } else if let Some(v) = a.strip_prefix("--output=") {
            (v.to_string(), true)
        } else if let Some(v) = a.strip_prefix("-o").filter(|v| !v.is_empty()) {
            (v.to_string(), true)
        } else {
            continue;
        };
        return retap_analyzer::store::is_url(Path::new(&value)).then_some((i, value, joined));
    }
    None
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Records with `args` (whose output is a URL, [`url_output`]) through a
/// spool directory, uploading as the recorder completes files.
pub fn record(mut args: Vec<String>, recorder: &Path) -> ExitCode {
    let fail = |m: String| {
        eprintln!("retap record: {m}");
        ExitCode::FAILURE
    };
    // The spool: --spool DIR (retap's, not the recorder's), else a fresh
    // directory in /var/tmp (on disk, where /tmp may be memory).
    let spool = match take_spool(&mut args) {
        Ok(Some(d)) => d,
        Ok(None) => PathBuf::from(format!("/var/tmp/retap-spool-{}", std::process::id())),
        Err(e) => return fail(e),
    };
    let Some((i, url, joined)) = url_output(&args) else {
        return fail("no -o URL".into());
    };
    for flag in ["--flight", "--max-size", "--max-age", "--snapshot-when"] {
        if args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        {
            return fail(format!(
                "{flag} keeps files on this machine's disk: not with -o {url} (record to a directory, then retap push it)"
            ));
        }
    }
    let store = match Store::of(Path::new(&url)) {
        Ok(s) => s,
        Err(e) => return fail(format!("{url}: {e}")),
    };
    if spool.exists() {
        return fail(format!(
            "{}: the spool directory exists; give a new one with --spool DIR",
            spool.display()
        ));
    }
    if joined {
        args[i] = format!("--output={}", spool.display());
    } else {
        args[i + 1] = spool.display().to_string();
    }
    let mut child = match std::process::Command::new(recorder).args(&args).spawn() {
        Ok(c) => c,
        Err(e) => {
            return fail(format!(
                "cannot run {} ({e}); `retap record` needs the retap-record binary",
                recorder.display()
            ))
        }
    };
    // Ctrl-C and SIGTERM reach the recorder (which finalises the trace);
    // this process stays to upload what it completes.
    CHILD.store(child.id() as i32, Ordering::Relaxed);
    // SAFETY: `forward` only calls kill(2).
    unsafe {
        libc::signal(libc::SIGINT, forward as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, forward as *const () as libc::sighandler_t);
    }
    let to = PathBuf::from(&url);
    let mut up = Uploader {
        store,
        spool: spool.clone(),
        to: to.clone(),
        done: BTreeSet::new(),
        manifest: None,
        failure: None,
        bytes: 0,
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return fail(format!("waiting for the recorder: {e}")),
        }
        up.pass(false);
        std::thread::sleep(Duration::from_millis(500));
    };
    // The rest, the attachments, then the manifest; the store gets three
    // tries (object_store retries each request too) before the spool is
    // left for `retap push`.
    let mut ok = false;
    for attempt in 0..3 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        up.failure = None;
        if up.pass(true) {
            ok = true;
            break;
        }
    }
    if !spool.join(MANIFEST_FILE).exists() {
        // The recorder stopped before it wrote anything: it said why.
        let _ = std::fs::remove_dir_all(&spool);
        return ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8);
    }
    if !ok {
        eprintln!(
            "retap record: the store did not take every file ({}); the rest of the trace is in {}: push it with\n  retap push {} {url}",
            up.failure.unwrap_or_default(),
            spool.display(),
            spool.display()
        );
        return ExitCode::FAILURE;
    }
    let _ = std::fs::remove_dir_all(&spool);
    eprintln!(
        "retap record: uploaded {} files ({}) to {url}",
        up.done.len() + 1,
        retap_schema::summary::human_bytes(up.bytes)
    );
    match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(c.clamp(1, 255) as u8),
        None => ExitCode::FAILURE,
    }
}

/// Removes `--spool DIR` / `--spool=DIR` from the arguments.
fn take_spool(args: &mut Vec<String>) -> Result<Option<PathBuf>, String> {
    let Some(i) = args
        .iter()
        .position(|a| a == "--spool" || a.starts_with("--spool="))
    else {
        return Ok(None);
    };
    let a = args.remove(i);
    match a.strip_prefix("--spool=") {
        Some(v) => Ok(Some(PathBuf::from(v))),
        None if i < args.len() => Ok(Some(PathBuf::from(args.remove(i)))),
        None => Err("--spool needs a directory".into()),
    }
}

struct Uploader {
    store: Store,
    spool: PathBuf,
    to: PathBuf,
    /// Files uploaded (paths relative to the trace), removed locally.
    done: BTreeSet<PathBuf>,
    /// The manifest's text last uploaded.
    manifest: Option<String>,
    /// The last upload that failed, and why.
    failure: Option<String>,
    bytes: u64,
}

impl Uploader {
    /// Uploads the completed table files, then the manifest if every file
    /// it names is up. `last`: the recording is over, so the other files
    /// (signatures, symbols) are complete too. True when nothing is left.
    fn pass(&mut self, last: bool) -> bool {
        let mut files = vec![];
        walk(&self.spool, &self.spool, &mut files);
        let mut left = false;
        for rel in files {
            let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let table_file = name.ends_with(".parquet");
            if name == MANIFEST_FILE || (!table_file && !last) {
                continue;
            }
            if !self.put(&rel) {
                left = true;
            } else if table_file {
                // Only the table files go; the rest are small and kept
                // until the end, in case the recorder rewrites them.
                let _ = std::fs::remove_file(self.spool.join(&rel));
            }
        }
        let Ok(text) = std::fs::read_to_string(self.spool.join(MANIFEST_FILE)) else {
            return !left && !last;
        };
        if self.manifest.as_deref() == Some(&text) {
            return !left;
        }
        let Ok(m) = Manifest::parse(&self.spool.join(MANIFEST_FILE), &text) else {
            return false;
        };
        let named_up = m
            .tables
            .values()
            .flat_map(|t| &t.files)
            .all(|f| self.done.contains(Path::new(&f.path)));
        if !named_up || (last && left) {
            return false;
        }
        match self
            .store
            .write(&self.to.join(MANIFEST_FILE), text.clone().into_bytes())
        {
            Ok(()) => {
                self.bytes += text.len() as u64;
                self.manifest = Some(text);
                !left
            }
            Err(e) => {
                self.failure = Some(e.to_string());
                false
            }
        }
    }

    fn put(&mut self, rel: &Path) -> bool {
        let Ok(data) = std::fs::read(self.spool.join(rel)) else {
            return false;
        };
        let n = data.len() as u64;
        match self.store.write(&self.to.join(rel), data) {
            Ok(()) => {
                self.bytes += n;
                self.done.insert(rel.to_path_buf());
                true
            }
            Err(e) => {
                self.failure = Some(e.to_string());
                false
            }
        }
    }
}

/// The complete files under the spool, relative to it: not the ones the
/// recorder is still writing (`.tmp`) nor its hidden ones (its pid).
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out);
        } else if let Ok(rel) = p.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
    }
    out.sort();
}
