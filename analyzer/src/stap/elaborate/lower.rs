//! The elaborator: resolves every name (local, global, context column,
//! tapset or user function), infers types to a fixpoint, expands probe
//! aliases and braces, and lowers the tree to the IR. Types are found by
//! lowering repeatedly without reporting until no symbol's type changes,
//! then once more reporting; one walker therefore both infers and lowers.

use std::collections::{HashMap, HashSet};

use retap_schema::Table;

use crate::stap::ast::{self, Expr, ExprKind, ForeachSort, HistKind, Literal, Stmt, StmtKind};
use crate::stap::source::{Diagnostic, Span};

use super::catalog::{Catalog, Family, ResolvedPoint};
use super::context::{self, CtxVar};
use super::format;
use super::ir::*;
use super::tapset::{self, Builtin};

/// What pass 2 knows about the recording (or the host, without one).
pub struct ElabOptions<'a> {
    pub arch: String,
    /// syscall name → [(C type, argument name)] from the trace.
    pub signatures: Option<&'a std::collections::BTreeMap<String, Vec<(String, String)>>>,
    /// Tables the trace holds (None: no trace given, nothing to check).
    pub tables: Option<Vec<Table>>,
}

struct FuncSig {
    name: String,
    span: Span,
    params: Vec<Ty>,
    ret: Ty,
}

#[derive(Default)]
struct Scope {
    locals: Vec<(String, Ty)>,
    ix: HashMap<String, u32>,
    assigned: HashSet<String>,
}

struct Elab<'a> {
    opts: &'a ElabOptions<'a>,
    catalog: Catalog,
    diags: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    report: bool,
    changed: bool,
    globals: Vec<GlobalInfo>,
    gix: HashMap<String, u32>,
    funcs: Vec<FuncSig>,
    fix: HashMap<(String, usize), u32>,
    regexes: Vec<String>,
    scopes: Vec<Scope>,
    scope: usize,
    points: Vec<ResolvedPoint>,
    in_func: Option<u32>,
    loops: usize,
    entry_mode: bool,
    /// The current probe's points as written (to name the point in errors
    /// when it is one of several).
    probe_text: String,
}

/// A probe after alias expansion: the points it fires on and the body
/// (alias prologues, the probe's own body, alias epilogues).
struct Expanded<'s> {
    points: Vec<ResolvedPoint>,
    conditions: Vec<Option<&'s Expr>>,
    bodies: Vec<&'s ast::Block>,
    span: Span,
    text: String,
}

pub fn elaborate(
    script: &ast::Script,
    opts: &ElabOptions,
) -> (Program, Vec<Diagnostic>, Vec<Diagnostic>) {
    crate::stap::on_big_stack(|| elaborate_here(script, opts))
}

fn elaborate_here(
    script: &ast::Script,
    opts: &ElabOptions,
) -> (Program, Vec<Diagnostic>, Vec<Diagnostic>) {
    let mut el = Elab {
        opts,
        catalog: Catalog::new(&opts.arch),
        diags: vec![],
        warnings: vec![],
        report: false,
        changed: false,
        globals: vec![],
        gix: HashMap::new(),
        funcs: vec![],
        fix: HashMap::new(),
        regexes: vec![],
        scopes: vec![],
        scope: 0,
        points: vec![],
        in_func: None,
        loops: 0,
        entry_mode: false,
        probe_text: String::new(),
    };
    el.declare(script);
    let probes = el.expand_probes(script);
    let functions: Vec<&ast::Function> = script
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Function(f) => Some(f),
            _ => None,
        })
        .collect();
    // Scopes: one per function, then one per expanded probe.
    for f in &functions {
        let mut s = Scope::default();
        for p in &f.params {
            s.assigned.insert(p.name.name.clone());
        }
        collect_assigned_block(&f.body, &mut s.assigned);
        el.scopes.push(s);
    }
    for p in &probes {
        let mut s = Scope::default();
        for b in &p.bodies {
            collect_assigned_block(b, &mut s.assigned);
        }
        el.scopes.push(s);
    }
    let mut program = Program::default();
    for round in 0..12 {
        el.report = round == 11;
        el.changed = false;
        el.regexes.clear();
        let (funcs, prbs) = el.lower_all(&functions, &probes);
        if el.report {
            program.functions = funcs;
            program.probes = prbs;
            break;
        }
        if !el.changed {
            el.report = true;
            el.regexes.clear();
            let (funcs, prbs) = el.lower_all(&functions, &probes);
            program.functions = funcs;
            program.probes = prbs;
            break;
        }
    }
    mark_uses(&mut el.globals, &program);
    el.check_unresolved(&functions);
    program.globals = std::mem::take(&mut el.globals);
    program.regexes = std::mem::take(&mut el.regexes);
    (program, el.diags, el.warnings)
}

/// Which globals are read and which written, from the shared walk over
/// the lowered code (stap prints those written and never read at the end,
/// and warns of those neither).
fn mark_uses(globals: &mut [GlobalInfo], program: &Program) {
    for g in globals.iter_mut() {
        g.read = false;
        g.written = g.init.is_some();
    }
    program.for_each_global(&mut |g, how| {
        let info = &mut globals[g as usize];
        info.read |= how.reads();
        info.written |= how.writes();
    });
}

fn collect_assigned_block(b: &ast::Block, out: &mut HashSet<String>) {
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

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

pub fn did_you_mean<'n>(name: &str, candidates: impl IntoIterator<Item = &'n str>) -> String {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let d = distance(name, c);
        let limit = (name.len().max(c.len()) / 3).clamp(1, 3);
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    match best {
        Some((_, c)) => format!(" (did you mean '{c}'?)"),
        None => String::new(),
    }
}

fn is_void(b: Builtin) -> bool {
    matches!(
        b,
        Builtin::Exit | Builtin::Error | Builtin::PrintBacktrace | Builtin::PrintUbacktrace
    )
}

impl<'a> Elab<'a> {
    fn err(&mut self, span: Span, msg: impl Into<String>) {
        if self.report {
            self.diags.push(Diagnostic::semantic(msg, span));
        }
    }

    fn warn(&mut self, span: Span, msg: impl Into<String>) {
        if self.report {
            self.warnings.push(Diagnostic::warning(msg, span));
        }
    }

    // ---- declarations --------------------------------------------------

