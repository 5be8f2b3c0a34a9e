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
    SyscallNr,
    Argstr,
    Retval,
    Retstr,
    /// A syscall argument by stap's name (`fd`, `count`); a syscall without
    /// that argument reads 0, as stap's unset alias locals do.
    SyscallArg(&'static str),
    /// `$fd`: a syscall argument by its kernel name (trace signatures).
    SyscallKernelArg(String),
    /// A file name argument as recorded at entry (`filename`, `oldname`),
    /// by stap's name of it.
    SyscallString(&'static str),
    /// `user_string($filename)`: a file name argument by its register.
    SyscallStringAt(usize),
    /// `uaddr_ip`, `to_str`: part of the syscall's socket address as
    /// recorded (syscall_args::address_vars).
    SyscallAddr(syscall_args::AddrPart),
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
}

/// The address part a variable names in some syscall of the point.
fn address_var(name: &str, syscalls: Option<&[String]>) -> Option<syscall_args::AddrPart> {
    let find = |s: &str| {
        syscall_args::address_vars(s)
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    };
    match syscalls {
        Some(list) => list.iter().find_map(|s| find(s)),
        None => ["connect", "sendto"].into_iter().find_map(find),
    }
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
/// syscalls' socket addresses.
pub fn lookup(
    family: Family,
    name: &str,
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
            _ if !ret && addresses && address_var(name, syscalls).is_some() => {
                string(SyscallAddr(address_var(name, syscalls)?))
            }
            _ if !ret => {
                let all = syscall_args::all_arg_names();
                let arg = all.into_iter().find(|a| *a == name)?;
                // (is a number, is a recorded string) in this syscall.
                let kinds = |s: &str| {
                    let v = syscall_args::stap_args(s)?;
                    let i = v.iter().position(|a| a.name == arg)?;
                    Some((v[i].kind != 's', v[i].kind == 's' && recorded(s, i)))
                };
                let any = |f: &dyn Fn((bool, bool)) -> bool| match syscalls {
                    Some(list) => list.iter().any(|s| kinds(s).is_some_and(f)),
                    None => syscall_args::known().any(|s| kinds(s).is_some_and(f)),
                };
                if any(&|(_, text)| text) {
                    return string(SyscallString(arg));
                }
                any(&|(number, _)| number).then_some((SyscallArg(arg), Ty::Long))
            }
            _ => None,
        },
        Family::SyscallAny { ret } => match name {
            "name" => string(SyscallName),
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
            v.extend(syscall_args::all_arg_names());
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
            let args: Vec<_> = syscall_args::known()
                .filter_map(syscall_args::stap_args)
                .flatten()
                .filter(|a| a.name == name && a.kind == 's')
                .collect();
            (!args.is_empty())
                .then_some("it is a string in the traced process's memory, not in this trace: recordings hold the file-name arguments of syscalls only, and only those made since file names are recorded (trace.json has string_max); its address is in argstr")
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
        [y] if matches!(bare, "p" | "task" | "tsk") && has(y) => y.to_string(),
        ["si_code"] if bare == "info" && has("code") => "code".into(),
        ["si_errno"] if bare == "info" && has("errno") => "errno".into(),
        ["si_signo"] if bare == "info" && has("sig") => "sig".into(),
        ["name"] if bare == "action" && has("name") => "name".into(),
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
