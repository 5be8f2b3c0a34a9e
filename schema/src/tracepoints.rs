//! Kernel tracepoints as tables: a tracepoint's layout, read from the
//! kernel's tracefs `format` file, decides its table's columns, and the
//! recorder decodes raw records by the same description. The layout is kept
//! in the manifest (`Manifest::tracepoints`), so a trace is read with the
//! layout of the kernel that recorded it, whatever kernel reads it.
//!
//! One table per tracepoint, named `system.event` (`sched.sched_switch`):
//! the common columns, then one column per field of the format after the
//! kernel's `common_*` ones, in the format's order (docs/trace-format.md).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use arrow_schema::{DataType, Field};
use serde::{Deserialize, Serialize};

use crate::tables::COMMON_COLUMNS;

/// How many bytes of one raw tracepoint record the recorder keeps (fixed
/// part and `__data_loc` data together); a string beyond it is cut and
/// marked. The BPF side copies at most this much (bpf/records.h TP_MAX).
pub const RAW_MAX: usize = 4096;

/// Marks a string field cut short because the record was longer than
/// [`RAW_MAX`].
pub const CUT_MARK: &str = "...";

/// One tracepoint's layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct TracepointFormat {
    /// `system.event`, derived (not stored: it is the manifest's key).
    #[serde(skip)]
    table: String,
    pub system: String,
    pub event: String,
    /// The kernel's event id (`common_type` of each record), kept for
    /// reference: it differs between kernels and boots, and nothing reads
    /// it back (the recorder tells tracepoints apart by attach cookie).
    pub id: u32,
    /// Bytes of the fixed part of a record (`common_*` included).
    pub size: u32,
    pub fields: Vec<TracepointField>,
    /// Whether each row carries the kernel stack where the tracepoint
    /// fired (`retap record --stacks`), in a `kstack` column stored as the
    /// samples table stores its stacks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stack: bool,
}

/// A format as the manifest stores it: without its derived table name.
#[derive(Deserialize)]
struct Stored {
    system: String,
    event: String,
    id: u32,
    size: u32,
    fields: Vec<TracepointField>,
    #[serde(default)]
    stack: bool,
}

impl From<Stored> for TracepointFormat {
    fn from(s: Stored) -> TracepointFormat {
        TracepointFormat {
            table: format!("{}.{}", s.system, s.event),
            system: s.system,
            event: s.event,
            id: s.id,
            size: s.size,
            fields: s.fields,
            stack: s.stack,
        }
    }
}

/// One field of a tracepoint record, past the `common_*` ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TracepointField {
    /// The field's name in the kernel's format (what scripts say: `$prev_pid`).
    pub name: String,
    /// Its column: the name, or `tp_NAME` where the name is a common
    /// column's (`sched_wakeup`'s `pid` is the woken task; `pid` is the
    /// task that woke it) or `kstack`.
    pub column: String,
    /// The C type as the format spells it, for messages and `-p2`.
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub kind: FieldKind,
}

/// What a field holds, which decides its column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FieldKind {
    /// An integer of `size` bytes (pointers too: their value, as u64).
    Int {
        signed: bool,
    },
    Bool,
    /// `char name[N]`: a NUL-terminated string in place.
    Chars,
    /// `__data_loc char[] name` (or `__rel_loc`): a string elsewhere in the
    /// record, found by the 32-bit (length << 16 | offset) in place.
    DynChars {
        relative: bool,
    },
    /// `TYPE name[N]` of integers of `elem` bytes.
    Array {
        elem: u32,
        signed: bool,
    },
    /// `__data_loc TYPE[] name`: integers of `elem` bytes elsewhere in the record.
    DynArray {
        elem: u32,
        signed: bool,
        relative: bool,
    },
}

impl FieldKind {
    /// Where the data is found at run time, read from the record (for the
    /// BPF side: which fields extend the record past its fixed part).
    pub fn is_dynamic(self) -> bool {
        matches!(
            self,
            FieldKind::DynChars { .. } | FieldKind::DynArray { .. }
        )
    }

    pub fn is_string(self) -> bool {
        matches!(self, FieldKind::Chars | FieldKind::DynChars { .. })
    }
}

