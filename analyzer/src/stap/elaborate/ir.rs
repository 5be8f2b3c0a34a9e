//! The elaborated program (pass 2's output): every name resolved to a
//! local slot, a global, a context column or a built-in, every expression
//! typed. The interpreter runs this; the plan compiler reads it.

use std::fmt;

use crate::stap::ast::{HistKind, IncOp, SortDir, StatOp, UnOp};

pub use super::walk::Access;
use super::walk::{walk_program, walk_stmts, Each};
use crate::stap::source::Span;

use super::catalog::ResolvedPoint;
use super::context::CtxVar;
use super::format::Format;
use super::tapset::Builtin;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Ty {
    #[default]
    Unknown,
    Long,
    Str,
    Stat,
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Unknown => "unknown",
            Ty::Long => "long",
            Ty::Str => "string",
            Ty::Stat => "stats",
        })
    }
}

#[derive(Clone, Debug)]
pub struct GlobalInfo {
    pub name: String,
    pub span: Span,
    /// Value type (for arrays, of the elements).
    pub ty: Ty,
    /// Key types when the global is an array.
    pub keys: Option<Vec<Ty>>,
    pub size: Option<i64>,
    pub wrap: bool,
    pub init: Option<Const>,
    /// Read somewhere (else stap prints it at the end).
    pub read: bool,
    /// A library's (never printed at the end).
    pub library: bool,
    pub written: bool,
    /// Statistics: which histograms are asked of it (for the plan compiler).
    pub hists: Vec<HistSpec>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    Num(i64),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistSpec {
    Log,
    Linear {
        start: i64,
        stop: i64,
        interval: i64,
    },
}

#[derive(Clone, Debug)]
pub struct Function {
    pub name: String,
    pub span: Span,
    pub params: Vec<(String, Ty)>,
    pub ret: Ty,
    pub locals: Vec<(String, Ty)>,
    pub body: Vec<S>,
}

#[derive(Clone, Debug)]
pub struct Probe {
    /// Source order index, for `begin(N)`/`end(N)` ties and messages.
    pub index: usize,
    pub span: Span,
    /// The points as written (one probe may serve several).
    pub text: String,
    pub points: Vec<ResolvedPoint>,
    pub locals: Vec<(String, Ty)>,
    pub body: Vec<S>,
}

#[derive(Clone, Debug, Default)]
pub struct Program {
    /// Regular expressions of `=~`, compiled by the runtime.
    pub regexes: Vec<String>,
    pub globals: Vec<GlobalInfo>,
    pub functions: Vec<Function>,
    pub probes: Vec<Probe>,
}

/// A statement.
#[derive(Clone, Debug)]
pub enum S {
    Expr(X),
    Block(Vec<S>),
    If(X, Box<S>, Option<Box<S>>),
    /// `for` and `while` (init lowered before it).
    Loop {
        cond: Option<X>,
        step: Option<X>,
        body: Box<S>,
    },
    Foreach(Box<Foreach>),
    Break,
    Continue,
    Next,
    Return(Option<X>),
    DeleteLocal(u32),
    DeleteGlobal(u32),
    /// `delete a[k]`, `delete a[k, *]`.
    DeleteElem(u32, Vec<Option<X>>),
    Try {
        body: Vec<S>,
        var: Option<u32>,
        catch: Vec<S>,
    },
    /// Counts toward MAXACTION: one per statement executed, as stap.
    Nop,
}

#[derive(Clone, Debug)]
pub enum ForeachSource {
    Global(u32),
    /// `foreach (b in @hist_log(s[k]))`: bucket index → count.
    Hist(Box<HistRef>),
}

#[derive(Clone, Debug)]
pub struct Foreach {
    pub source: ForeachSource,
    pub value_var: Option<u32>,
    pub key_vars: Vec<u32>,
    pub slice: Option<Vec<Option<X>>>,
    pub sort: Option<Sort>,
    pub limit: Option<X>,
    pub body: S,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// By value (for statistics, by the extractor).
    Value(SortDir, StatOp),
    Key(usize, SortDir),
}

#[derive(Clone, Debug)]
pub struct HistRef {
    pub kind: HistKind,
    pub stat: StatRef,
    /// start, stop, interval for linear histograms (constants in stap).
    pub linear: Option<(i64, i64, i64)>,
    pub span: Span,
}

/// Where a statistic lives: a global scalar or an element of a global array.
#[derive(Clone, Debug)]
pub enum StatRef {
    Global(u32),
    Elem(u32, Vec<X>),
}

#[derive(Clone, Debug)]
pub enum LValue {
    Local(u32),
    Global(u32),
    Elem(u32, Vec<X>),
}

/// An expression, typed where the runtime needs to know.
#[derive(Clone, Debug)]
pub enum X {
    Num(i64),
    Str(String),
    Local(u32),
    Global(u32),
    Elem(u32, Vec<X>),
    Ctx(CtxVar),
    Call(Builtin, Vec<X>, Span),
    UserCall(u32, Vec<X>, Span),
    Printf {
        to_string: bool,
        fmt: Format,
        args: Vec<X>,
        span: Span,
    },
    /// print/println/sprint/sprintln/printd/printdln/log/warn: arguments
    /// converted as `print` does (numbers in decimal, stats as @count...).
    Print {
        kind: PrintKind,
        args: Vec<(X, Ty)>,
    },
    Stat(StatOp, StatRef, Span),
    Hist(Box<HistRef>),
    HistBucket(Box<HistRef>, Box<X>),
    Unary(UnOp, Box<X>),
    Arith(ArithOp, Box<X>, Box<X>, Span),
    Concat(Box<X>, Box<X>),
    Cmp(CmpOp, bool /* strings */, Box<X>, Box<X>),
    And(Box<X>, Box<X>),
    Or(Box<X>, Box<X>),
    Regex {
        negate: bool,
        subject: Box<X>,
        regex: u32,
    },
    Ternary(Box<X>, Box<X>, Box<X>),
    Assign(LValue, Option<ArithOrConcat>, Box<X>, Span),
    Incr(IncOp, LValue, Span),
    Aggregate(StatRef, Box<X>),
    In(u32, Vec<Option<X>>),
    /// `@entry(e)`: evaluated with the context at syscall entry.
    Entry(Box<X>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    And,
    Or,
    Xor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOrConcat {
    Arith(ArithOp),
    Concat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrintKind {
    Print,
    Println,
    Sprint,
    Sprintln,
    /// printd(delim, ...)
    Printd,
    Printdln,
    Log,
    Warn,
}

/// Calls `f` on every expression in `stmts`, nested ones included (keys,
/// arguments, operands, lvalue keys, foreach limits and slices).
pub fn for_each_expr(stmts: &[S], f: &mut dyn FnMut(&X)) {
    let mut v = Each {
        expr: f,
        global: |_, _| {},
        foreach: |_: &Foreach| {},
    };
    walk_stmts(&mut v, stmts);
}

impl Program {
    /// The tables the probes' points read, each once.
    pub fn tables(&self) -> Vec<retap_schema::Table> {
        let mut t: Vec<_> = self
            .probes
            .iter()
            .flat_map(|p| &p.points)
            .filter_map(|pt| pt.table())
            .collect();
        if self.reads_process_tree() {
            t.push(retap_schema::Table::Processes);
        }
        t.sort();
        t.dedup();
        t
    }

    /// Whether the run must follow the recorded process tree: a builtin
    /// answers from it (a parent, a command line), or pid() is asked of a
    /// task switched in (its thread's process).
    pub fn reads_process_tree(&self) -> bool {
        let mut tree = false;
        self.for_each_expr(&mut |x| {
            tree |= matches!(x, X::Call(b, _, _) if b.reads_process_tree());
        });
        tree || self.probes.iter().any(|p| {
            p.points
                .iter()
                .any(|pt| pt.switched_in || pt.process.is_some())
        })
    }

    /// `for_each_expr` over every probe (and its point conditions) and function.
    pub fn for_each_expr(&self, f: &mut dyn FnMut(&X)) {
        let mut v = Each {
            expr: f,
            global: |_, _| {},
            foreach: |_: &Foreach| {},
        };
        walk_program(&mut v, self);
    }

    /// `for_each_foreach` over every probe and function body.
    pub fn for_each_foreach(&self, f: &mut dyn FnMut(&Foreach)) {
        let mut v = Each {
            expr: |_: &X| {},
            global: |_, _| {},
            foreach: f,
        };
        walk_program(&mut v, self);
    }

    /// Calls `f` on every use of a global anywhere in the program.
    pub fn for_each_global(&self, f: &mut dyn FnMut(u32, Access)) {
        let mut v = Each {
            expr: |_: &X| {},
            global: f,
            foreach: |_: &Foreach| {},
        };
        walk_program(&mut v, self);
    }
}

/// Globals on which `@variance` is used, by an extractor or a foreach sort.
pub fn variance_globals(prog: &Program) -> Vec<u32> {
    let mut out = vec![];
    prog.for_each_global(&mut |g, how| {
        let variance = match how {
            Access::Extract(op) => op == StatOp::Variance,
            Access::Iterate {
                sort: Some(Sort::Value(_, op)),
                ..
            } => op == StatOp::Variance,
            _ => false,
        };
        if variance {
            out.push(g);
        }
    });
    out
}
