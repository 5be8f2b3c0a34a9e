//! Writing query results: aligned boxes as DuckDB draws them (so a DuckDB
//! user reads them without thinking), CSV, JSON (an array of objects) and
//! Parquet (zstd).

use super::SqlError;
use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use unicode_width::UnicodeWidthStr;

use super::QueryResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, SqlError> {
        match s {
            "table" | "box" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "parquet" => Ok(Format::Parquet),
            _ => Err(SqlError::Usage(format!(
                "unknown format {s:?} (table, csv, json or parquet)"
            ))),
        }
    }
}

/// DuckDB's name for a column type.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "varchar".into(),
        DataType::Dictionary(_, v) => type_name(v),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Interval(_) => "interval".into(),
        DataType::Duration(_) => "interval".into(),
        DataType::List(f) | DataType::LargeList(f) => format!("{}[]", type_name(f.data_type())),
        DataType::Null => "\"null\"".into(),
        other => other.to_string().to_lowercase(),
    }
}

fn right_aligned(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

fn options() -> FormatOptions<'static> {
    FormatOptions::default().with_null("NULL")
}

/// The cells of the rows to show, as text.
fn cells(batches: &[RecordBatch], rows: &[usize]) -> Result<Vec<Vec<String>>, SqlError> {
    // Map global row numbers to (batch, row).
    let mut starts = vec![];
    let mut n = 0;
    for b in batches {
        starts.push(n);
        n += b.num_rows();
    }
    let opts = options();
    let mut formatters = vec![];
    for b in batches {
        let f: Result<Vec<ArrayFormatter>, _> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect();
        formatters.push(f.map_err(SqlError::from)?);
    }
    let mut out = vec![];
    for &r in rows {
        let bi = starts.partition_point(|&s| s <= r) - 1;
        let local = r - starts[bi];
        out.push(
            formatters[bi]
                .iter()
                .map(|f| {
                    f.value(local)
                        .to_string()
                        .replace('\n', "\\n")
                        .replace('\t', "\\t")
                })
                .collect(),
        );
    }
    Ok(out)
}

fn pad(s: &str, w: usize, right: bool) -> String {
    let sw = UnicodeWidthStr::width(s);
    let fill = " ".repeat(w.saturating_sub(sw));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

fn center(s: &str, w: usize) -> String {
    let sw = UnicodeWidthStr::width(s);
    let total = w.saturating_sub(sw);
    let left = total / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(total - left))
}

/// A DuckDB-style box. More than `max_rows` rows (0: no limit) show the
/// first and last halves with a `·` gap and a footer saying how many.
pub fn table(r: &QueryResult, max_rows: usize) -> Result<String, SqlError> {
    let schema = &r.schema;
    if schema.fields().is_empty() {
        return Ok(String::new());
    }
    let total = r.rows();
    let truncated = max_rows > 0 && total > max_rows;
    let shown: Vec<usize> = if truncated {
        let head = max_rows.div_ceil(2);
        let tail = max_rows - head;
        (0..head).chain(total - tail..total).collect()
    } else {
        (0..total).collect()
    };
    let body = cells(&r.batches, &shown)?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| type_name(f.data_type()))
        .collect();
    let right: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| right_aligned(f.data_type()))
        .collect();
    let ncol = names.len();
    let mut w: Vec<usize> = (0..ncol)
        .map(|c| {
            let mut m = UnicodeWidthStr::width(names[c].as_str())
                .max(UnicodeWidthStr::width(types[c].as_str()))
                .max(1);
            for row in &body {
                m = m.max(UnicodeWidthStr::width(row[c].as_str()));
            }
            m
        })
        .collect();
    // The footer must fit inside the box.
    let footer = if truncated {
        Some(format!(
            "{total} rows ({} shown)  {ncol} column{}",
            shown.len(),
            if ncol == 1 { "" } else { "s" }
        ))
    } else {
        None
    };
    if let Some(f) = &footer {
        let inner: usize = w.iter().map(|x| x + 3).sum::<usize>() - 1;
        let need = UnicodeWidthStr::width(f.as_str()) + 2;
        if need > inner {
            let last = ncol - 1;
            w[last] += need - inner;
        }
    }
    let line = |l: &str, m: &str, r: &str| {
        let segs: Vec<String> = w.iter().map(|x| "─".repeat(x + 2)).collect();
        format!("{l}{}{r}\n", segs.join(m))
    };
    let mut s = String::new();
    s += &line("┌", "┬", "┐");
    let row = |vals: &[String], f: &dyn Fn(usize, &str) -> String| {
        let segs: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(c, v)| format!(" {} ", f(c, v)))
            .collect();
        format!("│{}│\n", segs.join("│"))
    };
    s += &row(&names, &|c, v| center(v, w[c]));
    s += &row(&types, &|c, v| center(v, w[c]));
    s += &line("├", "┼", "┤");
    let head = if truncated {
        max_rows.div_ceil(2)
    } else {
        body.len()
    };
    for vals in &body[..head] {
        s += &row(vals, &|c, v| pad(v, w[c], right[c]));
    }
    if truncated {
        let dots: Vec<String> = vec!["·".to_string(); ncol];
        for _ in 0..3 {
            s += &row(&dots, &|c, v| center(v, w[c]));
        }
        for vals in &body[head..] {
            s += &row(vals, &|c, v| pad(v, w[c], right[c]));
        }
    }
    if let Some(f) = footer {
        s += &line("├", "┴", "┤");
        let inner: usize = w.iter().map(|x| x + 3).sum::<usize>() - 1;
        s += &format!("│ {} │\n", pad(&f, inner - 2, false));
        s += &format!("└{}┘\n", "─".repeat(inner));
    } else {
        s += &line("└", "┴", "┘");
    }
    Ok(s)
}

