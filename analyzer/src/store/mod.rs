//! Where a trace's files are: a local directory, or a prefix of an
//! S3-compatible object store (`s3://bucket/prefix`). Everything that reads
//! a trace (the manifest, listings, footers, column chunks, symbols) goes
//! through [`Store`], so a trace in a bucket is read as a local one is,
//! fetching only the byte ranges a command needs: footers (one request per
//! file, from the manifest's tail offset), then per row group the column
//! chunks a scan projects, coalesced into few requests.
//!
//! A trace's files keep `PathBuf` names everywhere (shown in messages and
//! handed to DataFusion as they are); for a trace in a bucket that name is
//! its URL, which DataFusion resolves through the stores [`shared`] with
//! every session. This module reads files; it names no query engine.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};

mod counted;
use counted::Counted;

/// The one object store scheme retap reads.
pub const S3: &str = "s3://";

/// Whether a trace argument is a URL rather than a local path.
pub fn is_url(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.contains("://"))
}

/// S3 settings given as flags; each overrides its `AWS_*` environment
/// variable (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, ...), which are read as the
/// AWS tools read them.
#[derive(Clone, Debug, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Bucket names in the host name (`bucket.endpoint`), as AWS prefers;
    /// off: path-style requests (`endpoint/bucket/key`), as S3-compatible
    /// servers expect.
    pub virtual_hosted: bool,
}

static SETTINGS: OnceLock<S3Settings> = OnceLock::new();

/// Sets the flags' S3 settings for this process, before any trace is
/// opened (the CLI calls it once; later calls are ignored).
pub fn configure(s: S3Settings) {
    let _ = SETTINGS.set(s);
}

/// How to read one trace's files.
#[derive(Clone, Debug)]
pub enum Store {
    Local,
    Bucket(Arc<Bucket>),
}

/// One bucket of an object store, shared by every trace in it, with what
/// has been fetched from it (bytes and requests: what a query cost).
pub struct Bucket {
    /// `s3://bucket`.
    pub url: String,
    store: Arc<Counted>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bucket({})", self.url)
    }
}

/// The buckets opened so far, as (`s3://bucket`, store): every DataFusion
/// session reads through them (`engine::use_shared_object_stores`).
pub fn shared() -> Vec<(String, Arc<dyn ObjectStore>)> {
    buckets()
        .lock()
        .unwrap()
        .iter()
        .map(|(u, b)| (u.clone(), b.store.clone() as Arc<dyn ObjectStore>))
        .collect()
}

/// The store of an `s3://bucket` (made once per process, counted): what
/// a cluster's processes read traces through.
pub fn bucket_store(url: &str) -> io::Result<Arc<dyn ObjectStore>> {
    match Store::of(Path::new(url))? {
        Store::Bucket(b) => Ok(b.store.clone()),
        Store::Local => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{url}: not an object store URL"),
        )),
    }
}

/// What has been fetched from the object stores this process opened:
/// (bytes, requests), DataFusion's scans included.
pub fn fetched() -> (u64, u64) {
    buckets()
        .lock()
        .unwrap()
        .values()
        .fold((0, 0), |(b, r), k| {
            (
                b + k.store.bytes.load(Ordering::Relaxed),
                r + k.store.requests.load(Ordering::Relaxed),
            )
        })
}

fn buckets() -> &'static Mutex<HashMap<String, Arc<Bucket>>> {
    static B: OnceLock<Mutex<HashMap<String, Arc<Bucket>>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

