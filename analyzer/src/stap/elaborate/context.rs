//! Context variables: what `name`, `retval`, `dev_name`, `length`... mean in
//! each probe family, and which trace column serves each.

use retap_schema::tracepoints::FieldKind;
use retap_schema::TracepointFormat;

use super::catalog::Family;
use super::ir::Ty;
use super::syscall_args;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CtxVar {
    /// Syscall name as stap's tapset spells it.
    SyscallName,
    /// The kernel's name of the syscall (syscall_any's `name`, which stap
    /// takes from its syscall number table, as syscall_name() does).
    SyscallKernelName,
    SyscallNr,
    Argstr,
    Retval,
    Retstr,
    /// A variable of the syscall tapset (`fd`, `flags_str`, `filename`,
    /// `uaddr_ip`) by name, computed per row from the alias serving the
    /// row's syscall (syscall_args); a syscall without it reads 0 or "", as
    /// stap's unset alias locals do.
    SyscallVar(&'static str),
    /// `$fd`: a syscall argument by its kernel name (trace signatures).
    SyscallKernelArg(String),
    /// `user_string($filename)`: a file name argument by its register.
    SyscallStringAt(usize),
    /// `$argN`-style raw argument index (raw tracepoints).
    RawArg(u8),
    DevName,
    Length,
    Protocol,
    BlockDev,
    BlockDevname,
    Sector,
    Bytes,
    Rw,
    BlockError,
    Filename,
    Args,
    NewPid,
    NewTid,
    ExitCode,
    VfsBytes,
    /// `$field` of a tracepoint recorded by name: the field's index in its
    /// format (the point's table is the format's).
    TracepointField(&'static TracepointFormat, u16),
    /// A user-space function's parameter by name (`$a`), from debug info:
    /// argument register `reg` as a C integer of `size` bytes.
    UprobeParam {
        reg: u8,
        size: u8,
        signed: bool,
    },
    /// A USDT mark's `$$name` and `$$provider` (from the point).
    MarkName,
    MarkProvider,
}

/// The tapset aliases of a point's syscalls (None: every syscall).
fn aliases(syscalls: Option<&[String]>) -> Vec<&'static syscall_args::Alias> {
    match syscalls {
        Some(list) => {
            let mut v: Vec<_> = list
                .iter()
                .filter_map(|s| syscall_args::of_syscall(s))
                .collect();
            v.dedup_by_key(|a| a.alias);
            v
        }
        None => syscall_args::tapset().aliases.iter().collect(),
    }
}

/// Why the syscall tapset variables of a point cannot be served: none of
/// its syscalls has a stap alias (`syscall.clone3`, a retap extension to
/// probe by name). A point that mixes them (`syscall.*` matches only
/// aliased ones) is served.
pub fn without_alias(syscalls: Option<&[String]>) -> Option<String> {
    let list = syscalls?;
    if list.iter().any(|s| syscall_args::of_syscall(s).is_some()) {
        return None;
    }
    let first = list.first()?;
    Some(format!(
        "stap 4.8 has no syscall.{first} alias, so it has no argstr or tapset variables; read its arguments as $NAME by the kernel's names"
    ))
}

fn long(v: CtxVar) -> Option<(CtxVar, Ty)> {
    Some((v, Ty::Long))
}
fn string(v: CtxVar) -> Option<(CtxVar, Ty)> {
    Some((v, Ty::Str))
}

/// A plain context variable (no `$`) in a family. For syscall families,
/// `syscalls` is the point's syscall set (None = all).
///
/// `recorded(syscall, register)`: whether the trace holds that argument's
/// string (file names, read at entry); `addresses`: whether it holds
/// syscalls' socket addresses. `point`: the probe point's text, for what
/// differs between stap's syscall families of one family here.
pub fn lookup(
    family: Family,
    name: &str,
    point: &str,
    syscalls: Option<&[String]>,
    recorded: &dyn Fn(&str, usize) -> bool,
    addresses: bool,
) -> Option<(CtxVar, Ty)> {
    use CtxVar::*;
    match family {
        Family::Syscall { ret } => match name {
            "name" => string(SyscallName),
            "argstr" if !ret => string(Argstr),
            "retval" if ret => long(Retval),
            "retstr" if ret => string(Retstr),
            _ if !ret => {
                let mut found = None;
                let family = point.split('.').next().unwrap_or("");
                for a in aliases(syscalls) {
                    if !syscall_args::in_family(family, a.alias, name) {
                        continue;
                    }
                    if let Some((_, v)) = a.var(name) {
                        let path = |reg: usize| a.syscalls.iter().any(|s| recorded(s, reg));
                        if syscall_args::served(v, &path, addresses) {
                            found = Some((CtxVar::SyscallVar(v.name), v.ty));
                        }
                    }
                }
                found
            }
            _ => None,
        },
        Family::SyscallAny { ret } => match name {
            "name" => string(SyscallKernelName),
            "syscall_nr" => long(SyscallNr),
            "retval" if ret => long(Retval),
            _ => None,
        },
        Family::NetReceive | Family::NetTransmit => match name {
            "dev_name" => string(DevName),
            "length" => long(Length),
            "protocol" => long(Protocol),
            _ => None,
        },
        Family::BlockRequest | Family::BlockEnd => match name {
            "devname" => string(BlockDevname),
            "dev" => long(BlockDev),
            "sector" => long(Sector),
            "size" => long(Bytes),
            "rw" => long(Rw),
            "bytes_done" if family == Family::BlockEnd => long(Bytes),
            "error" if family == Family::BlockEnd => long(BlockError),
            _ => None,
        },
        Family::ProcExec => match name {
            "filename" => string(Filename),
            "args" => string(Args),
            _ => None,
        },
        Family::ProcCreate => match name {
            "new_pid" => long(NewPid),
            "new_tid" => long(NewTid),
            _ => None,
        },
        Family::ProcExit => match name {
            "code" => long(ExitCode),
            _ => None,
        },
        Family::Vfs { write, ret } => match name {
            "bytes_to_read" if !write => long(VfsBytes),
            "bytes_to_write" if write => long(VfsBytes),
            "retval" if ret => long(Retval),
            "bytes_read" if ret && !write => long(Retval),
            "bytes_written" if ret && write => long(Retval),
            _ => None,
        },
        _ => None,
    }
}

/// Names a family offers, for "did you mean".
pub fn names(family: Family) -> Vec<&'static str> {
    match family {
        Family::Syscall { ret: false } => {
            let mut v = vec!["name", "argstr"];
            v.extend(syscall_args::all_var_names());
            v
        }
        Family::Syscall { ret: true } => vec!["name", "retval", "retstr"],
        Family::SyscallAny { ret } => {
            if ret {
                vec!["name", "syscall_nr", "retval"]
            } else {
                vec!["name", "syscall_nr"]
            }
        }
        Family::NetReceive | Family::NetTransmit => vec!["dev_name", "length", "protocol"],
        Family::BlockRequest => vec!["devname", "dev", "sector", "size", "rw"],
        Family::BlockEnd => vec![
            "devname",
            "dev",
            "sector",
            "size",
            "rw",
            "bytes_done",
            "error",
        ],
        Family::ProcExec => vec!["filename", "args"],
        Family::ProcCreate => vec!["new_pid", "new_tid"],
        Family::ProcExit => vec!["code"],
        Family::Vfs { write: false, .. } => vec!["bytes_to_read", "retval", "bytes_read"],
        Family::Vfs { write: true, .. } => vec!["bytes_to_write", "retval", "bytes_written"],
        _ => vec![],
    }
}

