//! The elaborator: resolves every name (local, global, context column,
//! tapset or user function), infers types to a fixpoint, expands probe
//! aliases and braces, and lowers the tree to the IR. Types are found by
//! lowering repeatedly without reporting until no symbol's type changes,
//! then once more reporting; one walker therefore both infers and lowers.
//!
//! One file per step: `points.rs` (declarations, probe points: alias and
//! brace expansion), `assigned.rs` (which names a body assigns: its
//! locals), `symbols.rs` (name resolution and type inference), `expr.rs`
//! and `stmt.rs` (lowering), this file (the fixpoint driving them, and the
//! read/written marks from the IR's one walk).

use std::collections::{HashMap, HashSet};

use retap_schema::names::distance;
use retap_schema::Table;

use crate::stap::ast::{self, Expr};
use crate::stap::source::{Diagnostic, Span};

use super::catalog::{Catalog, Procfs, ResolvedPoint, UserProbes};
use super::ir::*;
use super::tapset::Builtin;

mod assigned;
mod expr;
mod points;
mod stmt;
mod symbols;

use assigned::collect_assigned_block;

/// The names a body assigns (its locals unless they are globals or
/// context variables), added to `out`.
pub(crate) fn collect_assigned(b: &ast::Block, out: &mut HashSet<String>) {
    collect_assigned_block(b, out)
}

/// What pass 2 knows about the recording (or the host, without one).
pub struct ElabOptions<'a> {
    pub arch: String,
    /// syscall name → [(C type, argument name)] from the trace.
    pub signatures: Option<&'a std::collections::BTreeMap<String, Vec<(String, String)>>>,
    /// Tables the trace holds (None: no trace given, nothing to check).
    pub tables: Option<Vec<Table>>,
    /// The trace holds syscalls' file-name arguments (`path`, `path2`).
    pub syscall_strings: bool,
    /// The trace holds syscalls' socket addresses (`sockaddr`).
    pub socket_addresses: bool,
    /// Where `process(...)` points find their probes.
    pub user_probes: UserProbes,
    /// The recorded kernel's HZ (the manifest's), for timer.jiffies.
    pub hz: Option<u32>,
}

impl ElabOptions<'_> {
    /// Elaboration with neither a trace nor the running kernel: what a
    /// recording must hold is not checked (user-space points still need
    /// one).
    pub fn no_trace(arch: &str) -> ElabOptions<'static> {
        ElabOptions {
            arch: arch.to_string(),
            signatures: None,
            tables: None,
            syscall_strings: false,
            socket_addresses: false,
            user_probes: UserProbes::Unavailable,
            hz: None,
        }
    }
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
    /// In a procfs read probe: its file (`$value` is its buffer).
    procfs: Option<Procfs>,
    /// In a probe whose alias assigns a task argument to a variable
    /// (`task = $p`): variable → target, for the task functions.
    task_aliases: HashMap<String, String>,
    /// Lowering a library alias's body, whose assignments may shadow the
    /// context variables of the point under it (stap's tapset aliases set
    /// `name` over syscall aliases that set it too).
    in_alias_body: bool,
    /// In a user-space probe: the string it reads (argument N, 0 the
    /// return value) and where first, since a recording keeps one per
    /// firing.
    uprobe_string: Option<(u8, Span)>,
    /// The same for the 8 bytes `user_long()` and kin read.
    uprobe_word: Option<(u8, Span)>,
}

/// A probe after alias expansion: the points it fires on and the body
/// (alias prologues, the probe's own body, alias epilogues).
struct Expanded<'s> {
    points: Vec<ResolvedPoint>,
    conditions: Vec<Option<&'s Expr>>,
    bodies: Vec<&'s ast::Block>,
    /// Which of `bodies` is the probe's own (the others are its aliases').
    own: usize,
    span: Span,
    text: String,
}

/// How a probe's bodies use each variable name.
#[derive(Default)]
struct Uses {
    /// Every occurrence (an assignment's target too: the walk visits it
    /// as the assignment's child).
    seen: u32,
    /// Occurrences that do not read its value: a plain `=`'s target, a
    /// task function's argument (read through the recorded fields at a
    /// tracepoint, Elab::task_call_at_tracepoint).
    not_read: u32,
    /// Assignments of any kind (`=`, `+=`, ...).
    assigned: u32,
}

