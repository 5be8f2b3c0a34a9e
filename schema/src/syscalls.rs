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
    fn tables_fit_the_filter() {
        assert!(X86_64.len() <= MAX_NR && AARCH64.len() <= MAX_NR);
    }
}
