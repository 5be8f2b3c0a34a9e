//! What the dictionary pages of a trace's files say before any row is
//! read: which values a string column holds in each row group (a few KiB
//! each). Plans take from them the syscalls a trace has calls of, and
//! leave unread the files and row groups none of whose values pass a
//! probe's filter (`execname() == "postgres"` over a fleet's or a day's
//! files, most of which never ran postgres). Statistics cannot say that:
//! a row group's least and greatest names ("bash", "python3") straddle
//! almost any name.
//!
//! Each file's values are read once per run, whatever the number of
//! plans asking.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

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

/// A row group's values of one column; None where not known (its chunk
/// not dictionary-encoded throughout).
type Values = Option<Arc<Vec<String>>>;

/// A file's values of one column, row group by row group; None where not
/// known at all (no footer, no such column, not a string).
type FileValues = Option<Vec<Values>>;

/// Each row group's values as read (see [`file_dictionary`]).
type RowGroupLists = Vec<Option<Vec<String>>>;

/// The values read so far, by file and column.
pub(super) struct Dictionaries<'a> {
    store: &'a crate::store::Store,
    /// By column, then file.
    read: HashMap<String, FxHashMap<PathBuf, FileValues>>,
}

impl<'a> Dictionaries<'a> {
    pub(super) fn new(store: &'a crate::store::Store) -> Self {
        Dictionaries {
            store,
            read: HashMap::new(),
        }
    }