/// Columns CSV cannot hold as they are (dictionaries, lists) become text.
fn plain(r: &QueryResult, lists_as_text: bool) -> Result<(SchemaRef, Vec<RecordBatch>), SqlError> {
    let target = |t: &DataType| -> Option<DataType> {
        match t {
            DataType::Dictionary(_, v) => Some(v.as_ref().clone()),
            DataType::List(_) | DataType::LargeList(_) if lists_as_text => Some(DataType::Utf8),
            DataType::Utf8View => Some(DataType::Utf8),
            _ => None,
        }
    };
    let fields: Vec<Field> = r
        .schema
        .fields()
        .iter()
        .map(|f| match target(f.data_type()) {
            Some(t) => Field::new(f.name(), t, f.is_nullable()),
            None => f.as_ref().clone(),
        })
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let mut out = vec![];
    for b in &r.batches {
        let cols: Result<Vec<ArrayRef>, SqlError> = b
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c.clone())
                } else if matches!(c.data_type(), DataType::List(_) | DataType::LargeList(_)) {
                    list_text(c.as_ref())
                } else {
                    cast(c, f.data_type()).map_err(SqlError::from)
                }
            })
            .collect();
        out.push(RecordBatch::try_new(schema.clone(), cols?).map_err(SqlError::from)?);
    }
    Ok((schema, out))
}

fn list_text(a: &dyn Array) -> Result<ArrayRef, SqlError> {
    let opts = options();
    let f = ArrayFormatter::try_new(a, &opts).map_err(SqlError::from)?;
    let v: datafusion::arrow::array::StringArray = (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                None
            } else {
                Some(f.value(i).to_string())
            }
        })
        .collect();
    Ok(Arc::new(v))
}

pub fn csv(r: &QueryResult, out: &mut dyn Write) -> Result<(), SqlError> {
    let (schema, batches) = plain(r, true)?;
    let mut w = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(out);
    if batches.is_empty() {
        // A header even for no rows.
        w.write(&RecordBatch::new_empty(schema))
            .map_err(SqlError::from)?;
    }
    for b in &batches {
        w.write(b).map_err(SqlError::from)?;
    }
    Ok(())
}

pub fn json(r: &QueryResult, out: &mut dyn Write) -> Result<(), SqlError> {
    let (_, batches) = plain(r, false)?;
    let mut w = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(out);
    for b in &batches {
        w.write(b).map_err(SqlError::from)?;
    }
    w.finish().map_err(SqlError::from)?;
    let out = w.into_inner();
    out.write_all(b"\n").map_err(SqlError::from)?;
    Ok(())
}

pub fn parquet(r: &QueryResult, path: &std::path::Path) -> Result<(), SqlError> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let f = std::fs::File::create(path)
        .map_err(|e| SqlError::Output(format!("{}: {e}", path.display())))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .build();
    let mut w = ArrowWriter::try_new(f, r.schema.clone(), Some(props))
        .map_err(|e| SqlError::Output(format!("{}: {e}", path.display())))?;
    for b in &r.batches {
        w.write(b)
            .map_err(|e| SqlError::Output(format!("{}: {e}", path.display())))?;
    }
    w.close()
        .map_err(|e| SqlError::Output(format!("{}: {e}", path.display())))?;
    Ok(())
}
