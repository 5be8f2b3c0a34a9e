//! Column builders for a tracepoint table: one per field of the format,
//! typed as `TracepointField::data_type` says, filled by decoding each raw
//! record with the same description (no per-tracepoint code).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int16Builder, Int32Builder, Int64Builder, Int8Builder, ListBuilder,
    PrimitiveBuilder, StringDictionaryBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
    UInt8Builder,
};
use arrow::datatypes::{ArrowPrimitiveType, Field, Int32Type};
use retap_schema::tracepoints::{
    FieldKind, FieldValue, TracepointField, TracepointFormat, CUT_MARK,
};

/// Integers of any width and sign, appended from i64/u64 values as decoded.
enum Ints {
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
}

impl Ints {
    fn new(size: u32, signed: bool) -> Ints {
        match (size, signed) {
            (1, true) => Ints::I8(Int8Builder::new()),
            (2, true) => Ints::I16(Int16Builder::new()),
            (4, true) => Ints::I32(Int32Builder::new()),
            (_, true) => Ints::I64(Int64Builder::new()),
            (1, false) => Ints::U8(UInt8Builder::new()),
            (2, false) => Ints::U16(UInt16Builder::new()),
            (4, false) => Ints::U32(UInt32Builder::new()),
            (_, false) => Ints::U64(UInt64Builder::new()),
        }
    }

    /// The value as the kernel stored it, truncated to the column's width
    /// (decoding already sign- or zero-extended it from that width).
    fn push(&mut self, v: &FieldValue) {
        let (i, u) = match *v {
            FieldValue::Int(i) => (i, i as u64),
            FieldValue::UInt(u) => (u as i64, u),
            _ => (0, 0),
        };
        match self {
            Ints::I8(b) => b.append_value(i as i8),
            Ints::I16(b) => b.append_value(i as i16),
            Ints::I32(b) => b.append_value(i as i32),
            Ints::I64(b) => b.append_value(i),
            Ints::U8(b) => b.append_value(u as u8),
            Ints::U16(b) => b.append_value(u as u16),
            Ints::U32(b) => b.append_value(u as u32),
            Ints::U64(b) => b.append_value(u),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Ints::I8(b) => Arc::new(b.finish()),
            Ints::I16(b) => Arc::new(b.finish()),
            Ints::I32(b) => Arc::new(b.finish()),
            Ints::I64(b) => Arc::new(b.finish()),
            Ints::U8(b) => Arc::new(b.finish()),
            Ints::U16(b) => Arc::new(b.finish()),
            Ints::U32(b) => Arc::new(b.finish()),
            Ints::U64(b) => Arc::new(b.finish()),
        }
    }
}

/// Lists of integers of any width and sign.
enum IntLists {
    I8(ListBuilder<Int8Builder>),
    I16(ListBuilder<Int16Builder>),
    I32(ListBuilder<Int32Builder>),
    I64(ListBuilder<Int64Builder>),
    U8(ListBuilder<UInt8Builder>),
    U16(ListBuilder<UInt16Builder>),
    U32(ListBuilder<UInt32Builder>),
    U64(ListBuilder<UInt64Builder>),
}

fn list<T: ArrowPrimitiveType>(item: &Field) -> ListBuilder<PrimitiveBuilder<T>> {
    ListBuilder::new(PrimitiveBuilder::<T>::new()).with_field(Arc::new(item.clone()))
}

fn push_list<T: ArrowPrimitiveType>(
    b: &mut ListBuilder<PrimitiveBuilder<T>>,
    vals: impl Iterator<Item = T::Native>,
) {
    for v in vals {
        b.values().append_value(v);
    }
    b.append(true);
}

impl IntLists {
    fn new(f: &TracepointField, elem: u32, signed: bool) -> IntLists {
        use arrow::datatypes::*;
        let arrow::datatypes::DataType::List(item) = f.data_type() else {
            unreachable!("arrays are lists")
        };
        match (elem, signed) {
            (1, true) => IntLists::I8(list::<Int8Type>(&item)),
            (2, true) => IntLists::I16(list::<Int16Type>(&item)),
            (4, true) => IntLists::I32(list::<Int32Type>(&item)),
            (_, true) => IntLists::I64(list::<Int64Type>(&item)),
            (1, false) => IntLists::U8(list::<UInt8Type>(&item)),
            (2, false) => IntLists::U16(list::<UInt16Type>(&item)),
            (4, false) => IntLists::U32(list::<UInt32Type>(&item)),
            (_, false) => IntLists::U64(list::<UInt64Type>(&item)),
        }
    }

