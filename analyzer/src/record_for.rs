//! `retap record --for script.stp`: what a recording must hold for one
//! script. Passes 1-2 run against the running kernel (its tracepoints and
//! syscall signatures, every table recordable), then the elaborated
//! program says which tables, syscalls, tracepoints, stacks and file
//! names its probes read; the CLI turns that into the recorder's options.
//! Everything is decided from the program pass 2 produced, so a recording
//! made for a script holds whatever that script reads over a full one.

use std::collections::BTreeSet;

use retap_schema::signatures::Signatures;
use retap_schema::{Table, TracepointFormat, Uprobe};

use crate::run::{self, RunFailure, RunRequest};
use crate::stap::elaborate::catalog::{Family, ResolvedPoint, UserProbes};
use crate::stap::elaborate::context::CtxVar;
use crate::stap::elaborate::ir::{Probe, Program, X};
use crate::stap::elaborate::syscall_args::{self, Alias, Expr};
use crate::stap::elaborate::tapset::Builtin;
use crate::stap::elaborate::walk::{walk_expr, walk_probe, walk_stmts, Visit};
use crate::stap::elaborate::ElabOptions;
use crate::stap::source::{render_all, Diagnostic};

/// The running kernel as pass 2 sees it for `--for`.
pub struct Kernel {
    /// Every tracepoint whose format could be read, each able to carry a
    /// stack (the recorder records one where the script reads it).
    pub tracepoints: Vec<&'static TracepointFormat>,
    pub signatures: Signatures,
    /// `-c`'s program, which `process.function(...)` without a path probes.
    pub target_program: Option<String>,
    /// Its CONFIG_HZ (schema's `kernel_config`), for timer.jiffies.
    pub hz: Option<u32>,
}

/// What a recording made for the script holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Needs {
    /// Fixed tables (syscalls, processes, ...), in the schema's order.
    pub tables: Vec<Table>,
    /// Tracepoints recorded by name, as `system:event`.
    pub tracepoints: Vec<String>,
    /// Those of them whose kernel stack the script reads.
    pub stacks: Vec<String>,
    /// The syscalls the syscall probes fire on (kernel names); None: all.
    pub syscalls: Option<Vec<String>>,
    /// Whether a probe reads a syscall's file names (else none are kept).
    pub file_names: bool,
    /// Whether a probe fires when a syscall returns (live runs without
    /// one need syscalls only as they are entered).
    pub syscall_returns: bool,
    /// Live: probes the kernel counts instead (`--count FIELDS:SYSCALLS`).
    pub counts: Vec<String>,
    /// User-space probes, each with the string its probe reads.
    pub uprobes: Vec<Uprobe>,
    /// Why each choice was made, for `-v`.
    pub reasons: Vec<String>,
}

impl Needs {
    /// The recorder options that take exactly this (besides the user's own:
    /// -o, -c, -x, --duration, ...).
    pub fn recorder_args(&self) -> Vec<String> {
        let mut a = vec![];
        let mut events: Vec<&str> = self.tables.iter().map(|t| t.name()).collect();
        if events.is_empty() && self.tracepoints.is_empty() {
            // A recording holds at least one table; the process table is
            // the smallest, and gives the run its time range.
            events.push(Table::Processes.name());
        }
        a.push(format!("--events={}", events.join(",")));
        if !self.tracepoints.is_empty() {
            a.push(format!("--tracepoints={}", self.tracepoints.join(",")));
        }
        if !self.stacks.is_empty() {
            a.push(format!("--stacks={}", self.stacks.join(",")));
        }
        if let Some(s) = &self.syscalls {
            a.push(format!("--syscalls={}", s.join(",")));
        }
        for c in &self.counts {
            a.push(format!("--count={c}"));
        }
        for u in &self.uprobes {
            a.push(format!("--uprobe={}", u.spec()));
        }
        if self.tables.contains(&Table::Syscalls) && !self.file_names {
            a.push("--string-max=0".into());
        }
        a
    }
}

