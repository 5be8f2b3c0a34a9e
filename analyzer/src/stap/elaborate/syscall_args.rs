//! The syscall tapset's view of arguments: stap's names for each argument of
//! the most used system calls (`read`: fd, buf_uaddr, count) and how its
//! `argstr` shows them. Other syscalls get the kernel's own argument names
//! (from the trace's syscall_signatures.json) shown as numbers.
//!
//! Argument kinds (one letter after the colon):
//! d signed int · l signed long · u unsigned · p pointer · x hex · o octal
//! mode · s user-space string (not recorded: shown as its address) ·
//! D directory fd (AT_FDCWD) · F open flags · P mmap prot · M mmap flags ·
//! W lseek whence · S signal number · C clock id · A socket family ·
//! T socket type · H rt_sigprocmask how · X access mode · a socket
//! address, its length the next argument (recorded: shown as stap's
//! `_struct_sockaddr_u`; otherwise its address).

/// (name, "arg:kind arg:kind ...")
const TABLE: &[(&str, &str)] = &[
    ("read", "fd:d buf_uaddr:p count:u"),
    ("write", "fd:d buf_uaddr:p count:u"),
    ("pread64", "fd:d buf_uaddr:p count:u offset:l"),
    ("pwrite64", "fd:d buf_uaddr:p count:u offset:l"),
    ("readv", "fd:d vector_uaddr:p count:d"),
    ("writev", "fd:d vector_uaddr:p count:d"),
    ("open", "filename:s flags:F mode:o"),
    ("openat", "dfd:D filename:s flags:F mode:o"),
    ("close", "fd:d"),
    ("lseek", "fildes:d offset:l whence:W"),
    ("mmap", "start:p len:u prot:P flags:M fd:d offset:l"),
    ("munmap", "start:p length:u"),
    ("mprotect", "addr:p len:u prot:P"),
    ("brk", "brk:p"),
    ("madvise", "start:p len_in:u behavior:d"),
    ("fstat", "filedes:d buf_uaddr:p"),
    ("stat", "filename:s buf_uaddr:p"),
    ("lstat", "filename:s buf_uaddr:p"),
    ("newfstatat", "dirfd:D path:s buf_uaddr:p flags:x"),
    ("statx", "dfd:D filename:s flags:x mask:x buffer_uaddr:p"),
    ("access", "pathname:s mode:X"),
    ("faccessat", "dirfd:D pathname:s mode:X"),
    ("faccessat2", "dirfd:D pathname:s mode:X flags:x"),
    ("ioctl", "fd:d request:d argp:p"),
    ("fcntl", "fd:d cmd:d arg:p"),
    ("dup", "oldfd:d"),
    ("dup2", "oldfd:d newfd:d"),
    ("dup3", "oldfd:d newfd:d flags:F"),
    ("pipe2", "fildes_uaddr:p flags:F"),
    ("getdents64", "fd:d dirp_uaddr:p count:u"),
    ("poll", "ufds_uaddr:p nfds:u timeout:d"),
    (
        "ppoll",
        "fds_uaddr:p nfds:u tsp_uaddr:p sigmask:p sigsetsize:u",
    ),
    (
        "select",
        "n:d readfds_uaddr:p writefds_uaddr:p exceptfds_uaddr:p timeout_uaddr:p",
    ),
    (
        "pselect6",
        "n:d readfds_uaddr:p writefds_uaddr:p exceptfds_uaddr:p timeout_uaddr:p sigmask_uaddr:p",
    ),
    ("epoll_wait", "epfd:d events_uaddr:p maxevents:d timeout:d"),
    (
        "epoll_pwait",
        "epfd:d events_uaddr:p maxevents:d timeout:d sigmask_uaddr:p sigsetsize:u",
    ),
    ("epoll_ctl", "epfd:d op:d fd:d event_uaddr:p"),
    ("socket", "family:A type:T protocol:d"),
    ("connect", "sockfd:d serv_addr_uaddr:a addrlen:u"),
    ("bind", "sockfd:d my_addr_uaddr:a addrlen:u"),
    ("listen", "sockfd:d backlog:d"),
    ("accept", "sockfd:d addr_uaddr:p addrlen_uaddr:p"),
    ("accept4", "sockfd:d addr_uaddr:p addrlen_uaddr:p flags:x"),
    ("sendto", "s:d buf_uaddr:p len:u flags:x to_uaddr:a tolen:u"),
    (
        "recvfrom",
        "s:d buf_uaddr:p len:u flags:x addr_uaddr:p addrlen_uaddr:p",
    ),
    ("sendmsg", "s:d msg_uaddr:p flags:x"),
    ("recvmsg", "s:d msg_uaddr:p flags:x"),
    ("shutdown", "s:d how:d"),
    (
        "setsockopt",
        "fd:d level:d optname:d optval_uaddr:p optlen:u",
    ),
    (
        "getsockopt",
        "fd:d level:d optname:d optval_uaddr:p optlen_uaddr:p",
    ),
    ("execve", "filename:s args:p env_str:p"),
    ("exit", "status:d"),
    ("exit_group", "status:d"),
    ("wait4", "pid:d status_uaddr:p options:x rusage_uaddr:p"),
    ("kill", "pid:d sig:S"),
    ("tgkill", "tgid:d pid:d sig:S"),
    (
        "rt_sigaction",
        "sig:S act_uaddr:p oact_uaddr:p sigsetsize:u",
    ),
    (
        "rt_sigprocmask",
        "how:H set_uaddr:p oldset_uaddr:p sigsetsize:u",
    ),
    ("nanosleep", "req_uaddr:p rem_uaddr:p"),
    (
        "clock_nanosleep",
        "which_clock:C flags:x req_uaddr:p rem_uaddr:p",
    ),
    ("clock_gettime", "which_clock:C tp_uaddr:p"),
    ("gettimeofday", "tv_uaddr:p tz_uaddr:p"),
    (
        "futex",
        "futex_uaddr:p op:d val:u utime_uaddr:p uaddr2_uaddr:p val3:u",
    ),
    ("getrandom", "buf:p count:u flags:x"),
    ("fsync", "fd:d"),
    ("fdatasync", "fd:d"),
    ("sync", ""),
    ("getpid", ""),
    ("getppid", ""),
    ("gettid", ""),
    ("getuid", ""),
    ("geteuid", ""),
    ("getgid", ""),
    ("getegid", ""),
    ("sched_yield", ""),
    ("chdir", "path:s"),
    ("getcwd", "buf:p size:u"),
    ("unlink", "pathname:s"),
    ("unlinkat", "dfd:D pathname:s flag:x"),
    ("mkdir", "pathname:s mode:o"),
    ("rename", "oldpath:s newpath:s"),
    ("umask", "mask:o"),
    ("uname", "name_uaddr:p"),
    ("sysinfo", "info_uaddr:p"),
    (
        "prlimit64",
        "pid:d resource:d new_rlim_uaddr:p old_rlim_uaddr:p",
    ),
    ("set_tid_address", "tidptr_uaddr:p"),
    ("arch_prctl", "code:d addr:p"),
    (
        "clone",
        "clone_flags:x newsp:p parent_tid_uaddr:p child_tid_uaddr:p tls:p",
    ),
    ("clone3", "cl_args_uaddr:p size:u"),
    ("eventfd2", "count:u flags:x"),
    (
        "timerfd_settime",
        "fd:d flags:x new_value_uaddr:p old_value_uaddr:p",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: &'static str,
    pub kind: char,
}

/// stap's argument list for a syscall, if the tapset knows it here.
pub fn stap_args(syscall: &str) -> Option<Vec<Arg>> {
    let (_, spec) = TABLE.iter().find(|(n, _)| *n == syscall)?;
    Some(
        spec.split_whitespace()
            .map(|a| {
                let (name, kind) = a.split_once(':').unwrap_or((a, "d"));
                Arg {
                    name,
                    kind: kind.chars().next().unwrap_or('d'),
                }
            })
            .collect(),
    )
}

/// The variables stap's tapset derives from a syscall's socket address
/// (`_af_inet_info_u` for connect and bind, sendto's `to_str`), with the
/// part of the address each holds.
pub fn address_vars(syscall: &str) -> &'static [(&'static str, AddrPart)] {
    match syscall {
        "connect" | "bind" => &[
            ("uaddr_af", AddrPart::Family),
            ("uaddr_ip", AddrPart::IpAddr),
            ("uaddr_ip_port", AddrPart::Port),
            ("uaddr_ipv6_flowinfo", AddrPart::Flowinfo),
            ("uaddr_ipv6_scope_id", AddrPart::ScopeId),
        ],
        "sendto" => &[("to_str", AddrPart::Pretty)],
        _ => &[],
    }
}

