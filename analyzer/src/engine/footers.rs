//! The footers [`crate::trace::Trace::check`] read (each checked against
//! its checksum), handed to a DataFusion session so that its scans and
//! schema inference do not fetch them again: DataFusion 55 reads a
//! footer by fetching the file's last 512 KiB, which for a trace's small
//! files in a bucket is the whole file.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Fields, Schema};
use datafusion::datasource::file_format::parquet::transform_schema_to_view;
use datafusion::datasource::physical_plan::parquet::metadata::CachedParquetMetaData;
use datafusion::execution::cache::cache_manager::CachedFileMetadataEntry;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::ObjectMeta;
use datafusion::parquet::arrow::{parquet_to_arrow_schema, ARROW_SCHEMA_META_KEY};
use datafusion::parquet::file::metadata::{FileMetaData, ParquetMetaData, ParquetMetaDataBuilder};
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
            Arc::new(CachedParquetMetaData::new(for_scans(meta))),
        );
        cache.put(&location, entry);
    }
}

/// The footer as a scan needs it: its key-value metadata cut to the Arrow
/// schema. Each file a scan opens copies the rest into the schema it
/// reads with, and again into each projection's (a rollup is up to
/// hundreds of kB of base64: two-thirds of the samples of `names` over
/// 5 files were those copies and the kernel zeroing pages for them), and
/// a large footer counts against the cache's memory limit.
fn for_scans(meta: &Arc<ParquetMetaData>) -> Arc<ParquetMetaData> {
    let fm = meta.file_metadata();
    let Some(kv) = fm.key_value_metadata() else {
        return meta.clone();
    };
    if kv.iter().all(|k| k.key == ARROW_SCHEMA_META_KEY) {
        return meta.clone();
    }
    let kept: Vec<_> = kv
        .iter()
        .filter(|k| k.key == ARROW_SCHEMA_META_KEY)
        .cloned()
        .collect();
    let file = FileMetaData::new(
        fm.version(),
        fm.num_rows(),
        fm.created_by().map(str::to_owned),
        (!kept.is_empty()).then_some(kept),
        fm.schema_descr_ptr(),
        fm.column_orders().cloned(),
    );
    Arc::new(
        ParquetMetaDataBuilder::new(file)
            .set_row_groups(meta.row_groups().to_vec())
            .set_column_index(meta.column_index().cloned())
            .set_offset_index(meta.offset_index().cloned())
            .build(),
    )
}

/// A table's schema made from the footers [`crate::trace::Trace::check`] read, as
/// DataFusion's inference makes it from the same footers (each file's
/// converted, field metadata cleared, merged in path order, strings as
/// views when the session says so): inference would read them again
/// (with the footers cached too, nethist at 10M: 1.81 -> 1.73 ms). None
/// where a footer is missing or the session asks for a conversion not
/// made here; DataFusion infers the schema then.
pub fn footer_schema(ctx: &SessionContext, files: &[DataFile]) -> Option<Schema> {
    let state = ctx.state_ref();
    let state = state.read();
    let opts = &state.config_options().execution.parquet;
    if !opts.skip_metadata || opts.binary_as_string || opts.coerce_int96.is_some() {
        return None;
    }
    // Files of one trace, or of a set's, mostly share one schema: each
    // distinct one converted once (a set's 300 files' conversions were a
    // fifth of `retap sql` over them), from the Arrow schema its writer
    // kept, not the rest of its key-value metadata (rollups among it),
    // which the fields do not carry.
    let mut distinct: Vec<(
        &datafusion::parquet::schema::types::Type,
        Option<&str>,
        Schema,
    )> = vec![];
    let mut schemas = vec![];
    for f in files {
        let (meta, _) = f.footer.as_ref()?;
        let fm = meta.file_metadata();
        let arrow = fm
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == ARROW_SCHEMA_META_KEY));
        let root = fm.schema_descr().root_schema();
        let value = arrow.and_then(|k| k.value.as_deref());
        let s = match distinct.iter().find(|(r, v, _)| *v == value && *r == root) {
            Some((_, _, s)) => s.clone(),
            None => {
                let kept = arrow.map(|k| vec![k.clone()]);
                let s = parquet_to_arrow_schema(fm.schema_descr(), kept.as_ref()).ok()?;
                distinct.push((root, value, s.clone()));
                s
            }
        };
        schemas.push((f.path.clone(), s));
    }
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    let cleared = schemas.into_iter().map(|(_, s)| {
        Schema::new(
            s.fields()
                .iter()
                .map(|f| f.as_ref().clone().with_metadata(Default::default()))
                .collect::<Fields>(),
        )
    });
    let merged = Schema::try_merge(cleared).ok()?;
    Some(if opts.schema_force_view_types {
        transform_schema_to_view(&merged)
    } else {
        merged
    })
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
