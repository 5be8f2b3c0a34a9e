//! stap's syscall tapset as retap serves it: for each `syscall.ALIAS`, the
//! kernel syscalls it fires on, the `name` it sets, its variables and how
//! each is derived from the recorded registers, and the format of its
//! `argstr`. Written here in retap's own notation (`syscalls.tapset`; stap's
//! tapset is GPL and is not copied) and held to stap 4.8's sources by
//! tests/syscall_tapset.rs, which reads the installed tapset and fails on
//! any difference not explained in its allow-list.
//!
//! Every syscall of the kernel is either in the table or listed in
//! [`NO_ALIAS`]; the table does not parse otherwise.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::format::{self, Format};
use super::ir::Ty;

/// Most variables a decoder reads (prctl's five).
pub const MAX_DECODE_ARGS: usize = 5;

/// How a variable gets its value.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// Argument register `reg` (0-based) read as stap's int_arg (signed 32
    /// bits), uint_arg (unsigned 32), long_arg/ulong_arg/pointer_arg (64).
    Reg {
        reg: u8,
        conv: Conv,
    },
    /// A file name in the caller's memory (`user_string_quoted`), printed
    /// quoted; served when the trace recorded that argument's string.
    Path {
        reg: u8,
        quoted: bool,
    },
    /// A value in the caller's memory that recordings do not hold (a
    /// struct, a user buffer). In argstr it shows as stap shows memory it
    /// could not read: `NULL` or the address; read directly, it is refused.
    User {
        of: usize,
        ty: Ty,
        shown: Unread,
    },
    /// Like User, of the pointer in argument register `reg`.
    UserAt {
        reg: u8,
        shown: Unread,
    },
    /// A number shown by name (`_sys_open_flag_str` and its kin): the
    /// decoder's name, resolved by the runtime, and the variables it reads
    /// (`of`, then `more`: `_sock_protocol_str(family, protocol)`, or all
    /// of prctl's five for `_prctl_argstr`).
    Decode {
        f: &'static str,
        of: usize,
        more: Vec<usize>,
    },
    /// The socket address at `reg` (length in the next register), as stap's
    /// `_struct_sockaddr_u` shows it (or one part), when recorded.
    Addr {
        reg: u8,
        part: AddrPart,
    },
    /// Another variable (argstr arguments are variables or decodings).
    Var(usize),
    /// A constant stap sets for compatibility (`dup2`'s flags = 0).
    Const(i64),
    Text(&'static str),
}

