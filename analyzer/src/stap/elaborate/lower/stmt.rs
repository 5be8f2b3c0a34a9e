//! Statements lowered to the IR: blocks, control flow, delete, foreach.

use crate::stap::ast::{self, Expr, ExprKind, ForeachSort, Stmt, StmtKind};
use crate::stap::source::Span;

use super::*;

impl<'a> Elab<'a> {
    // ---- statements ----------------------------------------------------

    pub(super) fn block(&mut self, b: &ast::Block) -> Vec<S> {
        b.stmts.iter().map(|s| self.stmt(s)).collect()
    }

    pub(super) fn stmt(&mut self, s: &Stmt) -> S {
        match &s.kind {
            StmtKind::Block(b) => S::Block(self.block(b)),
            StmtKind::Null => S::Nop,
            StmtKind::Expr(e) => {
                let (x, _) = self.expr(e, Ty::Unknown);
                S::Expr(x)
            }
            StmtKind::If { cond, then, els } => {
                if let Some(b) = self.const_cond(cond) {
                    return if b {
                        self.stmt(then)
                    } else {
                        els.as_ref().map(|e| self.stmt(e)).unwrap_or(S::Nop)
                    };
                }
                let c = self.expect(cond, Ty::Long, "if condition");
                let t = self.stmt(then);
                let e = els.as_ref().map(|e| Box::new(self.stmt(e)));
                S::If(c, Box::new(t), e)
            }
            StmtKind::For {
                init,
                cond,
                step,
                body,
            } => {
                let i = init.as_ref().map(|e| self.expr(e, Ty::Unknown).0);
                let c = cond
                    .as_ref()
                    .map(|e| self.expect(e, Ty::Long, "for condition"));
                let st = step.as_ref().map(|e| self.expr(e, Ty::Unknown).0);
                self.loops += 1;
                let b = self.stmt(body);
                self.loops -= 1;
                let lp = S::Loop {
                    cond: c,
                    step: st,
                    body: Box::new(b),
                };
                match i {
                    Some(i) => S::Block(vec![S::Expr(i), lp]),
                    None => lp,
                }
            }
            StmtKind::While { cond, body } => {
                let c = self.expect(cond, Ty::Long, "while condition");
                self.loops += 1;
                let b = self.stmt(body);
                self.loops -= 1;
                S::Loop {
                    cond: Some(c),
                    step: None,
                    body: Box::new(b),
                }
            }
            StmtKind::Foreach(f) => self.foreach(f, s.span),
            StmtKind::Break | StmtKind::Continue => {
                if self.loops == 0 {
                    let w = if matches!(s.kind, StmtKind::Break) {
                        "break"
                    } else {
                        "continue"
                    };
                    self.err(s.span, format!("'{w}' outside a loop"));
                }
                if matches!(s.kind, StmtKind::Break) {
                    S::Break
                } else {
                    S::Continue
                }
            }
            StmtKind::Next => S::Next,
            StmtKind::Return(v) => {
                let Some(f) = self.in_func else {
                    self.err(
                        s.span,
                        "'return' outside a function (use 'next' to leave a probe)",
                    );
                    return S::Nop;
                };
                match v {
                    Some(e) => {
                        let want = self.funcs[f as usize].ret;
                        let (x, t) = self.expr(e, want);
                        if t == Ty::Stat {
                            self.err(e.span, "a function cannot return a statistic");
                        }
                        self.set_ret_ty(f, t, e.span);
                        S::Return(Some(x))
                    }
                    None => S::Return(None),
                }
            }
            StmtKind::Delete(e) => self.delete(e),
            StmtKind::Try { body, var, catch } => {
                let b = self.block(body);
                let v = var.as_ref().map(|v| {
                    let slot = self.local(&v.name, Ty::Str);
                    self.set_local_ty(slot, Ty::Str, v.span);
                    slot
                });
                let c = self.block(catch);
                S::Try {
                    body: b,
                    var: v,
                    catch: c,
                }
            }
        }
    }

