//! Names to slots, globals, context columns and target variables, and the
//! types each use teaches (refined to a fixpoint, conflicts reported).

use crate::stap::ast::{self, Expr, ExprKind, HistKind};
use crate::stap::source::Span;

use super::*;
use crate::stap::elaborate::catalog::{Family, ResolvedPoint, UserProbes};
use crate::stap::elaborate::context::{self, CtxVar};
use crate::stap::elaborate::tapset;

impl<'a> Elab<'a> {
    // ---- symbols -------------------------------------------------------

    pub(super) fn local(&mut self, name: &str, want: Ty) -> u32 {
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

    pub(super) fn mismatch(&mut self, span: Span, have: Ty, want: Ty, who: &str) {
        self.err(span, format!("type mismatch ({want} vs. {have}): {who}"));
    }

    pub(super) fn set_local_ty(&mut self, slot: u32, t: Ty, span: Span) {
        let (name, cur) = &mut self.scopes[self.scope].locals[slot as usize];
        match refine(cur, t) {
            Ok(c) => self.changed |= c,
            Err(old) => {
                let who = format!("local '{name}'");
                self.mismatch(span, t, old, &who);
            }
        }
    }

    pub(super) fn set_global_ty(&mut self, g: u32, t: Ty, span: Span) {
        let info = &mut self.globals[g as usize];
        match refine(&mut info.ty, t) {
            Ok(c) => self.changed |= c,
            Err(old) => {
                let who = format!("global '{}'", info.name);
                self.mismatch(span, t, old, &who);
            }
        }
    }

    pub(super) fn set_param_ty(&mut self, f: u32, k: usize, t: Ty, span: Span) {
        let sig = &mut self.funcs[f as usize];
        match refine(&mut sig.params[k], t) {
            Ok(c) => self.changed |= c,
            Err(old) => {
                let who = format!("parameter {} of '{}'", k + 1, sig.name);
                self.mismatch(span, t, old, &who);
            }
        }
    }

    pub(super) fn set_ret_ty(&mut self, f: u32, t: Ty, span: Span) {
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
    pub(super) fn array_global(&mut self, g: u32, n: usize, span: Span) -> bool {
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

    pub(super) fn set_key_ty(&mut self, g: u32, k: usize, t: Ty, span: Span) {
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

    pub(super) fn global_is_array(&self, g: u32) -> bool {
        self.globals[g as usize].keys.is_some()
    }

    pub(super) fn ctx_names(&self) -> Vec<&'static str> {
        let mut v = vec![];
        for p in &self.points {
            v.extend(context::names(self.family(p)));
        }
        v
    }

    pub(super) fn family(&self, p: &ResolvedPoint) -> Family {
        match (self.entry_mode, p.family) {
            (true, Family::Syscall { .. }) => Family::Syscall { ret: false },
            (true, Family::SyscallAny { .. }) => Family::SyscallAny { ret: false },
            (true, Family::Vfs { write, .. }) => Family::Vfs { write, ret: false },
            (_, f) => f,
        }
    }

    /// A context variable every point of the current probe provides.
    pub(super) fn ctx(&mut self, name: &str, span: Span) -> Option<(CtxVar, Ty)> {
        if self.points.is_empty() {
            return None;
        }
        let mut found: Option<(CtxVar, Ty)> = None;
        let mut missing = vec![];
        for p in self.points.clone() {
            let recorded = |s: &str, i: usize| self.recorded_string(s, i);
            match context::lookup(
                self.family(&p),
                name,
                &p.text,
                p.syscalls.as_deref(),
                &recorded,
                self.opts.socket_addresses,
            ) {
                Some(v) => {
                    if matches!(v.0, CtxVar::Argstr | CtxVar::SyscallVar(_)) {
                        if let Some(why) = context::without_alias(p.syscalls.as_deref()) {
                            self.err(span, format!("'{name}' is not available: {why}"));
                        }
                    }
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

    /// `user_string($filename)` (and `_n`, `_quoted`) at a syscall entry
    /// whose file name the trace recorded: that string (cut to n bytes, or
    /// quoted as stap quotes it).
    pub(super) fn user_string_recorded(&mut self, name: &str, args: &[Expr]) -> Option<(X, Ty)> {
        if !matches!(
            name,
            "user_string" | "user_string_n" | "user_string_quoted" | "user_string2"
        ) || args.is_empty()
        {
            return None;
        }
        let ExprKind::Target { name: var, path } = &args[0].kind else {
            return None;
        };
        let [p] = self.points.as_slice() else {
            return None;
        };
        let (Family::Syscall { ret: false }, Some(sigs)) = (self.family(p), self.opts.signatures)
        else {
            return None;
        };
        if !path.is_empty() {
            return None;
        }
        let bare = var.trim_start_matches('$');
        let list: Vec<String> = p.syscalls.clone()?;
        // The same register in every syscall of the point, and recorded.
        let mut reg = None;
        for s in &list {
            let (i, _) = crate::trace::Trace::kernel_arg(sigs, s, bare)?;
            if reg.is_some_and(|r| r != i) || !self.recorded_string(s, i) {
                return None;
            }
            reg = Some(i);
        }
        let text = X::Ctx(CtxVar::SyscallStringAt(reg?));
        self.user_string_form(name, args, text, args[0].span)
    }

    /// `user_string` and kin of a string the recording holds (`text`): the
    /// string, cut to n bytes (`_n`), or quoted as stap quotes it
    /// (`_quoted`). None for another name or arity.
    fn user_string_form(
        &mut self,
        name: &str,
        args: &[Expr],
        text: X,
        span: Span,
    ) -> Option<(X, Ty)> {
        Some(match (name, args.len()) {
            ("user_string_n", 2) => {
                let n = self.expect(&args[1], Ty::Long, "user_string_n length");
                (
                    X::Call(Builtin::Substr, vec![text, X::Num(0), n], span),
                    Ty::Str,
                )
            }
            ("user_string_quoted", 1) => (
                X::Call(Builtin::TextStrn, vec![text, X::Num(0), X::Num(1)], span),
                Ty::Str,
            ),
            ("user_string", 1) | ("user_string2", 2) => (text, Ty::Str),
            _ => return None,
        })
    }

    /// Which memory a user-space probe's `user_string(E)` or `user_long(E)`
    /// reads: E is `pointer_arg(N)` (or ulong_arg, long_arg, ..., or a
    /// pointer parameter by name) at a function, `$argN` at a mark,
    /// `$return` (or `returnval()`) at a return. None when E is none of
    /// these or the probe is not a user-space one.
    fn uprobe_selector(&mut self, arg: &Expr) -> Option<u8> {
        let fams: Vec<Family> = self.points.iter().map(|p| self.family(p)).collect();
        let all = |want: fn(Family) -> bool| !fams.is_empty() && fams.iter().all(|f| want(*f));
        if !all(|f| matches!(f, Family::Uprobe { .. })) {
            return None;
        }
        let ret = all(|f| matches!(f, Family::Uprobe { ret: true, .. }));
        let mark = all(|f| matches!(f, Family::Uprobe { mark: true, .. }));
        Some(match &arg.kind {
            ExprKind::Target { name: v, path } if path.is_empty() && v == "$return" && ret => 0,
            ExprKind::Target { name: v, path } if path.is_empty() && mark => v
                .strip_prefix("$arg")?
                .parse()
                .ok()
                .filter(|n| (1..=6).contains(n))?,
            ExprKind::Call { name: f, args: a } if f == "returnval" && a.is_empty() && ret => 0,
            // A parameter by name (debug info): the register it is in.
            ExprKind::Target { name: v, path }
                if path.is_empty() && !mark && !v.starts_with("$$") =>
            {
                let u = self.points.first()?.uprobe.clone()?;
                self.catalog
                    .uprobe_param(&u, v.trim_start_matches('$'))
                    .ok()
                    .filter(|r| r.size == 8)?
                    .reg
                    + 1
            }
            ExprKind::Call { name: f, args: a }
                if !mark
                    && a.len() == 1
                    && matches!(
                        f.as_str(),
                        "pointer_arg"
                            | "ulong_arg"
                            | "long_arg"
                            | "u64_arg"
                            | "s64_arg"
                            | "ulonglong_arg"
                            | "longlong_arg"
                    ) =>
            {
                match a[0].kind {
                    ExprKind::Num(n @ 1..=6) => n as u8,
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    /// Notes that the current probe reads the memory `which` selects as a
    /// string (`word` false) or a word, checking that a recording keeps
    /// one of each per firing and, over a trace, that it kept this one.
    fn uprobe_memory_read(&mut self, which: u8, word: bool, span: Span) {
        let what = |w: u8| {
            if w == retap_schema::uprobes::STRING_OF_RETURN {
                "the return value".to_string()
            } else {
                format!("argument {w}")
            }
        };
        let kind = if word { "value" } else { "string" };
        let seen = if word {
            &mut self.uprobe_word
        } else {
            &mut self.uprobe_string
        };
        match *seen {
            Some((w, _)) if w != which => {
                let msg = format!(
                    "a user-space probe's recording keeps one {kind} per firing: this probe \
                     already reads the {kind} at {}, not the one at {}",
                    what(w),
                    what(which)
                );
                self.err(span, msg);
            }
            Some(_) => {}
            None => *seen = Some((which, span)),
        }
        if matches!(self.opts.user_probes, UserProbes::Recorded(_)) {
            for p in self.points.clone() {
                let kept = p
                    .uprobe
                    .as_ref()
                    .and_then(|u| if word { u.word } else { u.string });
                if kept != Some(which) {
                    self.err(
                        span,
                        format!(
                            "the trace did not keep the {kind} at {} of {} (a recording made \
                             with retap record --for this script keeps it)",
                            what(which),
                            p.text
                        ),
                    );
                }
            }
        }
    }

    /// `user_string(E)` (and `_n`, `_quoted`) at a user-space probe, E as
    /// [`Self::uprobe_selector`] reads it: the C string the recording kept
    /// where the probe fired. Over a trace, the trace must have kept that
    /// one; on this machine (live, `record --for`) it is what will be kept,
    /// one per probe.
    pub(super) fn uprobe_user_string(
        &mut self,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<(X, Ty)> {
        // (user_string2's second argument is what to return on a fault,
        // which a kept string cannot honour)
        if !matches!(
            (name, args.len()),
            ("user_string", 1) | ("user_string_n", 2) | ("user_string_quoted", 1)
        ) {
            return None;
        }
        let which = self.uprobe_selector(&args[0])?;
        self.uprobe_memory_read(which, false, span);
        let (addr, _) = self.expr(&args[0], Ty::Long);
        let text = X::Call(
            Builtin::UprobeString,
            vec![X::Num(which.into()), addr],
            span,
        );
        self.user_string_form(name, args, text, span)
    }

    /// `user_long(E)`, `user_int(E)`, `user_char(E)`, ... at a user-space
    /// probe, E as [`Self::uprobe_selector`] reads it: the 8 bytes the
    /// recording kept there, as the function's C type (0 where they were
    /// not readable, as stap's return).
    pub(super) fn uprobe_user_word(
        &mut self,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<(X, Ty)> {
        let (size, signed) = match name {
            "user_char" | "user_int8" => (1, true),
            "user_uint8" => (1, false),
            "user_short" | "user_int16" => (2, true),
            "user_ushort" | "user_uint16" => (2, false),
            "user_int" | "user_int32" => (4, true),
            "user_uint32" => (4, false),
            "user_long" | "user_int64" => (8, true),
            "user_ulong" | "user_uint64" => (8, false),
            _ => return None,
        };
        let [arg] = args else { return None };
        let which = self.uprobe_selector(arg)?;
        self.uprobe_memory_read(which, true, span);
        let (addr, _) = self.expr(arg, Ty::Long);
        Some((
            X::Call(
                Builtin::UprobeWord,
                vec![
                    X::Num(which.into()),
                    addr,
                    X::Num(size),
                    X::Num(i64::from(signed)),
                ],
                span,
            ),
            Ty::Long,
        ))
    }

    /// `$$parms` (and `$$return` at a return) at a user-space function
    /// probe, as stap prints them: `a=0x1 b=0x2`, each parameter its debug
    /// info places in a register by its value, the others `name=?`. As
    /// the `sprintf` that prints it. None elsewhere.
    pub(super) fn uprobe_parms(&mut self, name: &str, span: Span) -> Option<Expr> {
        let [p] = self.points.as_slice() else {
            return None;
        };
        let (Family::Uprobe { mark: false, ret }, Some(u)) = (self.family(p), p.uprobe.clone())
        else {
            return None;
        };
        let e = |kind| Expr { kind, span };
        let mut fmt = vec![];
        let mut args = vec![];
        match name {
            "$$parms" => {
                let names: Vec<String> = match self.catalog.uprobe_params(&u) {
                    Ok(ps) => ps,
                    Err(why) => {
                        self.err(
                            span,
                            format!("'$$parms' is not available at {}: {why}", p.text),
                        );
                        return Some(e(ExprKind::Str(String::new())));
                    }
                };
                for n in names {
                    if self.catalog.uprobe_param(&u, &n).is_ok() {
                        fmt.push(format!("{n}=%#x"));
                        args.push(e(ExprKind::Target {
                            name: format!("${n}"),
                            path: vec![],
                        }));
                    } else {
                        fmt.push(format!("{n}=?"));
                    }
                }
            }
            "$$return" if ret => {
                fmt.push("return=%#x".into());
                args.push(e(ExprKind::Target {
                    name: "$return".into(),
                    path: vec![],
                }));
            }
            _ => return None,
        }
        let mut all = vec![e(ExprKind::Str(fmt.join(" ")))];
        all.extend(args);
        Some(e(ExprKind::Call {
            name: "sprintf".into(),
            args: all,
        }))
    }

    /// Whether the trace holds the string argument in register `i` of
    /// `syscall`: its file names, when it recorded them.
    pub(super) fn recorded_string(&self, syscall: &str, i: usize) -> bool {
        match (self.opts.syscall_strings, self.opts.signatures) {
            (true, Some(sigs)) => sigs
                .get(syscall)
                .is_some_and(|sig| retap_schema::syscalls::path_args(syscall, sig).contains(&i)),
            _ => false,
        }
    }

    pub(super) fn kernel_arg_exists(&self, syscalls: Option<&[String]>, arg: &str) -> bool {
        let Some(sigs) = self.opts.signatures else {
            // Without a trace, the stap table's names stand in.
            let has = |s: &str| {
                crate::stap::elaborate::syscall_args::of_syscall(s)
                    .is_some_and(|a| a.var(arg).is_some())
            };
            return match syscalls {
                Some(list) => list.iter().any(|s| has(s)),
                None => crate::stap::elaborate::syscall_args::all_var_names().contains(&arg),
            };
        };
        let has = |s: &str| sigs.get(s).is_some_and(|v| v.iter().any(|(_, n)| n == arg));
        match syscalls {
            Some(list) => list.iter().any(|s| has(s)),
            None => sigs.values().any(|v| v.iter().any(|(_, n)| n == arg)),
        }
    }

    /// `$prev->pid` and the like at a tracepoint recorded by name, as the
    /// `$field` that holds it (None elsewhere, or when no field does).
    pub(super) fn tracepoint_member(&self, name: &str, path: &[ast::TargetPart]) -> Option<String> {
        let [p] = self.points.as_slice() else {
            return None;
        };
        let Family::Tracepoint(f) = self.family(p) else {
            return None;
        };
        let mut fields = vec![];
        for part in path {
            match part {
                ast::TargetPart::Field(x) => fields.push(x.as_str()),
                ast::TargetPart::Index(_) => return None,
            }
        }
        context::tracepoint_member(f, name, &fields)
    }

    /// stap's task functions on a tracepoint's task argument
    /// (`task_execname($p)`, or on an alias variable that holds it, as
    /// `task_pid(task)` in scheduler.wakeup), and `kernel_string` of a
    /// member the tracepoint recorded as a string (`$next->comm`), as the
    /// recorded fields that give the same values: the call written over
    /// them, to lower instead.
    pub(super) fn task_call_at_tracepoint(
        &self,
        name: &str,
        args: &[Expr],
        span: Span,
    ) -> Option<Expr> {
        use ast::BinOp;
        // kernel_string($next->comm): the recorded string itself.
        if name == "kernel_string" && args.len() == 1 {
            if let ExprKind::Target { name: t, path } = &args[0].kind {
                let field = self.tracepoint_member(t, path)?;
                let [p] = self.points.as_slice() else {
                    return None;
                };
                let Family::Tracepoint(f) = self.family(p) else {
                    return None;
                };
                let x = f.field(field.trim_start_matches('$'))?;
                return x.kind.is_string().then(|| {
                    Expr::new(
                        ExprKind::Target {
                            name: field,
                            path: vec![],
                        },
                        span,
                    )
                });
            }
            return None;
        }
        if !name.starts_with("task_") || args.len() != 1 {
            return None;
        }
        let [p] = self.points.as_slice() else {
            return None;
        };
        let Family::Tracepoint(f) = self.family(p) else {
            return None;
        };
        let task = match &args[0].kind {
            ExprKind::Target { name, path } if path.is_empty() => name.clone(),
            ExprKind::Var(v) => self.task_aliases.get(v)?.clone(),
            // At sched_switch the current task is the one switched out;
            // at scheduler.cpu_on, the one switched in.
            ExprKind::Call { name, args }
                if name == "task_current"
                    && args.is_empty()
                    && f.system == "sched"
                    && f.event == "sched_switch" =>
            {
                if p.switched_in { "$next" } else { "$prev" }.to_string()
            }
            _ => return None,
        };
        let mk = |kind| Expr::new(kind, span);
        let member = |m: &str| {
            let field = context::tracepoint_member(f, &task, &[m])?;
            Some(mk(ExprKind::Target {
                name: field,
                path: vec![],
            }))
        };
        let num = |n| mk(ExprKind::Num(n));
        let field = |n: &str| {
            f.field(n).map(|_| {
                mk(ExprKind::Target {
                    name: format!("${n}"),
                    path: vec![],
                })
            })
        };
        let switch_side = (f.system == "sched" && f.event == "sched_switch")
            .then(|| task.trim_start_matches('$').to_string());
        Some(match name {
            "task_execname" => member("comm")?,
            "task_tid" => member("pid")?,
            "task_pid" => match switch_side.as_deref() {
                // The task switched out is the current one (unless the
                // context is the task switched in).
                Some("prev") if !p.switched_in => mk(ExprKind::Call {
                    name: "pid".into(),
                    args: vec![],
                }),
                _ => mk(ExprKind::Call {
                    name: "__retap_tid_tgid".into(),
                    args: vec![member("pid")?],
                }),
            },
            // stap's task_prio is the kernel's prio less MAX_RT_PRIO.
            "task_prio" => mk(ExprKind::Binary {
                op: BinOp::Sub,
                l: Box::new(member("prio")?),
                r: Box::new(num(100)),
                op_span: span,
            }),
            "task_cpu" => match switch_side.as_deref() {
                Some(_) => mk(ExprKind::Call {
                    name: "cpu".into(),
                    args: vec![],
                }),
                None => field("orig_cpu").or_else(|| field("target_cpu"))?,
            },
            "task_state" => match switch_side.as_deref() {
                // TASK_REPORT bits in the low byte; bit 8: preempted, so
                // still running.
                Some("prev") => {
                    let state = field("prev_state")?;
                    let and = |mask: i64| {
                        mk(ExprKind::Binary {
                            op: BinOp::BitAnd,
                            l: Box::new(state.clone()),
                            r: Box::new(num(mask)),
                            op_span: span,
                        })
                    };
                    mk(ExprKind::Ternary {
                        cond: Box::new(and(0x100)),
                        t: Box::new(num(0)),
                        f: Box::new(and(0xff)),
                    })
                }
                // Switched in or just woken: running.
                Some(_) => num(0),
                None if f.event.starts_with("sched_wakeup") => num(0),
                None => return None,
            },
            _ => return None,
        })
    }

    /// Why `$x->member` at a tracepoint is not served (None elsewhere).
    pub(super) fn tracepoint_member_refusal(&self, e: &Expr) -> Option<String> {
        let [p] = self.points.as_slice() else {
            return None;
        };
        let Family::Tracepoint(f) = self.family(p) else {
            return None;
        };
        let fields: Vec<String> = f.fields.iter().map(|x| format!("${}", x.name)).collect();
        Some(format!(
            "'{}' is not recorded at {}: the tracepoint records only its own fields ({}), not the kernel memory they came from",
            crate::stap::printer::print_expr(e),
            p.text,
            fields.join(", ")
        ))
    }

    pub(super) fn target_var(
        &mut self,
        name: &str,
        span: Span,
        quiet: bool,
    ) -> Option<(CtxVar, Ty)> {
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
            if let (Family::Uprobe { mark: true, .. }, Some(u)) = (fam, &p.uprobe) {
                let n: Option<usize> = name.strip_prefix("$arg").and_then(|n| n.parse().ok());
                if let (Some(n), Some(has)) = (n, self.catalog.mark_args(u)) {
                    if n > has {
                        if !quiet {
                            self.err(
                                span,
                                format!("target variable '{name}' is not available at {}: the mark has {has} argument(s)", p.text),
                            );
                        }
                        return None;
                    }
                }
            }
            if let (Family::Uprobe { mark: false, .. }, Some(u)) = (fam, &p.uprobe) {
                if name != "$return" && !name.starts_with("$$") {
                    match self.catalog.uprobe_param(u, name.trim_start_matches('$')) {
                        Ok(r) => {
                            let v = CtxVar::UprobeParam {
                                reg: r.reg,
                                size: r.size,
                                signed: r.signed,
                            };
                            if found.as_ref().is_some_and(|(f, _)| *f != v) {
                                self.err(span, format!("target variable '{name}' is in different registers in the functions of this probe"));
                            }
                            found = Some((v, Ty::Long));
                        }
                        Err(why) => {
                            if !quiet {
                                self.err(
                                    span,
                                    format!(
                                        "target variable '{name}' is not available at {}: {why}",
                                        p.text
                                    ),
                                );
                            }
                            return None;
                        }
                    }
                    continue;
                }
            }
            let syscalls = p.syscalls.clone();
            let exists = |a: &str| self.kernel_arg_exists(syscalls.as_deref(), a);
            match context::target(fam, name, &exists) {
                Some(v) => found = Some(v),
                None => {
                    if !quiet {
                        let msg = match fam {
                            Family::Tracepoint(f) => format!(
                                "target variable '{name}' is not recorded for probe point {}: {}",
                                p.text,
                                context::tracepoint_target_refusal(f, name)
                            ),
                            Family::Uprobe { ret, mark } => format!(
                                "target variable '{name}' is not available at {}: {}",
                                p.text,
                                context::uprobe_target_refusal(ret, mark)
                            ),
                            _ => format!(
                                "target variable '{name}' is not recorded for probe point {}: recordings hold syscall arguments and return values, not kernel memory",
                                p.text
                            ),
                        };
                        self.err(span, msg);
                    }
                    return None;
                }
            }
        }
        found
    }

    /// An identifier read as a value.
    pub(super) fn var(&mut self, name: &str, span: Span, want: Ty) -> (X, Ty) {
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
        // (a syscall variable of the table that stap's alias in this family
        // does not set: dw_syscall's *_unquoted)
        let table_var = crate::stap::elaborate::syscall_args::all_var_names().contains(&name);
        let unset = self.points.iter().find_map(|p| {
            let (family, alias) = p.text.split_once('.')?;
            (table_var
                && self.family(p) == (Family::Syscall { ret: false })
                && !crate::stap::elaborate::syscall_args::in_family(family, alias, name))
            .then(|| (p.text.clone(), alias.to_string()))
        });
        if let Some((point, alias)) = unset {
            self.err(
                span,
                format!("'{name}' is not set in probe point {point}: stap's alias there does not set it (syscall.{alias} does)"),
            );
            return (X::Num(0), want);
        }
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

    pub(super) fn lvalue(&mut self, e: &Expr, want: Ty) -> Option<(LValue, Ty)> {
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
                if !self.in_alias_body && self.ctx(name, e.span).is_some() {
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

    pub(super) fn array_ref(&mut self, name: &str, span: Span, n: usize) -> Option<u32> {
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

    pub(super) fn keys(
        &mut self,
        g: u32,
        indices: &[Option<Expr>],
        span: Span,
        wild: bool,
    ) -> Option<Vec<X>> {
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

    pub(super) fn keys_wild(&mut self, g: u32, indices: &[Option<Expr>]) -> Vec<Option<X>> {
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

    pub(super) fn stat_ref(&mut self, e: &Expr) -> Option<StatRef> {
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

    pub(super) fn const_num(&mut self, e: &Expr, what: &str) -> i64 {
        match &e.kind {
            ExprKind::Num(n) => *n,
            _ => {
                self.err(e.span, format!("{what} must be a literal number"));
                1
            }
        }
    }

    pub(super) fn hist_ref(&mut self, e: &Expr) -> Option<HistRef> {
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

    pub(super) fn regex(&mut self, pat: &str, span: Span) -> u32 {
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
    pub(super) fn defined(&mut self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Target { name, path } => match self.tracepoint_member(name, path) {
                Some(field) => self.target_var(&field, e.span, true).is_some(),
                None => path.is_empty() && self.target_var(name, e.span, true).is_some(),
            },
            ExprKind::Var(name) => {
                self.scopes[self.scope].assigned.contains(name)
                    || self.gix.contains_key(name)
                    || self.points.iter().all(|p| {
                        let recorded = |s: &str, i: usize| self.recorded_string(s, i);
                        context::lookup(
                            self.family(p),
                            name,
                            &p.text,
                            p.syscalls.as_deref(),
                            &recorded,
                            self.opts.socket_addresses,
                        )
                        .is_some()
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
    pub(super) fn const_cond(&mut self, e: &Expr) -> Option<bool> {
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

    pub(super) fn expect(&mut self, e: &Expr, want: Ty, what: &str) -> X {
        let (x, t) = self.expr(e, want);
        if t != want && t != Ty::Unknown && want != Ty::Unknown {
            self.mismatch(e.span, t, want, what);
        }
        x
    }
}