/// How stap shows user memory it could not read (a number reads 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unread {
    /// `NULL` for a null pointer, else the address (its struct readers).
    Null,
    /// The address, `0x0` too (its buffer and string readers).
    Hex,
    /// `[]` for a null argv, else `[0x...]` (`__get_argv`).
    Argv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conv {
    Int,
    Uint,
    Long,
    Short,
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

#[derive(Clone, Debug)]
pub struct Var {
    pub name: &'static str,
    pub expr: Expr,
    pub ty: Ty,
}

/// One way of building argstr: used when its condition holds (the first
/// that does).
#[derive(Clone, Debug)]
pub struct Argstr {
    pub cond: Option<Cond>,
    pub text: &'static str,
    pub format: Format,
    pub args: Vec<Expr>,
}

/// When an argstr form applies.
#[derive(Clone, Debug)]
pub enum Cond {
    /// The variable ANDed with the mask is nonzero.
    Mask(usize, i64),
    /// The variable, shifted right by .1 bits, is one of the values.
    OneOf(usize, u32, Vec<i64>),
}

#[derive(Clone, Debug)]
pub struct Alias {
    pub alias: &'static str,
    pub name: &'static str,
    /// Kernel syscalls (x86_64 names) this alias fires on.
    pub syscalls: Vec<&'static str>,
    pub vars: Vec<Var>,
    pub argstr: Vec<Argstr>,
    /// stap's return_str format: 1 decimal, 2 hex, 3 octal.
    pub retstr: i64,
    /// `name` when the int in argument register `.0` is `.1` (stap names
    /// epoll_create1 with flags 0 "epoll_create").
    pub name_if: Option<(u8, i64, &'static str)>,
}

impl Alias {
    /// The `name` of a call with these argument registers.
    pub fn name_for(&self, arg: impl Fn(usize) -> i64) -> &'static str {
        match self.name_if {
            Some((reg, v, name)) if arg(reg as usize) as i32 as i64 == v => name,
            _ => self.name,
        }
    }

    pub fn var(&self, name: &str) -> Option<(usize, &Var)> {
        self.vars.iter().enumerate().find(|(_, v)| v.name == name)
    }
}

/// Kernel syscalls of x86_64 for which stap 4.8 defines no `syscall.*`
/// alias: `syscall.*` does not match them (stap's doesn't); named
/// explicitly (`syscall.clone3`) they are served with `name`, `retval`,
/// `retstr` and `$args`, a retap extension.
pub const NO_ALIAS: &[&str] = &[
    "afs_syscall",
    "clone3",
    "close_range",
    "create_module",
    // stap's syscall.epoll_create and syscall.signalfd are
    // `__tp_syscall.epoll_create1 !, __tp_syscall.epoll_create ?` (and the
    // same of signalfd4): the first always resolves, so they fire on
    // epoll_create1 and signalfd4 only.
    "epoll_create",
    "epoll_ctl_old",
    "epoll_pwait2",
    "epoll_wait_old",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "futex_waitv",
    "get_kernel_syms",
    "getpmsg",
    "io_pgetevents",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "mount_setattr",
    "move_mount",
    "nfsservctl",
    "open_tree",
    "openat2",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "process_madvise",
    "process_mrelease",
    "putpmsg",
    "query_module",
    "quotactl_fd",
    "rseq",
    "rt_sigreturn",
    "security",
    "set_mempolicy_home_node",
    "signalfd",
    "tuxcall",
    "vserver",
];

/// x86_64 syscalls newer than stap 4.8's syscall number table: its
/// syscall_name() (and syscall_any's `name`) is "" for them.
pub const NOT_IN_STAP_NUMBERS: &[&str] = &["futex_waitv", "set_mempolicy_home_node"];

/// The kernel's name of a syscall as stap's syscall number table has it.
pub fn stap_kernel_name(kernel: &str) -> &str {
    if NOT_IN_STAP_NUMBERS.contains(&kernel) {
        ""
    } else {
        kernel
    }
}

const TABLE: &str = include_str!("syscalls.tapset");

pub struct Tapset {
    pub aliases: Vec<Alias>,
    by_alias: HashMap<&'static str, usize>,
    by_syscall: HashMap<&'static str, usize>,
}

/// The table, parsed once (it is part of the binary; a unit test parses it).
pub fn tapset() -> &'static Tapset {
    static T: OnceLock<Tapset> = OnceLock::new();
    T.get_or_init(
        || match parse(TABLE, &retap_schema::syscalls::all_names("x86_64")) {
            Ok(t) => t,
            Err(e) => panic!("syscalls.tapset: {e}"),
        },
    )
}

impl Tapset {
    /// The alias `syscall.NAME` is.
    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.by_alias.get(name).map(|&i| &self.aliases[i])
    }

    /// Every entry of the alias `syscall.NAME` (one per syscall when they
    /// set different things).
    pub fn entries<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Alias> + 'a {
        self.aliases.iter().filter(move |a| a.alias == name)
    }

    /// The alias whose probes fire on a kernel syscall.
    pub fn of_syscall(&self, syscall: &str) -> Option<&Alias> {
        self.by_syscall.get(syscall).map(|&i| &self.aliases[i])
    }
}

/// The alias serving a kernel syscall (None: stap has none).
pub fn of_syscall(syscall: &str) -> Option<&'static Alias> {
    tapset().of_syscall(syscall)
}

/// The name stap's tapset gives a syscall (`getdents64` is `getdents`).
pub fn stap_name(kernel: &str) -> &str {
    of_syscall(kernel).map_or(kernel, |a| a.name)
}

/// (kernel name, stap's name) for the syscalls whose names differ: what
/// `name` prints and what probe points match, in the interpreter and plans.
pub fn renamed() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<_> = tapset()
        .aliases
        .iter()
        .flat_map(|a| a.syscalls.iter().map(move |s| (*s, a.name)))
        .filter(|(s, n)| s != n)
        .collect();
    v.sort();
    v
}

/// (kernel name, register, value, stap's name) for the syscalls whose
/// `name` depends on an argument ([`Alias::name_if`]).
pub fn names_by_value() -> Vec<(&'static str, u8, i64, &'static str)> {
    tapset()
        .aliases
        .iter()
        .filter_map(|a| {
            let (reg, v, name) = a.name_if?;
            Some(a.syscalls.iter().map(move |s| (*s, reg, v, name)))
        })
        .flatten()
        .collect()
}

