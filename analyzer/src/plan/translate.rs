//! Event expressions (keys, values, guards) to DataFusion expressions over
//! the table's columns, with stap's semantics: longs are Int64, a missing
//! value reads 0, comparisons and logic yield 0/1 when used as numbers.

use super::error::{unsupported, PlanError};
use std::ops::Not;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{binary_expr, cast, in_list, lit, when, Expr, Operator};

use crate::engine::{column, column_named};
use crate::stap::ast::UnOp;
use crate::stap::elaborate::catalog::{Family, ResolvedPoint};
use crate::stap::elaborate::context::CtxVar;
use crate::stap::elaborate::ir::{ArithOp, CmpOp, X};
use crate::stap::elaborate::syscall_args;
use crate::stap::elaborate::tapset::Builtin;
use crate::trace::{Signatures, Trace};
use retap_schema::Column;

/// Whether `e` can be computed by a plan at this point (whatever the
/// trace's syscall signatures turn out to be).
pub fn check(e: &X, pt: &ResolvedPoint) -> Result<(), PlanError> {
    Ctx::new(pt, 0, None).expr(e).map(|_| ())
}

/// What an expression is translated for: the probe point, and what it
/// needs to know of the trace.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub family: Family,
    /// Inside `@entry(...)`: values as of the syscall's entry.
    pub entry: bool,
    pub wall_offset: i64,
    /// The syscalls the point serves (None: all).
    syscalls: Option<&'a [String]>,
    /// The trace's syscall signatures, where `$name` arguments are.
    signatures: Option<&'a Signatures>,
    /// The run's traces, (host, name): one trace's are literals; a set's
    /// are columns its scans add ([`HOST`], [`TRACE`]).
    members: &'a [(String, String)],
}

/// The columns a set's scans add for hostname() and trace_name(), named
/// apart from any tracepoint field.
pub const HOST: &str = "__retap_host";
pub const TRACE: &str = "__retap_trace";

/// A translated expression and whether it is a boolean (stap's 0/1).
pub struct T {
    pub e: Expr,
    pub boolean: bool,
    pub string: bool,
}

impl T {
    fn int(e: Expr) -> T {
        T {
            e,
            boolean: false,
            string: false,
        }
    }
    /// As a stap long.
    pub fn long(self) -> Expr {
        if self.boolean {
            cast(self.e, DataType::Int64)
        } else {
            self.e
        }
    }
    /// As a condition (non-zero is true).
    pub fn cond(self) -> Expr {
        if self.boolean {
            self.e
        } else {
            self.e.not_eq(lit(0i64))
        }
    }
}

/// A row of `kernel` whose int argument in register `reg` is `v`: the
/// calls stap names by that value (syscall_args::names_by_value).
pub(super) fn named_by_value(kernel: &str, reg: u8, v: i64) -> Expr {
    let low32 = datafusion::logical_expr::binary_expr(
        column(Column::arg(reg as usize)),
        datafusion::logical_expr::Operator::BitwiseAnd,
        lit(0xffff_ffffi64),
    );
    column(Column::Syscall)
        .eq(lit(kernel.to_string()))
        .and(low32.eq(lit(v as u32 as i64)))
}

fn int_col(c: Column) -> Expr {
    cast(column(c), DataType::Int64)
}

impl<'a> Ctx<'a> {
    pub fn new(
        pt: &'a ResolvedPoint,
        wall_offset: i64,
        signatures: Option<&'a Signatures>,
    ) -> Self {
        Ctx {
            family: pt.family,
            entry: false,
            wall_offset,
            syscalls: pt.syscalls.as_deref(),
            signatures,
            members: &[],
        }
    }

    /// With the run's traces (see [`Ctx::members`]).
    pub fn with_members(mut self, members: &'a [(String, String)]) -> Self {
        self.members = members;
        self
    }

    /// `$name` at a syscall point: the raw argument the signatures name
    /// (its low 32 bits, signed, for a C int), per syscall; 0 for a
    /// syscall without it, as in the interpreter.
    fn kernel_arg(&self, name: &str) -> Result<Expr, PlanError> {
        let Some(sigs) = self.signatures else {
            return Ok(lit(0i64));
        };
        let names: Vec<&str> = match self.syscalls {
            Some(n) => n.iter().map(|s| s.as_str()).collect(),
            None => sigs.keys().map(|s| s.as_str()).collect(),
        };
        // Syscalls grouped by where the argument is.
        let mut arms: Vec<((usize, bool), Vec<&str>)> = vec![];
        let mut missing = false;
        for n in names {
            match Trace::kernel_arg(sigs, n, name) {
                Some(at) => match arms.iter_mut().find(|a| a.0 == at) {
                    Some(a) => a.1.push(n),
                    None => arms.push((at, vec![n])),
                },
                None => missing = true,
            }
        }
        let value = |(i, int): (usize, bool)| {
            let raw = column(Column::arg(i));
            if int {
                let low = binary_expr(raw, Operator::BitwiseAnd, lit(0xFFFF_FFFFi64));
                binary_expr(low, Operator::BitwiseXor, lit(0x8000_0000i64)) - lit(0x8000_0000i64)
            } else {
                raw
            }
        };
        // Every row the point fires on has it in one place (syscall.read's
        // $count): no CASE.
        if let ([(at, _)], false, Some(_)) = (arms.as_slice(), missing, self.syscalls) {
            return Ok(value(*at));
        }
        let mut arms = arms.into_iter();
        let Some((at, names)) = arms.next() else {
            return Ok(lit(0i64));
        };
        let is = |names: Vec<&str>| {
            in_list(
                column(Column::Syscall),
                names.into_iter().map(|n| lit(n.to_string())).collect(),
                false,
            )
        };
        let mut case = when(is(names), value(at));
        for (at, names) in arms {
            case = case.when(is(names), value(at));
        }
        case.otherwise(lit(0i64)).map_err(PlanError::from)
    }

