//! The local file system as DataFusion's object store, reading on the
//! calling thread. object_store's `LocalFileSystem` hands every `head` and
//! read to tokio's blocking pool: a thread hop each, on the path to each
//! partition's first batch (a small plan's scans wait ~0.1 ms for them).
//! Trace files are local and mostly in the page cache, where a `pread`
//! costs a copy; this store does those reads in place and leaves
//! everything else (listing, writes) to `LocalFileSystem`.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    Attributes, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use datafusion::prelude::SessionContext;
use futures::stream::BoxStream;

#[derive(Debug, Default)]
pub struct InlineFiles {
    fs: LocalFileSystem,
}

/// Makes `ctx` read `file://` objects through [`InlineFiles`].
pub fn use_inline_files(ctx: &SessionContext) {
    ctx.register_object_store(
        ObjectStoreUrl::local_filesystem().as_ref(),
        Arc::new(InlineFiles::default()),
    );
}

impl fmt::Display for InlineFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InlineFiles")
    }
}

fn error(path: &std::path::Path, e: std::io::Error) -> datafusion::object_store::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        datafusion::object_store::Error::NotFound {
            path: path.display().to_string(),
            source: Box::new(e),
        }
    } else {
        datafusion::object_store::Error::Generic {
            store: "InlineFiles",
            source: format!("{}: {e}", path.display()).into(),
        }
    }
}

/// `LocalFileSystem`'s ObjectMeta for a file (its e-tag scheme too).
fn object_meta(location: &Path, md: &std::fs::Metadata) -> ObjectMeta {
    let modified = md.modified().unwrap_or(std::time::UNIX_EPOCH);
    let mtime = modified
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    ObjectMeta {
        location: location.clone(),
        last_modified: modified.into(),
        size: md.len(),
        e_tag: Some(format!("{:x}-{mtime:x}-{:x}", md.ino(), md.len())),
        version: None,
    }
}

fn read_range(file: &File, path: &std::path::Path, r: Range<u64>) -> Result<Bytes> {
    let mut buf = vec![0u8; (r.end - r.start) as usize];
    file.read_exact_at(&mut buf, r.start)
        .map_err(|e| error(path, e))?;
    Ok(Bytes::from(buf))
}

#[async_trait]
impl ObjectStore for InlineFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.fs.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.fs.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        // A whole object is streamed by LocalFileSystem, a piece at a time
        // (a CSV or JSON file's reader asks for that), not read into memory.
        if options.range.is_none() && !options.head {
            return self.fs.get_opts(location, options).await;
        }
        let path = self.fs.path_to_filesystem(location)?;
        let file = File::open(&path).map_err(|e| error(&path, e))?;
        let md = file.metadata().map_err(|e| error(&path, e))?;
        let meta = object_meta(location, &md);
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(r) => {
                r.as_range(meta.size)
                    .map_err(|e| datafusion::object_store::Error::Generic {
                        store: "InlineFiles",
                        source: Box::new(e),
                    })?
            }
            None => 0..meta.size,
        };
        let payload = if options.head {
            GetResultPayload::Stream(Box::pin(futures::stream::empty()))
        } else {
            let bytes = read_range(&file, &path, range.clone())?;
            GetResultPayload::Stream(Box::pin(futures::stream::once(async move { Ok(bytes) })))
        };
        Ok(GetResult {
            payload,
            meta,
            range,
            attributes: Attributes::default(),
        })
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let path = self.fs.path_to_filesystem(location)?;
        let file = File::open(&path).map_err(|e| error(&path, e))?;
        ranges
            .iter()
            .map(|r| read_range(&file, &path, r.clone()))
            .collect()
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.fs.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.fs.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.fs.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.fs.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::ObjectStoreExt;

    /// Everything the scans ask of a store answers as LocalFileSystem's
    /// does: heads, single and several ranges, whole gets, a missing file.
    #[test]
    fn answers_as_the_local_file_system_does() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("data.bin");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&file, &data).expect("write");
        let location = Path::from_absolute_path(&file).expect("path");
        let missing = Path::from_absolute_path(dir.path().join("nope")).expect("path");
        let ours = InlineFiles::default();
        let theirs = LocalFileSystem::new();
        crate::engine::runtime().block_on(async {
            assert_eq!(
                ours.head(&location).await.unwrap(),
                theirs.head(&location).await.unwrap()
            );
            for r in [0..1, 0..100_000, 99_990..100_000, 4096..70_001] {
                assert_eq!(
                    ours.get_range(&location, r.clone()).await.unwrap(),
                    theirs.get_range(&location, r.clone()).await.unwrap(),
                    "{r:?}"
                );
            }
            let ranges = [10..20, 0..5, 50_000..99_999];
            assert_eq!(
                ours.get_ranges(&location, &ranges).await.unwrap(),
                theirs.get_ranges(&location, &ranges).await.unwrap()
            );
            let whole = ours.get(&location).await.unwrap().bytes().await.unwrap();
            assert_eq!(whole.as_ref(), data.as_slice());
            // Past the end: what it does there (cut short), and a start
            // past the end is an error in both.
            assert_eq!(
                ours.get_range(&location, 99_000..100_001).await.unwrap(),
                theirs.get_range(&location, 99_000..100_001).await.unwrap()
            );
            assert!(ours.get_range(&location, 100_001..100_002).await.is_err());
            assert!(theirs.get_range(&location, 100_001..100_002).await.is_err());
            assert!(matches!(
                ours.head(&missing).await,
                Err(datafusion::object_store::Error::NotFound { .. })
            ));
        });
    }
}