impl TracepointField {
    pub fn data_type(&self) -> DataType {
        match self.kind {
            FieldKind::Int { signed } => int_type(self.size, signed),
            FieldKind::Bool => DataType::Boolean,
            FieldKind::Chars | FieldKind::DynChars { .. } => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            FieldKind::Array { elem, signed } | FieldKind::DynArray { elem, signed, .. } => {
                DataType::List(Arc::new(Field::new("item", int_type(elem, signed), false)))
            }
        }
    }

    pub fn arrow_field(&self) -> Field {
        Field::new(&self.column, self.data_type(), false)
    }
}

fn int_type(size: u32, signed: bool) -> DataType {
    match (size, signed) {
        (1, true) => DataType::Int8,
        (1, false) => DataType::UInt8,
        (2, true) => DataType::Int16,
        (2, false) => DataType::UInt16,
        (4, true) => DataType::Int32,
        (4, false) => DataType::UInt32,
        (_, true) => DataType::Int64,
        (_, false) => DataType::UInt64,
    }
}

impl TracepointFormat {
    /// The table's name: `system.event`.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub fn field(&self, name: &str) -> Option<&TracepointField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Parses the kernel's `events/SYSTEM/EVENT/format` text. A field the
    /// decoder cannot read is an error naming it.
    pub fn parse(system: &str, event: &str, text: &str) -> Result<TracepointFormat, FormatError> {
        let err = |what: String| FormatError {
            tracepoint: format!("{system}:{event}"),
            what,
        };
        let mut id = None;
        let mut fields = Vec::new();
        let mut size = 0u32;
        for line in text.lines() {
            let line = line.trim();
            if let Some(v) = line.strip_prefix("ID:") {
                id = Some(
                    v.trim()
                        .parse::<u32>()
                        .map_err(|_| err(format!("bad ID line {line:?}")))?,
                );
                continue;
            }
            let Some(rest) = line.strip_prefix("field:") else {
                continue;
            };
            let mut decl = None;
            let (mut offset, mut fsize, mut signed) = (None, None, None);
            for part in rest.split(';') {
                let part = part.trim();
                if let Some(v) = part.strip_prefix("offset:") {
                    offset = v.parse::<u32>().ok();
                } else if let Some(v) = part.strip_prefix("size:") {
                    fsize = v.parse::<u32>().ok();
                } else if let Some(v) = part.strip_prefix("signed:") {
                    signed = Some(v == "1");
                } else if decl.is_none() && !part.is_empty() {
                    decl = Some(part);
                }
            }
            let (Some(decl), Some(offset), Some(fsize)) = (decl, offset, fsize) else {
                return Err(err(format!("cannot read the field line {line:?}")));
            };
            let signed = signed.unwrap_or(false);
            size = size.max(offset + fsize);
            let (c_type, name, dims) = split_decl(decl)
                .ok_or_else(|| err(format!("cannot read the declaration {decl:?}")))?;
            if name.starts_with("common_") {
                continue;
            }
            let kind = field_kind(&c_type, dims, fsize, signed).map_err(|why| {
                err(format!(
                    "field {name:?} ({decl}, {fsize} bytes) cannot be decoded: {why}"
                ))
            })?;
            let taken = COMMON_COLUMNS.iter().any(|c| c.name() == name)
                || name == crate::Column::Kstack.name();
            let column = if taken {
                format!("tp_{name}")
            } else {
                name.clone()
            };
            fields.push(TracepointField {
                name,
                column,
                c_type,
                offset,
                size: fsize,
                kind,
            });
        }
        let id = id.ok_or_else(|| err("no ID line".into()))?;
        Ok(TracepointFormat {
            table: format!("{system}.{event}"),
            system: system.into(),
            event: event.into(),
            id,
            size,
            fields,
            stack: false,
        })
    }