/// Whether stap's alias `family.alias` (`dw_syscall`, `nd1_syscall`...)
/// sets this variable of the table's. Its families set the same but for
/// these (tests/syscall_tapset.rs holds this to stap's sources): the
/// dw_syscall aliases (DWARF, kernel.function) have no unquoted copies of
/// file names, and nd1_syscall.truncate has no path_unquoted. `syscall.X`
/// is `dw_syscall.X !, nd_syscall.X` in stap, so which set it has depends
/// on the kernel's debuginfo there; retap serves the larger, nd_'s.
pub fn in_family(family: &str, alias: &str, var: &str) -> bool {
    match family {
        "dw_syscall" => !var.ends_with("_unquoted"),
        "nd1_syscall" => !(alias == "truncate" && var == "path_unquoted"),
        _ => true,
    }
}

/// Every variable name any alias has.
pub fn all_var_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = tapset()
        .aliases
        .iter()
        .flat_map(|a| a.vars.iter().map(|v| v.name))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The type a variable name has in the aliases that define it.
pub fn all_var_ty(name: &str) -> Ty {
    tapset()
        .aliases
        .iter()
        .find_map(|a| a.var(name).map(|(_, v)| v.ty))
        .unwrap_or(Ty::Long)
}

/// Whether a variable can be served from a recording, given whether it
/// holds the string in register `reg` and socket addresses.
pub fn served(v: &Var, path_recorded: &dyn Fn(usize) -> bool, addresses: bool) -> bool {
    match &v.expr {
        Expr::Path { reg, .. } => path_recorded(*reg as usize),
        Expr::User { .. } | Expr::UserAt { .. } => false,
        Expr::Addr { .. } => addresses,
        _ => true,
    }
}

fn parse(text: &'static str, kernel: &[&'static str]) -> Result<Tapset, String> {
    let mut aliases: Vec<Alias> = vec![];
    for (ln, line) in text.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}", ln + 1);
        let body = line.split(" #").next().unwrap_or(line).trim_end();
        if body.trim().is_empty() || body.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            aliases.push(header(body).map_err(at)?);
            continue;
        }
        let a = aliases
            .last_mut()
            .ok_or_else(|| at("a variable before any alias".into()))?;
        let body = body.trim();
        if let Some(rest) = body.strip_prefix("argstr") {
            let s = argstr(rest.trim(), a).map_err(at)?;
            a.argstr.push(s);
        } else {
            let (name, e) = body
                .split_once(" = ")
                .ok_or_else(|| at(format!("expected 'VAR = EXPR' or 'argstr ...': {body}")))?;
            let expr = expr(e.trim(), a).map_err(at)?;
            let ty = match &expr {
                Expr::Reg { .. } | Expr::Const(_) => Ty::Long,
                Expr::User { ty, .. } => *ty,
                Expr::Var(i) => a.vars[*i].ty,
                _ => Ty::Str,
            };
            if a.var(name).is_some() {
                return Err(at(format!("{} defines {name} twice", a.alias)));
            }
            a.vars.push(Var {
                name: name.trim(),
                expr,
                ty,
            });
        }
    }
    let mut t = Tapset {
        aliases,
        by_alias: HashMap::new(),
        by_syscall: HashMap::new(),
    };
    // Every syscall of the kernel has its alias here, or stap has none.
    let named: Vec<&str> = t.aliases.iter().flat_map(|a| a.syscalls.clone()).collect();
    let missing: Vec<&str> = kernel
        .iter()
        .copied()
        .filter(|k| !named.contains(k) && !NO_ALIAS.contains(k))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no alias for the syscalls {} (and not in NO_ALIAS)",
            missing.join(", ")
        ));
    }
    for (i, a) in t.aliases.iter().enumerate() {
        // An alias over several syscalls that sets different things for
        // each (`pipe` and `pipe2`) has an entry per syscall.
        if let Some(&j) = t.by_alias.get(a.alias) {
            if t.aliases[j].name == a.name {
                return Err(format!("syscall.{} is defined twice", a.alias));
            }
        } else {
            t.by_alias.insert(a.alias, i);
        }
        for s in &a.syscalls {
            if !kernel.contains(s) {
                return Err(format!("syscall.{}: {s} is not an x86_64 syscall", a.alias));
            }
            if let Some(j) = t.by_syscall.insert(s, i) {
                return Err(format!(
                    "{s} is served by both syscall.{} and syscall.{}",
                    t.aliases[j].alias, a.alias
                ));
            }
        }
        if a.argstr.is_empty() {
            return Err(format!("syscall.{} has no argstr", a.alias));
        }
    }
    Ok(t)
}

