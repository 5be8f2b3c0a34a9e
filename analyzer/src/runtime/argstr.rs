//! `argstr` and `retstr` as stap's syscall tapset builds them, for the
//! syscalls in `syscall_args`: numbers as the tapset prints each argument,
//! flag words decoded to names. File names read at entry are printed
//! quoted; other strings in the traced process's memory are not recorded,
//! so they show as their address.

use std::rc::Rc;

use super::errno_table::ERRNO_NAMES;

/// An argument's value as the tapset variable holds it (`int` arguments
/// are sign-extended from 32 bits, as stap's __int32() does).
pub fn arg_value(raw: i64, kind: char) -> i64 {
    match kind {
        'd' | 'D' | 'F' | 'S' | 'H' | 'C' | 'A' | 'T' | 'X' | 'W' => raw as i32 as i64,
        _ => raw,
    }
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

fn flags(v: u64, names: &[(u64, &str)]) -> String {
    let mut parts = vec![];
    let mut rest = v;
    for (bit, name) in names {
        if *bit != 0 && rest & bit == *bit {
            parts.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("0x{rest:x}"));
    }
    parts.join("|")
}

const O_CREAT: u64 = 0o100;
const O_TMPFILE: u64 = 0o20000000 | 0o200000;

fn open_flags(v: u64) -> String {
    let acc = match v & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = flags(
        v & !3,
        &[
            (0o100, "O_CREAT"),
            (0o200, "O_EXCL"),
            (0o400, "O_NOCTTY"),
            (0o1000, "O_TRUNC"),
            (0o2000, "O_APPEND"),
            (0o4000, "O_NONBLOCK"),
            (0o4010000, "O_SYNC"),
            (0o10000, "O_DSYNC"),
            (0o20000, "O_ASYNC"),
            (0o40000, "O_DIRECT"),
            (0o100000, "O_LARGEFILE"),
            (0o20200000, "O_TMPFILE"),
            (0o200000, "O_DIRECTORY"),
            (0o400000, "O_NOFOLLOW"),
            (0o1000000, "O_NOATIME"),
            (0o2000000, "O_CLOEXEC"),
            (0o10000000, "O_PATH"),
        ],
    );
    if rest.is_empty() {
        acc.to_string()
    } else {
        format!("{acc}|{rest}")
    }
}

fn named(v: i64, names: &[(i64, &str)]) -> String {
    names
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| v.to_string())
}