impl Store {
    /// The store a trace argument names: the local file system, or the
    /// bucket of an `s3://` URL (made once per bucket and process).
    pub fn of(location: &Path) -> io::Result<Store> {
        if !is_url(location) {
            return Ok(Store::Local);
        }
        let url = location.to_string_lossy();
        let Some(rest) = url.strip_prefix(S3) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "unsupported URL scheme (retap reads local directories and {S3}bucket/prefix)"
                ),
            ));
        };
        let bucket = rest.split('/').next().unwrap_or("");
        if bucket.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no bucket name (expected s3://bucket/prefix)",
            ));
        }
        let key = format!("{S3}{bucket}");
        let mut all = buckets().lock().unwrap();
        if let Some(b) = all.get(&key) {
            return Ok(Store::Bucket(b.clone()));
        }
        let store = s3_store(bucket).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let store = Arc::new(Counted::new(store));
        let b = Arc::new(Bucket {
            url: key.clone(),
            store,
        });
        all.insert(key, b.clone());
        Ok(Store::Bucket(b))
    }

    /// The object's key within its bucket.
    fn key(b: &Bucket, p: &Path) -> io::Result<ObjectPath> {
        let s = p.to_string_lossy();
        let rel = s
            .strip_prefix(&b.url)
            .map(|r| r.trim_matches('/'))
            .ok_or_else(|| io::Error::other(format!("{s} is not in {}", b.url)))?;
        ObjectPath::parse(rel).map_err(|e| io::Error::other(format!("{s}: {e}")))
    }

    /// A whole (small) file: the manifest, signatures, symbols.
    pub fn read(&self, p: &Path) -> io::Result<Vec<u8>> {
        match self {
            Store::Local => std::fs::read(p),
            Store::Bucket(b) => {
                let key = Store::key(b, p)?;
                let bytes = wait(async {
                    let r = b.store.get(&key).await?;
                    r.bytes().await
                })
                .map_err(|e| io_error(p, e))?;
                Ok(bytes.to_vec())
            }
        }
    }

    /// The files directly in `dir`, sorted by name, with their sizes and
    /// modification times. A bucket has no directories: a prefix with
    /// nothing under it lists as empty.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<Listed>> {
        let mut out = match self {
            Store::Local => {
                let mut v = vec![];
                for e in std::fs::read_dir(dir)? {
                    let path = e?.path();
                    let md = std::fs::metadata(&path);
                    v.push(Listed {
                        bytes: md.as_ref().map(|m| m.len()).unwrap_or(0),
                        modified: md
                            .and_then(|m| m.modified())
                            .unwrap_or(SystemTime::UNIX_EPOCH),
                        path,
                    });
                }
                v
            }
            Store::Bucket(b) => {
                let prefix = Store::key(b, dir)?;
                let listed = wait(b.store.list_with_delimiter(Some(&prefix)))
                    .map_err(|e| io_error(dir, e))?;
                listed
                    .objects
                    .into_iter()
                    .map(|o| Listed {
                        path: PathBuf::from(format!("{}/{}", b.url, o.location)),
                        bytes: o.size,
                        // As a HEAD gives it (Last-Modified: whole seconds),
                        // which DataFusion's footer cache compares with.
                        modified: SystemTime::UNIX_EPOCH
                            + Duration::from_secs(o.last_modified.timestamp().max(0) as u64),
                    })
                    .collect()
            }
        };
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Every file under `dir` at any depth (a trace set's traces are found
    /// by their manifests), sorted.
    pub fn list_all(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = vec![];
        match self {
            Store::Local => walk(dir, &mut out, 0)?,
            Store::Bucket(b) => {
                let prefix = Store::key(b, dir)?;
                let all: Vec<_> = wait(b.store.list(Some(&prefix)).try_collect::<Vec<_>>())
                    .map_err(|e| io_error(dir, e))?;
                out.extend(
                    all.into_iter()
                        .map(|o| PathBuf::from(format!("{}/{}", b.url, o.location))),
                );
            }
        }
        out.sort();
        Ok(out)
    }

    /// How many files to read at once: a bucket's reads wait on the
    /// network (~1-50 ms a request), a directory's on the page cache.
    pub fn parallelism(&self) -> usize {
        match self {
            Store::Local => crate::cores(),
            Store::Bucket(_) => 16,
        }
    }

    /// How many partitions a scan of this store's files is split into,
    /// given what a scan of local files uses (`cpu`, for the cores): a
    /// partition reads one file at a time and waits on each request it
    /// makes, so a bucket's scans keep many partitions in flight (507
    /// files of 400 KB in s3s-fs on loopback, a filtered count: 2
    /// partitions 9.2 s, 8 3.9 s, 16 3.9 s, 32 2.9 s, 64 3.0 s).
    pub fn scan_partitions(&self, cpu: usize) -> usize {
        match self {
            Store::Local => cpu,
            Store::Bucket(_) => cpu.max(32),
        }
    }

    /// Whether `dir` could hold a trace: a directory, or a prefix with
    /// something under it.
    pub fn exists(&self, dir: &Path) -> io::Result<bool> {
        match self {
            Store::Local => Ok(dir.is_dir()),
            Store::Bucket(b) => {
                let prefix = Store::key(b, dir)?;
                let first = wait(async {
                    let mut s = b.store.list(Some(&prefix));
                    s.try_next().await
                })
                .map_err(|e| io_error(dir, e))?;
                Ok(first.is_some())
            }
        }
    }

    /// A Parquet file to read ranges of. `footer`: the file's metadata,
    /// when read, so that a bucket's file fetches per row group the chunks
    /// of the `columns` (leaf indexes) a scan reads, together; `tail`: bytes
    /// from this offset to the end, already fetched.
    pub fn open(
        &self,
        p: &Path,
        bytes: u64,
        footer: Option<(&ParquetMetaData, &[usize])>,
        tail: Option<(u64, Bytes)>,
    ) -> io::Result<TraceFile> {
        match self {
            Store::Local => Ok(TraceFile::Local(std::fs::File::open(p)?)),
            Store::Bucket(b) => {
                let groups = footer
                    .map(|(meta, leaves)| {
                        meta.row_groups()
                            .iter()
                            .map(|rg| {
                                leaves
                                    .iter()
                                    .filter_map(|&i| rg.columns().get(i))
                                    .map(|c| {
                                        let (s, n) = c.byte_range();
                                        s..s + n
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(TraceFile::Remote(RemoteFile {
                    bucket: b.clone(),
                    key: Store::key(b, p)?,
                    shown: p.display().to_string(),
                    bytes,
                    groups,
                    cache: Mutex::new(tail.into_iter().collect()),
                }))
            }
        }
    }

    /// The bytes of a file from `from` to its end (a footer and page
    /// index), `bytes` long in all.
    pub fn read_tail(&self, p: &Path, from: u64, bytes: u64) -> io::Result<Bytes> {
        self.read_range(p, from..bytes)
    }

    /// A range of a file's bytes (all of them, or an error).
    pub fn read_range(&self, p: &Path, r: Range<u64>) -> io::Result<Bytes> {
        match self {
            Store::Local => {
                use std::os::unix::fs::FileExt;
                let f = std::fs::File::open(p)?;
                let mut v = vec![0; r.end.saturating_sub(r.start) as usize];
                f.read_exact_at(&mut v, r.start)?;
                Ok(v.into())
            }
            Store::Bucket(b) => {
                let key = Store::key(b, p)?;
                let got = wait(b.store.get_range(&key, r)).map_err(|e| io_error(p, e))?;
                Ok(got)
            }
        }
    }

    /// Writes a whole file (`retap push`): local files by rename from a
    /// temporary name, objects by one PUT (a reader never sees part of one).
    pub fn write(&self, p: &Path, data: Vec<u8>) -> io::Result<()> {
        match self {
            Store::Local => {
                if let Some(d) = p.parent() {
                    std::fs::create_dir_all(d)?;
                }
                let tmp = p.with_extension("push.tmp");
                std::fs::write(&tmp, data)?;
                std::fs::rename(&tmp, p)
            }
            Store::Bucket(b) => {
                let key = Store::key(b, p)?;
                wait(b.store.put(&key, PutPayload::from(data))).map_err(|e| io_error(p, e))?;
                Ok(())
            }
        }
    }
}

/// The files under a local directory, not following links, to a depth
/// that any sensible layout of traces (fleet/host/run) stays within.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> io::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), out, depth + 1)?;
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    Ok(())
}

/// A file found by [`Store::list`].
#[derive(Clone, Debug)]
pub struct Listed {
    pub path: PathBuf,
    pub bytes: u64,
    pub modified: SystemTime,
}

/// The S3 client for a bucket: the environment's AWS settings, the flags
/// over them. Requests time out (a server that stops answering is an
/// error, not a hang) and are retried by object_store's policy.
fn s3_store(bucket: &str) -> Result<Arc<dyn ObjectStore>, String> {
    use object_store::aws::AmazonS3Builder;
    use object_store::{ClientOptions, RetryConfig};
    let flags = SETTINGS.get().cloned().unwrap_or_default();
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = flags
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(e) = &endpoint {
        b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
    }
    if let Some(r) = flags.region {
        b = b.with_region(r);
    } else if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        // S3-compatible servers take any region; AWS redirects.
        b = b.with_region("us-east-1");
    }
    if let Some(k) = flags.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(k) = flags.secret_access_key {
        b = b.with_secret_access_key(k);
    }
    if flags.virtual_hosted {
        b = b.with_virtual_hosted_style_request(true);
    }
    let has_key = b
        .get_config_value(&object_store::aws::AmazonS3ConfigKey::AccessKeyId)
        .is_some();
    let skip = b
        .get_config_value(&object_store::aws::AmazonS3ConfigKey::SkipSignature)
        .is_some_and(|v| v == "true");
    if !has_key && !skip && !metadata_credentials() {
        return Err("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or --s3-access-key-id and --s3-secret-access-key), or AWS_SKIP_SIGNATURE=true for a public bucket".into());
    }
    let b = b
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(60))
                .with_allow_http(
                    endpoint
                        .as_deref()
                        .is_some_and(|e| e.starts_with("http://")),
                ),
        )
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(20),
            ..Default::default()
        });
    Ok(Arc::new(b.build().map_err(|e| clean(&e))?))
}

