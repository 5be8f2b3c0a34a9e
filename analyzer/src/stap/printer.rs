//! The canonical form `-p1` prints. It is valid stap that parses back to the
//! same tree: every compound operand is parenthesised and every simple
//! statement ends in `;` (stap has no statement terminator, so `a = b` then
//! `-c` on the next line would otherwise read as `a = b - c`).

use std::fmt::Write;

use super::ast::*;
use super::lexer::quote;

pub fn print_script(s: &Script) -> String {
    let mut p = Printer::default();
    for item in &s.items {
        p.item(item);
    }
    p.out
}

pub fn print_expr(e: &Expr) -> String {
    let mut p = Printer::default();
    p.expr(e);
    p.out
}

#[derive(Default)]
struct Printer {
    out: String,
    indent: usize,
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Num(n) => n.to_string(),
        Literal::Str(s) => quote(s),
    }
}

impl Printer {
    fn line_start(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Global(g) => {
                if g.private {
                    self.out.push_str("private ");
                }
                let _ = write!(self.out, "global {}", g.name.name);
                if g.wrap {
                    self.out.push('%');
                }
                if let Some(n) = g.size {
                    let _ = write!(self.out, "[{n}]");
                }
                if let Some(i) = &g.init {
                    let _ = write!(self.out, " = {}", literal(i));
                }
                self.out.push('\n');
            }
            Item::Function(f) => {
                if f.private {
                    self.out.push_str("private ");
                }
                let _ = write!(self.out, "function {}", f.name.name);
                if let Some(t) = f.ret {
                    let _ = write!(self.out, ":{}", t.name());
                }
                self.out.push_str(" (");
                for (i, p) in f.params.iter().enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push_str(&p.name.name);
                    if let Some(t) = p.ty {
                        let _ = write!(self.out, ":{}", t.name());
                    }
                }
                self.out.push_str(") ");
                self.block(&f.body);
                self.out.push('\n');
            }
            Item::Probe(p) => {
                self.out.push_str("probe ");
                self.points(&p.points);
                self.out.push(' ');
                self.block(&p.body);
                self.out.push('\n');
            }
            Item::Alias(a) => {
                self.out.push_str("probe ");
                self.points(&a.names);
                self.out.push_str(if a.epilogue { " += " } else { " = " });
                self.points(&a.points);
                self.out.push(' ');
                self.block(&a.body);
                self.out.push('\n');
            }
        }
    }

    fn points(&mut self, points: &[ProbePoint]) {
        for (i, pp) in points.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&pp.text());
            if pp.sufficient {
                self.out.push('!');
            } else if pp.optional {
                self.out.push('?');
            }
            if let Some(c) = &pp.condition {
                self.out.push_str(" if (");
                self.expr(c);
                self.out.push(')');
            }
        }
    }

    fn block(&mut self, b: &Block) {
        self.out.push_str("{\n");
        self.indent += 1;
        for s in &b.stmts {
            self.line_start();
            self.stmt(s);
            self.out.push('\n');
        }
        self.indent -= 1;
        self.line_start();
        self.out.push('}');
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Block(b) => self.block(b),
            StmtKind::Null => self.out.push(';'),
            StmtKind::Expr(e) => {
                self.top_expr(e);
                self.out.push(';');
            }
            StmtKind::If { cond, then, els } => {
                self.out.push_str("if (");
                self.top_expr(cond);
                self.out.push_str(") ");
                self.nested(then);
                if let Some(e) = els {
                    self.out.push_str(" else ");
                    if matches!(e.kind, StmtKind::If { .. }) {
                        self.stmt(e);
                    } else {
                        self.nested(e);
                    }
                }
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                self.out.push_str("for (");
                if let Some(e) = init {
                    self.top_expr(e);
                }
                self.out.push_str("; ");
                if let Some(e) = cond {
                    self.top_expr(e);
                }
                self.out.push_str("; ");
                if let Some(e) = step {
                    self.top_expr(e);
                }
                self.out.push_str(") ");
                self.nested(body);
            }
            StmtKind::While { cond, body } => {
                self.out.push_str("while (");
                self.top_expr(cond);
                self.out.push_str(") ");
                self.nested(body);
            }
            StmtKind::Foreach(f) => self.foreach(f),
            StmtKind::Break => self.out.push_str("break;"),
            StmtKind::Continue => self.out.push_str("continue;"),
            StmtKind::Next => self.out.push_str("next;"),
            StmtKind::Return(v) => {
                self.out.push_str("return");
                if let Some(e) = v {
                    self.out.push(' ');
                    self.top_expr(e);
                }
                self.out.push(';');
            }
            StmtKind::Delete(e) => {
                self.out.push_str("delete ");
                self.top_expr(e);
                self.out.push(';');
            }
            StmtKind::Try { body, var, catch } => {
                self.out.push_str("try ");
                self.block(body);
                self.out.push_str(" catch ");
                if let Some(v) = var {
                    let _ = write!(self.out, "({}) ", v.name);
                }
                self.block(catch);
            }
        }
    }

    /// The statement after `if (...)`, `else`, a loop header: printed as
    /// itself (wrapping it in a block would change the tree).
    fn nested(&mut self, s: &Stmt) {
        self.stmt(s);
    }

    fn foreach(&mut self, f: &Foreach) {
        self.out.push_str("foreach (");
        if let Some(v) = &f.value {
            self.out.push_str(&v.name);
            self.out.push_str(" = ");
        }
        if f.bracketed {
            self.out.push('[');
        }
        for (i, k) in f.keys.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.out.push_str(&k.name);
            if let Some(ForeachSort::Key(j, d)) = f.sort {
                if i == j {
                    self.out.push_str(d.sign());
                }
            }
        }
        if f.bracketed {
            self.out.push(']');
        }
        self.out.push_str(" in ");
        self.expr(&f.array);
        if let Some(sl) = &f.slice {
            self.indices(sl);
        }
        if let Some(a) = f.aggr {
            self.out.push(' ');
            self.out.push_str(a.name());
        }
        if let Some(ForeachSort::Value(d)) = f.sort {
            self.out.push_str(d.sign());
        }
        if let Some(l) = &f.limit {
            self.out.push_str(" limit ");
            self.operand(l);
        }
        self.out.push_str(") ");
        self.nested(&f.body);
    }

    fn indices(&mut self, v: &[Option<Expr>]) {
        self.out.push('[');
        for (i, k) in v.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            match k {
                Some(e) => self.top_expr(e),
                None => self.out.push('*'),
            }
        }
        self.out.push(']');
    }

    fn args(&mut self, v: &[Expr]) {
        self.out.push('(');
        for (i, e) in v.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.top_expr(e);
        }
        self.out.push(')');
    }

    fn path(&mut self, path: &[TargetPart]) {
        for p in path {
            match p {
                TargetPart::Field(f) => {
                    self.out.push_str("->");
                    self.out.push_str(f);
                }
                TargetPart::Index(e) => {
                    self.out.push('[');
                    self.top_expr(e);
                    self.out.push(']');
                }
            }
        }
    }

    fn top_expr(&mut self, e: &Expr) {
        self.expr(e);
    }

    fn is_atomic(e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Num(n) => *n >= 0,
            ExprKind::Str(_)
            | ExprKind::Var(_)
            | ExprKind::Target { .. }
            | ExprKind::Member { .. }
            | ExprKind::Index { .. }
            | ExprKind::Call { .. }
            | ExprKind::Stat { .. }
            | ExprKind::Hist { .. }
            | ExprKind::Defined(_)
            | ExprKind::Entry(_)
            | ExprKind::AtOp { .. } => true,
            _ => false,
        }
    }

    fn operand(&mut self, e: &Expr) {
        if Self::is_atomic(e) {
            self.expr(e);
        } else {
            self.out.push('(');
            self.expr(e);
            self.out.push(')');
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Num(n) => {
                let _ = write!(self.out, "{n}");
            }
            ExprKind::Str(s) => self.out.push_str(&quote(s)),
            ExprKind::Var(v) => self.out.push_str(v),
            ExprKind::Target { name, path } => {
                self.out.push_str(name);
                self.path(path);
            }
            ExprKind::AddrOf(x) => {
                self.out.push('&');
                self.expr(x);
            }
            ExprKind::Member { base, path } => {
                self.operand(base);
                self.path(path);
            }
            ExprKind::Index { base, indices } => {
                self.expr(base);
                self.indices(indices);
            }
            ExprKind::Call { name, args } => {
                self.out.push_str(name);
                self.args(args);
            }
            ExprKind::Stat { op, arg, shift } => {
                self.out.push_str(op.name());
                self.out.push('(');
                self.top_expr(arg);
                if let Some(s) = shift {
                    self.out.push_str(", ");
                    self.top_expr(s);
                }
                self.out.push(')');
            }
            ExprKind::Hist { kind, arg, params } => {
                self.out.push_str(match kind {
                    HistKind::Log => "@hist_log(",
                    HistKind::Linear => "@hist_linear(",
                });
                self.top_expr(arg);
                for p in params {
                    self.out.push_str(", ");
                    self.top_expr(p);
                }
                self.out.push(')');
            }
            ExprKind::Defined(x) => {
                self.out.push_str("@defined(");
                self.top_expr(x);
                self.out.push(')');
            }
            ExprKind::Entry(x) => {
                self.out.push_str("@entry(");
                self.top_expr(x);
                self.out.push(')');
            }
            ExprKind::AtOp {
                name,
                call,
                args,
                path,
            } => {
                self.out.push_str(name);
                if *call {
                    self.args(args);
                }
                self.path(path);
            }
            ExprKind::Unary { op, e } => {
                self.out.push_str(match op {
                    UnOp::Neg => "-",
                    UnOp::Plus => "+",
                    UnOp::Not => "!",
                    UnOp::BitNot => "~",
                });
                self.operand(e);
            }
            ExprKind::Incr { op, e } => match op {
                IncOp::PreInc => {
                    self.out.push_str("++");
                    self.operand(e);
                }
                IncOp::PreDec => {
                    self.out.push_str("--");
                    self.operand(e);
                }
                IncOp::PostInc => {
                    self.operand(e);
                    self.out.push_str("++");
                }
                IncOp::PostDec => {
                    self.operand(e);
                    self.out.push_str("--");
                }
            },
            ExprKind::Binary { op, l, r, .. } => {
                self.operand(l);
                let _ = write!(self.out, " {} ", op.symbol());
                self.operand(r);
            }
            ExprKind::Regex { negate, l, pattern } => {
                self.operand(l);
                self.out.push_str(if *negate { " !~ " } else { " =~ " });
                self.out.push_str(&quote(pattern));
            }
            ExprKind::Ternary { cond, t, f } => {
                self.operand(cond);
                self.out.push_str(" ? ");
                self.operand(t);
                self.out.push_str(" : ");
                self.operand(f);
            }
            ExprKind::Assign { op, l, r } => {
                self.operand(l);
                let _ = write!(self.out, " {}= ", op.map(|o| o.symbol()).unwrap_or(""));
                self.operand(r);
            }
            ExprKind::Aggregate { l, r } => {
                self.operand(l);
                self.out.push_str(" <<< ");
                self.operand(r);
            }
            ExprKind::In { keys, array } => {
                if keys.len() == 1 && keys[0].is_some() {
                    self.operand(keys[0].as_ref().unwrap());
                } else {
                    self.indices(keys);
                }
                self.out.push_str(" in ");
                self.expr(array);
            }
        }
    }
}
