//! The footers [`crate::trace::Trace::check`] read (each checked against
//! its checksum), handed to a DataFusion session so that its scans and
//! schema inference do not fetch them again: DataFusion 55 reads a
//! footer by fetching the file's last 512 KiB, which for a trace's small
//! files in a bucket is the whole file.

use std::sync::Arc;

use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::execution::cache::cache_manager::CachedFileMetadataEntry;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::ObjectMeta;
use datafusion::prelude::SessionContext;

use crate::trace::DataFile;

/// Puts the footers [`crate::trace::Trace::check`] read into the session's metadata
/// cache, where the scans look before reading a file's footer.
pub fn cache_footers(ctx: &SessionContext, files: &[DataFile]) {
    let cache = ctx.runtime_env().cache_manager.get_file_metadata_cache();
    for f in files {
        let Some((meta, modified)) = &f.footer else {
            continue;
        };
        let Some(location) = object_location(&f.path) else {
            continue;
        };
        let object = ObjectMeta {
            location: location.clone(),
            last_modified: (*modified).into(),
            size: f.bytes,
            e_tag: None,
            version: None,
        };
        let entry = CachedFileMetadataEntry::new(
            object,
            Arc::new(CachedParquetMetaData::new(meta.clone())),
        );
        cache.put(&location, entry);
    }
}

/// The object a scan of this file reads: a local file's absolute path, or
/// the key of a URL's object (`s3://bucket/key`), as DataFusion names them
/// in its caches.
pub(crate) fn object_location(p: &std::path::Path) -> Option<ObjectPath> {
    if crate::store::is_url(p) {
        let url = datafusion::datasource::listing::ListingTableUrl::parse(p.to_str()?).ok()?;
        return Some(url.prefix().clone());
    }
    ObjectPath::from_absolute_path(std::path::absolute(p).ok()?).ok()
}