const SIGNALS: [&str; 32] = [
    "0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

fn one(raw: i64, kind: char) -> String {
    let v = arg_value(raw, kind);
    let u = raw as u64;
    match kind {
        'd' | 'l' => v.to_string(),
        'u' => u.to_string(),
        'p' | 's' | 'x' | 'a' => format!("0x{u:x}"),
        'o' => {
            if u == 0 {
                "00".into()
            } else {
                format!("0{u:o}")
            }
        }
        'D' => {
            if v == -100 {
                "AT_FDCWD".into()
            } else {
                v.to_string()
            }
        }
        'F' => open_flags(v as u32 as u64),
        'P' => {
            if u == 0 {
                "PROT_NONE".into()
            } else {
                flags(
                    u,
                    &[
                        (1, "PROT_READ"),
                        (2, "PROT_WRITE"),
                        (4, "PROT_EXEC"),
                        (0x8, "PROT_SEM"),
                        (0x0100_0000, "PROT_GROWSDOWN"),
                        (0x0200_0000, "PROT_GROWSUP"),
                    ],
                )
            }
        }
        'M' => {
            let ty = match u & 0xf {
                1 => "MAP_SHARED",
                2 => "MAP_PRIVATE",
                3 => "MAP_SHARED_VALIDATE",
                _ => "",
            };
            let rest = flags(
                u & !0xf,
                &[
                    (0x10, "MAP_FIXED"),
                    (0x20, "MAP_ANONYMOUS"),
                    (0x40, "MAP_32BIT"),
                    (0x100, "MAP_GROWSDOWN"),
                    (0x800, "MAP_DENYWRITE"),
                    (0x1000, "MAP_EXECUTABLE"),
                    (0x2000, "MAP_LOCKED"),
                    (0x4000, "MAP_NORESERVE"),
                    (0x8000, "MAP_POPULATE"),
                    (0x10000, "MAP_NONBLOCK"),
                    (0x20000, "MAP_STACK"),
                    (0x40000, "MAP_HUGETLB"),
                    (0x80000, "MAP_SYNC"),
                    (0x100000, "MAP_FIXED_NOREPLACE"),
                ],
            );
            match (ty.is_empty(), rest.is_empty()) {
                (false, false) => format!("{ty}|{rest}"),
                (false, true) => ty.into(),
                (true, false) => rest,
                (true, true) => "0x0".into(),
            }
        }
        'W' => named(
            v,
            &[
                (0, "SEEK_SET"),
                (1, "SEEK_CUR"),
                (2, "SEEK_END"),
                (3, "SEEK_DATA"),
                (4, "SEEK_HOLE"),
            ],
        ),
        'S' => SIGNALS
            .get(v as usize)
            .map(|s| s.to_string())
            .unwrap_or_else(|| v.to_string()),
        'C' => named(
            v,
            &[
                (0, "CLOCK_REALTIME"),
                (1, "CLOCK_MONOTONIC"),
                (2, "CLOCK_PROCESS_CPUTIME_ID"),
                (3, "CLOCK_THREAD_CPUTIME_ID"),
                (4, "CLOCK_MONOTONIC_RAW"),
                (5, "CLOCK_REALTIME_COARSE"),
                (6, "CLOCK_MONOTONIC_COARSE"),
                (7, "CLOCK_BOOTTIME"),
                (8, "CLOCK_REALTIME_ALARM"),
                (9, "CLOCK_BOOTTIME_ALARM"),
                (11, "CLOCK_TAI"),
            ],
        ),
        'A' => named(
            v,
            &[
                (0, "AF_UNSPEC"),
                (1, "AF_UNIX"),
                (2, "AF_INET"),
                (10, "AF_INET6"),
                (16, "AF_NETLINK"),
                (17, "AF_PACKET"),
            ],
        ),
        'T' => {
            let ty = named(
                v & 0xf,
                &[
                    (1, "SOCK_STREAM"),
                    (2, "SOCK_DGRAM"),
                    (3, "SOCK_RAW"),
                    (4, "SOCK_RDM"),
                    (5, "SOCK_SEQPACKET"),
                    (10, "SOCK_PACKET"),
                ],
            );
            let rest = flags(
                (v as u64) & !0xf,
                &[(0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC")],
            );
            if rest.is_empty() {
                ty
            } else {
                format!("{ty}|{rest}")
            }
        }
        'H' => named(
            v,
            &[(0, "SIG_BLOCK"), (1, "SIG_UNBLOCK"), (2, "SIG_SETMASK")],
        ),
        'X' => {
            if v == 0 {
                "F_OK".into()
            } else {
                flags(v as u64, &[(4, "R_OK"), (2, "W_OK"), (1, "X_OK")])
            }
        }
        _ => v.to_string(),
    }
}

/// The argument string of one syscall.
/// `strings(i)`: the string argument in register `i` as recorded at entry
/// (file names), printed quoted as stap's user_string_quoted; without one,
/// its address. `address()`: the socket address as stap shows it, when
/// recorded (asked only of syscalls that take one).
pub fn argstr(
    syscall: &str,
    raw: &[i64; 6],
    strings: &dyn Fn(usize) -> Option<Rc<str>>,
    address: &dyn Fn() -> Option<String>,
) -> String {
    let Some(args) = crate::stap::elaborate::syscall_args::stap_args(syscall) else {
        // Unknown to the table: the raw arguments in hex.
        return String::new();
    };
    let mut parts = vec![];
    for (i, a) in args.iter().enumerate() {
        if a.name == "mode" && (syscall == "open" || syscall == "openat") {
            let flags_ix = if syscall == "open" { 1 } else { 2 };
            let fl = raw[flags_ix] as u64;
            if fl & O_CREAT == 0 && fl & O_TMPFILE != O_TMPFILE {
                continue;
            }
        }
        if a.kind == 'a' {
            if let Some(text) = address() {
                parts.push(text);
                continue;
            }
        }
        match (a.kind, strings(i)) {
            ('s', Some(text)) => parts.push(super::builtins::text_str(&text, true, None)),
            _ => parts.push(one(raw[i], a.kind)),
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argstr(syscall: &str, raw: &[i64; 6]) -> String {
        super::argstr(syscall, raw, &|_| None, &|| None)
    }

    #[test]
    fn recorded_file_names_are_quoted() {
        let name = |i: usize| (i == 1).then(|| Rc::from("/etc/a \"b\"\n"));
        assert_eq!(
            super::argstr("openat", &[-100, 0x1000, 0, 0, 0, 0], &name, &|| None),
            "AT_FDCWD, \"/etc/a \\\"b\\\"\\n\", O_RDONLY"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(
            argstr("read", &[3, 0x7fff0000, 4096, 0, 0, 0]),
            "3, 0x7fff0000, 4096"
        );
        assert_eq!(
            argstr("openat", &[-100, 0x1000, 0o2000000, 0, 0, 0]),
            "AT_FDCWD, 0x1000, O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(
            argstr("openat", &[-100, 0x1000, 0o101 | 0o1000, 0o644, 0, 0]),
            "AT_FDCWD, 0x1000, O_WRONLY|O_CREAT|O_TRUNC, 0644"
        );
        assert_eq!(
            argstr("mmap", &[0, 8192, 3, 0x22, -1, 0]),
            "0x0, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0"
        );
        assert_eq!(
            argstr("rt_sigprocmask", &[0, 1, 0, 8, 0, 0]),
            "SIG_BLOCK, 0x1, 0x0, 8"
        );
        assert_eq!(return_str(1, -2), "-2 (ENOENT)");
        assert_eq!(return_str(1, 5), "5");
        assert_eq!(return_str(1, -512), "-512");
        assert_eq!(errno_name(-11), "EAGAIN");
    }
}