    fn push(&mut self, v: &FieldValue) {
        let (is, us): (&[i64], &[u64]) = match v {
            FieldValue::Ints(i) => (i, &[]),
            FieldValue::UInts(u) => (&[], u),
            _ => (&[], &[]),
        };
        let i = || is.iter().copied().chain(us.iter().map(|u| *u as i64));
        let u = || us.iter().copied().chain(is.iter().map(|i| *i as u64));
        match self {
            IntLists::I8(b) => push_list(b, i().map(|x| x as i8)),
            IntLists::I16(b) => push_list(b, i().map(|x| x as i16)),
            IntLists::I32(b) => push_list(b, i().map(|x| x as i32)),
            IntLists::I64(b) => push_list(b, i()),
            IntLists::U8(b) => push_list(b, u().map(|x| x as u8)),
            IntLists::U16(b) => push_list(b, u().map(|x| x as u16)),
            IntLists::U32(b) => push_list(b, u().map(|x| x as u32)),
            IntLists::U64(b) => push_list(b, u()),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            IntLists::I8(b) => Arc::new(b.finish()),
            IntLists::I16(b) => Arc::new(b.finish()),
            IntLists::I32(b) => Arc::new(b.finish()),
            IntLists::I64(b) => Arc::new(b.finish()),
            IntLists::U8(b) => Arc::new(b.finish()),
            IntLists::U16(b) => Arc::new(b.finish()),
            IntLists::U32(b) => Arc::new(b.finish()),
            IntLists::U64(b) => Arc::new(b.finish()),
        }
    }
}

enum FieldBuilder {
    Ints(Ints),
    Bool(BooleanBuilder),
    Str(StringDictionaryBuilder<Int32Type>),
    Lists(IntLists),
}

/// The builders of one tracepoint table's own columns (after the common ones).
pub struct TracepointCols {
    format: &'static TracepointFormat,
    fields: Vec<FieldBuilder>,
    /// The `kstack` column, when the format records stacks.
    stack: Option<ListBuilder<UInt64Builder>>,
}

impl TracepointCols {
    pub fn new(format: &'static TracepointFormat) -> TracepointCols {
        let fields = format
            .fields
            .iter()
            .map(|f| match f.kind {
                FieldKind::Int { signed } => FieldBuilder::Ints(Ints::new(f.size, signed)),
                FieldKind::Bool => FieldBuilder::Bool(BooleanBuilder::new()),
                FieldKind::Chars | FieldKind::DynChars { .. } => {
                    FieldBuilder::Str(StringDictionaryBuilder::new())
                }
                FieldKind::Array { elem, signed } | FieldKind::DynArray { elem, signed, .. } => {
                    FieldBuilder::Lists(IntLists::new(f, elem, signed))
                }
            })
            .collect();
        let stack = format.stack.then(|| {
            ListBuilder::new(UInt64Builder::new()).with_field(retap_schema::tables::address_item())
        });
        TracepointCols {
            format,
            fields,
            stack,
        }
    }

    /// Appends one raw record (the kernel's bytes, `common_type` first) and
    /// the kernel stack's bytes (native-endian addresses) when recorded.
    pub fn push(&mut self, raw: &[u8], stack: &[u8]) {
        if let Some(b) = &mut self.stack {
            b.append_value(
                stack
                    .chunks_exact(8)
                    .map(|a| Some(u64::from_ne_bytes(a.try_into().expect("8 bytes")))),
            );
        }
        for (f, b) in self.format.fields.iter().zip(self.fields.iter_mut()) {
            let v = f.decode(raw);
            match (b, &v) {
                (FieldBuilder::Ints(b), _) => b.push(&v),
                (FieldBuilder::Bool(b), FieldValue::Bool(x)) => b.append_value(*x),
                (FieldBuilder::Str(b), FieldValue::Str(s, cut)) => {
                    let text = String::from_utf8_lossy(s);
                    if *cut {
                        b.append_value(format!("{text}{CUT_MARK}"));
                    } else {
                        b.append_value(text);
                    }
                }
                (FieldBuilder::Lists(b), _) => b.push(&v),
                (FieldBuilder::Bool(b), _) => b.append_value(false),
                (FieldBuilder::Str(b), _) => b.append_value(""),
            }
        }
    }

    pub fn finish(&mut self, cols: &mut Vec<ArrayRef>) {
        for b in &mut self.fields {
            cols.push(match b {
                FieldBuilder::Ints(b) => b.finish(),
                FieldBuilder::Bool(b) => Arc::new(b.finish()),
                FieldBuilder::Str(b) => Arc::new(b.finish()),
                FieldBuilder::Lists(b) => b.finish(),
            });
        }
        if let Some(b) = &mut self.stack {
            cols.push(Arc::new(b.finish()));
        }
    }
}