/// `ALIAS [name=NAME] [syscalls=A,B] [retstr=hex|oct]`
fn header(line: &'static str) -> Result<Alias, String> {
    let mut words = line.split_whitespace();
    let alias = words.next().ok_or("empty alias line")?;
    let mut a = Alias {
        alias,
        name: alias,
        syscalls: vec![alias],
        vars: vec![],
        argstr: vec![],
        retstr: 1,
        name_if: None,
    };
    for w in words {
        match w.split_once('=') {
            Some(("name", n)) => a.name = n,
            Some(("syscalls", s)) => a.syscalls = s.split(',').collect(),
            Some(("retstr", "hex")) => a.retstr = 2,
            Some(("retstr", "oct")) => a.retstr = 3,
            Some(("name_if", rule)) => {
                // REGISTER==VALUE:NAME
                let bad = || format!("name_if={rule}: REGISTER==VALUE:NAME expected");
                let (cond, name) = rule.split_once(':').ok_or_else(bad)?;
                let (r, v) = cond.split_once("==").ok_or_else(bad)?;
                let r: u8 = r.parse().map_err(|_| bad())?;
                if !(1..=6).contains(&r) {
                    return Err(bad());
                }
                a.name_if = Some((r - 1, v.parse().map_err(|_| bad())?, name));
            }
            _ => return Err(format!("unknown attribute {w} of {alias}")),
        }
    }
    Ok(a)
}

fn var_ix(a: &Alias, name: &str) -> Result<usize, String> {
    a.var(name)
        .map(|(i, _)| i)
        .ok_or_else(|| format!("{}: unknown variable {name}", a.alias))
}

fn expr(e: &'static str, a: &Alias) -> Result<Expr, String> {
    if let Some(t) = e.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Ok(Expr::Text(t));
    }
    if let Ok(n) = e.parse::<i64>() {
        return Ok(Expr::Const(n));
    }
    let Some((f, rest)) = e.split_once('(') else {
        return Ok(Expr::Var(var_ix(a, e)?));
    };
    let arg = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("unclosed call: {e}"))?
        .trim();
    let reg = || -> Result<u8, String> {
        match arg.parse::<u8>() {
            Ok(n @ 1..=6) => Ok(n - 1),
            _ => Err(format!("{f}: argument register 1-6 expected, got {arg}")),
        }
    };
    let conv = |c| {
        Ok(Expr::Reg {
            reg: reg()?,
            conv: c,
        })
    };
    match f {
        "int" => conv(Conv::Int),
        "uint" => conv(Conv::Uint),
        "long" | "ulong" | "ptr" | "s64" => conv(Conv::Long),
        "short" => conv(Conv::Short),
        "path" => Ok(Expr::Path {
            reg: reg()?,
            quoted: true,
        }),
        "path_raw" => Ok(Expr::Path {
            reg: reg()?,
            quoted: false,
        }),
        "user" | "user0x" | "user_argv" if arg.parse::<u8>().is_ok() => Ok(Expr::UserAt {
            reg: reg()?,
            shown: match f {
                "user0x" => Unread::Hex,
                "user_argv" => Unread::Argv,
                _ => Unread::Null,
            },
        }),
        "user" | "user0x" | "user_argv" | "user_long" => Ok(Expr::User {
            of: var_ix(a, arg)?,
            ty: if f == "user_long" { Ty::Long } else { Ty::Str },
            shown: match f {
                "user0x" => Unread::Hex,
                "user_argv" => Unread::Argv,
                _ => Unread::Null,
            },
        }),
        "sockaddr" | "addr_family" | "addr_ip" | "addr_port" | "addr_flowinfo"
        | "addr_scope_id" => Ok(Expr::Addr {
            reg: reg()?,
            part: match f {
                "sockaddr" => AddrPart::Pretty,
                "addr_family" => AddrPart::Family,
                "addr_ip" => AddrPart::IpAddr,
                "addr_port" => AddrPart::Port,
                "addr_flowinfo" => AddrPart::Flowinfo,
                _ => AddrPart::ScopeId,
            },
        }),
        _ => {
            let mut vars = arg.split(',').map(|v| var_ix(a, v.trim()));
            let of = vars
                .next()
                .ok_or_else(|| format!("{f}() needs a variable"))??;
            let more: Vec<usize> = vars.collect::<Result<_, _>>()?;
            if more.len() >= MAX_DECODE_ARGS {
                return Err(format!("{f}() takes at most {MAX_DECODE_ARGS} variables"));
            }
            Ok(Expr::Decode { f, of, more })
        }
    }
}