/// Whether credentials may come from somewhere other than keys: a web
/// identity, a container's or an instance's credentials service (on EC2,
/// `AWS_EC2_METADATA_DISABLED` unset and the service configured).
fn metadata_credentials() -> bool {
    [
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_METADATA_ENDPOINT",
        "AWS_IMDSV1_FALLBACK",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
}

/// object_store's error, as a user can act on it: its message without
/// the Rust type names, and what a refused connection or a missing bucket
/// most likely means.
fn clean(e: &object_store::Error) -> String {
    use std::error::Error as _;
    let mut parts = vec![e.to_string()];
    let mut s = e.source();
    while let Some(x) = s {
        let t = x.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        s = x.source();
    }
    let all = parts.join(": ");
    if all.contains("NoSuchBucket") {
        return "the bucket does not exist".into();
    }
    if all.contains("Connection refused") || all.contains("error sending request") {
        return format!("cannot reach the object store ({all})");
    }
    if all.contains("InvalidAccessKeyId")
        || all.contains("SignatureDoesNotMatch")
        || all.contains("AccessDenied")
    {
        return format!("access denied: the credentials were refused ({all})");
    }
    all
}

fn io_error(p: &Path, e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    if kind == io::ErrorKind::NotFound {
        // A missing bucket is reported by some servers as a missing key.
        let text = clean(&e);
        if text == "the bucket does not exist" {
            return io::Error::other(format!("{}: {text}", p.display()));
        }
        return io::Error::new(kind, "no such object");
    }
    io::Error::new(kind, clean(&e))
}

/// Runs an object store request to completion from synchronous code: on
/// the engine's runtime, or in place when already on one of its threads.
fn wait<F: Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| h.block_on(f)),
        Err(_) => crate::async_runtime().block_on(f),
    }
}