    fn declare(&mut self, script: &ast::Script) {
        for item in &script.items {
            match item {
                ast::Item::Global(g) => {
                    if self.gix.contains_key(&g.name.name) {
                        self.diags.push(Diagnostic::semantic(
                            format!("duplicate global variable '{}'", g.name.name),
                            g.name.span,
                        ));
                        continue;
                    }
                    let (ty, init) = match &g.init {
                        Some(Literal::Num(n)) => (Ty::Long, Some(Const::Num(*n))),
                        Some(Literal::Str(s)) => (Ty::Str, Some(Const::Str(s.clone()))),
                        None => (Ty::Unknown, None),
                    };
                    self.gix
                        .insert(g.name.name.clone(), self.globals.len() as u32);
                    self.globals.push(GlobalInfo {
                        name: g.name.name.clone(),
                        span: g.name.span,
                        ty,
                        keys: g.size.map(|_| vec![]),
                        size: g.size,
                        wrap: g.wrap,
                        init,
                        read: false,
                        written: g.init.is_some(),
                        hists: vec![],
                    });
                }
                ast::Item::Function(f) => {
                    let key = (f.name.name.clone(), f.params.len());
                    if self.fix.contains_key(&key) {
                        self.diags.push(Diagnostic::semantic(
                            format!(
                                "duplicate function '{}' with {} parameter(s)",
                                f.name.name,
                                f.params.len()
                            ),
                            f.name.span,
                        ));
                        continue;
                    }
                    let ty = |t: Option<ast::TypeName>| match t {
                        Some(ast::TypeName::Long) => Ty::Long,
                        Some(ast::TypeName::String) => Ty::Str,
                        None => Ty::Unknown,
                    };
                    self.fix.insert(key, self.funcs.len() as u32);
                    self.funcs.push(FuncSig {
                        name: f.name.name.clone(),
                        span: f.name.span,
                        params: f.params.iter().map(|p| ty(p.ty)).collect(),
                        ret: ty(f.ret),
                    });
                }
                _ => {}
            }
        }
    }

    // ---- probe points --------------------------------------------------