fn var_uses<'b>(bodies: &[&'b ast::Block]) -> HashMap<&'b str, Uses> {
    use crate::stap::ast::ExprKind;
    let mut uses: HashMap<&str, Uses> = HashMap::new();
    for b in bodies {
        b.walk_exprs(&mut |e| match &e.kind {
            ExprKind::Var(n) => uses.entry(n).or_default().seen += 1,
            ExprKind::Call { name, args } if name.starts_with("task_") && args.len() == 1 => {
                if let ExprKind::Var(n) = &args[0].kind {
                    uses.entry(n).or_default().not_read += 1;
                }
            }
            ExprKind::Assign { l, op, .. } => {
                if let ExprKind::Var(n) = &l.kind {
                    let u = uses.entry(n).or_default();
                    u.assigned += 1;
                    if op.is_none() {
                        u.not_read += 1;
                    }
                }
            }
            _ => {}
        });
    }
    uses
}

/// Names a probe's bodies read the value of.
fn names_read(uses: &HashMap<&str, Uses>) -> HashSet<String> {
    uses.iter()
        .filter(|(_, u)| u.seen > u.not_read)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// Variables an alias body sets, once, to a bare target (`task = $p`).
fn target_aliases(
    bodies: &[&ast::Block],
    own: usize,
    uses: &HashMap<&str, Uses>,
) -> HashMap<String, String> {
    use crate::stap::ast::ExprKind;
    let mut out: HashMap<String, String> = HashMap::new();
    for (k, b) in bodies.iter().enumerate() {
        if k == own {
            continue;
        }
        for s in &b.stmts {
            if let ast::StmtKind::Expr(e) = &s.kind {
                if let ExprKind::Assign { l, r, op: None } = &e.kind {
                    if let (ExprKind::Var(n), ExprKind::Target { name, path }) = (&l.kind, &r.kind)
                    {
                        let once = uses.get(n.as_str()).is_some_and(|u| u.assigned == 1);
                        if path.is_empty() && once {
                            out.insert(n.clone(), name.clone());
                        }
                    }
                }
            }
        }
    }
    out
}

/// `x = e` as a statement, where nothing reads `x` and `e` calls nothing
/// (so dropping it changes no output).
fn unread_assignment(s: &ast::Stmt, read: &HashSet<String>) -> bool {
    use crate::stap::ast::ExprKind;
    let ast::StmtKind::Expr(e) = &s.kind else {
        return false;
    };
    let ExprKind::Assign { l, r, op: None } = &e.kind else {
        return false;
    };
    let ExprKind::Var(n) = &l.kind else {
        return false;
    };
    // A call may act (print, count), so it stays; but for calls of what no
    // recording can answer (stap's pure readers of kernel memory), which
    // stap elides as it does any pure expression.
    let mut calls = false;
    r.walk(&mut |x| {
        if let ExprKind::Call { name, .. } = &x.kind {
            calls |= crate::stap::elaborate::tapset::unrecorded(name).is_none();
        }
    });
    !read.contains(n) && !calls
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
        catalog: Catalog::new(&opts.arch, opts.tables.as_deref(), opts.user_probes.clone())
            .with_hz(opts.hz),
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
        procfs: None,
        uprobe_string: None,
        uprobe_word: None,
        task_aliases: HashMap::new(),
        in_alias_body: false,
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
    // stap elides (and warns of) functions first, then variables.
    warn_unused_functions(&mut el, &functions, &program);
    el.check_unresolved(&functions);
    program.globals = std::mem::take(&mut el.globals);
    program.regexes = std::mem::take(&mut el.regexes);
    (program, el.diags, el.warnings)
}

/// stap elides functions no probe reaches, and says so for the script's
/// own (a library's unused functions are the normal case, not news).
fn warn_unused_functions(el: &mut Elab, functions: &[&ast::Function], program: &Program) {
    let mut reached: HashSet<u32> = HashSet::new();
    let mut todo: Vec<u32> = vec![];
    let calls = |stmts: &[S], todo: &mut Vec<u32>| {
        for_each_expr(stmts, &mut |x| {
            if let X::UserCall(f, ..) = x {
                todo.push(*f);
            }
        })
    };
    for p in &program.probes {
        calls(&p.body, &mut todo);
        for rp in &p.points {
            if let Some(c) = &rp.condition {
                calls(&[S::Expr(c.clone())], &mut todo);
            }
        }
    }
    while let Some(f) = todo.pop() {
        if reached.insert(f) {
            if let Some(func) = program.functions.get(f as usize) {
                calls(&func.body, &mut todo);
            }
        }
    }
    for (fid, func) in program.functions.iter().enumerate() {
        if reached.contains(&(fid as u32)) {
            continue;
        }
        let Some(f) = functions.iter().find(|f| f.name.name == func.name) else {
            continue;
        };
        if f.name.span.file == 0 {
            el.warn(
                f.name.span,
                format!("Eliding unused function '{0}': identifier '{0}'", func.name),
            );
        }
    }
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

impl<'a> Elab<'a> {
    pub(super) fn err(&mut self, span: Span, msg: impl Into<String>) {
        if self.report {
            self.diags.push(Diagnostic::semantic(msg, span));
        }
    }

    pub(super) fn warn(&mut self, span: Span, msg: impl Into<String>) {
        if self.report {
            self.warnings.push(Diagnostic::warning(msg, span));
        }
    }

    // ---- lowering ------------------------------------------------------

    pub(super) fn lower_all(
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
            // A library function's own variables stay its own when the
            // script has a global of that name (a script's `global s` is
            // no business of signal_str's `s`): made locals before the
            // body is read, so the global is never found for them.
            if f.name.span.file != 0 {
                let mut names: Vec<String> = self.scopes[self.scope]
                    .assigned
                    .iter()
                    .filter(|n| {
                        self.gix
                            .get(*n)
                            .is_some_and(|g| !self.globals[*g as usize].library)
                    })
                    .cloned()
                    .collect();
                names.sort();
                for n in names {
                    self.local(&n, Ty::Unknown);
                }
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
        // With more than one procfs file, each dump says which it is.
        let mut files: Vec<&str> = probes
            .iter()
            .flat_map(|p| p.points.iter().filter_map(|rp| rp.procfs.as_ref()))
            .map(|f| f.file.as_str())
            .collect();
        files.sort();
        files.dedup();
        let headed = files.len() > 1;
        for (i, p) in probes.iter().enumerate() {
            self.scope = functions.len() + i;
            self.points = p.points.clone();
            self.probe_text = p.text.clone();
            self.uprobe_string = None;
            self.uprobe_word = None;
            self.in_func = None;
            self.loops = 0;
            let mut points = p.points.clone();
            for (k, c) in p.conditions.iter().enumerate() {
                if let Some(c) = c {
                    let x = self.expect(c, Ty::Long, "probe condition");
                    points[k].condition = Some(x);
                }
            }
            // One point per expanded probe: a procfs point's probe is its own.
            self.procfs = p.points.first().and_then(|rp| rp.procfs.clone());
            let mut body = vec![];
            if let Some(f) = &self.procfs {
                let cap = X::Num(f.maxsize.unwrap_or(0));
                body.push(S::Expr(X::Call(Builtin::ProcfsOpen, vec![cap], p.span)));
            }
            let uses = var_uses(&p.bodies);
            let read = names_read(&uses);
            self.task_aliases = target_aliases(&p.bodies, p.own, &uses);
            for (k, b) in p.bodies.iter().enumerate() {
                if k == p.own {
                    body.push(S::Block(self.block(b)));
                } else {
                    // As stap elides an alias's assignments to variables
                    // nothing reads: a library alias may then offer a
                    // variable the recording cannot serve, refused only
                    // when a script reads it.
                    let kept: Vec<&ast::Stmt> = b
                        .stmts
                        .iter()
                        .filter(|s| !unread_assignment(s, &read))
                        .collect();
                    self.in_alias_body = true;
                    body.push(S::Block(kept.into_iter().map(|s| self.stmt(s)).collect()));
                    self.in_alias_body = false;
                }
            }
            if let Some(f) = self.procfs.take() {
                let mut args = vec![];
                if headed {
                    args.push((X::Str(format!("==> procfs(\"{}\") <==\n", f.file)), Ty::Str));
                }
                args.push((X::Call(Builtin::ProcfsValue, vec![], p.span), Ty::Str));
                body.push(S::Expr(X::Print {
                    kind: PrintKind::Print,
                    args,
                }));
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

    pub(super) fn check_unresolved(&mut self, functions: &[&ast::Function]) {
        let _ = functions;
        self.report = true;
        let unused: Vec<(String, Span)> = self
            .globals
            .iter()
            .filter(|g| !g.read && !g.written)
            .map(|g| (g.name.clone(), g.span))
            .collect();
        for (name, span) in unused {
            self.warn(
                span,
                format!("Eliding unused variable '{name}': identifier '{name}'"),
            );
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
}