/// A Parquet file as the synchronous readers (the interpreter's cursors,
/// footers, dictionaries) take it.
pub enum TraceFile {
    Local(std::fs::File),
    Remote(RemoteFile),
}

/// A file in a bucket. A read inside a row group's projected column chunks
/// fetches all of them at once (object_store coalesces adjacent ranges)
/// and drops the row group before; any other read fetches what it asks.
pub struct RemoteFile {
    bucket: Arc<Bucket>,
    key: ObjectPath,
    shown: String,
    bytes: u64,
    /// Per row group, the byte ranges of the projected column chunks.
    groups: Vec<Vec<Range<u64>>>,
    /// Fetched spans: (start, bytes).
    cache: Mutex<Vec<(u64, Bytes)>>,
}

impl TraceFile {
    /// Fetches these ranges now, in one coalesced request, for the reads
    /// that follow (a bucket's file; a local one reads as it goes).
    pub fn prefetch(&self, ranges: &[Range<u64>]) -> io::Result<()> {
        let TraceFile::Remote(r) = self else {
            return Ok(());
        };
        if ranges.is_empty() {
            return Ok(());
        }
        let got = wait(r.bucket.store.get_ranges(&r.key, ranges))
            .map_err(|e| io::Error::other(format!("{}: {}", r.shown, clean(&e))))?;
        let mut cache = r.cache.lock().unwrap();
        for (range, b) in ranges.iter().zip(got) {
            cache.push((range.start, b));
        }
        Ok(())
    }
}

impl RemoteFile {
    /// The fetched bytes from `start` to the end of the span holding it.
    fn cached_from(&self, start: u64) -> Option<Bytes> {
        let cache = self.cache.lock().unwrap();
        cache
            .iter()
            .find(|(s, b)| *s <= start && start < *s + b.len() as u64)
            .map(|(s, b)| b.slice((start - s) as usize..))
    }