    /// The one shared copy of this layout. `Table` stays a small `Copy`
    /// value by pointing at it; a process sees a bounded number of layouts
    /// (the tracepoints of the traces it opens), so they are kept for its
    /// lifetime.
    pub fn intern(self) -> &'static TracepointFormat {
        static ALL: OnceLock<Mutex<HashSet<&'static TracepointFormat>>> = OnceLock::new();
        let mut set = ALL
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(f) = set.get(&self) {
            return f;
        }
        let f: &'static TracepointFormat = Box::leak(Box::new(self));
        set.insert(f);
        f
    }
}

/// One decoded field of a raw record.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue<'a> {
    Int(i64),
    UInt(u64),
    Bool(bool),
    /// The string's bytes (up to its NUL) and whether the record was cut
    /// before its end.
    Str(&'a [u8], bool),
    Ints(Vec<i64>),
    UInts(Vec<u64>),
}

impl TracepointField {
    /// Reads this field from a raw record. Bytes past the record's end read
    /// as zero (a record cut at `RAW_MAX`), strings as cut.
    pub fn decode<'a>(&self, raw: &'a [u8]) -> FieldValue<'a> {
        let at = self.offset as usize;
        match self.kind {
            FieldKind::Int { signed } => int_at(raw, at, self.size as usize, signed),
            FieldKind::Bool => FieldValue::Bool(raw.get(at).is_some_and(|b| *b != 0)),
            FieldKind::Chars => str_in(raw, at, self.size as usize),
            FieldKind::DynChars { relative } => {
                let (start, len) = self.location(raw, relative);
                str_in(raw, start, len)
            }
            FieldKind::Array { elem, signed } => {
                ints_in(raw, at, self.size as usize / elem as usize, elem, signed)
            }
            FieldKind::DynArray {
                elem,
                signed,
                relative,
            } => {
                let (start, len) = self.location(raw, relative);
                ints_in(raw, start, len / elem as usize, elem, signed)
            }
        }
    }

    /// Where a `__data_loc`/`__rel_loc` field's data is: (start, length).
    fn location(&self, raw: &[u8], relative: bool) -> (usize, usize) {
        let FieldValue::UInt(loc) = int_at(raw, self.offset as usize, 4, false) else {
            unreachable!("int_at of an unsigned field is UInt")
        };
        let mut start = (loc & 0xffff) as usize;
        if relative {
            start += (self.offset + self.size) as usize;
        }
        (start, (loc >> 16) as usize)
    }
}

fn int_at(raw: &[u8], at: usize, size: usize, signed: bool) -> FieldValue<'static> {
    let mut b = [0u8; 8];
    let size = size.min(8);
    if let Some(src) = raw.get(at..at + size) {
        b[..size].copy_from_slice(src);
    }
    let u = u64::from_ne_bytes(b);
    if signed {
        let shift = 64 - 8 * size as u32;
        FieldValue::Int(((u << shift) as i64) >> shift)
    } else {
        FieldValue::UInt(u)
    }
}

fn str_in(raw: &[u8], at: usize, len: usize) -> FieldValue<'_> {
    let end = at.saturating_add(len);
    let cut = end > raw.len();
    let bytes = raw
        .get(at.min(raw.len())..end.min(raw.len()))
        .unwrap_or(&[]);
    let s = match bytes.iter().position(|b| *b == 0) {
        Some(n) => &bytes[..n],
        None => bytes,
    };
    FieldValue::Str(s, cut && s.len() == bytes.len())
}

fn ints_in(raw: &[u8], at: usize, n: usize, elem: u32, signed: bool) -> FieldValue<'static> {
    let vals = (0..n).map(|i| int_at(raw, at + i * elem as usize, elem as usize, signed));
    if signed {
        FieldValue::Ints(
            vals.map(|v| match v {
                FieldValue::Int(i) => i,
                _ => 0,
            })
            .collect(),
        )
    } else {
        FieldValue::UInts(
            vals.map(|v| match v {
                FieldValue::UInt(u) => u,
                _ => 0,
            })
            .collect(),
        )
    }
}

/// `unsigned long args[6]` → ("unsigned long", "args", Some(Some(6)));
/// `__data_loc char[] name` → ("__data_loc char", "name", Some(None)).
type Decl = (String, String, Option<Option<u32>>);

