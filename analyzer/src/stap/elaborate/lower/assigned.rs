//! Which names a function or probe body assigns: those that are not
//! globals or context variables become its locals.

use std::collections::HashSet;

use crate::stap::ast::{self, Expr, ExprKind, Stmt, StmtKind};

pub(super) fn collect_assigned_block(b: &ast::Block, out: &mut HashSet<String>) {
    for s in &b.stmts {
        collect_assigned_stmt(s, out);
    }
}

fn collect_assigned_stmt(s: &Stmt, out: &mut HashSet<String>) {
    match &s.kind {
        StmtKind::Block(b) => collect_assigned_block(b, out),
        StmtKind::Expr(e) | StmtKind::Delete(e) => collect_assigned_expr(e, out),
        StmtKind::Return(e) => {
            if let Some(e) = e {
                collect_assigned_expr(e, out)
            }
        }
        StmtKind::If { cond, then, els } => {
            collect_assigned_expr(cond, out);
            collect_assigned_stmt(then, out);
            if let Some(e) = els {
                collect_assigned_stmt(e, out);
            }
        }
        StmtKind::For {
            init,
            cond,
            step,
            body,
        } => {
            for e in [init, cond, step].into_iter().flatten() {
                collect_assigned_expr(e, out);
            }
            collect_assigned_stmt(body, out);
        }
        StmtKind::While { cond, body } => {
            collect_assigned_expr(cond, out);
            collect_assigned_stmt(body, out);
        }
        StmtKind::Foreach(f) => {
            if let Some(v) = &f.value {
                out.insert(v.name.clone());
            }
            for k in &f.keys {
                out.insert(k.name.clone());
            }
            collect_assigned_stmt(&f.body, out);
        }
        StmtKind::Try { body, var, catch } => {
            collect_assigned_block(body, out);
            if let Some(v) = var {
                out.insert(v.name.clone());
            }
            collect_assigned_block(catch, out);
        }
        StmtKind::Null | StmtKind::Break | StmtKind::Continue | StmtKind::Next => {}
    }
}

fn collect_assigned_expr(e: &Expr, out: &mut HashSet<String>) {
    match &e.kind {
        ExprKind::Assign { l, r, .. } | ExprKind::Aggregate { l, r } => {
            if let ExprKind::Var(n) = &l.kind {
                out.insert(n.clone());
            }
            collect_assigned_expr(l, out);
            collect_assigned_expr(r, out);
        }
        ExprKind::Incr { e, .. } => {
            if let ExprKind::Var(n) = &e.kind {
                out.insert(n.clone());
            }
        }
        ExprKind::Index { base, indices } => {
            collect_assigned_expr(base, out);
            for i in indices.iter().flatten() {
                collect_assigned_expr(i, out);
            }
        }
        ExprKind::Call { args, .. } | ExprKind::AtOp { args, .. } => {
            for a in args {
                collect_assigned_expr(a, out);
            }
        }
        ExprKind::Stat { arg, .. }
        | ExprKind::Defined(arg)
        | ExprKind::Entry(arg)
        | ExprKind::AddrOf(arg)
        | ExprKind::Unary { e: arg, .. } => collect_assigned_expr(arg, out),
        ExprKind::Hist { arg, params, .. } => {
            collect_assigned_expr(arg, out);
            for p in params {
                collect_assigned_expr(p, out);
            }
        }
        ExprKind::Binary { l, r, .. } => {
            collect_assigned_expr(l, out);
            collect_assigned_expr(r, out);
        }
        ExprKind::Regex { l, .. } => collect_assigned_expr(l, out),
        ExprKind::Ternary { cond, t, f } => {
            collect_assigned_expr(cond, out);
            collect_assigned_expr(t, out);
            collect_assigned_expr(f, out);
        }
        ExprKind::In { keys, array } => {
            for k in keys.iter().flatten() {
                collect_assigned_expr(k, out);
            }
            collect_assigned_expr(array, out);
        }
        ExprKind::Member { base, .. } => collect_assigned_expr(base, out),
        ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::Var(_) | ExprKind::Target { .. } => {}
    }
}
