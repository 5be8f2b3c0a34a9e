//! Runtime values. Strings are reference-counted so that a context string
//! (an execname from a dictionary column) becomes an array key without a
//! copy.

use std::fmt;
use std::rc::Rc;

#[derive(Clone, PartialOrd, Ord)]
pub enum Value {
    Int(i64),
    Str(Rc<str>),
}

/// Strings from the trace are interned (see `Interner`), so equal keys are
/// usually the same allocation: compare pointers before bytes.
impl PartialEq for Value {
    #[inline]
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => Rc::ptr_eq(a, b) || **a == **b,
            _ => false,
        }
    }
}

impl Eq for Value {}

/// By content, like equality (a pointer match implies equal content).
impl std::hash::Hash for Value {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            Value::Int(i) => {
                h.write_u8(0);
                h.write_i64(*i);
            }
            Value::Str(s) => {
                h.write_u8(1);
                h.write(s.as_bytes());
                h.write_u8(0xff);
            }
        }
    }
}

/// A shared string of a batch: `Rc<str>` in the thread that runs the
/// script, `Arc<str>` in the one that reads and merges the files for it.
pub trait Shared: Clone + std::ops::Deref<Target = str> + for<'a> From<&'a str> {
    /// Where its bytes are: one interned string, one address.
    fn addr(&self) -> *const u8;
}

impl Shared for Rc<str> {
    #[inline]
    fn addr(&self) -> *const u8 {
        Rc::as_ptr(self) as *const u8
    }
}

impl Shared for std::sync::Arc<str> {
    #[inline]
    fn addr(&self) -> *const u8 {
        std::sync::Arc::as_ptr(self) as *const u8
    }
}

/// One shared string per distinct string the trace holds, shared by every
/// batch's dictionary, so array keys built from them compare by pointer.
pub struct Interner<S = Rc<str>> {
    map: rustc_hash::FxHashMap<Box<str>, S>,
}

impl<S> Default for Interner<S> {
    fn default() -> Self {
        Interner {
            map: Default::default(),
        }
    }
}

impl<S: Shared> Interner<S> {
    pub fn get(&mut self, s: &str) -> S {
        if let Some(r) = self.map.get(s) {
            return r.clone();
        }
        let r = S::from(s);
        self.map.insert(s.into(), r.clone());
        r
    }
}

impl Value {
    pub fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Str(_) => 0,
        }
    }
    pub fn str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            Value::Int(_) => "",
        }
    }
    pub fn empty_str() -> Value {
        thread_local! {
            static EMPTY: Rc<str> = Rc::from("");
        }
        Value::Str(EMPTY.with(|e| e.clone()))
    }
    pub fn from_string(s: String) -> Value {
        Value::Str(Rc::from(s))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// Truncates to stap's string capacity (MAXSTRINGLEN bytes including the
/// terminating NUL), on a character boundary.
pub fn truncate(mut s: String, maxstringlen: usize) -> String {
    let cap = maxstringlen.saturating_sub(1);
    if s.len() > cap {
        let mut cut = cap;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