fn split_decl(decl: &str) -> Option<Decl> {
    let decl = decl.trim();
    // `__data_loc char[] name`: the brackets belong to the type.
    if let Some(pos) = decl.find("[] ") {
        let name = decl[pos + 3..].trim();
        return Some((decl[..pos].trim().to_string(), ident(name)?, Some(None)));
    }
    let (head, dims) = match decl.find('[') {
        Some(open) => {
            let close = decl[open..].find(']')? + open;
            let n = decl[open + 1..close].trim();
            // A size the format spells as an expression (`[TASK_COMM_LEN]`)
            // is taken from the field's size instead.
            (&decl[..open], Some(n.parse::<u32>().ok()))
        }
        None => (decl, None),
    };
    let head = head.trim_end();
    let split = head.rfind([' ', '*'])?;
    let name = ident(&head[split + 1..])?;
    let c_type = head[..split + 1].trim().to_string();
    (!c_type.is_empty()).then_some((c_type, name, dims))
}

fn ident(s: &str) -> Option<String> {
    let ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit());
    ok.then(|| s.to_string())
}

fn field_kind(
    c_type: &str,
    dims: Option<Option<u32>>,
    size: u32,
    signed: bool,
) -> Result<FieldKind, String> {
    let dynamic = c_type.starts_with("__data_loc") || c_type.starts_with("__rel_loc");
    let relative = c_type.starts_with("__rel_loc");
    let base = c_type
        .trim_start_matches("__data_loc")
        .trim_start_matches("__rel_loc")
        .trim();
    let is_char = matches!(
        base,
        "char" | "const char" | "unsigned char" | "signed char" | "u8" | "__u8"
    ) && base.contains("char");
    if dynamic {
        if size != 4 {
            return Err(format!("a dynamic field of {size} bytes (expected 4)"));
        }
        if is_char {
            return Ok(FieldKind::DynChars { relative });
        }
        let elem = scalar_size(base).ok_or_else(|| format!("element type {base:?} is unknown"))?;
        return Ok(FieldKind::DynArray {
            elem,
            signed,
            relative,
        });
    }
    if base.contains('*') {
        return match size {
            4 | 8 => Ok(FieldKind::Int { signed: false }),
            _ => Err(format!("a pointer of {size} bytes")),
        };
    }
    if let Some(count) = dims {
        if is_char {
            return Ok(FieldKind::Chars);
        }
        let elem = match count {
            Some(n) if n > 0 && size.is_multiple_of(n) => size / n,
            _ => scalar_size(base).ok_or_else(|| format!("element type {base:?} is unknown"))?,
        };
        if !matches!(elem, 1 | 2 | 4 | 8) || !size.is_multiple_of(elem) {
            return Err(format!("array elements of {elem} bytes"));
        }
        return Ok(FieldKind::Array { elem, signed });
    }
    if base == "bool" || base == "_Bool" {
        return Ok(FieldKind::Bool);
    }
    match size {
        1 | 2 | 4 | 8 => Ok(FieldKind::Int { signed }),
        _ => Err(format!("an integer of {size} bytes")),
    }
}

/// Sizes of the scalar types dynamic arrays are declared with, where the
/// field's own size (4, the location word) does not tell.
fn scalar_size(t: &str) -> Option<u32> {
    let t = t.trim_start_matches("const ").trim();
    Some(match t {
        "char" | "unsigned char" | "signed char" | "u8" | "s8" | "__u8" | "bool" => 1,
        "short" | "unsigned short" | "u16" | "s16" | "__u16" | "__be16" | "__le16" => 2,
        "int" | "unsigned int" | "u32" | "s32" | "__u32" | "__be32" | "__le32" | "pid_t" => 4,
        "long" | "unsigned long" | "u64" | "s64" | "__u64" | "long long" | "unsigned long long"
        | "size_t" | "loff_t" => 8,
        // A CPU bitmap: unsigned longs.
        "cpumask_t" => 8,
        _ => return None,
    })
}

/// A tracepoint format the decoder cannot read.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatError {
    /// `system:event`.
    pub tracepoint: String,
    pub what: String,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tracepoint {}: {}", self.tracepoint, self.what)
    }
}

