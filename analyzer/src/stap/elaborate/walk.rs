//! The one walk over the IR. Every analysis that asks which globals code
//! reads or writes, which expressions or loops it holds, goes through
//! [`Visit`]: each node kind is matched here, exhaustively and only here,
//! so a new kind of node is seen by every analysis or the build fails.
//! (Hand-written walks beside this one each forgot a position: a global
//! read inside an array index was not seen by the plan compiler, which
//! then took it for a plan result.)

use crate::stap::ast::StatOp;

use super::ir::{Foreach, ForeachSource, LValue, Program, Sort, StatRef, S, X};

/// How a piece of code uses a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Its value read: `g`, `g[k]`.
    Value,
    /// An extractor of a statistic: `@count(s)`, `@sum(s[k])`, ...
    Extract(StatOp),
    /// A histogram of a statistic, a bucket of one, or a loop over one.
    Hist,
    /// `[k] in g`.
    Member,
    /// `foreach (... in g ...)`: with its values read (`v = [k] in g`) or
    /// not, and its sort.
    Iterate { value: bool, sort: Option<Sort> },
    /// `g = e`, `g[k] = e`: written without being read.
    Assign,
    /// `g++`, `g += e`, `g .= e`: read and written back.
    Update,
    /// `s <<< e`.
    Aggregate,
    /// `delete g`.
    DeleteWhole,
    /// `delete g[k]`, `delete g[k, *]`.
    DeleteElem,
}

impl Access {
    /// Whether the code's behaviour depends on what the global holds
    /// (stap prints the globals nothing reads this way at the end).
    /// Updates read only to write back, so they do not count.
    pub fn reads(self) -> bool {
        match self {
            Access::Value
            | Access::Extract(_)
            | Access::Hist
            | Access::Member
            | Access::Iterate { .. } => true,
            Access::Assign
            | Access::Update
            | Access::Aggregate
            | Access::DeleteWhole
            | Access::DeleteElem => false,
        }
    }

    /// Whether it changes what the global holds.
    pub fn writes(self) -> bool {
        match self {
            Access::Assign
            | Access::Update
            | Access::Aggregate
            | Access::DeleteWhole
            | Access::DeleteElem => true,
            Access::Value
            | Access::Extract(_)
            | Access::Hist
            | Access::Member
            | Access::Iterate { .. } => false,
        }
    }
}

/// A visitor over statements and expressions. Each method's default
/// walks on (pre-order: a node before its children); an override that
/// wants the children too calls [`walk_stmt`] / [`walk_expr`].
pub trait Visit {
    fn stmt(&mut self, s: &S) {
        walk_stmt(self, s)
    }
    fn expr(&mut self, x: &X) {
        walk_expr(self, x)
    }
    /// Called at every position where code uses a global, before the
    /// expressions (keys, values) of that position are visited.
    fn global(&mut self, _g: u32, _how: Access) {}
}

/// Visits `s`'s children: its expressions, its statements, the globals it
/// names itself (a loop's source, a delete's target).
pub fn walk_stmt<V: Visit + ?Sized>(v: &mut V, s: &S) {
    match s {
        S::Expr(e) => v.expr(e),
        S::Block(b) => b.iter().for_each(|s| v.stmt(s)),
        S::If(c, t, e) => {
            v.expr(c);
            v.stmt(t);
            if let Some(e) = e {
                v.stmt(e);
            }
        }
        S::Loop { cond, step, body } => {
            if let Some(c) = cond {
                v.expr(c);
            }
            if let Some(s) = step {
                v.expr(s);
            }
            v.stmt(body);
        }
        S::Foreach(fe) => walk_foreach(v, fe),
        S::Return(e) => {
            if let Some(e) = e {
                v.expr(e);
            }
        }
        S::DeleteGlobal(g) => v.global(*g, Access::DeleteWhole),
        S::DeleteElem(g, keys) => {
            v.global(*g, Access::DeleteElem);
            keys.iter().flatten().for_each(|k| v.expr(k));
        }
        S::Try {
            body,
            var: _,
            catch,
        } => body.iter().chain(catch).for_each(|s| v.stmt(s)),
        S::Break | S::Continue | S::Next | S::DeleteLocal(_) | S::Nop => {}
    }
}

