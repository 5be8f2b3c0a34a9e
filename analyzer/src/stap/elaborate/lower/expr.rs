//! Expressions lowered to the IR: operators, assignments, calls of tapset
//! and user functions, the print family.

use crate::stap::ast::{self, Expr, ExprKind};
use crate::stap::source::Span;

use super::*;
use crate::stap::elaborate::catalog::Family;
use crate::stap::elaborate::format;
use crate::stap::elaborate::tapset::{self, Builtin};

impl<'a> Elab<'a> {
    // ---- expressions ---------------------------------------------------

    pub(super) fn expr(&mut self, e: &Expr, want: Ty) -> (X, Ty) {
        use ExprKind as K;
        match &e.kind {
            K::Num(n) => (X::Num(*n), Ty::Long),
            K::Str(s) => (X::Str(s.clone()), Ty::Str),
            K::Var(name) => self.var(name, e.span, want),
            K::Target { name, path }
                if name == "$value" && path.is_empty() && self.procfs.is_some() =>
            {
                (X::Call(Builtin::ProcfsValue, vec![], e.span), Ty::Str)
            }
            K::Target { name, path } if path.is_empty() && name.starts_with("$$") => {
                if let Some(e) = self.uprobe_parms(name, e.span) {
                    return self.expr(&e, want);
                }
                match self.target_var(name, e.span, false) {
                    Some((v, t)) => (X::Ctx(v), t),
                    None => (X::Num(0), Ty::Long),
                }
            }
            K::Target { name, path } => {
                if let Some(field) = self.tracepoint_member(name, path) {
                    return match self.target_var(&field, e.span, false) {
                        Some((v, t)) => (X::Ctx(v), t),
                        None => (X::Num(0), Ty::Long),
                    };
                }
                if let (false, Some(msg)) = (path.is_empty(), self.tracepoint_member_refusal(e)) {
                    self.err(e.span, msg);
                    return (X::Num(0), Ty::Long);
                }
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
            // stap's @choose_defined(a, b): a where it resolves, else b.
            K::AtOp {
                name, args, path, ..
            } if name == "@choose_defined" && args.len() == 2 && path.is_empty() => {
                let pick = if self.defined(&args[0]) {
                    &args[0]
                } else {
                    &args[1]
                };
                self.expr(pick, want)
            }
            K::AtOp { name, .. } => {
                let msg = match name.as_str() {
                    "@cast" | "@var" | "@kregister" | "@uregister" | "@module_container_of"
                    | "@container_of" | "@choose_defined" | "@probewrite" | "@const" => {
                        format!("{name} is not supported: it reads kernel memory or registers, which a recording does not hold")
                    }
                    n if n.starts_with("@this") => format!("{name} (probe-local @this values) is not supported"),
                    _ => format!("unknown macro or operator '{name}' (no @define of it in the script or in a macro library file)"),
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

    pub(super) fn binary(&mut self, op: ast::BinOp, l: &Expr, r: &Expr, span: Span) -> (X, Ty) {
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

    pub(super) fn assign(
        &mut self,
        op: ast::AssignOp,
        l: &Expr,
        r: &Expr,
        span: Span,
        _want: Ty,
    ) -> (X, Ty) {
        if let ExprKind::Target { name, path } = &l.kind {
            if name == "$value" && path.is_empty() && self.procfs.is_some() {
                let b = match op {
                    None => Builtin::ProcfsSet,
                    Some(ast::BinOp::Concat) => Builtin::ProcfsAppend,
                    Some(_) => {
                        self.err(
                            span,
                            "a procfs file's $value takes = and .= (it is a string)",
                        );
                        return (X::Num(0), Ty::Str);
                    }
                };
                let v = self.expect(r, Ty::Str, "text written to $value");
                return (X::Call(b, vec![v], span), Ty::Str);
            }
        }
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
    pub(super) fn peek_type(&self, l: &Expr) -> Ty {
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

    pub(super) fn call(&mut self, name: &str, args: &[Expr], span: Span, _want: Ty) -> (X, Ty) {
        if !self.fix.contains_key(&(name.to_string(), args.len())) {
            if let Some(e) = self.task_call_at_tracepoint(name, args, span) {
                return self.expr(&e, _want);
            }
            if let Some(x) = self.user_string_recorded(name, args) {
                return x;
            }
            if let Some(x) = self.uprobe_user_string(name, args, span) {
                return x;
            }
            if let Some(x) = self.uprobe_user_word(name, args, span) {
                return x;
            }
        }
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
            // stap's shorter forms: ctime() is now's, tokenize(delim)
            // goes on with the string the last call gave (empty tokens
            // included, as strsep).
            match (sig.builtin, args.len()) {
                (Builtin::Ctime, 0) => {
                    let now = X::Call(Builtin::GettimeofdayS, vec![], span);
                    return (X::Call(Builtin::Ctime, vec![now], span), Ty::Str);
                }
                (Builtin::Tokenize, 1) => {
                    let delim = self.expect(&args[0], Ty::Str, "argument of tokenize()");
                    return (X::Call(Builtin::TokenizeNext, vec![delim], span), Ty::Str);
                }
                (Builtin::PrintUbacktrace | Builtin::PrintUbacktraceFileline, 3) => {
                    self.err(
                        span,
                        format!("function '{name}' is not available with pc, sp and fp: unwinding from other registers needs the process's stack memory, which a recording does not hold ({name}() prints the stack recorded at the probe)"),
                    );
                    return (X::Num(0), Ty::Unknown);
                }
                _ => {}
            }
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
            if self.points.iter().any(|p| p.switched_in)
                && sig.builtin.unknown_for_task_switched_in()
            {
                self.err(
                    span,
                    format!("{name}() is not known at scheduler.cpu_on: the recording knows the task switched in by its thread id and name (sched_switch's next_pid, next_comm), not this"),
                );
            } else if sig.builtin.reads_stack() {
                let kernel_only = sig.builtin.reads_kernel_stack_only();
                let b = sig.builtin;
                // A user-space probe: where it fired, and its user stack
                // where the recording keeps it (always, recorded for a
                // script on this machine).
                let host = matches!(self.opts.user_probes, UserProbes::Host { .. });
                let has_stack = |p: &ResolvedPoint| match p.family {
                    Family::Profile => true,
                    Family::Tracepoint(tp) => tp.stack && kernel_only,
                    Family::Uprobe { .. } => {
                        matches!(b, Builtin::Uaddr)
                            || (!kernel_only
                                && b.reads_user_stack()
                                && (host || p.uprobe.as_ref().is_some_and(|u| u.stack)))
                    }
                    _ => false,
                };
                if let Some(p) = self.points.iter().find(|p| !has_stack(p)) {
                    let why = match p.family {
                        Family::Uprobe { .. } if b.reads_user_stack() => format!(
                            "{} was recorded without stacks (a recording made with retap record \
                             --for this script keeps them)",
                            p.text
                        ),
                        Family::Uprobe { .. } => format!(
                            "{} has user-space registers and stacks, not the kernel's",
                            p.text
                        ),
                        Family::Tracepoint(tp) if tp.stack => format!(
                            "{} recorded its kernel stack only (not the user stack, nor the registers)",
                            p.text
                        ),
                        Family::Tracepoint(tp) => format!(
                            "{} was recorded without stacks (record it with --stacks {})",
                            p.text, tp.event
                        ),
                        _ => "only timer.profile probes (CPU samples) and tracepoints recorded with --stacks have one".into(),
                    };
                    self.err(span, format!("{name}() needs a recorded stack: {why}"));
                }
            }
            if sig.builtin == Builtin::UlongArg
                && !self.points.iter().all(|p| {
                    matches!(
                        p.family,
                        Family::Syscall { .. }
                            | Family::SyscallAny { .. }
                            | Family::Uprobe { mark: false, .. }
                    )
                })
            {
                self.err(
                    span,
                    format!(
                        "{name}() reads argument registers: only syscall and user-space function probes have them recorded (a mark's arguments are $arg1..$arg12)"
                    ),
                );
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

    pub(super) fn print_call(&mut self, name: &str, args: &[Expr], span: Span) -> (X, Ty) {
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