impl std::error::Error for FormatError {}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHED_SWITCH: &str = "name: sched_switch
ID: 372
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;
\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;
\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;
\tfield:int next_prio;\toffset:60;\tsize:4;\tsigned:1;

print fmt: \"prev_comm=%s\"
";

    #[test]
    fn sched_switch_parses_and_decodes() {
        let f = TracepointFormat::parse("sched", "sched_switch", SCHED_SWITCH).unwrap();
        assert_eq!(f.id, 372);
        assert_eq!(f.size, 64);
        let names: Vec<_> = f.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "prev_comm",
                "prev_pid",
                "prev_prio",
                "prev_state",
                "next_comm",
                "next_pid",
                "next_prio"
            ]
        );
        assert_eq!(f.fields[0].kind, FieldKind::Chars);
        assert_eq!(f.fields[1].data_type(), DataType::Int32);
        assert_eq!(f.fields[3].data_type(), DataType::Int64);
        let mut raw = vec![0u8; 64];
        raw[8..12].copy_from_slice(b"bash");
        raw[24..28].copy_from_slice(&(-7i32).to_ne_bytes());
        raw[56..60].copy_from_slice(&42i32.to_ne_bytes());
        let v: Vec<_> = f.fields.iter().map(|x| x.decode(&raw)).collect();
        assert_eq!(v[0], FieldValue::Str(b"bash", false));
        assert_eq!(v[1], FieldValue::Int(-7));
        assert_eq!(v[5], FieldValue::Int(42));
    }

    #[test]
    fn dynamic_strings_arrays_and_collisions() {
        let text = "ID: 9
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:unsigned long args[2];\toffset:16;\tsize:16;\tsigned:0;
\tfield:__data_loc u32[] ids;\toffset:32;\tsize:4;\tsigned:0;
\tfield:bool ok;\toffset:36;\tsize:1;\tsigned:0;
\tfield:const void * ptr;\toffset:40;\tsize:8;\tsigned:0;
";
        let f = TracepointFormat::parse("s", "e", text).unwrap();
        assert_eq!(f.fields[0].kind, FieldKind::DynChars { relative: false });
        assert_eq!(f.fields[1].column, "tp_pid");
        assert_eq!(
            f.fields[2].kind,
            FieldKind::Array {
                elem: 8,
                signed: false
            }
        );
        assert!(matches!(
            f.fields[3].kind,
            FieldKind::DynArray { elem: 4, .. }
        ));
        assert_eq!(f.fields[4].kind, FieldKind::Bool);
        assert_eq!(f.fields[5].kind, FieldKind::Int { signed: false });
        let mut raw = vec![0u8; 48];
        raw.extend_from_slice(b"/etc/passwd\0");
        raw.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
        raw[8..12].copy_from_slice(&((12u32 << 16) | 48).to_ne_bytes());
        raw[32..36].copy_from_slice(&((8u32 << 16) | 60).to_ne_bytes());
        raw[16..24].copy_from_slice(&5u64.to_ne_bytes());
        let v: Vec<_> = f.fields.iter().map(|x| x.decode(&raw)).collect();
        assert_eq!(v[0], FieldValue::Str(b"/etc/passwd", false));
        assert_eq!(v[2], FieldValue::UInts(vec![5, 0]));
        assert_eq!(v[3], FieldValue::UInts(vec![1, 2]));
        // Cut before its end: marked.
        let v = f.fields[0].decode(&raw[..52]);
        assert_eq!(v, FieldValue::Str(b"/etc", true));
    }

    #[test]
    fn undecodable_fields_are_named() {
        let text = "ID: 1\n\tfield:struct foo bar;\toffset:8;\tsize:24;\tsigned:0;\n";
        let e = TracepointFormat::parse("s", "e", text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "tracepoint s:e: field \"bar\" (struct foo bar, 24 bytes) cannot be decoded: an integer of 24 bytes"
        );
    }

    #[test]
    fn interning_shares_equal_layouts() {
        let a = TracepointFormat::parse("sched", "sched_switch", SCHED_SWITCH).unwrap();
        let b = a.clone();
        assert!(std::ptr::eq(a.intern(), b.intern()));
    }
}