fn walk_foreach<V: Visit + ?Sized>(v: &mut V, fe: &Foreach) {
    let Foreach {
        source,
        value_var,
        key_vars: _,
        slice,
        sort,
        limit,
        body,
        span: _,
    } = fe;
    match source {
        ForeachSource::Global(g) => v.global(
            *g,
            Access::Iterate {
                value: value_var.is_some(),
                sort: *sort,
            },
        ),
        ForeachSource::Hist(h) => stat_ref(v, &h.stat, Access::Hist),
    }
    slice.iter().flatten().flatten().for_each(|k| v.expr(k));
    if let Some(l) = limit {
        v.expr(l);
    }
    v.stmt(body);
}

fn stat_ref<V: Visit + ?Sized>(v: &mut V, r: &StatRef, how: Access) {
    match r {
        StatRef::Global(g) => v.global(*g, how),
        StatRef::Elem(g, keys) => {
            v.global(*g, how);
            keys.iter().for_each(|k| v.expr(k));
        }
    }
}

fn lvalue<V: Visit + ?Sized>(v: &mut V, l: &LValue, how: Access) {
    match l {
        LValue::Local(_) => {}
        LValue::Global(g) => v.global(*g, how),
        LValue::Elem(g, keys) => {
            v.global(*g, how);
            keys.iter().for_each(|k| v.expr(k));
        }
    }
}

/// Visits `x`'s children: operands, arguments, keys, and the globals it
/// names.
pub fn walk_expr<V: Visit + ?Sized>(v: &mut V, x: &X) {
    match x {
        X::Num(_) | X::Str(_) | X::Local(_) | X::Ctx(_) => {}
        X::Global(g) => v.global(*g, Access::Value),
        X::Elem(g, keys) => {
            v.global(*g, Access::Value);
            keys.iter().for_each(|k| v.expr(k));
        }
        X::Call(_, args, _) | X::UserCall(_, args, _) => args.iter().for_each(|a| v.expr(a)),
        X::Printf {
            to_string: _,
            fmt: _,
            args,
            span: _,
        } => args.iter().for_each(|a| v.expr(a)),
        X::Print { kind: _, args } => args.iter().for_each(|(a, _)| v.expr(a)),
        X::Stat(op, r, _) => stat_ref(v, r, Access::Extract(*op)),
        X::Hist(h) => stat_ref(v, &h.stat, Access::Hist),
        X::HistBucket(h, i) => {
            stat_ref(v, &h.stat, Access::Hist);
            v.expr(i);
        }
        X::Unary(_, a) | X::Entry(a) => v.expr(a),
        X::Arith(_, a, b, _)
        | X::Concat(a, b)
        | X::Cmp(_, _, a, b)
        | X::And(a, b)
        | X::Or(a, b) => {
            v.expr(a);
            v.expr(b);
        }
        X::Regex {
            negate: _,
            subject,
            regex: _,
        } => v.expr(subject),
        X::Ternary(c, a, b) => {
            v.expr(c);
            v.expr(a);
            v.expr(b);
        }
        X::Assign(l, op, value, _) => {
            let how = if op.is_some() {
                Access::Update
            } else {
                Access::Assign
            };
            lvalue(v, l, how);
            v.expr(value);
        }
        X::Incr(_, l, _) => lvalue(v, l, Access::Update),
        X::Aggregate(r, value) => {
            stat_ref(v, r, Access::Aggregate);
            v.expr(value);
        }
        X::In(g, keys) => {
            v.global(*g, Access::Member);
            keys.iter().flatten().for_each(|k| v.expr(k));
        }
    }
}

/// Walks a list of statements with `v`.
pub fn walk_stmts<V: Visit + ?Sized>(v: &mut V, stmts: &[S]) {
    stmts.iter().for_each(|s| v.stmt(s));
}

/// Walks everything a probe runs: its points' conditions and its body.
pub fn walk_probe<V: Visit + ?Sized>(v: &mut V, p: &super::ir::Probe) {
    for c in p.points.iter().filter_map(|pt| pt.condition.as_ref()) {
        v.expr(c);
    }
    walk_stmts(v, &p.body);
}

/// Walks every probe and function of a program.
pub fn walk_program<V: Visit + ?Sized>(v: &mut V, prog: &Program) {
    for p in &prog.probes {
        walk_probe(v, p);
    }
    for f in &prog.functions {
        walk_stmts(v, &f.body);
    }
}

/// A [`Visit`] from closures: `expr` on every expression, `global` on
/// every use of a global, `foreach` on every loop.
pub struct Each<E, G, F> {
    pub expr: E,
    pub global: G,
    pub foreach: F,
}