    /// Each file's values of `column`, reading those not read yet.
    fn of_files(&mut self, files: &[DataFile], column: &str) -> Result<Vec<FileValues>, PlanError> {
        let read = self.read.entry(column.to_string()).or_default();
        let missing: Vec<&DataFile> = files
            .iter()
            .filter(|f| !read.contains_key(f.path.as_path()))
            .collect();
        if !missing.is_empty() {
            let store = self.store;
            // A few files at a time: in a bucket each is a request.
            let per_file = crate::map_on_threads(&missing, store.parallelism(), |f| {
                file_dictionary(store, f, column)
            });
            // Copies of one workload have equal dictionaries: one list
            // each, so a filter is judged once per distinct list.
            let mut distinct: FxHashMap<Vec<String>, Arc<Vec<String>>> = FxHashMap::default();
            let mut shared = |v: Vec<String>| match distinct.get(&v) {
                Some(one) => one.clone(),
                None => {
                    let one = Arc::new(v.clone());
                    distinct.insert(v, one.clone());
                    one
                }
            };
            for (f, groups) in missing.iter().zip(per_file) {
                let groups = groups?.map(|g| g.into_iter().map(|v| v.map(&mut shared)).collect());
                read.insert(f.path.clone(), groups);
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
    /// None when some row group's are not known.
    pub(super) fn values(
        &mut self,
        files: &[DataFile],
        column: &str,
    ) -> Result<Option<Vec<String>>, PlanError> {
        let lists = self.of_files(files, column)?;
        let mut values: Vec<String> = vec![];
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        let mut lists_seen: FxHashSet<*const Vec<String>> = FxHashSet::default();
        for groups in &lists {
            let Some(groups) = groups else {
                return Ok(None);
            };
            for vs in groups {
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
        }
        Ok(Some(values))
    }

    /// For each file, for each of its row groups, whether no row of it
    /// can pass `filter`: some conjunct over one string column is true
    /// for none of the values the row group's dictionary holds (nor for
    /// null). Columns a set's scan adds (a file's trace's host and name,
    /// `added`) hold one value per file. A conjunct that cannot be judged
    /// so (over several columns, or one not known) rules nothing out.
    /// (A file whose footer was not read counts as one row group.)
    pub(super) fn unread(
        &mut self,
        ctx: &SessionContext,
        files: &[DataFile],
        added: &dyn Fn(&DataFile, &str) -> Option<String>,
        filter: Option<&Expr>,
    ) -> Result<Vec<Vec<bool>>, PlanError> {
        let mut out: Vec<Vec<bool>> = files
            .iter()
            .map(|f| {
                let groups = f.footer.as_ref().map_or(1, |(m, _)| m.num_row_groups());
                vec![false; groups]
            })
            .collect();
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
            let mut none_pass = |vs: &Arc<Vec<String>>| {
                *judged
                    .entry(Arc::as_ptr(vs))
                    .or_insert_with(|| judge.none_pass(vs))
            };
            if files.first().and_then(|f| added(f, name)).is_some() {
                let mut by_value: HashMap<String, bool> = HashMap::new();
                for (skip, f) in out.iter_mut().zip(files) {
                    let Some(v) = added(f, name) else {
                        continue;
                    };
                    let none = by_value
                        .entry(v)
                        .or_insert_with_key(|v| judge.none_pass(std::slice::from_ref(v)));
                    if *none {
                        skip.iter_mut().for_each(|s| *s = true);
                    }
                }
                continue;
            }
            // Reading a file's dictionary costs ~1/20 of reading its rows
            // (500 files: 10 ms): where a sample of files spread over the
            // list has no row group to leave unread, the rest are not
            // asked.
            if !self.known(files, name) {
                let step = files.len().div_ceil(SAMPLE).max(1);
                let sample: Vec<DataFile> = files.iter().step_by(step).cloned().collect();
                let any = (self.of_files(&sample, name)?.iter().flatten().flatten())
                    .flatten()
                    .any(&mut none_pass);
                if !any {
                    continue;
                }
            }
            for (skip, groups) in out.iter_mut().zip(self.of_files(files, name)?) {
                let Some(groups) = groups else {
                    continue;
                };
                if groups.len() != skip.len() {
                    continue;
                }
                for (s, vs) in skip.iter_mut().zip(&groups) {
                    if let Some(vs) = vs {
                        *s |= none_pass(vs);
                    }
                }
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

/// The values of string column `name` in each row group of one file, its
/// dictionary pages fetched at once: None for a row group whose chunk is
/// not dictionary-encoded throughout (or whose page does not decode as
/// UTF-8 strings), and None for the file where its footer was not read or
/// the column is not a string of it.
fn file_dictionary(
    store: &crate::store::Store,
    f: &DataFile,
    name: &str,
) -> Result<Option<RowGroupLists>, PlanError> {
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
        if !string {
            return Ok(None);
        }
        let dictionary_only = c.dictionary_page_offset().is_some()
            && c.page_encoding_stats_mask().is_some_and(|m| {
                m.is_only(Encoding::RLE_DICTIONARY) || m.is_only(Encoding::PLAIN_DICTIONARY)
            });
        chunks.push((rg, c, dictionary_only));
    }
    if !chunks.iter().any(|(.., only)| *only) {
        return Ok(Some(vec![None; chunks.len()]));
    }
    let file = Arc::new(
        store
            .open(&f.path, f.bytes, None, None)
            .map_err(|e| unreadable(&e))?,
    );
    // Each dictionary page runs from its offset to the first data page.
    let ranges: Vec<std::ops::Range<u64>> = chunks
        .iter()
        .filter(|(.., only)| *only)
        .filter_map(|(_, c, _)| {
            let from = c.dictionary_page_offset()? as u64;
            let to = c.data_page_offset() as u64;
            (from < to).then_some(from..to)
        })
        .collect();
    file.prefetch(&ranges).map_err(|e| unreadable(&e))?;
    let mut out = Vec::with_capacity(chunks.len());
    for (rg, c, only) in chunks {
        if !only {
            out.push(None);
            continue;
        }
        let mut pages = SerializedPageReader::new(file.clone(), c, rg.num_rows() as usize, None)
            .map_err(|e| unreadable(&e))?;
        let page = pages.get_next_page().map_err(|e| unreadable(&e))?;
        out.push(match page {
            Some(Page::DictionaryPage {
                buf, num_values, ..
            }) => plain_strings(&buf, num_values as usize),
            _ => None,
        });
    }
    Ok(Some(out))
}

/// A dictionary page's PLAIN byte arrays (a little-endian u32 length,
/// then the bytes) as strings; None if they are not that, or not UTF-8
/// (not values a filter's strings compare with).
fn plain_strings(buf: &[u8], n: usize) -> Option<Vec<String>> {
    let mut values = Vec::with_capacity(n);
    let mut at = 0usize;
    for _ in 0..n {
        let len = buf.get(at..at + 4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let v = buf.get(at + 4..at + 4 + len)?;
        at += 4 + len;
        values.push(std::str::from_utf8(v).ok()?.to_string());
    }
    Some(values)
}
