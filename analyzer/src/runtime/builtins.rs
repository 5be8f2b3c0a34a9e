//! Tapset functions at run time, from the event's columns and the trace
//! clock (gettimeofday_* = trace time + the manifest's wall-clock offset).

use crate::stap::elaborate::catalog::Family;
use crate::stap::elaborate::tapset::Builtin;
use crate::stap::source::Span;

use super::argstr;
use super::interp::{err, Interp, R};
use super::softfloat;
use super::value::Value;

/// stap's ctime(): "Wed Jun 30 21:49:08 1993", UTC, 32-bit range only.
pub fn ctime(secs: i64) -> Result<String, &'static str> {
    if secs > 2_147_483_647 {
        return Err("Time too far in the future to be converted");
    }
    if secs < -2_147_483_648 {
        return Err("Time too far in the past to be converted");
    }
    const DAY: i64 = 86_400;
    let mut days = secs / DAY;
    let mut rem = secs % DAY;
    if rem < 0 {
        rem += DAY;
        days -= 1;
    }
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let wday = (4 + days).rem_euclid(7);
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970;
    if days >= 0 {
        loop {
            let len = if leap(year) { 366 } else { 365 };
            if days < len {
                break;
            }
            year += 1;
            days -= len;
        }
    } else {
        while days < 0 {
            year -= 1;
            days += if leap(year) { 366 } else { 365 };
        }
    }
    let mut mlen = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if leap(year) {
        mlen[1] = 29;
    }
    let mut mon = 0;
    while days >= mlen[mon] {
        days -= mlen[mon];
        mon += 1;
    }
    const DN: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MN: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    Ok(format!(
        "{} {}{:3} {:02}:{:02}:{:02} {}",
        DN[wday as usize],
        MN[mon],
        days + 1,
        h,
        m,
        s,
        year
    ))
}

pub(super) fn text_str(s: &str, quoted: bool, max: Option<usize>) -> String {
    let b = s.as_bytes();
    text_bytes(&b[..max.map_or(b.len(), |m| m.min(b.len()))], quoted)
}

/// [`text_str`] of bytes that may hold NULs (abstract socket names).
pub(super) fn text_bytes(s: &[u8], quoted: bool) -> String {
    let mut o = String::new();
    if quoted {
        o.push('"');
    }
    for &b in s {
        match b {
            b'\n' => o.push_str("\\n"),
            b'\t' => o.push_str("\\t"),
            b'\r' => o.push_str("\\r"),
            7 => o.push_str("\\a"),
            8 => o.push_str("\\b"),
            12 => o.push_str("\\f"),
            11 => o.push_str("\\v"),
            b'"' => o.push_str("\\\""),
            b'\\' => o.push_str("\\\\"),
            b'\'' => o.push_str("\\'"),
            0x20..=0x7e => o.push(b as char),
            _ => o.push_str(&format!("\\{b:03o}")),
        }
    }
    if quoted {
        o.push('"');
    }
    o
}