/// Passes 1-2 of `req`'s script against the running kernel, then what it
/// needs recorded. Errors are rendered as `retap run` renders them
/// (location and caret), including probes this kernel cannot record.
/// `refused` says why this kernel cannot record a fixed table the script
/// needs (vfs without kprobes or fentry), or None; it is asked only of
/// tables the script reads.
pub fn plan(
    req: &RunRequest,
    kernel: &Kernel,
    refused: &mut dyn FnMut(Table) -> Option<String>,
    notes: &mut dyn FnMut(run::Note),
) -> Result<Needs, RunFailure> {
    let (program, map) = run::front_on_host(req, &kernel_options(kernel), notes)?;
    let needs = needs(&program);
    let mut diags = vec![];
    for t in &needs.tables {
        let Some(why) = refused(*t) else { continue };
        for p in &program.probes {
            if let Some(pt) = p.points.iter().find(|pt| pt.table() == Some(*t)) {
                diags.push(Diagnostic::semantic(
                    format!("{} cannot be recorded on this kernel: {why}", pt.text),
                    p.span,
                ));
            }
        }
    }
    if diags.is_empty() {
        Ok(needs)
    } else {
        Err(RunFailure::new(render_all(&diags, &map)))
    }
}

/// Pass 2's view of the running kernel: every table it can record.
pub fn kernel_options(kernel: &Kernel) -> ElabOptions<'_> {
    let mut tables: Vec<Table> = Table::ALL.to_vec();
    tables.extend(kernel.tracepoints.iter().map(|f| Table::Tracepoint(f)));
    ElabOptions {
        arch: std::env::consts::ARCH.to_string(),
        signatures: Some(&kernel.signatures),
        tables: Some(tables),
        syscall_strings: true,
        socket_addresses: true,
        user_probes: UserProbes::Host {
            target: kernel.target_program.clone(),
        },
        hz: kernel.hz,
    }
}

/// What `program` reads from a recording.
pub fn needs(program: &Program) -> Needs {
    needs_except(program, &BTreeSet::new())
}

/// What `program` reads from a recording besides the probes in `skip`
/// (counted in the kernel, live).
pub fn needs_except(program: &Program, skip: &BTreeSet<usize>) -> Needs {
    let mut n = Needs::default();
    let mut tables: BTreeSet<Table> = BTreeSet::new();
    let mut tracepoints: BTreeSet<String> = BTreeSet::new();
    let mut stacks: BTreeSet<String> = BTreeSet::new();
    let mut syscalls: Option<BTreeSet<String>> = Some(BTreeSet::new());
    let function_reads_stack = program.functions.iter().any(|f| {
        let mut found = false;
        walk_stmts(&mut Exprs(&mut |x| found |= reads_stack(x)), &f.body);
        found
    });
    for (pi, p) in program.probes.iter().enumerate() {
        if skip.contains(&pi) {
            continue;
        }
        let mut stack = function_reads_stack;
        let mut ustack = program.functions.iter().any(|f| {
            let mut found = false;
            walk_stmts(&mut Exprs(&mut |x| found |= reads_user_stack(x)), &f.body);
            found
        });
        let (mut string, mut word) = (None, None);
        walk_probe(
            &mut Exprs(&mut |x| {
                stack |= reads_stack(x);
                ustack |= reads_user_stack(x);
                match x {
                    X::Call(Builtin::UprobeString, args, _) => {
                        if let Some(X::Num(w)) = args.first() {
                            string = Some(*w as u8);
                        }
                    }
                    X::Call(Builtin::UprobeWord, args, _) => {
                        if let Some(X::Num(w)) = args.first() {
                            word = Some(*w as u8);
                        }
                    }
                    _ => {}
                }
            }),
            p,
        );
        for pt in &p.points {
            if let Some(u) = &pt.uprobe {
                let u = Uprobe {
                    string,
                    word,
                    stack: ustack,
                    ..u.clone()
                };
                if !n.uprobes.contains(&u) {
                    n.reasons.push(format!(
                        "user-space probe {}{}",
                        u.probe(),
                        match string {
                            None => String::new(),
                            Some(0) => " with the string its return value points to".into(),
                            Some(w) => format!(" with the string argument {w} points to"),
                        } + match word {
                            None => "",
                            Some(_) => " and the 8 bytes a user_long() reads",
                        } + if ustack { " and the user stack" } else { "" }
                    ));
                    n.uprobes.push(u);
                }
            }
            match pt.family {
                Family::Tracepoint(f) => {
                    let name = format!("{}:{}", f.system, f.event);
                    if tracepoints.insert(name.clone()) {
                        n.reasons
                            .push(format!("tracepoint {name}: probe {}", pt.text));
                    }
                    if stack && stacks.insert(name.clone()) {
                        n.reasons.push(format!(
                            "kernel stacks at {name}: probe {} reads its stack",
                            pt.text
                        ));
                    }
                }
                family => {
                    let Some(t) = family.table() else { continue };
                    if tables.insert(t) {
                        n.reasons
                            .push(format!("table {}: probe {}", t.name(), pt.text));
                    }
                    if t == Table::Syscalls {
                        n.syscall_returns |= pt.family.fires_at_return();
                        take_syscalls(&mut syscalls, pt, &mut n.reasons);
                        if !n.file_names && reads_file_names(p, pt) {
                            n.file_names = true;
                            n.reasons
                                .push(format!("file names: probe {} reads them", pt.text));
                        }
                    }
                }
            }
        }
    }
    if program.reads_process_tree() && tables.insert(Table::Processes) {
        n.reasons.push(
            "table processes: the script asks of a task's parent, command line or process".into(),
        );
    }
    if tables.contains(&Table::Syscalls) {
        n.syscalls = syscalls.map(|s| s.into_iter().collect());
        if !n.file_names {
            n.reasons
                .push("no file names: no probe reads a syscall's file name".into());
        }
    }
    n.tables = tables.into_iter().collect();
    n.tracepoints = tracepoints.into_iter().collect();
    n.stacks = stacks.into_iter().collect();
    n
}