/// Which of stap's socket address functions a variable is: the whole
/// address (`_struct_sockaddr_u`), or one part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrPart {
    Pretty,
    Family,
    IpAddr,
    Port,
    Flowinfo,
    ScopeId,
}

/// Every syscall the table covers.
pub fn known() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(n, _)| *n)
}

/// (kernel name, stap's name) for the syscalls whose names differ: what
/// `name` prints and what probe points match, in the interpreter and plans.
pub const STAP_NAMES: [(&str, &str); 5] = [
    ("pread64", "pread"),
    ("pwrite64", "pwrite"),
    ("newfstatat", "fstatat"),
    ("umount2", "umount"),
    ("prlimit64", "prlimit"),
];

/// The name stap's tapset gives a syscall ([`STAP_NAMES`]).
pub fn stap_name(kernel: &str) -> &str {
    STAP_NAMES
        .iter()
        .find(|(k, _)| *k == kernel)
        .map_or(kernel, |(_, stap)| stap)
}

/// Every argument name stap gives any syscall in the table.
pub fn all_arg_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = TABLE
        .iter()
        .flat_map(|(_, s)| {
            s.split_whitespace()
                .map(|a| a.split(':').next().unwrap_or(a))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forty_common_syscalls_are_known_and_real() {
        let names = retap_schema::syscalls::all_names("x86_64");
        let mut n = 0;
        for k in known() {
            assert!(names.contains(&k), "{k} is not an x86_64 syscall");
            n += 1;
        }
        assert!(n >= 40);
        assert_eq!(stap_args("read").unwrap()[2].name, "count");
    }
}