/// Linux's simple_strtoll as stap's strtol uses it: optional sign, a base
/// prefix when base is 0 or 16, digits until the first that does not fit.
fn strtol(s: &str, base: i64) -> Option<i64> {
    if !(base == 0 || (2..=36).contains(&base)) {
        return None;
    }
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut base = base as u32;
    let mut digits = t;
    if (base == 0 || base == 16) && (t.starts_with("0x") || t.starts_with("0X")) {
        base = 16;
        digits = &t[2..];
    } else if base == 0 && t.starts_with('0') && t.len() > 1 {
        base = 8;
        digits = &t[1..];
    } else if base == 0 {
        base = 10;
    }
    let mut v: i64 = 0;
    for c in digits.chars() {
        let Some(d) = c.to_digit(base) else { break };
        v = v.wrapping_mul(base as i64).wrapping_add(d as i64);
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// How stap's runtime writes an address of a backtrace (its _STP_SYM_*
/// forms).
#[derive(Clone, Copy)]
enum SymForm<'a> {
    /// ` 0xaddr : name+0xoff/0xsize [module]`: printed backtraces.
    Full,
    /// Full with ` at FILE:LINE` before the module where `at` knows the
    /// address's source line ("" where not): print_ubacktrace_fileline.
    Fuller(&'a dyn Fn(u64) -> String),
    /// `name+0xoff [module]`: backtraces as strings.
    Simple,
    /// `name+0xoff`: print_ubacktrace_brief.
    Brief,
}

/// One line per address; an address no symbol covers is its hex.
/// A symbol lookup: (name, offset, size, module) of an address.
type Lookup<'a> = &'a dyn Fn(u64) -> Option<(String, u64, u64, String)>;

fn kernel_lookup(
    k: Option<&super::symbols::Kallsyms>,
) -> impl Fn(u64) -> Option<(String, u64, u64, String)> + '_ {
    move |a| {
        k.and_then(|k| k.lookup(a))
            .map(|(n, o, s, m)| (n.to_string(), o, s, m.to_string()))
    }
}

fn stack_text(addrs: &[u64], syms: Lookup<'_>, form: SymForm<'_>) -> String {
    let mut s = String::new();
    for &a in addrs {
        match (syms(a), form) {
            (Some((name, off, size, module)), SymForm::Full | SymForm::Fuller(_)) => {
                let at = match form {
                    SymForm::Fuller(at) => at(a),
                    _ => String::new(),
                };
                s.push_str(&format!(
                    " 0x{a:x} : {name}+0x{off:x}/0x{size:x}{at} [{module}]\n"
                ))
            }
            (Some((name, off, _, module)), SymForm::Simple) => {
                let module = module.rsplit('/').next().unwrap_or(&module);
                s.push_str(&format!("{name}+0x{off:x} [{module}]\n"))
            }
            (Some((name, off, ..)), SymForm::Brief) => s.push_str(&format!("{name}+0x{off:x}\n")),
            (None, SymForm::Full | SymForm::Fuller(_)) => s.push_str(&format!(" 0x{a:x}\n")),
            (None, _) => s.push_str(&format!("0x{a:x}\n")),
        }
    }
    s
}

/// probe_type(): the low-level handler stap runs the point with, by how
/// stap defines the point (its syscall, vfs, netdev, ioblock and kprocess
/// aliases are kprobes; kernel.trace and the aliases over tracepoints are
/// tracepoints; timer.jiffies a kernel timer, the other timers hrtimers).
/// The library's aliases read tracepoints, so they are tracepoints here,
/// also signal.send and signal.handle, which stap takes from kprobes.
fn probe_type(family: Option<Family>, text: &str) -> &'static str {
    let traced = text.starts_with("kernel.trace(")
        || text.starts_with("tp_syscall.")
        || text.starts_with("scheduler.")
        || text.starts_with("ioblock_trace.");
    let kprobe = |ret: bool| if ret { "kretprobe" } else { "kprobe" };
    match family {
        None | Some(Family::Begin | Family::End | Family::Error | Family::Never) => {
            if text.starts_with("procfs") {
                "procfs"
            } else {
                "begin_end"
            }
        }
        Some(Family::Timer { .. }) if text.starts_with("timer.jiffies") => "timer",
        Some(Family::Timer { .. }) => "hrtimer",
        Some(Family::Profile) => "profile_timer",
        Some(Family::Uprobe { ret, .. }) => {
            if ret {
                "uretprobe"
            } else {
                "uprobe"
            }
        }
        Some(Family::Process { .. }) => "utrace",
        Some(Family::Tracepoint(_) | Family::SyscallAny { .. }) => "kernel_tracepoint",
        Some(_) if traced => "kernel_tracepoint",
        Some(Family::Syscall { ret } | Family::Vfs { ret, .. }) => kprobe(ret),
        Some(Family::ProcCreate) => "kretprobe",
        Some(Family::ProcExec) => kprobe(text.starts_with("kprocess.exec_complete")),
        Some(
            Family::ProcExit
            | Family::NetReceive
            | Family::NetTransmit
            | Family::BlockRequest
            | Family::BlockEnd,
        ) => "kprobe",
    }
}