/// `[if VAR & MASK | if VAR == N [|| VAR == M]] "FORMAT", ARG, ...`
fn argstr(s: &'static str, a: &Alias) -> Result<Argstr, String> {
    let mut cond = None;
    let mut s = s;
    let num = |m: &str| -> Result<i64, String> {
        let m = m.trim();
        match m.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16),
            None => m.parse(),
        }
        .map_err(|_| format!("bad number {m}"))
    };
    if let Some(rest) = s.strip_prefix("if ") {
        let (c, _) = rest
            .split_once(" \"")
            .ok_or("if COND \"FORMAT\" expected")?;
        cond = Some(if let Some((v, m)) = c.split_once('&') {
            Cond::Mask(var_ix(a, v.trim())?, num(m)?)
        } else {
            let mut var = None;
            let mut vals = vec![];
            let mut shift = 0;
            for alt in c.split("||") {
                let (v, n) = alt
                    .split_once("==")
                    .ok_or("if VAR & MASK or VAR [>> S] == N expected")?;
                // `VAR >> S == N` (quotactl's subcommand)
                let (v, s) = match v.split_once(">>") {
                    Some((v, s)) => (v, s.trim().parse().map_err(|_| "bad shift")?),
                    None => (v, 0),
                };
                let v = var_ix(a, v.trim())?;
                if var.is_some_and(|x| x != v) {
                    return Err("one variable per condition".into());
                }
                var = Some(v);
                shift = s;
                vals.push(num(n)?);
            }
            Cond::OneOf(var.ok_or("empty condition")?, shift, vals)
        });
        s = &rest[c.len() + 1..];
    }
    let s = s
        .strip_prefix('"')
        .ok_or("argstr \"FORMAT\", ARGS expected")?;
    let end = s.find('"').ok_or("unclosed format")?;
    let text = &s[..end];
    let fmt = format::parse(text)?;
    let mut args = vec![];
    for arg in split_args(&s[end + 1..]) {
        args.push(expr(arg, a)?);
    }
    let want = fmt.arg_types();
    if want.len() != args.len() {
        return Err(format!(
            "{}: format \"{text}\" takes {} arguments, {} given",
            a.alias,
            want.len(),
            args.len()
        ));
    }
    Ok(Argstr {
        cond,
        text,
        format: fmt,
        args,
    })
}

/// Arguments separated by commas outside parentheses.
fn split_args(s: &'static str) -> Vec<&'static str> {
    let mut out = vec![];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.retain(|x| !x.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_real_syscalls() {
        let t = tapset();
        assert!(t.aliases.len() >= 300);
        let read = t.alias("read").unwrap();
        assert_eq!(read.vars[2].name, "count");
        assert_eq!(stap_name("getdents64"), "getdents");
        assert_eq!(stap_name("prlimit64"), "prlimit64");
        assert!(of_syscall("clone3").is_none());
    }

    #[test]
    fn bad_lines_are_refused_with_their_line() {
        let k = ["read"];
        let e = |s| parse(s, &k).err().unwrap_or_default();
        assert!(e("read\n  fd = int(7)\n").contains("line 2: int: argument register 1-6"));
        assert!(e("read\n  argstr \"%d\", fd\n").contains("unknown variable fd"));
        assert!(e("read\n  fd = int(1)\n  argstr \"%d %d\", fd\n").contains("takes 2 arguments"));
        assert!(e("read\n").contains("syscall.read has no argstr"));
        assert!(
            e("read\n  a = int(1)\n  argstr \"%s\", f(a, a, a, a, a, a)\n")
                .contains("f() takes at most 5 variables")
        );
        assert!(e("write\n  argstr \"\"\n").contains("no alias for the syscalls read"));
    }
}
