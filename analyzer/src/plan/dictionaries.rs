//! What the dictionary pages of a trace's files say before any row is
//! read: which values a string column holds in each file (a few KiB per
//! row group). Plans take from them the syscalls a trace has calls of,
//! and leave unread the files none of whose values pass a probe's filter
//! (`execname() == "postgres"` over a fleet's or a day's files, most of
//! which never ran postgres). Statistics cannot say that: a file's least
//! and greatest names ("bash", "python3") straddle almost any name.
//!
//! Each file's values are read once per run, whatever the number of
//! plans asking.

use std::collections::HashMap;

use rustc_hash::{FxHashMap, FxHashSet};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::SessionContext;

use super::error::{failed, PlanError};
use crate::trace::DataFile;

/// Files whose dictionaries are read first, spread over the list, to
/// see whether reading the rest may leave any unread.
const SAMPLE: usize = 16;

/// A file's values of one column; None where not known (a chunk not
/// dictionary-encoded throughout, no footer, not a string column).
type Values = Option<Arc<Vec<String>>>;

/// The values read so far, by file and column.
pub(super) struct Dictionaries<'a> {
    store: &'a crate::store::Store,
    /// By column, then file.
    read: HashMap<String, FxHashMap<PathBuf, Values>>,
}

impl<'a> Dictionaries<'a> {
    pub(super) fn new(store: &'a crate::store::Store) -> Self {
        Dictionaries {
            store,
            read: HashMap::new(),
        }
    }

    /// Each file's values of `column`, reading those not read yet.
    fn of_files(&mut self, files: &[DataFile], column: &str) -> Result<Vec<Values>, PlanError> {
        let read = self.read.entry(column.to_string()).or_default();
        let missing: Vec<&DataFile> = files
            .iter()
            .filter(|f| !read.contains_key(f.path.as_path()))
            .collect();
        if !missing.is_empty() {
            let store = self.store;
            // A few files at a time: in a bucket each is a request.
            let chunk = missing.len().div_ceil(store.parallelism()).max(1);
            let per_file: Vec<Result<Option<Vec<String>>, PlanError>> = std::thread::scope(|s| {
                let parts: Vec<_> = missing
                    .chunks(chunk)
                    .map(|c| {
                        s.spawn(move || {
                            c.iter()
                                .map(|f| file_dictionary(store, f, column))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|h| h.join().expect("dictionary reader thread"))
                    .collect()
            });
            // Copies of one workload have equal dictionaries: one list
            // each, so a filter is judged once per distinct list.
            let mut distinct: FxHashMap<Vec<String>, Arc<Vec<String>>> = FxHashMap::default();
            for (f, vs) in missing.iter().zip(per_file) {
                let vs = vs?.map(|v| match distinct.get(&v) {
                    Some(one) => one.clone(),
                    None => {
                        let one = Arc::new(v.clone());
                        distinct.insert(v, one.clone());
                        one
                    }
                });
                read.insert(f.path.clone(), vs);
            }
        }
        let read = &self.read[column];
        Ok(files
            .iter()
            .map(|f| read.get(f.path.as_path()).cloned().flatten())
            .collect())
    }

    /// Whether every file's values of `column` have been read.
    fn known(&self, files: &[DataFile], column: &str) -> bool {
        let Some(read) = self.read.get(column) else {
            return files.is_empty();
        };
        files.iter().all(|f| read.contains_key(f.path.as_path()))
    }

    /// Every value of a dictionary-encoded string column in these files.
    /// None when some file's are not known.
    pub(super) fn values(
        &mut self,
        files: &[DataFile],
        column: &str,
    ) -> Result<Option<Vec<String>>, PlanError> {
        let lists = self.of_files(files, column)?;
        let mut values: Vec<String> = vec![];
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        let mut lists_seen: FxHashSet<*const Vec<String>> = FxHashSet::default();
        for vs in &lists {
            let Some(vs) = vs else {
                return Ok(None);
            };
            if !lists_seen.insert(Arc::as_ptr(vs)) {
                continue;
            }
            for v in vs.iter() {
                if seen.insert(v) {
                    values.push(v.clone());
                }
            }
        }
        Ok(Some(values))
    }

    /// For each file, whether no row of it can pass `filter`: some
    /// conjunct over one string column is true for none of the values
    /// the file's dictionaries hold (nor for null). Columns a set's scan
    /// adds (a file's trace's host and name, `added`) hold one value per
    /// file. A conjunct that cannot be judged so (over several columns,
    /// or one not known) rules nothing out.
    pub(super) fn unread(
        &mut self,
        ctx: &SessionContext,
        files: &[DataFile],
        added: &dyn Fn(&DataFile, &str) -> Option<String>,
        filter: Option<&Expr>,
    ) -> Result<Vec<bool>, PlanError> {
        let mut out = vec![false; files.len()];
        let Some(filter) = filter else {
            return Ok(out);
        };
        for conjunct in split_conjunction(filter) {
            let refs = conjunct.column_refs();
            let [col] = refs.into_iter().collect::<Vec<_>>()[..] else {
                continue;
            };
            let name = col.name.as_str();
            let Some(judge) = Judge::new(ctx, conjunct, name) else {
                continue;
            };
            let mut judged: HashMap<*const Vec<String>, bool> = HashMap::new();
            let values: Vec<Values> = match files.first().and_then(|f| added(f, name)) {
                Some(_) => files
                    .iter()
                    .map(|f| added(f, name).map(|v| Arc::new(vec![v])))
                    .collect(),
                None => {
                    // Reading a file's dictionary costs ~1/20 of reading
                    // its rows (500 files: 10 ms): where a sample of files
                    // spread over the list has none to leave unread, the
                    // rest are not asked.
                    if !self.known(files, name) {
                        let step = files.len().div_ceil(SAMPLE).max(1);
                        let sample: Vec<DataFile> = files.iter().step_by(step).cloned().collect();
                        let any = self
                            .of_files(&sample, name)?
                            .into_iter()
                            .flatten()
                            .any(|vs| {
                                *judged
                                    .entry(Arc::as_ptr(&vs))
                                    .or_insert_with(|| judge.none_pass(&vs))
                            });
                        if !any {
                            continue;
                        }
                    }
                    self.of_files(files, name)?
                }
            };
            for (skip, vs) in out.iter_mut().zip(values) {
                let Some(vs) = vs else {
                    continue;
                };
                let none_pass = *judged
                    .entry(Arc::as_ptr(&vs))
                    .or_insert_with(|| judge.none_pass(&vs));
                *skip |= none_pass;
            }
        }
        Ok(out)
    }
}

/// A conjunct over one column, evaluated on a list of its values.
struct Judge {
    expr: Arc<dyn PhysicalExpr>,
    schema: Arc<Schema>,
}

impl Judge {
    /// None where the conjunct does not plan over a string column by
    /// that name (then it is not judged).
    fn new(ctx: &SessionContext, conjunct: &Expr, name: &str) -> Option<Judge> {
        let schema = Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)]));
        let df_schema = DFSchema::try_from(schema.as_ref().clone()).ok()?;
        // (`state()` would clone the session's state: milliseconds.)
        let state = ctx.state_ref();
        let expr = state
            .read()
            .create_physical_expr(conjunct.clone(), &df_schema)
            .ok()?;
        Some(Judge { expr, schema })
    }

    /// Whether the conjunct is true for none of `values`, nor for null
    /// (a chunk's nulls are not in its dictionary). Where it cannot be
    /// evaluated, false: the file is read.
    fn none_pass(&self, values: &[String]) -> bool {
        let column: StringArray = values
            .iter()
            .map(|v| Some(v.as_str()))
            .chain([None])
            .collect();
        let n = column.len();
        let Ok(batch) = RecordBatch::try_new(self.schema.clone(), vec![Arc::new(column)]) else {
            return false;
        };
        let Ok(result) = self.expr.evaluate(&batch).and_then(|v| v.into_array(n)) else {
            return false;
        };
        match result.as_any().downcast_ref::<BooleanArray>() {
            Some(b) => b.true_count() == 0,
            None => false,
        }
    }
}