/// Addresses as backtrace() and ubacktrace() list them: "0x1 0x2".
fn hex_list(addrs: &[u64]) -> String {
    addrs
        .iter()
        .map(|a| format!("0x{a:x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The addresses of a backtrace() / ubacktrace() string ("0x1 0x2").
fn hex_addresses(s: &str) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
        .collect()
}

pub fn call(it: &mut Interp, b: Builtin, a: &[Value], span: Span) -> R<Value> {
    use Builtin::*;
    let ctx = &it.ctx;
    let wall = || ctx.now().wrapping_add(ctx.wall_offset);
    let int = |v: i64| Ok(Value::Int(v));
    if ctx.switched_in.is_some() && b.unknown_for_task_switched_in() {
        return err(
            format!(
                "{}() at scheduler.cpu_on: the recording knows the task switched in by its thread id and name (sched_switch's next_pid, next_comm), not this",
                crate::stap::elaborate::tapset::name(b)
            ),
            format!("identifier '{}'", crate::stap::elaborate::tapset::name(b)),
            span,
        );
    }
    match b {
        Execname => Ok(ctx.execname()),
        Hostname => Ok(ctx.member(true)),
        TraceName => Ok(ctx.member(false)),
        Pid => int(ctx.pid()),
        Tid => int(ctx.tid()),
        Uid | Euid => int(ctx.uid()),
        Cpu => int(ctx.cpu() as i64),
        Ppid => int(ctx.procs.parent.get(&ctx.pid()).copied().unwrap_or(0)),
        Pexecname => {
            let pp = ctx.procs.parent.get(&ctx.pid()).copied().unwrap_or(0);
            Ok(ctx
                .procs
                .comm
                .get(&pp)
                .cloned()
                .map(Value::Str)
                .unwrap_or_else(Value::empty_str))
        }
        TidTgid => Ok(Value::Int(ctx.procs.tgid_of(a[0].int()))),
        Pid2execname => Ok(ctx
            .procs
            .comm
            .get(&a[0].int())
            .cloned()
            .map(Value::Str)
            .unwrap_or_else(Value::empty_str)),
        Cmdline => Ok(ctx
            .procs
            .cmdline
            .get(&ctx.pid())
            .cloned()
            .map(Value::Str)
            .unwrap_or_else(Value::empty_str)),
        CmdlineArg | CmdlineArgs => {
            let line = ctx.procs.cmdline.get(&ctx.pid()).cloned();
            let args: Vec<&str> = line.as_deref().map_or(vec![], |l| l.split(' ').collect());
            let n = a[0].int();
            let text = if b == CmdlineArg {
                usize::try_from(n)
                    .ok()
                    .and_then(|i| args.get(i))
                    .map_or("", |s| s)
                    .to_string()
            } else {
                // m < n: every argument from n on.
                let m = a[1].int();
                let last = if m < n {
                    args.len() as i64 - 1
                } else {
                    m.min(args.len() as i64 - 1)
                };
                match usize::try_from(n) {
                    Ok(first) if (n as usize) < args.len() => {
                        args[first..=last as usize].join(a[2].str())
                    }
                    _ => String::new(),
                }
            };
            Ok(Value::from_string(text))
        }
        Target => int(ctx.target),
        UlongArg => {
            let n = a[0].int();
            if !matches!(
                ctx.family,
                Some(
                    Family::Syscall { .. }
                        | Family::SyscallAny { .. }
                        | Family::Uprobe { mark: false, .. }
                )
            ) {
                return err(
                    "argument registers are recorded for syscall and user-space function probes only (a mark's arguments are $arg1..$arg12)",
                    "identifier 'ulong_arg'",
                    span,
                );
            }
            if !(1..=6).contains(&n) {
                return err(
                    format!("argument {n} out of range (a syscall has 6)"),
                    "identifier 'ulong_arg'",
                    span,
                );
            }
            int(ctx.raw_arg(n as usize - 1))
        }
        UprobeString => match ctx.user_string() {
            Some(s) => Ok(Value::Str(s)),
            // As stap's user_string finds memory it cannot read from a
            // probe (a page not yet faulted in): the address, and EFAULT.
            None => err(
                format!(
                    "user string copy fault -14 at 0x{:x} [man error::fault]",
                    a[1].int()
                ),
                "identifier 'user_string'",
                span,
            ),
        },
        UprobeWord => {
            // Unreadable where it fired: 0, as stap's user_long returns.
            let raw = ctx.user_word().unwrap_or(0);
            int(super::context::c_int(
                raw,
                a[2].int() as u8,
                a[3].int() != 0,
            ))
        }
        Pp => Ok(Value::Str(ctx.point_text.clone())),
        Pn => Ok(ctx.probe_name()),
        // The label of a `.label("L")` point: retap serves none (they are
        // kernel and user statement labels), and elsewhere stap's is "".
        Pnlabel => Ok(Value::empty_str()),
        Ppfunc | Probefunc => {
            let f = match (ctx.family, ctx.syscall_name()) {
                (Some(Family::Syscall { .. } | Family::SyscallAny { .. }), Some(n)) => {
                    let prefix = if ctx.arch == "aarch64" {
                        "__arm64_sys_"
                    } else {
                        "__x64_sys_"
                    };
                    format!("{prefix}{n}")
                }
                (Some(Family::Uprobe { mark: false, .. }), _) => {
                    retap_schema::Uprobe::parse_probe(&ctx.point_text)
                        .map(|u| u.name)
                        .unwrap_or_default()
                }
                _ => String::new(),
            };
            Ok(Value::from_string(f))
        }
        UserMode => int(ctx.user_mode()),
        IsReturn => int(i64::from(it.is_ret_family() && !it.ctx.at_entry)),
        GettimeofdayS => int(wall().div_euclid(1_000_000_000)),
        GettimeofdayMs => int(wall().div_euclid(1_000_000)),
        GettimeofdayUs => int(wall().div_euclid(1_000)),
        GettimeofdayNs => int(wall()),
        LocalClockS | CpuClockS => int(ctx.now() / 1_000_000_000),
        LocalClockMs | CpuClockMs => int(ctx.now() / 1_000_000),
        LocalClockUs | CpuClockUs => int(ctx.now() / 1_000),
        LocalClockNs | CpuClockNs | GetCycles => int(ctx.now()),
        Jiffies => int(ctx.now() / crate::stap::elaborate::catalog::jiffy_ns(ctx.hz)),
        Hz => match ctx.hz {
            Some(hz) => int(i64::from(hz)),
            None => err(
                "HZ(): the recording does not say its kernel's HZ (it was made before \
                 retap-record kept it; record again)",
                "identifier 'HZ'",
                span,
            ),
        },
        Ctime | TzCtime => match ctime(a[0].int()) {
            Ok(s) => Ok(Value::from_string(if b == TzCtime {
                format!("{s} UTC")
            } else {
                s
            })),
            Err(msg) => err(msg, "identifier 'ctime'", span),
        },
        Strlen => int(a[0].str().len() as i64),
        Substr => {
            let s = a[0].str().as_bytes();
            let start = a[1].int();
            let len = a[2].int();
            if start < 0 || len < 0 || start as usize >= s.len() {
                return Ok(Value::empty_str());
            }
            let end = (start as usize).saturating_add(len as usize).min(s.len());
            Ok(Value::from_string(
                String::from_utf8_lossy(&s[start as usize..end]).into_owned(),
            ))
        }
        Isinstr => int(i64::from(a[0].str().contains(a[1].str()))),
        StrReplace => {
            if a[1].str().is_empty() {
                return Ok(a[0].clone());
            }
            Ok(Value::from_string(
                a[0].str().replace(a[1].str(), a[2].str()),
            ))
        }
        Strtol => match strtol(a[0].str(), a[1].int()) {
            Some(v) => int(v),
            None => err(
                format!("Invalid base {} passed to strtol", a[1].int()),
                "identifier 'strtol'",
                span,
            ),
        },
        SwitchFile => {
            if let Some(switch) = it.switch_file.clone() {
                let done = it.flush().and_then(|()| switch());
                if let Err(e) = done {
                    return err(
                        format!("cannot switch output files: {e}"),
                        "identifier 'switch_file'",
                        span,
                    );
                }
            }
            int(0)
        }
        SyscallName => Ok(Value::from_string(
            retap_schema::syscalls::name(&ctx.arch, a[0].int())
                .map(crate::stap::elaborate::syscall_args::stap_kernel_name)
                .unwrap_or("")
                .to_string(),
        )),
        ProcfsOpen => {
            let cap = match a[0].int() {
                n if n > 0 => n as usize,
                _ => it.limits.maxstringlen,
            };
            it.procfs = (String::new(), cap);
            int(0)
        }
        ProcfsValue => Ok(Value::from_string(it.procfs.0.clone())),
        ProcfsSet | ProcfsAppend => {
            let (buf, cap) = &mut it.procfs;
            if b == ProcfsSet {
                buf.clear();
            }
            buf.push_str(a[0].str());
            // As stap's procfs buffer: what does not fit is cut (at a
            // character boundary, as every retap string is UTF-8).
            let room = cap.saturating_sub(1);
            if buf.len() > room {
                let mut cut = room;
                while !buf.is_char_boundary(cut) {
                    cut -= 1;
                }
                buf.truncate(cut);
                let said = format!("procfs file's $value is full ({cap} bytes)");
                if !it.stderr.iter().any(|l| l.contains(&said)) {
                    it.stderr.push(format!(
                        "WARNING: {said}; the rest was cut, as stap cuts it (raise .maxsize(N)) near {}\n",
                        it.map.location(span)
                    ));
                }
            }
            Ok(Value::from_string(it.procfs.0.clone()))
        }
        Tokenize => {
            let (s, d) = (a[0].str().to_string(), a[1].str().to_string());
            Ok(it.tokenize(&s, &d, true))
        }
        TokenizeNext => {
            let d = a[0].str().to_string();
            Ok(it.tokenize("", &d, false))
        }
        TextStr => Ok(Value::from_string(text_str(a[0].str(), false, None))),
        TextStrn => {
            let len = a[1].int();
            Ok(Value::from_string(text_str(
                a[0].str(),
                a[2].int() != 0,
                (len > 0).then_some(len as usize),
            )))
        }
        Stringat => {
            let s = a[0].str().as_bytes();
            let i = a[1].int();
            if i < 0 || i as usize >= s.len() {
                return err(
                    format!("Attempted to access string index {i} (out of range)"),
                    "identifier 'stringat'",
                    span,
                );
            }
            int(s[i as usize] as i64)
        }
        Isdigit => int(i64::from(
            a[0].str()
                .as_bytes()
                .first()
                .is_some_and(|c| c.is_ascii_digit()),
        )),
        ErrnoStr => Ok(Value::from_string(
            argstr::errno_name(a[0].int()).to_string(),
        )),
        Returnstr => Ok(Value::from_string(argstr::return_str(
            a[0].int(),
            ctx.retval(),
        ))),
        ReturnStr => Ok(Value::from_string(argstr::return_str(
            a[0].int(),
            a[1].int(),
        ))),
        Exit => {
            it.exit_requested = true;
            int(0)
        }
        Error => err(a[0].str().to_string(), "identifier 'error'", span),
        Backtrace => Ok(Value::from_string(hex_list(&ctx.kernel_stack()))),
        Ubacktrace => Ok(Value::from_string(hex_list(&ctx.user_stack()))),
        Symname => {
            let addr = a[0].int() as u64;
            let name = ctx
                .kallsyms
                .as_ref()
                .and_then(|k| k.lookup(addr).map(|s| s.0.to_string()))
                .unwrap_or_else(|| format!("0x{addr:x}"));
            Ok(Value::from_string(name))
        }
        Usymname | Usymdata => {
            let addr = a[0].int() as u64;
            Ok(Value::from_string(
                match (b, ctx.usyms.lookup(ctx.pid() as i32, addr)) {
                    (Usymname, Some((name, ..))) => name,
                    (_, Some((name, off, size, file))) => {
                        format!("{name}+0x{off:x}/0x{size:x} [{file}]")
                    }
                    (_, None) => format!("0x{addr:x}"),
                },
            ))
        }
        Usymline | Usymfile | Usymfileline => {
            // stap's forms: the line, the file, "file:line" ("??:line"
            // without a file); the address in hex when they are unknown.
            let addr = a[0].int() as u64;
            let found = ctx.usyms.source_line(ctx.pid() as i32, addr);
            let text = match (b, found) {
                (Usymline, Some((_, line))) if line > 0 => line.to_string(),
                (Usymfile, Some((Some(file), _))) => file,
                (Usymfileline, Some((Some(file), line))) if line > 0 => format!("{file}:{line}"),
                (Usymfileline, Some((Some(file), _))) => file,
                (Usymfileline, Some((None, line))) if line > 0 => format!("??:{line}"),
                _ => format!("0x{addr:x}"),
            };
            Ok(Value::from_string(text))
        }
        Umodname => {
            let addr = a[0].int() as u64;
            match ctx.usyms.module(ctx.pid() as i32, addr) {
                Some(path) => Ok(Value::from_string(path)),
                None => err("module cannot be found", "identifier 'umodname'", span),
            }
        }
        PrintUbacktraceFileline => {
            let pid = ctx.pid() as i32;
            let at = |a| match ctx.usyms.source_line(pid, a) {
                Some((Some(file), line)) if line > 0 => format!(" at {file}:{line}"),
                Some((Some(file), _)) => format!(" at {file}"),
                _ => String::new(),
            };
            let user = |x| ctx.usyms.lookup(pid, x);
            let text = stack_text(&ctx.user_stack(), &user, SymForm::Fuller(&at));
            it.out.extend_from_slice(text.as_bytes());
            int(0)
        }
        ProbeType => Ok(Value::from_string(
            probe_type(ctx.family, &ctx.point_text).to_string(),
        )),
        Returnval => int(ctx.retval()),
        Stack | Ustack | CallerAddr => {
            let (frames, n) = match b {
                Stack => (ctx.kernel_stack(), a[0].int()),
                Ustack => (ctx.user_stack(), a[0].int()),
                _ => (ctx.kernel_stack(), 1),
            };
            match usize::try_from(n).ok().and_then(|i| frames.get(i)) {
                Some(&f) => int(f as i64),
                None => err(
                    format!(
                        "the recorded stack has {} frame(s), not a frame {n}",
                        frames.len()
                    ),
                    format!("identifier '{}'", crate::stap::elaborate::tapset::name(b)),
                    span,
                ),
            }
        }
        Callers | Ucallers => {
            let frames = if b == Callers {
                ctx.kernel_stack()
            } else {
                ctx.user_stack()
            };
            let n = a[0].int();
            let upto = if n < 0 {
                frames.len()
            } else {
                (n as usize).saturating_add(1).min(frames.len())
            };
            let text = hex_list(frames.get(1..upto.max(1)).unwrap_or(&[]));
            Ok(Value::from_string(crate::runtime::value::truncate(
                text,
                it.limits.maxstringlen,
            )))
        }
        Caller => match ctx.kernel_stack().get(1) {
            Some(&f) => {
                let name = ctx
                    .kallsyms
                    .as_ref()
                    .and_then(|k| k.lookup(f).map(|s| s.0.to_string()))
                    .unwrap_or_else(|| format!("0x{f:x}"));
                Ok(Value::from_string(format!("{name} 0x{f:x}")))
            }
            None => err(
                "the recorded stack has no caller frame",
                "identifier 'caller'",
                span,
            ),
        },
        Symdata | Modname => {
            let addr = a[0].int() as u64;
            let found = ctx.kallsyms.as_ref().and_then(|k| k.lookup(addr));
            match (b, found) {
                (Symdata, Some((name, off, size, module))) => Ok(Value::from_string(format!(
                    "{name}+0x{off:x}/0x{size:x} [{module}]"
                ))),
                (Symdata, None) => Ok(Value::from_string(format!("0x{addr:x}"))),
                (_, Some((.., module))) => Ok(Value::from_string(module.to_string())),
                (_, None) => err(
                    format!("modname: no kernel module holds address 0x{addr:x}"),
                    "identifier 'modname'",
                    span,
                ),
            }
        }
        Abort => {
            it.exit_requested = true;
            Err(super::interp::Flow::Next)
        }
        Strpos => int(a[0].str().find(a[1].str()).map_or(-1, |i| i as i64)),
        SprintBacktrace | SprintStack | SprintUbacktrace | SprintUstack => {
            let (addrs, kernel) = match b {
                SprintBacktrace => (ctx.kernel_stack(), true),
                SprintUbacktrace => (ctx.user_stack(), false),
                SprintStack => (hex_addresses(a[0].str()), true),
                _ => (hex_addresses(a[0].str()), false),
            };
            let pid = ctx.pid() as i32;
            let text = if kernel {
                stack_text(
                    &addrs,
                    &kernel_lookup(ctx.kallsyms.as_deref()),
                    SymForm::Simple,
                )
            } else {
                stack_text(&addrs, &|x| ctx.usyms.lookup(pid, x), SymForm::Simple)
            };
            Ok(Value::from_string(crate::runtime::value::truncate(
                text,
                it.limits.maxstringlen,
            )))
        }
        PrintBacktrace | PrintUbacktrace | PrintStack | PrintUstack | PrintUbacktraceBrief => {
            let pid = ctx.pid() as i32;
            let kernel = kernel_lookup(ctx.kallsyms.as_deref());
            let user = |x| ctx.usyms.lookup(pid, x);
            let text = match b {
                PrintBacktrace => stack_text(&ctx.kernel_stack(), &kernel, SymForm::Full),
                PrintUbacktrace => stack_text(&ctx.user_stack(), &user, SymForm::Full),
                PrintStack => stack_text(&hex_addresses(a[0].str()), &kernel, SymForm::Full),
                PrintUstack => stack_text(&hex_addresses(a[0].str()), &user, SymForm::Full),
                _ => stack_text(&ctx.user_stack(), &user, SymForm::Brief),
            };
            it.out.extend_from_slice(text.as_bytes());
            int(0)
        }
        Matched | MatchedStr => {
            let n = if b == Matched { a[0].int() } else { 0 };
            match it.matched(n) {
                Ok(s) => Ok(Value::from_string(s)),
                Err(why) => err(
                    why,
                    format!("identifier '{}'", crate::stap::elaborate::tapset::name(b)),
                    span,
                ),
            }
        }
        Addr | Uaddr => int(ctx.ip()),
        Randint => {
            let n = a[0].int();
            if n <= 0 || n > (1 << 31) {
                return err("Invalid range for randint", "identifier 'randint'", span);
            }
            let r = it.next_rand();
            int((r % n as u64) as i64)
        }
        Abs => int(a[0].int().wrapping_abs()),
        FpToString => Ok(Value::from_string(softfloat::to_string(
            a[0].int() as u64,
            a[1].int(),
            it.limits.maxstringlen.saturating_sub(1),
        ))),
        StringToFp => match softfloat::from_str(a[0].str()) {
            Some(v) => int(v as i64),
            None => err(
                "invalid format".to_string(),
                "identifier 'string_to_fp'",
                span,
            ),
        },
        LongToFp => int(softfloat::from_i64(a[0].int()) as i64),
        FpToLong => int(softfloat::to_i64(a[0].int() as u64, a[1].int())),
        FpAdd | FpSub | FpMul | FpDiv | FpRem => {
            let f = match b {
                FpAdd => softfloat::add,
                FpSub => softfloat::sub,
                FpMul => softfloat::mul,
                FpDiv => softfloat::div,
                _ => softfloat::rem,
            };
            int(f(a[0].int() as u64, a[1].int() as u64) as i64)
        }
        FpSqrt => int(softfloat::sqrt(a[0].int() as u64) as i64),
        FpEq => int(i64::from(softfloat::eq(
            a[0].int() as u64,
            a[1].int() as u64,
        ))),
        FpLe => int(i64::from(softfloat::le(
            a[0].int() as u64,
            a[1].int() as u64,
        ))),
        FpLt => int(i64::from(softfloat::lt(
            a[0].int() as u64,
            a[1].int() as u64,
        ))),
        Fp32ToFp64 => int(softfloat::f32_to_f64(a[0].int()) as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_matches_stap_examples() {
        assert_eq!(ctime(0).unwrap(), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(-2147483648).unwrap(), "Fri Dec 13 20:45:52 1901");
        assert_eq!(ctime(2147483647).unwrap(), "Tue Jan 19 03:14:07 2038");
        assert!(ctime(2147483648).is_err());
    }

    #[test]
    fn strtol_forms() {
        assert_eq!(strtol("123abc", 10), Some(123));
        assert_eq!(strtol("0x1f", 16), Some(31));
        assert_eq!(strtol("0x1f", 0), Some(31));
        assert_eq!(strtol("017", 0), Some(15));
        assert_eq!(strtol("-42", 10), Some(-42));
        assert_eq!(strtol("zz", 10), Some(0));
        assert_eq!(strtol("1", 1), None);
    }
}