    /// `len` bytes at `start`, from the cache or fetched (with the rest of
    /// the row group's projected chunks when `start` is in one).
    fn fetch(&self, start: u64, len: u64) -> parquet::errors::Result<Bytes> {
        let end = start + len;
        if end > self.bytes {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "{}: read past the end ({end} > {} bytes)",
                self.shown, self.bytes
            )));
        }
        {
            let cache = self.cache.lock().unwrap();
            if let Some((s, b)) = cache
                .iter()
                .find(|(s, b)| *s <= start && end <= *s + b.len() as u64)
            {
                return Ok(b.slice((start - s) as usize..(end - s) as usize));
            }
        }
        let group = self
            .groups
            .iter()
            .find(|g| g.iter().any(|r| r.start <= start && end <= r.end));
        let ranges: Vec<Range<u64>> = match group {
            Some(g) => g.clone(),
            None => std::iter::once(start..end).collect(),
        };
        let got = wait(self.bucket.store.get_ranges(&self.key, &ranges)).map_err(|e| {
            parquet::errors::ParquetError::External(Box::new(io::Error::other(format!(
                "{}: {}",
                self.shown,
                clean(&e)
            ))))
        })?;
        let mut cache = self.cache.lock().unwrap();
        if group.is_some() {
            // A new row group: the chunks of the one before are done with.
            cache.retain(|(s, _)| !self.groups.iter().flatten().any(|r| r.start == *s));
        }
        let mut found = None;
        for (r, b) in ranges.iter().zip(got) {
            if r.start <= start && end <= r.end {
                found = Some(b.slice((start - r.start) as usize..(end - r.start) as usize));
            }
            cache.push((r.start, b));
        }
        found.ok_or_else(|| {
            parquet::errors::ParquetError::General(format!("{}: short read", self.shown))
        })
    }
}

impl Length for TraceFile {
    fn len(&self) -> u64 {
        match self {
            TraceFile::Local(f) => f.len(),
            TraceFile::Remote(r) => r.bytes,
        }
    }
}

/// What [`ChunkReader::get_read`] returns for either kind of file.
pub enum TraceRead {
    Local(std::io::BufReader<std::fs::File>),
    Remote(bytes::buf::Reader<Bytes>),
}

impl Read for TraceRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TraceRead::Local(r) => r.read(buf),
            TraceRead::Remote(r) => r.read(buf),
        }
    }
}

impl ChunkReader for TraceFile {
    type T = TraceRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<TraceRead> {
        match self {
            TraceFile::Local(f) => f.get_read(start).map(TraceRead::Local),
            TraceFile::Remote(r) => {
                // A page header: from what is fetched already when that
                // holds it, else to the end of its column chunk when that is
                // known (fetched with its row group), else a bounded read.
                if let Some(b) = r.cached_from(start) {
                    return Ok(TraceRead::Remote(bytes::Buf::reader(b)));
                }
                let end = r
                    .groups
                    .iter()
                    .flatten()
                    .find(|c| c.contains(&start))
                    .map(|c| c.end)
                    .unwrap_or_else(|| (start + 64 * 1024).min(r.bytes));
                let b = r.fetch(start, end.saturating_sub(start))?;
                Ok(TraceRead::Remote(bytes::Buf::reader(b)))
            }
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            TraceFile::Local(f) => f.get_bytes(start, length),
            TraceFile::Remote(r) => r.fetch(start, length as u64),
        }
    }
}

/// `retap push DIR URL`: copies a finished trace's files to a store, the
/// manifest last, so that a reader never finds a manifest naming an
/// object not yet there. Returns (files, bytes) copied.
pub fn push(from: &Path, to: &Path) -> io::Result<(u64, u64)> {
    let dest =
        Store::of(to).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", to.display())))?;
    let mut files = vec![];
    collect_files(from, from, &mut files)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", from.display())))?;
    let manifest = Path::new(retap_schema::manifest::MANIFEST_FILE);
    if !files.iter().any(|f| f == manifest) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: not a trace directory (no {})",
                from.display(),
                retap_schema::manifest::MANIFEST_FILE
            ),
        ));
    }
    files.sort();
    files.retain(|f| f != manifest);
    files.push(manifest.to_path_buf());
    let (mut n, mut bytes) = (0, 0);
    for rel in files {
        let data = std::fs::read(from.join(&rel))
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", from.join(&rel).display())))?;
        bytes += data.len() as u64;
        dest.write(&to.join(&rel), data)?;
        n += 1;
    }
    Ok((n, bytes))
}

/// The files under `dir`, relative to `root`; temporary and hidden files
/// (a torn file, the recorder's pid) are not part of a finished trace.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        if e.file_type()?.is_dir() {
            collect_files(root, &p, out)?;
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}