    fn expand_probes<'s>(&mut self, script: &'s ast::Script) -> Vec<Expanded<'s>> {
        let aliases: Vec<&ast::Alias> = script
            .items
            .iter()
            .filter_map(|i| match i {
                ast::Item::Alias(a) => Some(a),
                _ => None,
            })
            .collect();
        let mut out = vec![];
        for item in &script.items {
            let ast::Item::Probe(p) = item else { continue };
            // Groups by the chain of aliases used, which decides the body.
            let mut groups: Vec<Expanded<'s>> = vec![];
            let mut sufficient_done = false;
            for pp in &p.points {
                if sufficient_done {
                    break;
                }
                let mut resolved: Vec<(ResolvedPoint, Vec<&'s ast::Block>, Vec<&'s ast::Block>)> =
                    vec![];
                let mut errors = vec![];
                self.resolve_point(pp, &aliases, 0, &mut resolved, &mut errors);
                if resolved.is_empty() {
                    if !pp.optional {
                        let why = if errors.is_empty() {
                            "nothing matches".to_string()
                        } else {
                            errors.join("; ")
                        };
                        self.diags.push(Diagnostic::semantic(
                            format!("probe point {} cannot be served: {why}", pp.text()),
                            pp.span,
                        ));
                    }
                    continue;
                }
                if pp.sufficient {
                    sufficient_done = true;
                }
                for (rp, pro, epi) in resolved {
                    let mut bodies: Vec<&ast::Block> = pro.clone();
                    bodies.push(&p.body);
                    bodies.extend(epi.iter().copied());
                    // Each concrete point is elaborated on its own, as stap
                    // derives one probe per point: `@defined` and context
                    // variables can differ between them.
                    groups.push(Expanded {
                        points: vec![rp],
                        conditions: vec![pp.condition.as_ref()],
                        bodies,
                        span: p.span,
                        text: p
                            .points
                            .iter()
                            .map(|x| x.text())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
            if let Some(tables) = &self.opts.tables {
                for g in &mut groups {
                    let before = g.points.len();
                    let mut missing = vec![];
                    let keep: Vec<bool> = g
                        .points
                        .iter()
                        .map(|rp| match rp.table() {
                            Some(t) if !tables.contains(&t) => {
                                missing.push((rp.text.clone(), t));
                                false
                            }
                            _ => true,
                        })
                        .collect();
                    let mut k = keep.iter();
                    g.points.retain(|_| *k.next().unwrap_or(&true));
                    let mut k = keep.iter();
                    g.conditions.retain(|_| *k.next().unwrap_or(&true));
                    let optional = p.points.iter().all(|x| x.optional);
                    if !missing.is_empty() && !optional {
                        let recorded: Vec<&str> = tables.iter().map(|t| t.name()).collect();
                        let (text, t) = &missing[0];
                        self.diags.push(Diagnostic::semantic(
                            format!(
                                "{text} needs the {t} table; this trace was recorded with --events {}",
                                recorded.join(",")
                            ),
                            p.span,
                        ));
                    }
                    let _ = before;
                }
                groups.retain(|g| !g.points.is_empty());
            }
            out.extend(groups);
        }
        out
    }

    #[allow(clippy::type_complexity)]
    fn resolve_point<'s>(
        &mut self,
        pp: &ast::ProbePoint,
        aliases: &[&'s ast::Alias],
        depth: usize,
        out: &mut Vec<(ResolvedPoint, Vec<&'s ast::Block>, Vec<&'s ast::Block>)>,
        errors: &mut Vec<String>,
    ) {
        if depth > 16 {
            errors.push("probe aliases nest too deeply (recursive alias?)".into());
            return;
        }
        // Brace alternatives: expand the text and read each alternative.
        if pp.components.iter().any(|c| c.name.contains('{')) {
            let text = pp.text();
            for alt in crate::stap::glob::expand_braces(&text) {
                match parse_point(&alt) {
                    Some(mut p) => {
                        p.span = pp.span;
                        p.condition = pp.condition.clone();
                        p.optional |= pp.optional;
                        self.resolve_point(&p, aliases, depth + 1, out, errors);
                    }
                    None => errors.push(format!("cannot read alternative {alt}")),
                }
            }
            return;
        }
        // User aliases: an alias whose name matches a prefix of the point.
        let mut via_alias = false;
        for a in aliases {
            for name in &a.names {
                let k = name.components.len();
                if k > pp.components.len() {
                    continue;
                }
                let matches = name.components.iter().zip(&pp.components).all(|(an, pc)| {
                    crate::stap::glob::matches(&pc.name, &an.name) && an.arg == pc.arg
                });
                if !matches {
                    continue;
                }
                via_alias = true;
                let suffix = &pp.components[k..];
                for target in &a.points {
                    let mut t = target.clone();
                    t.components.extend(suffix.iter().cloned());
                    t.optional |= pp.optional;
                    let mut sub = vec![];
                    self.resolve_point(&t, aliases, depth + 1, &mut sub, errors);
                    for (rp, mut pro, mut epi) in sub {
                        if a.epilogue {
                            epi.push(&a.body);
                        } else {
                            pro.insert(0, &a.body);
                        }
                        out.push((rp, pro, epi));
                    }
                }
            }
        }
        if via_alias {
            return;
        }
        match self.catalog.resolve(pp) {
            Ok(v) => out.extend(v.into_iter().map(|rp| (rp, vec![], vec![]))),
            Err(e) => errors.push(e),
        }
    }

    // ---- lowering ------------------------------------------------------

    fn lower_all(
        &mut self,
        functions: &[&ast::Function],
        probes: &[Expanded],
    ) -> (Vec<Function>, Vec<Probe>) {
        let mut fs = vec![];
        for (i, f) in functions.iter().enumerate() {
            let Some(&fid) = self.fix.get(&(f.name.name.clone(), f.params.len())) else {
                continue;
            };
            self.scope = i;
            self.points.clear();
            self.in_func = Some(fid);
            self.loops = 0;
            // Parameters are the first locals, in order.
            for (k, p) in f.params.iter().enumerate() {
                let t = self.funcs[fid as usize].params[k];
                let slot = self.local(&p.name.name, t);
                self.set_local_ty(slot, t, p.name.span);
                let lt = self.scopes[self.scope].locals[slot as usize].1;
                self.set_param_ty(fid, k, lt, p.name.span);
            }
            let body = self.block(&f.body);
            let sig = &self.funcs[fid as usize];
            fs.push(Function {
                name: f.name.name.clone(),
                span: f.span,
                params: f
                    .params
                    .iter()
                    .enumerate()
                    .map(|(k, p)| (p.name.name.clone(), sig.params[k]))
                    .collect(),
                ret: sig.ret,
                locals: self.scopes[self.scope].locals.clone(),
                body,
            });
        }
        let mut ps = vec![];
        for (i, p) in probes.iter().enumerate() {
            self.scope = functions.len() + i;
            self.points = p.points.clone();
            self.probe_text = p.text.clone();
            self.in_func = None;
            self.loops = 0;
            let mut points = p.points.clone();
            for (k, c) in p.conditions.iter().enumerate() {
                if let Some(c) = c {
                    let x = self.expect(c, Ty::Long, "probe condition");
                    points[k].condition = Some(x);
                }
            }
            let mut body = vec![];
            for b in &p.bodies {
                body.push(S::Block(self.block(b)));
            }
            ps.push(Probe {
                index: i,
                span: p.span,
                text: p.text.clone(),
                points,
                locals: self.scopes[self.scope].locals.clone(),
                body,
            });
        }
        (fs, ps)
    }

    fn check_unresolved(&mut self, functions: &[&ast::Function]) {
        let _ = functions;
        self.report = true;
        let unused: Vec<(String, Span)> = self
            .globals
            .iter()
            .filter(|g| !g.read && !g.written)
            .map(|g| (g.name.clone(), g.span))
            .collect();
        for (name, span) in unused {
            self.warn(span, format!("Eliding unused variable '{name}'"));
        }
        if !self.diags.is_empty() {
            // Unresolved types after other errors are their echo.
            return;
        }
        for g in &self.globals {
            let used = g.read || g.written;
            if used && g.ty == Ty::Unknown {
                self.diags.push(Diagnostic::semantic(
                    format!("unresolved type for global '{}'", g.name),
                    g.span,
                ));
            }
        }
        for f in &self.funcs {
            for (k, t) in f.params.iter().enumerate() {
                if *t == Ty::Unknown {
                    self.diags.push(Diagnostic::semantic(
                        format!(
                            "unresolved type for parameter {} of function '{}'",
                            k + 1,
                            f.name
                        ),
                        f.span,
                    ));
                }
            }
        }
    }

    // ---- symbols -------------------------------------------------------

    fn local(&mut self, name: &str, want: Ty) -> u32 {
        let sc = &mut self.scopes[self.scope];
        if let Some(&i) = sc.ix.get(name) {
            return i;
        }
        let i = sc.locals.len() as u32;
        sc.locals.push((name.to_string(), want));
        sc.ix.insert(name.to_string(), i);
        if want != Ty::Unknown {
            self.changed = true;
        }
        i
    }

    fn mismatch(&mut self, span: Span, have: Ty, want: Ty, who: &str) {
        self.err(span, format!("type mismatch ({want} vs. {have}): {who}"));
    }

    fn set_local_ty(&mut self, slot: u32, t: Ty, span: Span) {
        let (name, cur) = &mut self.scopes[self.scope].locals[slot as usize];
        match refine(cur, t) {
            Ok(c) => self.changed |= c,
            Err(old) => {
                let who = format!("local '{name}'");
                self.mismatch(span, t, old, &who);
            }
        }
    }

    fn set_global_ty(&mut self, g: u32, t: Ty, span: Span) {
        let info = &mut self.globals[g as usize];
        match refine(&mut info.ty, t) {
            Ok(c) => self.changed |= c,
            Err(old) => {
                let who = format!("global '{}'", info.name);
                self.mismatch(span, t, old, &who);
            }
        }
    }

    fn set_param_ty(&mut self, f: u32, k: usize, t: Ty, span: Span) {
        let sig = &mut self.funcs[f as usize];
        match refine(&mut sig.params[k], t) {
            Ok(c) => self.changed |= c,
            Err(old) => {
                let who = format!("parameter {} of '{}'", k + 1, sig.name);
                self.mismatch(span, t, old, &who);
            }
        }
    }

    fn set_ret_ty(&mut self, f: u32, t: Ty, span: Span) {
        let sig = &mut self.funcs[f as usize];
        match refine(&mut sig.ret, t) {
            Ok(c) => self.changed |= c,
            Err(old) => {
                let who = format!("return value of '{}'", sig.name);
                self.mismatch(span, t, old, &who);
            }
        }
    }

    /// Marks `g` an array of `n` keys; reports scalar/array confusion.
    fn array_global(&mut self, g: u32, n: usize, span: Span) -> bool {
        let info = &mut self.globals[g as usize];
        match &mut info.keys {
            Some(k) if k.is_empty() => {
                *k = vec![Ty::Unknown; n];
                self.changed = true;
                true
            }
            Some(k) if k.len() != n => {
                let (name, have) = (info.name.clone(), k.len());
                self.err(
                    span,
                    format!("inconsistent arity for array '{name}': used with {n} index(es), elsewhere with {have}"),
                );
                false
            }
            Some(_) => true,
            None => {
                info.keys = Some(vec![Ty::Unknown; n]);
                self.changed = true;
                true
            }
        }
    }

    fn set_key_ty(&mut self, g: u32, k: usize, t: Ty, span: Span) {
        if t == Ty::Unknown {
            return;
        }
        let name = self.globals[g as usize].name.clone();
        let Some(keys) = &mut self.globals[g as usize].keys else {
            return;
        };
        let Some(cur) = keys.get(k).copied() else {
            return;
        };
        if cur == Ty::Unknown {
            keys[k] = t;
            self.changed = true;
        } else if cur != t {
            self.mismatch(span, t, cur, &format!("index {} of array '{name}'", k + 1));
        }
    }

    fn global_is_array(&self, g: u32) -> bool {
        self.globals[g as usize].keys.is_some()
    }

    fn ctx_names(&self) -> Vec<&'static str> {
        let mut v = vec![];
        for p in &self.points {
            v.extend(context::names(self.family(p)));
        }
        v
    }

    fn family(&self, p: &ResolvedPoint) -> Family {
        match (self.entry_mode, p.family) {
            (true, Family::Syscall { .. }) => Family::Syscall { ret: false },
            (true, Family::SyscallAny { .. }) => Family::SyscallAny { ret: false },
            (true, Family::Vfs { write, .. }) => Family::Vfs { write, ret: false },
            (_, f) => f,
        }
    }

    /// A context variable every point of the current probe provides.
    fn ctx(&mut self, name: &str, span: Span) -> Option<(CtxVar, Ty)> {
        if self.points.is_empty() {
            return None;
        }
        let mut found: Option<(CtxVar, Ty)> = None;
        let mut missing = vec![];
        for p in self.points.clone() {
            match context::lookup(self.family(&p), name, p.syscalls.as_deref()) {
                Some(v) => {
                    if found.as_ref().is_some_and(|f| f.0 != v.0) {
                        self.err(span, format!("context variable '{name}' means different things in the points of this probe"));
                    }
                    found = Some(v);
                }
                None => missing.push(p.text.clone()),
            }
        }
        if found.is_some() && !missing.is_empty() {
            self.err(
                span,
                format!(
                    "context variable '{name}' is not available in probe point {}",
                    missing[0]
                ),
            );
        }
        found
    }

    fn kernel_arg_exists(&self, syscalls: Option<&[String]>, arg: &str) -> bool {
        let Some(sigs) = self.opts.signatures else {
            // Without a trace, the stap table's names stand in.
            return match syscalls {
                Some(list) => list.iter().any(|s| {
                    super::syscall_args::stap_args(s)
                        .is_some_and(|v| v.iter().any(|a| a.name == arg))
                }),
                None => super::syscall_args::all_arg_names().contains(&arg),
            };
        };
        let has = |s: &str| sigs.get(s).is_some_and(|v| v.iter().any(|(_, n)| n == arg));
        match syscalls {
            Some(list) => list.iter().any(|s| has(s)),
            None => sigs.values().any(|v| v.iter().any(|(_, n)| n == arg)),
        }
    }

    fn target_var(&mut self, name: &str, span: Span, quiet: bool) -> Option<(CtxVar, Ty)> {
        if self.points.is_empty() {
            if !quiet {
                self.err(
                    span,
                    format!("target variable '{name}' used outside a probe"),
                );
            }
            return None;
        }
        let mut found = None;
        for p in self.points.clone() {
            let fam = self.family(&p);
            let syscalls = p.syscalls.clone();
            let exists = |a: &str| self.kernel_arg_exists(syscalls.as_deref(), a);
            match context::target(fam, name, &exists) {
                Some(v) => found = Some(v),
                None => {
                    if !quiet {
                        self.err(
                            span,
                            format!(
                                "target variable '{name}' is not recorded for probe point {}: recordings hold syscall arguments and return values, not kernel memory",
                                p.text
                            ),
                        );
                    }
                    return None;
                }
            }
        }
        found
    }

    /// An identifier read as a value.
    fn var(&mut self, name: &str, span: Span, want: Ty) -> (X, Ty) {
        if let Some(&slot) = self.scopes[self.scope].ix.get(name) {
            self.set_local_ty(slot, want, span);
            return (
                X::Local(slot),
                self.scopes[self.scope].locals[slot as usize].1,
            );
        }
        if let Some(&g) = self.gix.get(name) {
            if self.global_is_array(g)
                && self.globals[g as usize]
                    .keys
                    .as_ref()
                    .is_some_and(|k| !k.is_empty())
            {
                self.err(span, format!("array '{name}' used without an index"));
                return (X::Num(0), want);
            }
            if self.globals[g as usize].ty == Ty::Stat {
                self.err(
                    span,
                    format!("statistic '{name}' used as a value; use an extractor such as @count({name})"),
                );
                return (X::Num(0), Ty::Long);
            }
            self.set_global_ty(g, want, span);
            return (X::Global(g), self.globals[g as usize].ty);
        }
        if let Some((v, t)) = self.ctx(name, span) {
            return (X::Ctx(v), t);
        }
        if self.scopes[self.scope].assigned.contains(name) {
            let slot = self.local(name, want);
            return (
                X::Local(slot),
                self.scopes[self.scope].locals[slot as usize].1,
            );
        }
        // Unknown: say why, or what was probably meant.
        let fams: Vec<Family> = self.points.iter().map(|p| self.family(p)).collect();
        for f in fams {
            if let Some(why) = context::unrecorded(f, name) {
                self.err(span, format!("'{name}' is not available: {why}"));
                return (X::Num(0), want);
            }
        }
        let mut cands: Vec<String> = self.scopes[self.scope].assigned.iter().cloned().collect();
        cands.extend(self.gix.keys().cloned());
        cands.extend(self.ctx_names().iter().map(|s| s.to_string()));
        let hint = did_you_mean(name, cands.iter().map(|s| s.as_str()));
        let ctx_hint = if hint.is_empty() && tapset::lookup(name).is_some() {
            format!(" (did you mean the function '{name}()'?)")
        } else {
            hint
        };
        let note = match self.points.first() {
            Some(p) if p.text != self.probe_text => format!(" in probe point {}", p.text),
            _ => String::new(),
        };
        self.err(span, format!("unresolved symbol '{name}'{note}{ctx_hint}"));
        (X::Num(0), want)
    }

    fn lvalue(&mut self, e: &Expr, want: Ty) -> Option<(LValue, Ty)> {
        match &e.kind {
            ExprKind::Var(name) => {
                if let Some(&slot) = self.scopes[self.scope].ix.get(name) {
                    self.set_local_ty(slot, want, e.span);
                    return Some((
                        LValue::Local(slot),
                        self.scopes[self.scope].locals[slot as usize].1,
                    ));
                }
                if let Some(&g) = self.gix.get(name) {
                    if self.global_is_array(g)
                        && self.globals[g as usize]
                            .keys
                            .as_ref()
                            .is_some_and(|k| !k.is_empty())
                    {
                        self.err(e.span, format!("array '{name}' assigned without an index"));
                        return None;
                    }
                    self.set_global_ty(g, want, e.span);
                    return Some((LValue::Global(g), self.globals[g as usize].ty));
                }
                if self.ctx(name, e.span).is_some() {
                    self.err(
                        e.span,
                        format!("context variable '{name}' cannot be assigned"),
                    );
                    return None;
                }
                let slot = self.local(name, want);
                self.set_local_ty(slot, want, e.span);
                Some((
                    LValue::Local(slot),
                    self.scopes[self.scope].locals[slot as usize].1,
                ))
            }
            ExprKind::Index { base, indices } => {
                let ExprKind::Var(name) = &base.kind else {
                    self.err(e.span, "a histogram bucket cannot be assigned");
                    return None;
                };
                let g = self.array_ref(name, base.span, indices.len())?;
                let keys = self.keys(g, indices, e.span, false)?;
                self.set_global_ty(g, want, e.span);
                Some((LValue::Elem(g, keys), self.globals[g as usize].ty))
            }
            ExprKind::Target { name, .. } => {
                self.err(
                    e.span,
                    format!("target variable '{name}' cannot be written: a recording is read-only"),
                );
                None
            }
            _ => {
                self.err(e.span, "expected a variable or array element");
                None
            }
        }
    }

    fn array_ref(&mut self, name: &str, span: Span, n: usize) -> Option<u32> {
        let Some(&g) = self.gix.get(name) else {
            if self.scopes[self.scope].assigned.contains(name)
                || self.scopes[self.scope].ix.contains_key(name)
            {
                self.err(
                    span,
                    format!("'{name}' is a local variable; arrays must be declared global"),
                );
            } else {
                let hint = did_you_mean(name, self.gix.keys().map(|s| s.as_str()));
                self.err(
                    span,
                    format!("unknown array '{name}'{hint}: arrays must be declared with 'global {name}'"),
                );
            }
            return None;
        };
        if self.globals[g as usize].keys.is_none() && self.globals[g as usize].ty != Ty::Unknown {
            self.err(span, format!("scalar '{name}' used as an array"));
            return None;
        }
        if self.array_global(g, n, span) {
            Some(g)
        } else {
            None
        }
    }

    fn keys(&mut self, g: u32, indices: &[Option<Expr>], span: Span, wild: bool) -> Option<Vec<X>> {
        let mut v = vec![];
        for (k, i) in indices.iter().enumerate() {
            match i {
                Some(e) => {
                    let want = self.globals[g as usize]
                        .keys
                        .as_ref()
                        .and_then(|ks| ks.get(k).copied())
                        .unwrap_or_default();
                    let (x, t) = self.expr(e, want);
                    if t == Ty::Stat {
                        self.err(e.span, "a statistic cannot be an array index");
                    }
                    self.set_key_ty(g, k, t, e.span);
                    v.push(x);
                }
                None => {
                    if !wild {
                        self.err(
                            span,
                            "'*' is only allowed in delete, foreach and 'in' slices",
                        );
                        return None;
                    }
                    v.push(X::Num(0));
                }
            }
        }
        Some(v)
    }

    fn keys_wild(&mut self, g: u32, indices: &[Option<Expr>]) -> Vec<Option<X>> {
        let mut v = vec![];
        for (k, i) in indices.iter().enumerate() {
            match i {
                Some(e) => {
                    let want = self.globals[g as usize]
                        .keys
                        .as_ref()
                        .and_then(|ks| ks.get(k).copied())
                        .unwrap_or_default();
                    let (x, t) = self.expr(e, want);
                    self.set_key_ty(g, k, t, e.span);
                    v.push(Some(x));
                }
                None => v.push(None),
            }
        }
        v
    }

    fn stat_ref(&mut self, e: &Expr) -> Option<StatRef> {
        match &e.kind {
            ExprKind::Var(name) => {
                let Some(&g) = self.gix.get(name) else {
                    self.err(e.span, format!("statistic '{name}' must be a global"));
                    return None;
                };
                if self.global_is_array(g)
                    && self.globals[g as usize]
                        .keys
                        .as_ref()
                        .is_some_and(|k| !k.is_empty())
                {
                    self.err(e.span, format!("array '{name}' used without an index"));
                    return None;
                }
                self.set_global_ty(g, Ty::Stat, e.span);
                Some(StatRef::Global(g))
            }
            ExprKind::Index { base, indices } => {
                let ExprKind::Var(name) = &base.kind else {
                    self.err(e.span, "expected a statistic");
                    return None;
                };
                let g = self.array_ref(name, base.span, indices.len())?;
                let keys = self.keys(g, indices, e.span, false)?;
                self.set_global_ty(g, Ty::Stat, e.span);
                Some(StatRef::Elem(g, keys))
            }
            _ => {
                self.err(
                    e.span,
                    "expected a statistic (a global or an element of a global array)",
                );
                None
            }
        }
    }

    fn const_num(&mut self, e: &Expr, what: &str) -> i64 {
        match &e.kind {
            ExprKind::Num(n) => *n,
            _ => {
                self.err(e.span, format!("{what} must be a literal number"));
                1
            }
        }
    }

    fn hist_ref(&mut self, e: &Expr) -> Option<HistRef> {
        let ExprKind::Hist { kind, arg, params } = &e.kind else {
            return None;
        };
        let stat = self.stat_ref(arg)?;
        let g = match &stat {
            StatRef::Global(g) | StatRef::Elem(g, _) => *g,
        };
        let linear = if *kind == HistKind::Linear {
            let start = self.const_num(&params[0], "@hist_linear's start");
            let stop = self.const_num(&params[1], "@hist_linear's stop");
            let interval = self.const_num(&params[2], "@hist_linear's interval");
            if interval <= 0 {
                self.err(params[2].span, "@hist_linear's interval must be positive");
                return None;
            }
            if stop <= start {
                self.err(
                    params[1].span,
                    "@hist_linear's stop must be greater than its start",
                );
                return None;
            }
            let buckets = (stop - start) / interval + 3;
            if !(3..=128).contains(&buckets) {
                self.err(
                    e.span,
                    format!("@hist_linear would have {buckets} buckets; stap allows 3 to 128"),
                );
                return None;
            }
            Some((start, stop, interval))
        } else {
            None
        };
        let spec = match linear {
            Some((start, stop, interval)) => HistSpec::Linear {
                start,
                stop,
                interval,
            },
            None => HistSpec::Log,
        };
        if !self.globals[g as usize].hists.contains(&spec) {
            self.globals[g as usize].hists.push(spec);
        }
        Some(HistRef {
            kind: *kind,
            stat,
            linear,
            span: e.span,
        })
    }

    fn regex(&mut self, pat: &str, span: Span) -> u32 {
        if let Err(e) = regex::Regex::new(pat) {
            let first = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .to_string();
            self.err(
                span,
                format!("invalid regular expression \"{pat}\": {first}"),
            );
        }
        if let Some(i) = self.regexes.iter().position(|r| r == pat) {
            return i as u32;
        }
        self.regexes.push(pat.to_string());
        (self.regexes.len() - 1) as u32
    }

    /// Evaluates `@defined(e)` at elaboration time, quietly.
    fn defined(&mut self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Target { name, path } => {
                path.is_empty() && self.target_var(name, e.span, true).is_some()
            }
            ExprKind::Var(name) => {
                self.scopes[self.scope].assigned.contains(name)
                    || self.gix.contains_key(name)
                    || self.points.iter().all(|p| {
                        context::lookup(self.family(p), name, p.syscalls.as_deref()).is_some()
                    }) && !self.points.is_empty()
            }
            ExprKind::Call { name, args } => {
                self.fix.contains_key(&(name.clone(), args.len())) || tapset::lookup(name).is_some()
            }
            ExprKind::AtOp { .. } | ExprKind::Member { .. } | ExprKind::AddrOf(_) => false,
            _ => true,
        }
    }

    /// A constant condition (`@defined(...)`, `!@defined(...)`), so dead
    /// branches that name unavailable variables are not elaborated, as in stap.
    fn const_cond(&mut self, e: &Expr) -> Option<bool> {
        match &e.kind {
            ExprKind::Defined(x) => Some(self.defined(x)),
            ExprKind::Unary {
                op: ast::UnOp::Not,
                e,
            } => self.const_cond(e).map(|b| !b),
            ExprKind::Binary {
                op: ast::BinOp::And,
                l,
                r,
                ..
            } => match (self.const_cond(l), self.const_cond(r)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            ExprKind::Binary {
                op: ast::BinOp::Or,
                l,
                r,
                ..
            } => match (self.const_cond(l), self.const_cond(r)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    fn expect(&mut self, e: &Expr, want: Ty, what: &str) -> X {
        let (x, t) = self.expr(e, want);
        if t != want && t != Ty::Unknown && want != Ty::Unknown {
            self.mismatch(e.span, t, want, what);
        }
        x
    }

    // ---- expressions ---------------------------------------------------

    fn expr(&mut self, e: &Expr, want: Ty) -> (X, Ty) {
        use ExprKind as K;
        match &e.kind {
            K::Num(n) => (X::Num(*n), Ty::Long),
            K::Str(s) => (X::Str(s.clone()), Ty::Str),
            K::Var(name) => self.var(name, e.span, want),
            K::Target { name, path } => {
                if !path.is_empty() {
                    self.err(
                        e.span,
                        format!("'{name}' with fields or indexes reads kernel memory, which a recording does not hold"),
                    );
                    return (X::Num(0), Ty::Long);
                }
                match self.target_var(name, e.span, false) {
                    Some((v, t)) => (X::Ctx(v), t),
                    None => (X::Num(0), Ty::Long),
                }
            }
            K::AddrOf(_) | K::Member { .. } => {
                self.err(
                    e.span,
                    "pointer operations read kernel memory, which a recording does not hold",
                );
                (X::Num(0), Ty::Long)
            }
            K::AtOp { name, .. } => {
                let msg = match name.as_str() {
                    "@cast" | "@var" | "@kregister" | "@uregister" | "@module_container_of"
                    | "@container_of" | "@choose_defined" | "@probewrite" | "@const" => {
                        format!("{name} is not supported: it reads kernel memory or registers, which a recording does not hold")
                    }
                    n if n.starts_with("@this") => format!("{name} (probe-local @this values) is not supported"),
                    _ => format!("unknown macro or operator '{name}' (tapset macro libraries are not loaded)"),
                };
                self.err(e.span, msg);
                (X::Num(0), want)
            }
            K::Index { base, indices } => {
                if let K::Hist { .. } = base.kind {
                    if indices.len() != 1 || indices[0].is_none() {
                        self.err(e.span, "a histogram takes one bucket index");
                        return (X::Num(0), Ty::Long);
                    }
                    let Some(h) = self.hist_ref(base) else {
                        return (X::Num(0), Ty::Long);
                    };
                    let i = self.expect(
                        indices[0].as_ref().unwrap(),
                        Ty::Long,
                        "histogram bucket index",
                    );
                    return (X::HistBucket(Box::new(h), Box::new(i)), Ty::Long);
                }
                let K::Var(name) = &base.kind else {
                    self.err(e.span, "only global arrays and histograms can be indexed");
                    return (X::Num(0), want);
                };
                let Some(g) = self.array_ref(name, base.span, indices.len()) else {
                    return (X::Num(0), want);
                };
                let Some(keys) = self.keys(g, indices, e.span, false) else {
                    return (X::Num(0), want);
                };
                if self.globals[g as usize].ty == Ty::Stat {
                    self.err(
                        e.span,
                        format!("statistic '{name}[...]' used as a value; use an extractor such as @count({name}[...])"),
                    );
                    return (X::Num(0), Ty::Long);
                }
                self.set_global_ty(g, want, e.span);
                (X::Elem(g, keys), self.globals[g as usize].ty)
            }
            K::Call { name, args } => self.call(name, args, e.span, want),
            K::Stat { op, arg, shift } => {
                if let Some(s) = shift {
                    self.const_num(s, "@variance's bit shift");
                }
                let Some(r) = self.stat_ref(arg) else {
                    return (X::Num(0), Ty::Long);
                };
                (X::Stat(*op, r, e.span), Ty::Long)
            }
            K::Hist { .. } => {
                let Some(h) = self.hist_ref(e) else {
                    return (X::Num(0), Ty::Unknown);
                };
                (X::Hist(Box::new(h)), Ty::Stat)
            }
            K::Defined(x) => (X::Num(i64::from(self.defined(x))), Ty::Long),
            K::Entry(x) => {
                let ret_probe = !self.points.is_empty()
                    && self.points.iter().all(|p| {
                        matches!(
                            p.family,
                            Family::Syscall { ret: true }
                                | Family::SyscallAny { ret: true }
                                | Family::Vfs { ret: true, .. }
                        )
                    });
                if !ret_probe {
                    self.err(e.span, "@entry is only meaningful in .return probes");
                    return (X::Num(0), want);
                }
                let saved = self.entry_mode;
                self.entry_mode = true;
                let (x, t) = self.expr(x, want);
                self.entry_mode = saved;
                (X::Entry(Box::new(x)), t)
            }
            K::Unary { op, e: x } => {
                let v = self.expect(x, Ty::Long, "operand of a unary operator");
                (X::Unary(*op, Box::new(v)), Ty::Long)
            }
            K::Incr { op, e: x } => match self.lvalue(x, Ty::Long) {
                Some((lv, t)) => {
                    if t != Ty::Long && t != Ty::Unknown {
                        self.mismatch(x.span, t, Ty::Long, "operand of ++/--");
                    }
                    (X::Incr(*op, lv, e.span), Ty::Long)
                }
                None => (X::Num(0), Ty::Long),
            },
            K::Binary { op, l, r, op_span } => self.binary(*op, l, r, *op_span),
            K::Regex { negate, l, pattern } => {
                let s = self.expect(l, Ty::Str, "left side of a regex match");
                let id = self.regex(pattern, e.span);
                (
                    X::Regex {
                        negate: *negate,
                        subject: Box::new(s),
                        regex: id,
                    },
                    Ty::Long,
                )
            }
            K::Ternary { cond, t, f } => {
                if let Some(b) = self.const_cond(cond) {
                    return if b {
                        self.expr(t, want)
                    } else {
                        self.expr(f, want)
                    };
                }
                let c = self.expect(cond, Ty::Long, "condition of ?:");
                let (tx, tt) = self.expr(t, want);
                let (fx, ft) = self.expr(f, if tt != Ty::Unknown { tt } else { want });
                let ty = if tt != Ty::Unknown { tt } else { ft };
                if tt != Ty::Unknown && ft != Ty::Unknown && tt != ft {
                    self.mismatch(f.span, ft, tt, "branches of ?:");
                }
                if tt == Ty::Unknown && ft != Ty::Unknown {
                    // Second look so the first branch learns the type.
                    let _ = self.expr(t, ft);
                }
                (X::Ternary(Box::new(c), Box::new(tx), Box::new(fx)), ty)
            }
            K::Assign { op, l, r } => self.assign(*op, l, r, e.span, want),
            K::Aggregate { l, r } => {
                let v = self.expect(r, Ty::Long, "value added to a statistic");
                let Some(sr) = self.stat_ref(l) else {
                    return (X::Num(0), Ty::Long);
                };
                (X::Aggregate(sr, Box::new(v)), Ty::Long)
            }
            K::In { keys, array } => {
                let K::Var(name) = &array.kind else {
                    self.err(array.span, "'in' needs a global array");
                    return (X::Num(0), Ty::Long);
                };
                let Some(g) = self.array_ref(name, array.span, keys.len()) else {
                    return (X::Num(0), Ty::Long);
                };
                let ks = self.keys_wild(g, keys);
                (X::In(g, ks), Ty::Long)
            }
        }
    }

    fn binary(&mut self, op: ast::BinOp, l: &Expr, r: &Expr, span: Span) -> (X, Ty) {
        use ast::BinOp as B;
        match op {
            B::And | B::Or => {
                let a = self.expect(l, Ty::Long, "operand of && / ||");
                let b = self.expect(r, Ty::Long, "operand of && / ||");
                let x = if op == B::And {
                    X::And(Box::new(a), Box::new(b))
                } else {
                    X::Or(Box::new(a), Box::new(b))
                };
                (x, Ty::Long)
            }
            B::Concat => {
                let a = self.expect(l, Ty::Str, "operand of '.'");
                let b = self.expect(r, Ty::Str, "operand of '.'");
                (X::Concat(Box::new(a), Box::new(b)), Ty::Str)
            }
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge => {
                let (mut a, mut ta) = self.expr(l, Ty::Unknown);
                let (b, tb) = self.expr(r, ta);
                if ta == Ty::Unknown && tb != Ty::Unknown {
                    let (a2, ta2) = self.expr(l, tb);
                    a = a2;
                    ta = ta2;
                }
                if ta == Ty::Stat || tb == Ty::Stat {
                    self.err(span, "statistics cannot be compared; use an extractor");
                } else if ta != Ty::Unknown && tb != Ty::Unknown && ta != tb {
                    self.mismatch(r.span, tb, ta, "operands of a comparison");
                }
                let strings = ta == Ty::Str || tb == Ty::Str;
                let cop = match op {
                    B::Eq => CmpOp::Eq,
                    B::Ne => CmpOp::Ne,
                    B::Lt => CmpOp::Lt,
                    B::Le => CmpOp::Le,
                    B::Gt => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                (X::Cmp(cop, strings, Box::new(a), Box::new(b)), Ty::Long)
            }
            _ => {
                let a = self.expect(l, Ty::Long, &format!("operand of '{}'", op.symbol()));
                let b = self.expect(r, Ty::Long, &format!("operand of '{}'", op.symbol()));
                (
                    X::Arith(arith(op), Box::new(a), Box::new(b), span),
                    Ty::Long,
                )
            }
        }
    }

    fn assign(&mut self, op: ast::AssignOp, l: &Expr, r: &Expr, span: Span, _want: Ty) -> (X, Ty) {
        match op {
            None => {
                // Learn the type from whichever side knows it.
                let lt = self.peek_type(l);
                if lt == Ty::Stat {
                    self.err(span, "use <<< to add a value to a statistic");
                    return (X::Num(0), Ty::Long);
                }
                let (rx, rt) = self.expr(r, lt);
                if rt == Ty::Stat {
                    self.err(
                        r.span,
                        "a statistic or histogram cannot be assigned; use <<< to add values",
                    );
                    return (X::Num(0), Ty::Long);
                }
                let Some((lv, lt)) = self.lvalue(l, rt) else {
                    return (X::Num(0), rt);
                };
                if lt == Ty::Stat {
                    self.err(span, "use <<< to add a value to a statistic");
                }
                if rt == Ty::Unknown && lt != Ty::Unknown {
                    let _ = self.expr(r, lt);
                }
                (
                    X::Assign(lv, None, Box::new(rx), span),
                    if lt != Ty::Unknown { lt } else { rt },
                )
            }
            Some(ast::BinOp::Concat) => {
                let rx = self.expect(r, Ty::Str, "right side of '.='");
                let Some((lv, lt)) = self.lvalue(l, Ty::Str) else {
                    return (X::Num(0), Ty::Str);
                };
                if lt != Ty::Str && lt != Ty::Unknown {
                    self.mismatch(l.span, lt, Ty::Str, "left side of '.='");
                }
                (
                    X::Assign(lv, Some(ArithOrConcat::Concat), Box::new(rx), span),
                    Ty::Str,
                )
            }
            Some(o) => {
                let rx = self.expect(r, Ty::Long, &format!("right side of '{}='", o.symbol()));
                let Some((lv, lt)) = self.lvalue(l, Ty::Long) else {
                    return (X::Num(0), Ty::Long);
                };
                if lt == Ty::Stat {
                    self.err(span, "use <<< to add a value to a statistic");
                } else if lt != Ty::Long && lt != Ty::Unknown {
                    self.mismatch(
                        l.span,
                        lt,
                        Ty::Long,
                        &format!("left side of '{}='", o.symbol()),
                    );
                }
                (
                    X::Assign(lv, Some(ArithOrConcat::Arith(arith(o))), Box::new(rx), span),
                    Ty::Long,
                )
            }
        }
    }

    /// The type an lvalue already has, without side effects.
    fn peek_type(&self, l: &Expr) -> Ty {
        match &l.kind {
            ExprKind::Var(n) => {
                if let Some(&s) = self.scopes[self.scope].ix.get(n) {
                    self.scopes[self.scope].locals[s as usize].1
                } else if let Some(&g) = self.gix.get(n) {
                    self.globals[g as usize].ty
                } else {
                    Ty::Unknown
                }
            }
            ExprKind::Index { base, .. } => match &base.kind {
                ExprKind::Var(n) => self
                    .gix
                    .get(n)
                    .map(|&g| self.globals[g as usize].ty)
                    .unwrap_or_default(),
                _ => Ty::Unknown,
            },
            _ => Ty::Unknown,
        }
    }

    fn call(&mut self, name: &str, args: &[Expr], span: Span, _want: Ty) -> (X, Ty) {
        if let Some(&f) = self.fix.get(&(name.to_string(), args.len())) {
            let mut xs = vec![];
            for (k, a) in args.iter().enumerate() {
                let pt = self.funcs[f as usize].params[k];
                let (x, t) = self.expr(a, pt);
                if t == Ty::Stat {
                    self.err(a.span, "a statistic cannot be passed to a function");
                }
                self.set_param_ty(f, k, t, a.span);
                xs.push(x);
            }
            return (X::UserCall(f, xs, span), self.funcs[f as usize].ret);
        }
        if tapset::is_print_family(name) {
            return self.print_call(name, args, span);
        }
        if let Some(sig) = tapset::lookup(name) {
            if args.len() != sig.params.len() {
                self.err(
                    span,
                    format!(
                        "function '{name}' takes {} argument(s), given {}",
                        sig.params.len(),
                        args.len()
                    ),
                );
                return (X::Num(0), sig.ret);
            }
            let mut xs = vec![];
            for (a, t) in args.iter().zip(sig.params) {
                xs.push(self.expect(a, *t, &format!("argument of {name}()")));
            }
            if matches!(
                sig.builtin,
                Builtin::Backtrace
                    | Builtin::PrintBacktrace
                    | Builtin::Ubacktrace
                    | Builtin::PrintUbacktrace
                    | Builtin::UserMode
                    | Builtin::Addr
                    | Builtin::Uaddr
            ) && !self.points.iter().all(|p| p.family == Family::Profile)
            {
                self.err(span, format!("{name}() needs a recorded stack: only timer.profile probes (CPU samples) have one"));
            }
            if is_void(sig.builtin) {
                return (X::Call(sig.builtin, xs, span), Ty::Unknown);
            }
            return (X::Call(sig.builtin, xs, span), sig.ret);
        }
        if let Some(why) = tapset::unrecorded(name) {
            self.err(span, format!("function '{name}' is not available: {why}"));
            return (X::Num(0), Ty::Unknown);
        }
        let mut cands: Vec<&str> = tapset::all_names().collect();
        cands.extend(self.funcs.iter().map(|f| f.name.as_str()));
        cands.extend([
            "print", "println", "printf", "sprintf", "sprint", "sprintln", "printd", "printdln",
            "log", "warn",
        ]);
        let hint = did_you_mean(name, cands);
        let arity = self
            .funcs
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.params.len());
        match arity {
            Some(n) => self.err(
                span,
                format!(
                    "function '{name}' takes {n} argument(s), given {}",
                    args.len()
                ),
            ),
            None => self.err(span, format!("unresolved function '{name}'{hint}")),
        }
        (X::Num(0), Ty::Unknown)
    }

    fn print_call(&mut self, name: &str, args: &[Expr], span: Span) -> (X, Ty) {
        if name == "printf" || name == "sprintf" {
            let Some(first) = args.first() else {
                self.err(span, format!("{name} needs a format string"));
                return (X::Num(0), Ty::Str);
            };
            let ExprKind::Str(fmt) = &first.kind else {
                self.err(
                    first.span,
                    format!("{name}'s format must be a literal string"),
                );
                return (X::Num(0), Ty::Str);
            };
            let f = match format::parse(fmt) {
                Ok(f) => f,
                Err(msg) => {
                    self.err(first.span, format!("invalid format string: {msg}"));
                    return (X::Num(0), Ty::Str);
                }
            };
            let types = f.arg_types();
            if types.len() != args.len() - 1 {
                self.err(
                    span,
                    format!(
                        "wrong number of args to {name}: the format takes {}, given {}",
                        types.len(),
                        args.len() - 1
                    ),
                );
            }
            if f.pieces.iter().any(|p| {
                matches!(
                    p,
                    format::Piece::Conv {
                        conv: format::Conv::Memory(_),
                        ..
                    }
                )
            }) {
                self.err(
                    first.span,
                    "%m and %M print kernel memory, which a recording does not hold",
                );
            }
            let mut xs = vec![];
            for (k, a) in args[1..].iter().enumerate() {
                let want = types.get(k).copied().unwrap_or_default();
                let (x, t) = self.expr(a, want);
                if t != want && t != Ty::Unknown && want != Ty::Unknown {
                    self.mismatch(a.span, t, want, &format!("argument {} of {name}", k + 1));
                }
                xs.push(x);
            }
            let to_string = name == "sprintf";
            return (
                X::Printf {
                    to_string,
                    fmt: f,
                    args: xs,
                    span,
                },
                if to_string { Ty::Str } else { Ty::Unknown },
            );
        }
        let kind = match name {
            "print" => PrintKind::Print,
            "println" => PrintKind::Println,
            "sprint" => PrintKind::Sprint,
            "sprintln" => PrintKind::Sprintln,
            "printd" => PrintKind::Printd,
            "printdln" => PrintKind::Printdln,
            "log" => PrintKind::Log,
            _ => PrintKind::Warn,
        };
        let min = match kind {
            PrintKind::Printd | PrintKind::Printdln => 2,
            PrintKind::Log | PrintKind::Warn => 1,
            PrintKind::Println => 0,
            _ => 1,
        };
        if args.len() < min {
            self.err(span, format!("{name} needs at least {min} argument(s)"));
        }
        if matches!(kind, PrintKind::Log | PrintKind::Warn) && args.len() != 1 {
            self.err(span, format!("{name} takes one string"));
        }
        let mut xs = vec![];
        for (k, a) in args.iter().enumerate() {
            let want = if (k == 0 && matches!(kind, PrintKind::Printd | PrintKind::Printdln))
                || matches!(kind, PrintKind::Log | PrintKind::Warn)
            {
                Ty::Str
            } else {
                Ty::Unknown
            };
            let (x, t) = self.expr(a, want);
            if want == Ty::Str && t != Ty::Str && t != Ty::Unknown {
                self.mismatch(a.span, t, Ty::Str, &format!("argument {} of {name}", k + 1));
            }
            if t == Ty::Stat && !matches!(x, X::Hist(_)) {
                self.err(
                    a.span,
                    "a statistic cannot be printed; use an extractor or @hist_*",
                );
            }
            xs.push((x, t));
        }
        let ty = if matches!(kind, PrintKind::Sprint | PrintKind::Sprintln) {
            Ty::Str
        } else {
            Ty::Unknown
        };
        (X::Print { kind, args: xs }, ty)
    }

    // ---- statements ----------------------------------------------------

    fn block(&mut self, b: &ast::Block) -> Vec<S> {
        b.stmts.iter().map(|s| self.stmt(s)).collect()
    }

    fn stmt(&mut self, s: &Stmt) -> S {
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

    fn delete(&mut self, e: &Expr) -> S {
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

    fn foreach(&mut self, f: &ast::Foreach, span: Span) -> S {
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

/// Refines a symbol's type with what a use says: Ok(true) when it learned
/// one, Err(old) when the use conflicts with what it already had.
fn refine(cur: &mut Ty, t: Ty) -> Result<bool, Ty> {
    if t == Ty::Unknown || *cur == t {
        Ok(false)
    } else if *cur == Ty::Unknown {
        *cur = t;
        Ok(true)
    } else {
        Err(*cur)
    }
}

fn arith(op: ast::BinOp) -> ArithOp {
    use ast::BinOp as B;
    match op {
        B::Add => ArithOp::Add,
        B::Sub => ArithOp::Sub,
        B::Mul => ArithOp::Mul,
        B::Div => ArithOp::Div,
        B::Mod => ArithOp::Mod,
        B::Shl => ArithOp::Shl,
        B::Shr => ArithOp::Shr,
        B::BitAnd => ArithOp::And,
        B::BitOr => ArithOp::Or,
        _ => ArithOp::Xor,
    }
}

/// Reads a probe point from text (a brace alternative).
fn parse_point(text: &str) -> Option<ast::ProbePoint> {
    let src = format!("probe {text} {{}}");
    let mut diags = vec![];
    let toks = crate::stap::lexer::lex(0, &src, &mut diags);
    let (script, d) = crate::stap::parser::parse_tokens(&toks, Span::default());
    if !diags.is_empty() || !d.is_empty() {
        return None;
    }
    match script.items.into_iter().next() {
        Some(ast::Item::Probe(p)) => p.points.into_iter().next(),
        _ => None,
    }
}