impl<E: FnMut(&X), G: FnMut(u32, Access), F: FnMut(&Foreach)> Visit for Each<E, G, F> {
    fn stmt(&mut self, s: &S) {
        if let S::Foreach(fe) = s {
            (self.foreach)(fe);
        }
        walk_stmt(self, s)
    }
    fn expr(&mut self, x: &X) {
        (self.expr)(x);
        walk_expr(self, x)
    }
    fn global(&mut self, g: u32, how: Access) {
        (self.global)(g, how)
    }
}

/// Calls `f` on every use of a global in `stmts`.
pub fn for_each_global(stmts: &[S], f: impl FnMut(u32, Access)) {
    let mut v = Each {
        expr: |_: &X| {},
        global: f,
        foreach: |_: &Foreach| {},
    };
    walk_stmts(&mut v, stmts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stap::elaborate::{elaborate, ElabOptions};
    use crate::stap::{self, PpEnv};

    fn program(text: &str) -> Program {
        let (p, d) = stap::parse("t.stp", text, &PpEnv::host(vec![]));
        assert!(d.is_empty(), "{text}");
        let opts = ElabOptions::no_trace("x86_64");
        let (prog, errors, _) = elaborate(&p.script, &opts);
        assert!(errors.is_empty(), "{text}: {errors:?}");
        prog
    }

    /// Every position a global can stand in is reported, with its access.
    #[test]
    fn every_position_of_a_global_is_seen() {
        let cases: &[(&str, &str, Access)] = &[
            ("g", "print(g)", Access::Value),
            ("g", "a[g] = 1", Access::Value),
            ("a", "a[1] = 1", Access::Assign),
            ("a", "a[1] += 1", Access::Update),
            ("a", "a[1]++", Access::Update),
            ("g", "b[1, g]++", Access::Value),
            ("g", "s[g] <<< 1", Access::Value),
            ("s", "s[1] <<< 1", Access::Aggregate),
            ("g", "s[1] <<< g", Access::Value),
            ("g", "print(@count(s[g]))", Access::Value),
            ("s", "print(@sum(s[1]))", Access::Extract(StatOp::Sum)),
            ("g", "print(@hist_log(s[g]))", Access::Value),
            ("s", "print(@hist_log(s[1]))", Access::Hist),
            ("g", "print(@hist_log(s[1])[g])", Access::Value),
            ("g", "if ([g] in a) next", Access::Value),
            ("a", "if ([1] in a) next", Access::Member),
            ("g", "foreach (k in a limit g) next", Access::Value),
            ("g", "foreach ([k, l] in b[g, *]) next", Access::Value),
            (
                "a",
                "foreach (k in a-) next",
                Access::Iterate {
                    value: false,
                    sort: Some(Sort::Value(crate::stap::ast::SortDir::Desc, StatOp::Count)),
                },
            ),
            ("g", "foreach (k in @hist_log(s[g])) next", Access::Value),
            ("g", "delete a[g]", Access::Value),
            ("a", "delete a[1]", Access::DeleteElem),
            ("a", "delete a", Access::DeleteWhole),
            ("g", "print(f(g))", Access::Value),
            ("g", "print(strlen(sprint(g)))", Access::Value),
            ("g", "while (g) break", Access::Value),
            ("g", "for (i = 0; i < 3; i += g) next", Access::Value),
            ("g", "x = g ? 1 : 2", Access::Value),
            ("g", "x = 1 + -g", Access::Value),
            ("g", "try { x = g } catch { next }", Access::Value),
            ("g", "printf(\"%d\", a[a[g]])", Access::Value),
            ("h", "h = \"x\" . execname()", Access::Assign),
            ("h", "h .= \"x\"", Access::Update),
            ("h", "if (h =~ \"x\") next", Access::Value),
        ];
        for (name, body, want) in cases {
            let text = format!(
                "global g, h, a, b, s\nfunction f(x:long) {{ return x }}\n\
                 probe begin {{ g = 1; h = \"\"; a[1] = 1; b[1, 2] = 1; s[1] <<< 1 }}\n\
                 probe end {{ {body} }}\n"
            );
            let prog = program(&text);
            let g = prog
                .globals
                .iter()
                .position(|i| i.name == *name)
                .expect("global") as u32;
            let end = prog.probes.last().expect("end probe");
            let mut seen = vec![];
            for_each_global(&end.body, |gi, how| {
                if gi == g {
                    seen.push(how)
                }
            });
            assert!(seen.contains(want), "{body}: {name} seen as {seen:?}");
        }
    }
}
