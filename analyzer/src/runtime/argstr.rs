//! `argstr`, `retstr` and the other syscall variables as stap's syscall
//! tapset builds them (the table is `stap::elaborate::syscall_args`):
//! registers as the tapset converts them, numbers decoded to names as its
//! helpers do. File names and socket addresses are shown when recorded;
//! other user memory is not recorded and shows as stap shows memory it could
//! not read.

use std::rc::Rc;

use super::errno_table::ERRNO_NAMES;
pub use super::syscall_decoders::decode;
use super::value::Value;
use crate::stap::elaborate::ir::Ty;
use crate::stap::elaborate::syscall_args::{
    AddrPart, Alias, Cond, Conv, Expr, Unread, MAX_DECODE_ARGS,
};

/// What the variables of one syscall row are computed from.
pub trait Row {
    fn raw_arg(&self, i: usize) -> i64;
    /// The string argument in register `i`, when the trace recorded it.
    fn path(&self, i: usize) -> Option<Rc<str>>;
    /// The socket address at register `reg` as stap shows it (or a part),
    /// when the trace recorded it.
    fn address(&self, reg: usize, part: AddrPart) -> Option<String>;
}

/// A variable's (or argstr argument's) value in a row.
pub fn eval(a: &Alias, e: &Expr, row: &dyn Row) -> Value {
    match e {
        Expr::Reg { reg, conv } => {
            let raw = row.raw_arg(*reg as usize);
            Value::Int(match conv {
                Conv::Int => raw as i32 as i64,
                Conv::Uint => raw as u32 as i64,
                Conv::Short => raw as i16 as i64,
                Conv::Long => raw,
            })
        }
        Expr::Path { reg, quoted } => match row.path(*reg as usize) {
            Some(s) if *quoted => Value::from_string(super::builtins::text_str(&s, true, None)),
            Some(s) => Value::Str(s),
            // user_string_quoted of memory it could not read: the address.
            None => Value::from_string(unread(row.raw_arg(*reg as usize), Unread::Hex)),
        },
        Expr::User { of, ty, shown } => {
            let ptr = eval(a, &a.vars[*of].expr, row).int();
            match ty {
                Ty::Str => Value::from_string(unread(ptr, *shown)),
                _ => Value::Int(0),
            }
        }
        Expr::UserAt { reg, shown } => {
            Value::from_string(unread(row.raw_arg(*reg as usize), *shown))
        }
        Expr::Decode { f, of, more } => {
            // (per row: on the stack; the table takes at most MAX_DECODE_ARGS)
            let mut args = [0i64; MAX_DECODE_ARGS];
            for (slot, i) in args.iter_mut().zip(std::iter::once(of).chain(more)) {
                *slot = eval(a, &a.vars[*i].expr, row).int();
            }
            Value::from_string(decode(f, &args[..1 + more.len()]).unwrap_or_default())
        }
        Expr::Addr { reg, part } => match row.address(*reg as usize, *part) {
            Some(s) => Value::from_string(s),
            None => match part {
                AddrPart::Pretty => {
                    Value::from_string(unread(row.raw_arg(*reg as usize), Unread::Null))
                }
                _ => Value::empty_str(),
            },
        },
        Expr::Var(i) => eval(a, &a.vars[*i].expr, row),
        Expr::Const(v) => Value::Int(*v),
        Expr::Text(t) => Value::from_string(t.to_string()),
    }
}