/// stap context variables that exist but that no recording holds, with why.
pub fn unrecorded(family: Family, name: &str) -> Option<&'static str> {
    match (family, name) {
        (Family::NetReceive | Family::NetTransmit, "truesize") => {
            Some("the recorder does not store skb truesize")
        }
        (Family::Syscall { ret: false }, _) => {
            use syscall_args::Expr;
            let kind = |want: fn(&Expr) -> bool| {
                syscall_args::tapset()
                    .aliases
                    .iter()
                    .any(|a| a.var(name).is_some_and(|(_, v)| want(&v.expr)))
            };
            if kind(|e| matches!(e, Expr::Path { .. })) {
                Some("it is a string in the traced process's memory, not in this trace: recordings hold the file-name arguments of syscalls only, and only those made since file names are recorded (trace.json has string_max); its address is in argstr")
            } else if kind(|e| matches!(e, Expr::User { .. })) {
                Some("it is read from the traced process's memory (a struct or buffer the syscall points to), which recordings do not hold; argstr shows it as stap shows memory it could not read")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `$name` target variables a recording can serve.
pub fn target(
    family: Family,
    name: &str,
    kernel_args: &dyn Fn(&str) -> bool,
) -> Option<(CtxVar, Ty)> {
    let bare = name.strip_prefix('$')?;
    match family {
        Family::Syscall { ret: true } if bare == "return" => long(CtxVar::Retval),
        Family::Syscall { ret: false } if kernel_args(bare) => {
            long(CtxVar::SyscallKernelArg(bare.to_string()))
        }
        Family::SyscallAny { ret } => match bare {
            "id" => long(CtxVar::SyscallNr),
            "ret" if ret => long(CtxVar::Retval),
            _ => None,
        },
        Family::Uprobe { ret, mark } => match bare {
            "return" if ret => long(CtxVar::Retval),
            "$name" if mark => string(CtxVar::MarkName),
            "$provider" if mark => string(CtxVar::MarkProvider),
            a if mark => {
                let n: u8 = a.strip_prefix("arg")?.parse().ok()?;
                (1..=retap_schema::uprobes::MAX_ARGS as u8)
                    .contains(&n)
                    .then_some((CtxVar::RawArg(n - 1), Ty::Long))
            }
            _ => None,
        },
        Family::Tracepoint(f) => {
            let i = f.fields.iter().position(|x| x.name == bare)?;
            let var = CtxVar::TracepointField(f, i as u16);
            match f.fields[i].kind {
                FieldKind::Chars | FieldKind::DynChars { .. } => string(var),
                FieldKind::Int { .. } | FieldKind::Bool => long(var),
                FieldKind::Array { .. } | FieldKind::DynArray { .. } => None,
            }
        }
        _ => None,
    }
}

/// Why a `$name` is not served at a user-space probe, and what is.
pub fn uprobe_target_refusal(ret: bool, mark: bool) -> &'static str {
    match (ret, mark) {
        (_, true) => "a mark offers $arg1..$arg12, $$name and $$provider",
        (true, _) => {
            "a function's parameters by name need its debug info, which retap does not read \
             yet; a return offers $return, and the arguments at entry as pointer_arg(N), \
             int_arg(N), ..."
        }
        (false, _) => {
            "a function's parameters by name need its debug info, which retap does not read \
             yet; read its arguments as pointer_arg(N), int_arg(N), long_arg(N), ..."
        }
    }
}

/// stap's `$arg->member` on a tracepoint (the kernel's arguments, such as
/// sched_switch's `$prev->pid`) as the recorded field that holds the same
/// value, where there is one: `$X->Y` is the field `X_Y` (`prev_pid`), or
/// `Y` when X is the tracepoint's task (`$p->comm`, `$task->pid`), or one
/// of the kernel's own renamings (`$info->si_code` is `code`); `$vec_nr` is
/// softirq's `vec`.
pub fn tracepoint_member(f: &TracepointFormat, name: &str, path: &[&str]) -> Option<String> {
    let bare = name.trim_start_matches('$');
    let has = |n: &str| f.fields.iter().any(|x| x.name == n);
    let found = match path {
        [] if bare == "vec_nr" && has("vec") => "vec".to_string(),
        [] => return None,
        [y] if has(&format!("{bare}_{y}")) => format!("{bare}_{y}"),
        [y] if matches!(bare, "p" | "t" | "task" | "tsk") && has(y) => y.to_string(),
        ["si_code"] if bare == "info" && has("code") => "code".into(),
        ["si_errno"] if bare == "info" && has("errno") => "errno".into(),
        ["si_signo"] if bare == "info" && has("sig") => "sig".into(),
        ["name"] if bare == "action" && has("name") => "name".into(),
        // The block request tracepoints record blk_rq_bytes(rq) and
        // blk_rq_pos(rq), which are these members.
        ["__data_len"] if bare == "rq" && has("bytes") => "bytes".into(),
        ["__sector"] if bare == "rq" && has("sector") => "sector".into(),
        ["sa", y @ ("sa_handler" | "sa_flags")] if bare == "ka" && has(y) => y.to_string(),
        _ => return None,
    };
    Some(format!("${found}"))
}

/// `$name` of a tracepoint that exists but that a script cannot read, with
/// why; and the fields it can, for the message.
pub fn tracepoint_target_refusal(f: &TracepointFormat, name: &str) -> String {
    let bare = name.trim_start_matches('$');
    let readable: Vec<String> = f
        .fields
        .iter()
        .filter(|x| !matches!(x.kind, FieldKind::Array { .. } | FieldKind::DynArray { .. }))
        .map(|x| format!("${}", x.name))
        .collect();
    match f.fields.iter().find(|x| x.name == bare) {
        Some(x) => format!(
            "{name} of {}:{} is an array ({}), which scripts cannot read yet; it is in the trace's {} column for retap sql",
            f.system, f.event, x.c_type, x.column
        ),
        None => format!(
            "tracepoint {}:{} records no {bare:?}: the recording holds its fields ({}), not the kernel pointers it is called with",
            f.system,
            f.event,
            readable.join(", ")
        ),
    }
}
