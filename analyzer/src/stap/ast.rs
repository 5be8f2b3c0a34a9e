//! The parse tree (pass 1's output). Every node carries the span of the text
//! it came from so that pass 2 and the runtime can point back at the script.
//! Trees compare equal when they are the same program (spans are ignored).

use super::source::Span;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Script {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Global(Global),
    Function(Function),
    Probe(Probe),
    Alias(Alias),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Num(i64),
    Str(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    pub name: Ident,
    /// `global a[100]`: the array's maximum size (MAXMAPENTRIES otherwise).
    pub size: Option<i64>,
    /// `global a%`: a full array wraps (oldest entry goes) instead of erroring.
    pub wrap: bool,
    pub init: Option<Literal>,
    pub private: bool,
    /// Declared by a library file (`stap::library`): never printed at the
    /// end when unread, as stap prints only the script's own.
    pub library: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeName {
    Long,
    String,
}

impl TypeName {
    pub fn name(self) -> &'static str {
        match self {
            TypeName::Long => "long",
            TypeName::String => "string",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeName>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeName>,
    pub body: Block,
    pub private: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub points: Vec<ProbePoint>,
    pub body: Block,
    pub span: Span,
}

/// `probe name = points { prologue }` (or `+=`, an epilogue).
#[derive(Clone, Debug, PartialEq)]
pub struct Alias {
    pub names: Vec<ProbePoint>,
    pub epilogue: bool,
    pub points: Vec<ProbePoint>,
    pub body: Block,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProbePoint {
    pub components: Vec<Component>,
    /// `?`: no error when nothing matches.
    pub optional: bool,
    /// `!`: stop at the first alternative that resolves.
    pub sufficient: bool,
    pub condition: Option<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// As written, wildcards and `{a,b}` alternatives included.
    pub name: String,
    pub arg: Option<Literal>,
    pub span: Span,
}

impl ProbePoint {
    /// The point as stap prints it: `syscall.read.return`, `timer.ms(100)`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&c.name);
            match &c.arg {
                Some(Literal::Num(n)) => s.push_str(&format!("({n})")),
                Some(Literal::Str(t)) => s.push_str(&format!("({})", super::lexer::quote(t))),
                None => {}
            }
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

impl Block {
    /// Every expression in the block's statements, nested ones included
    /// (see [`Stmt::walk_exprs`]).
    pub fn walk_exprs<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        for s in &self.stmts {
            s.walk_exprs(f);
        }
    }
}

impl Stmt {
    /// Every expression in the statement and the statements inside it,
    /// each expression's own sub-expressions included, outermost first.
    pub fn walk_exprs<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        match &self.kind {
            StmtKind::Block(b) => b.walk_exprs(f),
            StmtKind::Expr(e) | StmtKind::Delete(e) => e.walk(f),
            StmtKind::Return(e) => {
                if let Some(e) = e {
                    e.walk(f)
                }
            }
            StmtKind::If { cond, then, els } => {
                cond.walk(f);
                then.walk_exprs(f);
                if let Some(e) = els {
                    e.walk_exprs(f);
                }
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                for e in [init, cond, step].into_iter().flatten() {
                    e.walk(f);
                }
                body.walk_exprs(f);
            }
            StmtKind::While { cond, body } => {
                cond.walk(f);
                body.walk_exprs(f);
            }
            StmtKind::Foreach(fe) => {
                fe.array.walk(f);
                for e in fe.slice.iter().flatten().flatten() {
                    e.walk(f);
                }
                if let Some(l) = &fe.limit {
                    l.walk(f);
                }
                fe.body.walk_exprs(f);
            }
            StmtKind::Try { body, catch, .. } => {
                body.walk_exprs(f);
                catch.walk_exprs(f);
            }
            StmtKind::Null | StmtKind::Break | StmtKind::Continue | StmtKind::Next => {}
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Block(Block),
    Null,
    Expr(Expr),
    If {
        cond: Expr,
        then: Box<Stmt>,
        els: Option<Box<Stmt>>,
    },
    For {
        init: Option<Expr>,
        cond: Option<Expr>,
        step: Option<Expr>,
        body: Box<Stmt>,
    },
    While {
        cond: Expr,
        body: Box<Stmt>,
    },
    Foreach(Box<Foreach>),
    Break,
    Continue,
    Next,
    Return(Option<Expr>),
    Delete(Expr),
    Try {
        body: Block,
        var: Option<Ident>,
        catch: Block,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    pub fn sign(self) -> &'static str {
        match self {
            SortDir::Asc => "+",
            SortDir::Desc => "-",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForeachSort {
    /// `arr-`, `v+ = [k] in arr`
    Value(SortDir),
    /// `[a, b+]`: index of the key sorted on.
    Key(usize, SortDir),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Foreach {
    pub value: Option<Ident>,
    pub keys: Vec<Ident>,
    /// Keys were written in brackets (`[k]`), which a single key may be.
    pub bracketed: bool,
    pub sort: Option<ForeachSort>,
    /// A global array or a histogram (`@hist_log(s)`).
    pub array: Expr,
    /// `arr[k, *]`: only the entries matching the given keys.
    pub slice: Option<Vec<Option<Expr>>>,
    /// For statistics: the extractor the value sort uses (`s @sum-`).
    pub aggr: Option<StatOp>,
    pub limit: Option<Expr>,
    pub body: Box<Stmt>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatOp {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Variance,
}

impl StatOp {
    pub fn name(self) -> &'static str {
        match self {
            StatOp::Count => "@count",
            StatOp::Sum => "@sum",
            StatOp::Min => "@min",
            StatOp::Max => "@max",
            StatOp::Avg => "@avg",
            StatOp::Variance => "@variance",
        }
    }
    pub fn from_name(s: &str) -> Option<StatOp> {
        Some(match s {
            "@count" => StatOp::Count,
            "@sum" => StatOp::Sum,
            "@min" => StatOp::Min,
            "@max" => StatOp::Max,
            "@avg" => StatOp::Avg,
            "@variance" => StatOp::Variance,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistKind {
    Log,
    Linear,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Plus,
    Not,
    BitNot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncOp {
    PreInc,
    PreDec,
    PostInc,
    PostDec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
    Concat,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
            Mod => "%",
            Shl => "<<",
            Shr => ">>",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Concat => ".",
            Eq => "==",
            Ne => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            And => "&&",
            Or => "||",
        }
    }
    pub fn is_comparison(self) -> bool {
        use BinOp::*;
        matches!(self, Eq | Ne | Lt | Le | Gt | Ge)
    }
}

/// `=` is `None`; `+=` is `Some(Add)`, `.=` is `Some(Concat)`.
pub type AssignOp = Option<BinOp>;

/// A step after a `$target` variable: `->field`, `[index]`.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetPart {
    Field(String),
    Index(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Num(i64),
    Str(String),
    /// A local, global or context variable (`count`, `name`, `argstr`).
    Var(String),
    /// `$var`, `$var->f[2]`, `$var$`: kernel target variables.
    Target {
        name: String,
        path: Vec<TargetPart>,
    },
    /// `&$var->f`, `&@cast(...)->f`: an address in kernel memory.
    AddrOf(Box<Expr>),
    /// `ptr->field` on a script value (typed pointers in stap).
    Member {
        base: Box<Expr>,
        path: Vec<TargetPart>,
    },
    /// `arr[k1, k2]`, `@hist_log(s)[3]`; `None` is a `*` wildcard.
    Index {
        base: Box<Expr>,
        indices: Vec<Option<Expr>>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Stat {
        op: StatOp,
        arg: Box<Expr>,
        /// `@variance(s, bit_shift)`: stap's fixed-point precision knob.
        shift: Option<Box<Expr>>,
    },
    /// `@hist_log(s)` or `@hist_linear(s, start, stop, interval)`.
    Hist {
        kind: HistKind,
        arg: Box<Expr>,
        params: Vec<Expr>,
    },
    Defined(Box<Expr>),
    Entry(Box<Expr>),
    /// `@cast(...)`, `@var(...)`, `@kregister(...)` and the like: parsed so
    /// that scripts using them can be read, refused in pass 2 (a recording
    /// holds no kernel memory or registers).
    AtOp {
        name: String,
        /// Written with parentheses (`@foo()` rather than `@foo`).
        call: bool,
        args: Vec<Expr>,
        path: Vec<TargetPart>,
    },
    Unary {
        op: UnOp,
        e: Box<Expr>,
    },
    Incr {
        op: IncOp,
        e: Box<Expr>,
    },
    Binary {
        op: BinOp,
        l: Box<Expr>,
        r: Box<Expr>,
        /// The operator token, where runtime errors point ("near operator '/'").
        op_span: Span,
    },
    Regex {
        negate: bool,
        l: Box<Expr>,
        pattern: String,
    },
    Ternary {
        cond: Box<Expr>,
        t: Box<Expr>,
        f: Box<Expr>,
    },
    Assign {
        op: AssignOp,
        l: Box<Expr>,
        r: Box<Expr>,
    },
    /// `s <<< v`
    Aggregate {
        l: Box<Expr>,
        r: Box<Expr>,
    },
    /// `k in arr`, `[a, *] in arr`
    In {
        keys: Vec<Option<Expr>>,
        array: Box<Expr>,
    },
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
    /// Calls `f` on each direct subexpression, so that a tree can be
    /// walked with an explicit stack rather than by recursion.
    pub fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a Expr)) {
        let path = |p: &'a [TargetPart], f: &mut dyn FnMut(&'a Expr)| {
            for part in p {
                if let TargetPart::Index(e) = part {
                    f(e)
                }
            }
        };
        match &self.kind {
            ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::Var(_) => {}
            ExprKind::Target { path: p, .. } => path(p, &mut f),
            ExprKind::AddrOf(e)
            | ExprKind::Defined(e)
            | ExprKind::Entry(e)
            | ExprKind::Unary { e, .. }
            | ExprKind::Incr { e, .. }
            | ExprKind::Regex { l: e, .. } => f(e),
            ExprKind::Member { base, path: p } => {
                f(base);
                path(p, &mut f);
            }
            ExprKind::Index { base, indices } => {
                f(base);
                indices.iter().flatten().for_each(f);
            }
            ExprKind::Call { args, .. } => args.iter().for_each(f),
            ExprKind::Stat { arg, shift, .. } => {
                f(arg);
                if let Some(s) = shift {
                    f(s);
                }
            }
            ExprKind::Hist { arg, params, .. } => {
                f(arg);
                params.iter().for_each(f);
            }
            ExprKind::AtOp { args, path: p, .. } => {
                args.iter().for_each(&mut f);
                path(p, &mut f);
            }
            ExprKind::Binary { l, r, .. }
            | ExprKind::Assign { l, r, .. }
            | ExprKind::Aggregate { l, r } => {
                f(l);
                f(r);
            }
            ExprKind::Ternary { cond, t, f: e } => {
                f(cond);
                f(t);
                f(e);
            }
            ExprKind::In { keys, array } => {
                keys.iter().flatten().for_each(&mut f);
                f(array);
            }
        }
    }

    /// This expression and every one inside it, outermost first.
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        self.for_each_child(|c| c.walk(f));
    }

    pub fn is_lvalue(&self) -> bool {
        match &self.kind {
            ExprKind::Var(_) | ExprKind::Target { .. } => true,
            // `@this1 = fd`: stap's probe-local `@this` values.
            ExprKind::AtOp { call: false, .. } => true,
            ExprKind::Index { base, .. } => matches!(base.kind, ExprKind::Var(_)),
            _ => false,
        }
    }
}