    /// The firing time on the trace clock.
    pub fn now(&self) -> Expr {
        if self.family.fires_at_return() && !self.entry {
            column(Column::Ts) + column(Column::DurNs)
        } else {
            column(Column::Ts)
        }
    }

    fn ctx_var(&self, c: &CtxVar) -> Result<T, PlanError> {
        use CtxVar::*;
        let fam = self.family;
        let syscall = matches!(fam, Family::Syscall { .. } | Family::SyscallAny { .. });
        Ok(match c {
            SyscallName if syscall => T {
                // stap's names for the few syscalls whose kernel name differs.
                e: {
                    let renamed = |(kernel, stap): &(&str, &str)| {
                        (column(Column::Syscall).eq(lit(*kernel)), lit(*stap))
                    };
                    // Names that depend on an argument come first
                    // (epoll_create1 with flags 0 is "epoll_create").
                    let mut arms: Vec<(Expr, Expr)> = syscall_args::names_by_value()
                        .into_iter()
                        .map(|(kernel, reg, v, name)| (named_by_value(kernel, reg, v), lit(name)))
                        .collect();
                    arms.extend(syscall_args::renamed().iter().map(renamed));
                    let mut arms = arms.into_iter();
                    let (is, then) = arms.next().expect("stap renames some syscalls");
                    let mut case = when(is, then);
                    for (is, then) in arms {
                        case = case.when(is, then);
                    }
                    case
                }
                .otherwise(cast(column(Column::Syscall), DataType::Utf8))
                .map_err(PlanError::from)?,
                boolean: false,
                string: true,
            },
            SyscallKernelName if syscall => T {
                // "" for the syscalls stap's number table does not know.
                e: when(
                    column(Column::Syscall).in_list(
                        syscall_args::NOT_IN_STAP_NUMBERS
                            .iter()
                            .map(|s| lit(*s))
                            .collect(),
                        false,
                    ),
                    lit(""),
                )
                .otherwise(cast(column(Column::Syscall), DataType::Utf8))
                .map_err(PlanError::from)?,
                boolean: false,
                string: true,
            },
            SyscallNr if syscall => T::int(int_col(Column::Nr)),
            Retval if !self.entry => T::int(datafusion::functions::expr_fn::coalesce(vec![
                column(Column::Ret),
                lit(0i64),
            ])),
            Length => T::int(int_col(Column::Length)),
            Protocol => T::int(int_col(Column::Protocol)),
            DevName => T {
                e: cast(column(Column::DevName), DataType::Utf8),
                boolean: false,
                string: true,
            },
            BlockDevname => T {
                e: cast(column(Column::Devname), DataType::Utf8),
                boolean: false,
                string: true,
            },
            BlockDev => T::int(int_col(Column::Dev)),
            Sector => T::int(int_col(Column::Sector)),
            Bytes | VfsBytes => T::int(int_col(Column::Bytes)),
            NewPid => T::int(datafusion::functions::expr_fn::coalesce(vec![
                int_col(Column::ChildPid),
                lit(0i64),
            ])),
            ExitCode => T::int(datafusion::functions::expr_fn::coalesce(vec![
                int_col(Column::ExitCode),
                lit(0i64),
            ])),
            SyscallKernelArg(name) if matches!(fam, Family::Syscall { ret: false }) => {
                T::int(self.kernel_arg(name)?)
            }
            // A mark's arguments, a uprobe's registers as 64-bit values.
            RawArg(i) if matches!(fam, Family::Uprobe { .. }) => {
                T::int(int_col(Column::arg(*i as usize)))
            }
            UprobeParam { reg, size: 8, .. } => {
                T::int(int_col(Column::ARGS[(*reg as usize).min(5)]))
            }
            TracepointField(f, i) => {
                let field = &f.fields[*i as usize];
                let c = column_named(&field.column);
                if field.kind.is_string() {
                    T {
                        e: cast(c, DataType::Utf8),
                        boolean: false,
                        string: true,
                    }
                } else {
                    T::int(cast(c, DataType::Int64))
                }
            }
            other => {
                return Err(unsupported(format!(
                    "it reads {other:?}, which plans do not compute"
                )))
            }
        })
    }

