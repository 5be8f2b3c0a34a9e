//! Syscall number <-> name, from tables generated out of the kernel's own
//! UAPI headers (tools/gen_syscall_names.py), never typed by hand.

use crate::syscall_table::{AARCH64, X86_64};

fn table(arch: &str) -> Option<&'static [&'static str]> {
    match arch {
        "x86_64" => Some(&X86_64),
        "aarch64" | "arm64" => Some(&AARCH64),
        _ => None,
    }
}

/// The architecture this binary was built for, in `uname -m` spelling.
pub fn host_arch() -> &'static str {
    std::env::consts::ARCH
}

/// Name of syscall `nr` on `arch`; `None` when the number is unassigned or
/// the architecture is unknown.
pub fn name(arch: &str, nr: i64) -> Option<&'static str> {
    let t = table(arch)?;
    let n = usize::try_from(nr).ok()?;
    t.get(n).copied().filter(|s| !s.is_empty())
}

/// Number of syscall `name` on `arch`.
pub fn number(arch: &str, name: &str) -> Option<u32> {
    let t = table(arch)?;
    t.iter().position(|s| *s == name).map(|i| i as u32)
}

/// Every assigned syscall name on `arch`, in number order.
pub fn all_names(arch: &str) -> Vec<&'static str> {
    table(arch)
        .map(|t| t.iter().copied().filter(|s| !s.is_empty()).collect())
        .unwrap_or_default()
}

/// Which arguments of a syscall are file names in the caller's memory,
/// which the recorder reads at entry into the syscalls table's `path` and
/// `path2` columns (in argument order), from the kernel's signature of it
/// (`const char * filename`, ...). At most two: every syscall has at most
/// two path arguments (rename, link, mount's device and directory, ...).
pub fn path_args(syscall: &str, signature: &[(String, String)]) -> Vec<usize> {
    const PATHS: [&str; 13] = [
        "filename",
        "pathname",
        "path",
        "oldname",
        "newname",
        "specialfile",
        "special",
        "to_pathname",
        "from_pathname",
        "dir_name",
        "dev_name",
        "new_root",
        "put_old",
    ];
    // `name` is a file for these; elsewhere an attribute or host name.
    const NAME_IS_PATH: [&str; 4] = ["acct", "umount", "umount2", "name_to_handle_at"];
    signature
        .iter()
        .enumerate()
        .filter(|(_, (ty, name))| {
            ty.contains("char") && ty.contains('*') && {
                PATHS.contains(&name.as_str())
                    || (name == "name" && NAME_IS_PATH.contains(&syscall))
            }
        })
        .map(|(i, _)| i)
        .take(2)
        .collect()
}

/// Where a syscall's socket address is in the caller's memory, and when it
/// is there to read: given at entry (connect, bind, sendto), or written by
/// the kernel for the caller and read at exit (accept, recvfrom,
/// getsockname), directly or through a `struct user_msghdr` (sendmsg,
/// recvmsg). Registers are argument indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrArg {
    /// `struct sockaddr *` in `addr`, its length the value in `len`.
    Given { addr: usize, len: usize },
    /// `struct sockaddr *` in `addr`, its length at the `int *` in `len`.
    Returned { addr: usize, len: usize },
    /// `struct user_msghdr *` in `msg`: `msg_name`, `msg_namelen`.
    Message { msg: usize, at_exit: bool },
}

impl AddrArg {
    pub fn at_exit(self) -> bool {
        match self {
            AddrArg::Given { .. } => false,
            AddrArg::Returned { .. } => true,
            AddrArg::Message { at_exit, .. } => at_exit,
        }
    }
}

/// The socket address argument of a syscall, from the kernel's signature
/// of it: a `struct sockaddr *` followed by its length (an `int`, or an
/// `int *` the kernel fills), or a single `struct user_msghdr *` (read at
/// exit for the receiving calls). `sendmmsg`/`recvmmsg` carry a vector of
/// them and are not read.
pub fn addr_arg(syscall: &str, signature: &[(String, String)]) -> Option<AddrArg> {
    let ty = |i: usize| signature.get(i).map(|(t, _)| t.replace(' ', ""));
    for i in 0..signature.len() {
        let t = ty(i)?;
        if t == "structsockaddr*" {
            return match ty(i + 1).as_deref() {
                Some("int") => Some(AddrArg::Given {
                    addr: i,
                    len: i + 1,
                }),
                Some("int*") => Some(AddrArg::Returned {
                    addr: i,
                    len: i + 1,
                }),
                _ => None,
            };
        }
        if t == "structuser_msghdr*" {
            return Some(AddrArg::Message {
                msg: i,
                at_exit: syscall.starts_with("recv"),
            });
        }
    }
    None
}