/// The values of string column `name` in one file, its dictionary pages
/// fetched at once. None where some chunk of it is not dictionary-encoded
/// throughout, the footer was not read, or the column is not a string.
fn file_dictionary(
    store: &crate::store::Store,
    f: &DataFile,
    name: &str,
) -> Result<Option<Vec<String>>, PlanError> {
    use parquet::basic::{ConvertedType, Encoding, LogicalType, Type};
    use parquet::column::page::{Page, PageReader};
    use parquet::file::serialized_reader::SerializedPageReader;
    let Some((meta, _)) = &f.footer else {
        return Ok(None);
    };
    let unreadable = |e: &dyn std::fmt::Display| failed(format!("{}: {e}", f.path.display()));
    let mut chunks = vec![];
    for rg in meta.row_groups() {
        let Some(c) = rg
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
        else {
            return Ok(None);
        };
        let d = c.column_descr();
        let string = d.physical_type() == Type::BYTE_ARRAY
            && (matches!(d.logical_type_ref(), Some(LogicalType::String))
                || d.converted_type() == ConvertedType::UTF8);
        let dictionary_only = c.dictionary_page_offset().is_some()
            && c.page_encoding_stats_mask().is_some_and(|m| {
                m.is_only(Encoding::RLE_DICTIONARY) || m.is_only(Encoding::PLAIN_DICTIONARY)
            });
        if !string || !dictionary_only {
            return Ok(None);
        }
        chunks.push((rg, c));
    }
    let file = Arc::new(
        store
            .open(&f.path, f.bytes, None, None)
            .map_err(|e| unreadable(&e))?,
    );
    // Each dictionary page runs from its offset to the first data page.
    let ranges: Vec<std::ops::Range<u64>> = chunks
        .iter()
        .filter_map(|(_, c)| {
            let from = c.dictionary_page_offset()? as u64;
            let to = c.data_page_offset() as u64;
            (from < to).then_some(from..to)
        })
        .collect();
    file.prefetch(&ranges).map_err(|e| unreadable(&e))?;
    let mut values: Vec<String> = vec![];
    let mut seen: std::collections::HashSet<&[u8]> = Default::default();
    let mut bufs = vec![];
    for (rg, c) in chunks {
        let mut pages = SerializedPageReader::new(file.clone(), c, rg.num_rows() as usize, None)
            .map_err(|e| unreadable(&e))?;
        let Some(Page::DictionaryPage {
            buf, num_values, ..
        }) = pages.get_next_page().map_err(|e| unreadable(&e))?
        else {
            return Ok(None);
        };
        bufs.push((buf, num_values));
    }
    for (buf, num_values) in &bufs {
        // PLAIN byte arrays: a little-endian u32 length, then the bytes.
        let mut at = 0usize;
        for _ in 0..*num_values {
            let Some(len) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let Some(v) = buf.get(at + 4..at + 4 + len) else {
                return Ok(None);
            };
            at += 4 + len;
            // (Not UTF-8: not a value a filter's string compares with.)
            let Ok(s) = std::str::from_utf8(v) else {
                return Ok(None);
            };
            if seen.insert(v) {
                values.push(s.to_string());
            }
        }
    }
    Ok(Some(values))
}