    /// `gettimeofday_ns() - @entry(gettimeofday_ns())` (or local_clock_ns,
    /// get_cycles) at a return: the stored duration itself, so the plan
    /// need not read the entry timestamps. (Coarser clocks round each side
    /// before subtracting, so they are not the duration.)
    fn is_latency(&self, a: &X, b: &X) -> bool {
        use Builtin::{GetCycles, GettimeofdayNs, LocalClockNs};
        let clock = |x: &X| match x {
            X::Call(c @ (GettimeofdayNs | LocalClockNs | GetCycles), args, _)
                if args.is_empty() =>
            {
                Some(*c)
            }
            _ => None,
        };
        let X::Entry(b) = b else {
            return false;
        };
        self.family.fires_at_return() && !self.entry && clock(a).is_some() && clock(a) == clock(b)
    }

    pub fn expr(&self, x: &X) -> Result<T, PlanError> {
        Ok(match x {
            X::Num(n) => T::int(lit(*n)),
            X::Str(s) => T {
                e: lit(s.clone()),
                boolean: false,
                string: true,
            },
            X::Ctx(c) => self.ctx_var(c)?,
            X::Call(b, args, _) if args.is_empty() => {
                let now_wall = || self.now() + lit(self.wall_offset);
                match b {
                    Builtin::Pid => T::int(int_col(Column::Pid)),
                    Builtin::Tid => T::int(int_col(Column::Tid)),
                    Builtin::Uid | Builtin::Euid => T::int(int_col(Column::Uid)),
                    Builtin::Cpu => T::int(int_col(Column::Cpu)),
                    Builtin::Execname => T {
                        e: column(Column::Execname),
                        boolean: false,
                        string: true,
                    },
                    Builtin::Hostname | Builtin::TraceName => {
                        let host = *b == Builtin::Hostname;
                        let e = match self.members {
                            [(h, n)] => lit(if host { h.clone() } else { n.clone() }),
                            _ => column_named(if host { HOST } else { TRACE }),
                        };
                        T {
                            e,
                            boolean: false,
                            string: true,
                        }
                    }
                    Builtin::GettimeofdayNs => T::int(now_wall()),
                    Builtin::GettimeofdayUs => T::int(now_wall() / lit(1_000i64)),
                    Builtin::GettimeofdayMs => T::int(now_wall() / lit(1_000_000i64)),
                    Builtin::GettimeofdayS => T::int(now_wall() / lit(1_000_000_000i64)),
                    Builtin::LocalClockNs | Builtin::GetCycles => T::int(self.now()),
                    other => {
                        return Err(unsupported(format!(
                            "it calls {}(), which plans do not compute",
                            crate::stap::elaborate::tapset::name(*other)
                        )))
                    }
                }
            }
            X::Entry(e) => {
                let inner = Ctx {
                    entry: true,
                    ..*self
                };
                inner.expr(e)?
            }
            X::Unary(op, a) => {
                let a = self.expr(a)?;
                match op {
                    UnOp::Neg => T::int(lit(0i64) - a.long()),
                    UnOp::Plus => T::int(a.long()),
                    UnOp::Not => T {
                        e: a.cond().not(),
                        boolean: true,
                        string: false,
                    },
                    UnOp::BitNot => return Err(unsupported("it uses ~")),
                }
            }
            X::Arith(ArithOp::Sub, a, b, _) if self.is_latency(a, b) => {
                T::int(column(Column::DurNs))
            }
            X::Arith(op, a, b, _) => {
                let (a, b) = (self.expr(a)?.long(), self.expr(b)?.long());
                T::int(match op {
                    ArithOp::Add => a + b,
                    ArithOp::Sub => a - b,
                    ArithOp::Mul => a * b,
                    // Division and shifts have stap-specific error and
                    // overflow behaviour; they stay in the interpreter.
                    _ => return Err(unsupported("it divides or shifts")),
                })
            }
            X::Cmp(op, strings, a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let (a, b) = if *strings {
                    (a.e, b.e)
                } else {
                    (a.long(), b.long())
                };
                let e = match op {
                    CmpOp::Eq => a.eq(b),
                    CmpOp::Ne => a.not_eq(b),
                    CmpOp::Lt => a.lt(b),
                    CmpOp::Le => a.lt_eq(b),
                    CmpOp::Gt => a.gt(b),
                    CmpOp::Ge => a.gt_eq(b),
                };
                T {
                    e,
                    boolean: true,
                    string: false,
                }
            }
            X::And(a, b) => T {
                e: self.expr(a)?.cond().and(self.expr(b)?.cond()),
                boolean: true,
                string: false,
            },
            X::Or(a, b) => T {
                e: self.expr(a)?.cond().or(self.expr(b)?.cond()),
                boolean: true,
                string: false,
            },
            X::Ternary(c, t, f) => {
                let (t, f) = (self.expr(t)?, self.expr(f)?);
                let string = t.string;
                let (te, fe) = if string {
                    (t.e, f.e)
                } else {
                    (t.long(), f.long())
                };
                T {
                    e: when(self.expr(c)?.cond(), te)
                        .otherwise(fe)
                        .map_err(PlanError::from)?,
                    boolean: false,
                    string,
                }
            }
            _ => return Err(unsupported("it uses an expression plans do not compute")),
        })
    }
}