    pub(super) fn delete(&mut self, e: &Expr) -> S {
        match &e.kind {
            ExprKind::Var(name) => {
                if let Some(&slot) = self.scopes[self.scope].ix.get(name) {
                    return S::DeleteLocal(slot);
                }
                if let Some(&g) = self.gix.get(name) {
                    return S::DeleteGlobal(g);
                }
                if self.scopes[self.scope].assigned.contains(name) {
                    let slot = self.local(name, Ty::Unknown);
                    return S::DeleteLocal(slot);
                }
                self.err(e.span, format!("unresolved symbol '{name}' in delete"));
                S::Nop
            }
            ExprKind::Index { base, indices } => {
                let ExprKind::Var(name) = &base.kind else {
                    self.err(
                        e.span,
                        "delete takes a variable, an array or an array element",
                    );
                    return S::Nop;
                };
                let Some(g) = self.array_ref(name, base.span, indices.len()) else {
                    return S::Nop;
                };
                let ks = self.keys_wild(g, indices);
                S::DeleteElem(g, ks)
            }
            _ => {
                self.err(
                    e.span,
                    "delete takes a variable, an array or an array element",
                );
                S::Nop
            }
        }
    }

    pub(super) fn foreach(&mut self, f: &ast::Foreach, span: Span) -> S {
        let (source, key_tys, val_ty, is_stat) = match &f.array.kind {
            ExprKind::Hist { .. } => {
                let Some(h) = self.hist_ref(&f.array) else {
                    return S::Nop;
                };
                if f.keys.len() != 1 {
                    self.err(
                        f.array.span,
                        "a histogram is iterated with one key (the bucket)",
                    );
                    return S::Nop;
                }
                (
                    ForeachSource::Hist(Box::new(h)),
                    vec![Ty::Long],
                    Ty::Long,
                    false,
                )
            }
            ExprKind::Var(name) => {
                let Some(g) = self.array_ref(name, f.array.span, f.keys.len()) else {
                    return S::Nop;
                };
                let keys = self.globals[g as usize].keys.clone().unwrap_or_default();
                let ty = self.globals[g as usize].ty;
                (ForeachSource::Global(g), keys, ty, ty == Ty::Stat)
            }
            _ => {
                self.err(
                    f.array.span,
                    "foreach iterates a global array or a histogram",
                );
                return S::Nop;
            }
        };
        let mut key_vars = vec![];
        for (k, kv) in f.keys.iter().enumerate() {
            let t = key_tys.get(k).copied().unwrap_or_default();
            let slot = self.local(&kv.name, t);
            self.set_local_ty(slot, t, kv.span);
            // Learn the array's key type from the variable too.
            if let ForeachSource::Global(g) = &source {
                let lt = self.scopes[self.scope].locals[slot as usize].1;
                self.set_key_ty(*g, k, lt, kv.span);
            }
            key_vars.push(slot);
        }
        let value_var = f.value.as_ref().map(|v| {
            if is_stat {
                self.err(v.span, "a statistics array has no plain value to bind; use an extractor on the element");
            }
            let slot = self.local(&v.name, val_ty);
            self.set_local_ty(slot, val_ty, v.span);
            slot
        });
        let slice = f.slice.as_ref().map(|sl| match &source {
            ForeachSource::Global(g) => {
                if sl.len() != f.keys.len() {
                    self.err(
                        f.array.span,
                        "the slice needs as many indexes as the array has keys",
                    );
                }
                self.keys_wild(*g, sl)
            }
            ForeachSource::Hist(_) => {
                self.err(f.array.span, "a histogram cannot be sliced");
                vec![]
            }
        });
        if f.aggr.is_some() && !is_stat {
            self.err(
                f.array.span,
                "an extractor sort (@sum, @max...) needs an array of statistics",
            );
        }
        let sort = f.sort.map(|s| match s {
            ForeachSort::Value(d) => Sort::Value(d, f.aggr.unwrap_or(ast::StatOp::Count)),
            ForeachSort::Key(k, d) => Sort::Key(k, d),
        });
        let limit = f
            .limit
            .as_ref()
            .map(|l| self.expect(l, Ty::Long, "foreach limit"));
        self.loops += 1;
        let body = self.stmt(&f.body);
        self.loops -= 1;
        S::Foreach(Box::new(Foreach {
            source,
            value_var,
            key_vars,
            slice,
            sort,
            limit,
            body,
            span,
        }))
    }
}
