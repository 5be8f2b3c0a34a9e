//! Runtime values. Strings are reference-counted so that a context string
//! (an execname from a dictionary column) becomes an array key without a
//! copy.

use std::fmt;
use std::rc::Rc;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    Int(i64),
    Str(Rc<str>),
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
