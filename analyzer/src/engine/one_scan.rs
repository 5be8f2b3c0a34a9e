//! Files of many traces as one scan, each file's rows carrying values of
//! its own (its trace's name and host, what moves its `ts` onto a set's
//! clock) as DataFusion's partition values. A union of one scan per trace
//! did the same, but DataFusion planned each input again (a session's
//! state cloned, a projection's schema built, an execution partition
//! started per trace): over a set of 300 traces of 100k rows, most of a
//! run that scanned them.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::options::ReadOptions;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::TableType;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::object_store::ObjectMeta;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::ParquetReadOptions;

use super::footers::object_location;

/// A file of the scan: where it is, as its footer was read (its size and
/// modification time find that footer in the session's cache), and its
/// values of the columns the scan adds.
pub struct ScanFile {
    pub path: std::path::PathBuf,
    pub bytes: u64,
    pub modified: std::time::SystemTime,
    pub values: Vec<ScalarValue>,
    /// Row groups not to read, if any (true: skipped), one a row group.
    pub skip_row_groups: Option<Vec<bool>>,
}

impl ScanFile {
    /// A trace's file, with its `values` of the added columns.
    pub fn of(f: &crate::trace::DataFile, values: Vec<ScalarValue>) -> ScanFile {
        ScanFile {
            path: f.path.clone(),
            bytes: f.bytes,
            modified: f.modified,
            values,
            skip_row_groups: None,
        }
    }
}

/// Parquet files of one schema, with `added` columns whose values each
/// file gives.
#[derive(Debug)]
pub struct OneScan {
    file_schema: SchemaRef,
    added: Vec<FieldRef>,
    /// Parquet's row numbers, if asked for ([`OneScan::with_row_numbers`]).
    row_numbers: Option<FieldRef>,
    schema: SchemaRef,
    store: ObjectStoreUrl,
    files: Vec<PartitionedFile>,
}

impl OneScan {
    /// None where the files are not all in one object store (a set of
    /// local and bucketed traces), or a path is not one DataFusion reads.
    pub fn new(file_schema: SchemaRef, added: Vec<Field>, files: Vec<ScanFile>) -> Option<Self> {
        let store = ListingTableUrl::parse(files.first()?.path.to_str()?)
            .ok()?
            .object_store();
        let mut parts = Vec::with_capacity(files.len());
        for f in files {
            let url = ListingTableUrl::parse(f.path.to_str()?).ok()?;
            if url.object_store() != store || f.values.len() != added.len() {
                return None;
            }
            let meta = ObjectMeta {
                location: object_location(&f.path)?,
                last_modified: f.modified.into(),
                size: f.bytes,
                e_tag: None,
                version: None,
            };
            let mut part = PartitionedFile::new_from_meta(meta).with_partition_values(f.values);
            if let Some(skip) = &f.skip_row_groups {
                let mut plan = ParquetAccessPlan::new_all(skip.len());
                for (i, _) in skip.iter().enumerate().filter(|(_, s)| **s) {
                    plan.skip(i);
                }
                part = part.with_extension(plan);
            }
            parts.push(part);
        }
        let added: Vec<FieldRef> = added.into_iter().map(Arc::new).collect();
        let schema = Arc::new(Schema::new(
            file_schema
                .fields()
                .iter()
                .cloned()
                .chain(added.iter().cloned())
                .collect::<Vec<_>>(),
        ));
        Some(OneScan {
            file_schema,
            added,
            row_numbers: None,
            schema,
            store,
            files: parts,
        })
    }

    /// The scan with column `name` holding each row's index in its file,
    /// which the Parquet reader counts as it reads (a virtual column: a
    /// plain column to whatever is planned above, so no rewrite of the
    /// plan can move it out of the scan, as `file_row_index()` can be).
    pub fn with_row_numbers(mut self, name: &str) -> Self {
        let field = Arc::new(
            Field::new(name, DataType::Int64, false).with_extension_type(parquet::arrow::RowNumber),
        );
        let mut fields = self.schema.fields().to_vec();
        fields.push(field.clone());
        self.schema = Arc::new(Schema::new(fields));
        self.row_numbers = Some(field);
        self
    }
}

/// Consecutive files in `n` groups of about equal bytes (the cores'
/// shares of the scan; DataFusion splits large files further).
fn groups(files: &[PartitionedFile], n: usize) -> Vec<FileGroup> {
    let total: u64 = files.iter().map(|f| f.object_meta.size).sum();
    let share = total.div_ceil(n.max(1) as u64).max(1);
    let mut out: Vec<Vec<PartitionedFile>> = vec![vec![]];
    let mut filled = 0;
    for f in files {
        if filled >= share && out.len() < n {
            out.push(vec![]);
            filled = 0;
        }
        filled += f.object_meta.size;
        out.last_mut().expect("a group").push(f.clone());
    }
    out.into_iter()
        .filter(|g| !g.is_empty())
        .map(FileGroup::new)
        .collect()
}

#[async_trait]
impl TableProvider for OneScan {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters are applied above the scan as well; DataFusion's physical
    /// optimizer hands them to the Parquet reader to prune with.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        // The session's Parquet options, as `read_parquet` takes them.
        let format = ParquetReadOptions::default()
            .to_listing_options(state.config(), state.table_options().clone())
            .format;
        let table_schema =
            datafusion::datasource::table_schema::TableSchema::builder(self.file_schema.clone())
                .with_table_partition_cols(self.added.clone())
                .with_virtual_columns(self.row_numbers.iter().cloned().collect::<Vec<_>>())
                .build();
        // Each file's statistics, from the footer in the session's cache,
        // as a listing's scan takes them: a count, minimum or maximum is
        // answered from them without reading rows.
        let collect = state.config().collect_statistics();
        let mut files = Vec::with_capacity(self.files.len());
        if collect {
            let store = state.runtime_env().object_store(&self.store)?;
            for f in &self.files {
                let meta = format
                    .infer_stats_and_ordering(
                        state,
                        &store,
                        self.file_schema.clone(),
                        &f.object_meta,
                    )
                    .await?;
                files.push(f.clone().with_statistics(Arc::new(meta.statistics)));
            }
        } else {
            files.clone_from(&self.files);
        }
        let (file_groups, statistics) = datafusion_datasource::compute_all_files_statistics(
            groups(&files, state.config().target_partitions()),
            self.schema.clone(),
            collect,
            false,
        )?;
        let config =
            FileScanConfigBuilder::new(self.store.clone(), format.file_source(table_schema))
                .with_file_groups(file_groups)
                .with_statistics(statistics)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        format.create_physical_plan(state, config).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> PartitionedFile {
        PartitionedFile::new(format!("f{size}"), size)
    }

    /// Groups are consecutive runs of files, as many as asked at most,
    /// none empty, each file in one.
    #[test]
    fn files_are_shared_out_in_order_by_bytes() {
        let files: Vec<PartitionedFile> = [5, 5, 5, 5, 1, 1, 1, 1].map(file).to_vec();
        let g = groups(&files, 2);
        let sizes: Vec<Vec<u64>> = g
            .iter()
            .map(|g| g.iter().map(|f| f.object_meta.size).collect())
            .collect();
        assert_eq!(sizes, vec![vec![5, 5, 5], vec![5, 1, 1, 1, 1]]);
        assert_eq!(groups(&files[..1], 4).len(), 1);
        assert_eq!(groups(&[], 2).len(), 0);
        assert_eq!(groups(&files, 1).len(), 1);
    }
}