/// Calls the closure on every expression walked.
struct Exprs<'a>(&'a mut dyn FnMut(&X));

impl Visit for Exprs<'_> {
    fn expr(&mut self, x: &X) {
        (self.0)(x);
        walk_expr(self, x)
    }
}

fn reads_stack(x: &X) -> bool {
    matches!(x, X::Call(b, _, _) if b.reads_stack())
}

fn reads_user_stack(x: &X) -> bool {
    matches!(x, X::Call(b, _, _) if b.reads_user_stack())
}

/// Adds a syscall point's syscalls to the set (None once a point takes
/// every syscall).
fn take_syscalls(
    set: &mut Option<BTreeSet<String>>,
    pt: &ResolvedPoint,
    reasons: &mut Vec<String>,
) {
    match (&pt.syscalls, set.as_mut()) {
        (None, Some(_)) => {
            *set = None;
            reasons.push(format!("every syscall: probe {}", pt.text));
        }
        (Some(names), Some(s)) => {
            let before = s.len();
            s.extend(names.iter().cloned());
            if s.len() > before {
                let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
                let more = names.len().saturating_sub(shown.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                reasons.push(format!(
                    "syscalls {}{more}: probe {}",
                    shown.join(","),
                    pt.text
                ));
            }
        }
        (_, None) => {}
    }
}

/// Whether probe `p` reads a file name of a syscall `pt` serves: a tapset
/// variable or argstr derived from one, or `user_string` of one.
fn reads_file_names(p: &Probe, pt: &ResolvedPoint) -> bool {
    let aliases: Vec<&Alias> = match &pt.syscalls {
        Some(names) => names
            .iter()
            .filter_map(|s| syscall_args::of_syscall(s))
            .collect(),
        None => syscall_args::tapset().aliases.iter().collect(),
    };
    let mut found = false;
    walk_probe(
        &mut Exprs(&mut |x| {
            found |= match x {
                X::Ctx(CtxVar::SyscallStringAt(_)) => true,
                X::Ctx(CtxVar::Argstr) => aliases.iter().any(|a| {
                    a.argstr
                        .iter()
                        .flat_map(|f| &f.args)
                        .any(|e| uses_path(a, e))
                }),
                X::Ctx(CtxVar::SyscallVar(v)) => aliases
                    .iter()
                    .any(|a| a.var(v).is_some_and(|(_, var)| uses_path(a, &var.expr))),
                _ => false,
            }
        }),
        p,
    );
    found
}

/// Whether `e` is, or is derived from, a file name in user memory.
fn uses_path(a: &Alias, e: &Expr) -> bool {
    let var = |i: usize| a.vars.get(i).is_some_and(|v| uses_path(a, &v.expr));
    match e {
        Expr::Path { .. } => true,
        Expr::Var(i) => var(*i),
        Expr::Decode { of, more, .. } => var(*of) || more.iter().any(|i| var(*i)),
        Expr::User { of, .. } => var(*of),
        Expr::Reg { .. }
        | Expr::UserAt { .. }
        | Expr::Addr { .. }
        | Expr::Const(_)
        | Expr::Text(_) => false,
    }
}