/// The argument string of one row.
pub fn argstr(a: &Alias, row: &dyn Row) -> String {
    let value = |v: usize| eval(a, &a.vars[v].expr, row).int();
    let Some(s) = a.argstr.iter().find(|s| match &s.cond {
        Some(Cond::Mask(v, mask)) => value(*v) & mask != 0,
        Some(Cond::OneOf(v, shift, vals)) => vals.contains(&(value(*v) >> shift)),
        None => true,
    }) else {
        return String::new();
    };
    let args: Vec<Value> = s.args.iter().map(|e| eval(a, e, row)).collect();
    let mut out = vec![];
    super::printf::format(&s.format, &args, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn errno_name(e: i64) -> &'static str {
    let e = e.unsigned_abs() as usize;
    if e > 0 && e < ERRNO_NAMES.len() {
        ERRNO_NAMES[e]
    } else {
        ""
    }
}

/// stap's return_str(format, ret).
pub fn return_str(format: i64, ret: i64) -> String {
    if ret < 0 && !errno_name(ret).is_empty() {
        return format!("{ret} ({})", errno_name(ret));
    }
    match format {
        2 => format!("0x{:x}", ret as u64),
        3 => {
            if ret == 0 {
                "0".into()
            } else {
                format!("0{:o}", ret as u64)
            }
        }
        _ => ret.to_string(),
    }
}

/// User memory a recording does not hold, as stap shows memory it could
/// not read.
pub fn unread(ptr: i64, shown: Unread) -> String {
    match shown {
        Unread::Null | Unread::Argv if ptr == 0 => {
            if shown == Unread::Null {
                "NULL".into()
            } else {
                "[]".into()
            }
        }
        Unread::Argv => format!("[0x{:x}]", ptr as u64),
        _ => format!("0x{:x}", ptr as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stap::elaborate::syscall_args::tapset;

    struct Raw([i64; 6], Option<&'static str>);
    impl Row for Raw {
        fn raw_arg(&self, i: usize) -> i64 {
            self.0[i]
        }
        fn path(&self, _: usize) -> Option<Rc<str>> {
            self.1.map(Rc::from)
        }
        fn address(&self, _: usize, _: AddrPart) -> Option<String> {
            None
        }
    }

    fn argstr(syscall: &str, raw: [i64; 6]) -> String {
        super::argstr(tapset().of_syscall(syscall).unwrap(), &Raw(raw, None))
    }

    #[test]
    fn every_decoder_the_table_names_exists() {
        for a in &tapset().aliases {
            for v in &a.vars {
                if let Expr::Decode { f, .. } = v.expr {
                    assert!(
                        decode(f, &[0; MAX_DECODE_ARGS]).is_some(),
                        "syscall.{}: no decoder {f}",
                        a.alias
                    );
                }
            }
            for s in &a.argstr {
                for e in &s.args {
                    if let Expr::Decode { f, .. } = e {
                        assert!(
                            decode(f, &[0; MAX_DECODE_ARGS]).is_some(),
                            "syscall.{}: no decoder {f}",
                            a.alias
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn recorded_file_names_are_quoted() {
        let a = tapset().of_syscall("openat").unwrap();
        assert_eq!(
            super::argstr(a, &Raw([-100, 0x1000, 0, 0, 0, 0], Some("/etc/a \"b\"\n"))),
            "AT_FDCWD, \"/etc/a \\\"b\\\"\\n\", O_RDONLY"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(
            argstr("read", [3, 0x7fff0000, 4096, 0, 0, 0]),
            "3, 0x7fff0000, 4096"
        );
        assert_eq!(
            argstr("openat", [-100, 0x1000, 0o2000000, 0, 0, 0]),
            "AT_FDCWD, 0x1000, O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(
            argstr("openat", [-100, 0x1000, 0o101 | 0o1000, 0o644, 0, 0]),
            "AT_FDCWD, 0x1000, O_WRONLY|O_CREAT|O_TRUNC, 0644"
        );
        // O_TMPFILE is not in stap's list: O_DIRECTORY and the rest in hex.
        assert_eq!(
            argstr("openat", [-100, 0x1000, 0o20200002, 0o600, 0, 0]),
            "AT_FDCWD, 0x1000, O_RDWR|O_DIRECTORY|0x400000"
        );
        assert_eq!(argstr("kill", [12, 0, 0, 0, 0, 0]), "12, SIG_0");
        // keyctl by command, keyrings by their shortcut names.
        assert_eq!(
            argstr("keyctl", [0, -3i32 as u32 as i64, 1, 0, 0, 0]),
            "KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1"
        );
        assert_eq!(
            argstr("keyctl", [5, 42, 0x0301_0000, 0, 0, 0]),
            "KEYCTL_SETPERM, 42, KEY_POS_VIEW|KEY_POS_READ|KEY_USR_VIEW"
        );
        assert_eq!(argstr("keyctl", [99, 1, 2, 3, 4, 0]), "99, 1, 2, 3, 4");
        // quotactl by subcommand: Q_GETQUOTA reads a struct (not recorded).
        assert_eq!(
            argstr("quotactl", [0x8000_0700, 0x1000, 1000, 0x2000, 0, 0]),
            "Q_GETQUOTA|USRQUOTA, 0x1000, 1000, 0x2000"
        );
        assert_eq!(
            argstr("quotactl", [0x8000_0100, 0x1000, 0, 0, 0, 0]),
            "Q_SYNC|USRQUOTA, 0x1000, 0, 0x0"
        );
        assert_eq!(
            argstr("rt_sigprocmask", [0, 1, 0, 8, 0, 0]),
            "SIG_BLOCK, 0x1, 0x0, 8"
        );
        assert_eq!(
            argstr("rt_sigprocmask", [0, 0, 0, 8, 0, 0]),
            "SIG_BLOCK, NULL, 0x0, 8"
        );
        // prctl by option: names for modes, hex or decimal as the option
        // reads its argument, all four in hex for an option stap does not
        // know; ptrace by request, x86_64's own requests first.
        for (syscall, raw, want) in [
            (
                "prctl",
                [15, 0x7ffd0000, 0, 0, 0, 0],
                "PR_SET_NAME, 0x7ffd0000",
            ),
            ("prctl", [38, 1, 0, 0, 0, 0], "PR_SET_NO_NEW_PRIVS, 1"),
            ("prctl", [3, 0, 0, 0, 0, 0], "PR_GET_DUMPABLE"),
            (
                "prctl",
                [24, 21, 0, 0, 0, 0],
                "PR_CAPBSET_DROP, CAP_SYS_ADMIN",
            ),
            (
                "prctl",
                [0x59616d61, -1, 0, 0, 0, 0],
                "PR_SET_PTRACER, PR_SET_PTRACER_ANY",
            ),
            ("prctl", [0x59616d61, 77, 0, 0, 0, 0], "PR_SET_PTRACER, 77"),
            (
                "prctl",
                [33, 1, 1, 0, 0, 0],
                "PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY",
            ),
            (
                "prctl",
                [22, 2, 0x1000, 0, 0, 0],
                "PR_SET_SECCOMP, SECCOMP_MODE_FILTER, 0x1000",
            ),
            (
                "prctl",
                [28, 0x11, 0, 0, 0, 0],
                "PR_SET_SECUREBITS, SECBIT_NOROOT|SECBIT_KEEP_CAPS",
            ),
            (
                "prctl",
                [0x53564d41, 0, 0x1000, 0x2000, 0x3000, 0],
                "0x53564d41, 0x0, 0x1000, 0x2000, 0x3000",
            ),
            (
                "ptrace",
                [0x4206, 1234, 0, 0x11, 0, 0],
                "PTRACE_SEIZE, 1234, 0x0, 0x11",
            ),
            (
                "ptrace",
                [0x4200, 1234, 0, 0x100008, 0, 0],
                "PTRACE_SETOPTIONS, 1234, 0x0, PTRACE_O_EXITKILL|PTRACE_O_TRACECLONE",
            ),
            (
                "ptrace",
                [7, 1234, 0, 10, 0, 0],
                "PTRACE_CONT, 1234, 0x0, SIGUSR1",
            ),
            (
                "ptrace",
                [2, 1234, 0x401000, 0x7ffd0000, 0, 0],
                "PTRACE_PEEKDATA, 1234, 0x401000, [0x7ffd0000]",
            ),
            (
                "ptrace",
                [12, 1234, 0, 0x7ffd0000, 0, 0],
                "PTRACE_GETREGS, 1234, 0x0, 0x7ffd0000",
            ),
            (
                "ptrace",
                [0x4204, 1234, 1, 0x7ffd0000, 0, 0],
                "PTRACE_GETREGSET, 1234, NT_PRSTATUS, 0x7ffd0000",
            ),
            (
                "ptrace",
                [30, 1234, 0x7ffd0000, 0x1003, 0, 0],
                "PTRACE_ARCH_PRCTL, 1234, 0x7ffd0000, ARCH_GET_FS",
            ),
            (
                "ptrace",
                [0x4299, 1234, 0, 0, 0, 0],
                "0x4299, 1234, 0x0, 0x0",
            ),
        ] {
            assert_eq!(argstr(syscall, raw), want, "{syscall} {raw:?}");
        }
        assert_eq!(return_str(1, -2), "-2 (ENOENT)");
        assert_eq!(return_str(1, 5), "5");
        assert_eq!(return_str(1, -512), "-512");
        assert_eq!(errno_name(-11), "EAGAIN");
    }
}