/// Highest syscall number + 1 over the known architectures; sizes the
/// in-kernel syscall filter.
pub const MAX_NR: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_numbers() {
        assert_eq!(name("x86_64", 0), Some("read"));
        assert_eq!(name("x86_64", 1), Some("write"));
        assert_eq!(name("x86_64", 110), Some("getppid"));
        assert_eq!(name("x86_64", 162), Some("sync"));
        assert_eq!(name("x86_64", 231), Some("exit_group"));
        assert_eq!(name("aarch64", 63), Some("read"));
        assert_eq!(name("aarch64", 64), Some("write"));
        assert_eq!(name("aarch64", 173), Some("getppid"));
        assert_eq!(name("aarch64", 79), Some("newfstatat"));
        assert_eq!(number("x86_64", "openat"), Some(257));
        assert_eq!(name("x86_64", -1), None);
        assert_eq!(name("x86_64", 100_000), None);
        assert_eq!(name("mips", 0), None);
    }

    #[test]
    fn path_arguments_by_the_kernels_signature() {
        let sig = |args: &[(&str, &str)]| -> Vec<(String, String)> {
            args.iter()
                .map(|(t, n)| (t.to_string(), n.to_string()))
                .collect()
        };
        let openat = sig(&[
            ("int", "dfd"),
            ("const char *", "filename"),
            ("int", "flags"),
        ]);
        assert_eq!(path_args("openat", &openat), [1]);
        let rename = sig(&[
            ("int", "olddfd"),
            ("const char *", "oldname"),
            ("int", "newdfd"),
            ("const char *", "newname"),
        ]);
        assert_eq!(path_args("renameat", &rename), [1, 3]);
        let write = sig(&[("unsigned int", "fd"), ("const char *", "buf")]);
        assert!(path_args("write", &write).is_empty());
        let xattr = sig(&[("const char *", "pathname"), ("const char *", "name")]);
        assert_eq!(path_args("setxattr", &xattr), [0]);
        assert_eq!(
            path_args("umount", &sig(&[("char *", "name"), ("int", "flags")])),
            [0]
        );
    }

    #[test]
    fn socket_addresses_by_the_kernels_signature() {
        let sig = |args: &[(&str, &str)]| -> Vec<(String, String)> {
            args.iter()
                .map(|(t, n)| (t.to_string(), n.to_string()))
                .collect()
        };
        let connect = sig(&[
            ("int", "fd"),
            ("struct sockaddr *", "uservaddr"),
            ("int", "addrlen"),
        ]);
        assert_eq!(
            addr_arg("connect", &connect),
            Some(AddrArg::Given { addr: 1, len: 2 })
        );
        let accept = sig(&[
            ("int", "fd"),
            ("struct sockaddr *", "upeer_sockaddr"),
            ("int *", "upeer_addrlen"),
        ]);
        assert_eq!(
            addr_arg("accept", &accept),
            Some(AddrArg::Returned { addr: 1, len: 2 })
        );
        let msg = sig(&[
            ("int", "fd"),
            ("struct user_msghdr *", "msg"),
            ("unsigned int", "flags"),
        ]);
        assert_eq!(
            addr_arg("sendmsg", &msg),
            Some(AddrArg::Message {
                msg: 1,
                at_exit: false
            })
        );
        assert!(addr_arg("recvmsg", &msg).unwrap().at_exit());
        let mmsg = sig(&[("int", "fd"), ("struct mmsghdr *", "msg")]);
        assert_eq!(addr_arg("sendmmsg", &mmsg), None);
    }

    #[test]
    fn tables_fit_the_filter() {
        assert!(X86_64.len() <= MAX_NR && AARCH64.len() <= MAX_NR);
    }
}
