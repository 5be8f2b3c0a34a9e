//! Probe points → what in a recording serves them: which table, which rows
//! (a syscall name filter), at which moment of the event (entry or return).
//! Points a recording cannot serve get a reason, for the error message.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use retap_schema::rows::RowFilter;
use retap_schema::{Table, TracepointFormat, Uprobe, UprobeKind};

use crate::stap::ast::{Literal, ProbePoint};
use crate::stap::glob;

use super::binaries;
use super::ir::X;
use super::syscall_args;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Begin,
    End,
    Error,
    Never,
    /// syscall.NAME, nd_syscall.NAME, kernel.function("sys_NAME"),
    /// kernel.trace("syscalls:sys_enter_NAME"); `ret` for .return/exit.
    Syscall {
        ret: bool,
    },
    /// syscall_any, kernel.trace("raw_syscalls:sys_enter").
    SyscallAny {
        ret: bool,
    },
    ProcExec,
    ProcCreate,
    ProcExit,
    NetReceive,
    NetTransmit,
    BlockRequest,
    BlockEnd,
    /// timer.profile: each recorded CPU sample.
    Profile,
    Timer {
        period_ns: i64,
        randomize_ns: i64,
    },
    Vfs {
        write: bool,
        ret: bool,
    },
    /// kernel.trace("system:event") of a tracepoint recorded by name: its
    /// own table, every row.
    Tracepoint(&'static TracepointFormat),
    /// process("PATH").function("F") (`ret`: .return) or .mark("M")
    /// (`mark`): a row of the uprobes table per firing, each at its own
    /// time (a return's row is dated when the function returns).
    Uprobe {
        ret: bool,
        mark: bool,
    },
    /// process("PATH").begin/.end/.thread.begin/.thread.end: the
    /// processes table's rows of the tasks running PATH (which
    /// [`ResolvedPoint::process`] says).
    Process {
        end: bool,
        thread: bool,
    },
}

impl Family {
    pub fn table(self) -> Option<Table> {
        Some(match self {
            Family::Syscall { .. } | Family::SyscallAny { .. } => Table::Syscalls,
            Family::ProcExec | Family::ProcCreate | Family::ProcExit => Table::Processes,
            Family::NetReceive | Family::NetTransmit => Table::Net,
            Family::BlockRequest | Family::BlockEnd => Table::Block,
            Family::Profile => Table::Samples,
            Family::Vfs { .. } => Table::Vfs,
            Family::Tracepoint(f) => Table::Tracepoint(f),
            Family::Uprobe { .. } => Table::Uprobes,
            Family::Process { .. } => Table::Processes,
            _ => return None,
        })
    }

    /// Points that fire when the recorded operation completes (at
    /// ts + dur_ns), not when its row begins (at ts).
    pub fn fires_at_return(self) -> bool {
        matches!(
            self,
            Family::Syscall { ret: true }
                | Family::SyscallAny { ret: true }
                | Family::Vfs { ret: true, .. }
                | Family::BlockEnd
        )
    }
}

#[derive(Clone, Debug)]
pub struct ResolvedPoint {
    /// The concrete point (after alias and brace expansion), as stap's pp().
    pub text: String,
    pub family: Family,
    /// `begin(N)`/`end(N)` run in order of N.
    pub order: i64,
    /// For syscall families: the names served (None = all).
    pub syscalls: Option<Vec<String>>,
    /// `probe X if (cond)`.
    pub condition: Option<X>,
    /// `procfs("NAME").read`: an end probe whose `$value` is printed, as
    /// if the file were read once when the events are done.
    pub procfs: Option<Procfs>,
    /// `kernel.trace("sched:sched_switch").__switched_in` (the library's
    /// scheduler.cpu_on): the context is the task switched in, as at
    /// stap's finish_task_switch, so `tid()`, `pid()` and `execname()`
    /// are the record's `next_*` (Elab::switched_in_call).
    pub switched_in: bool,
    /// The user-space probe a `process(...)` point is (one per concrete
    /// function or mark, as stap derives them): its rows are those whose
    /// `probe` column names it.
    pub uprobe: Option<Uprobe>,
    /// A process lifecycle point: the program its tasks run (None: any),
    /// which rows of the table cannot say alone; the interpreter follows
    /// each process's program through the process tree.
    pub process: Option<ProcessOf>,
}

/// Whose begin or end a process lifecycle point is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessOf {
    /// The program, absolute (None: every process).
    pub exe: Option<String>,
    /// Threads other than the main one (`.thread.begin`/`.thread.end`).
    pub thread: bool,
}

/// A procfs file's read probe, emulated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Procfs {
    pub file: String,
    /// `.maxsize(N)`: what `$value` can hold (else MAXSTRINGLEN).
    pub maxsize: Option<i64>,
}

impl ResolvedPoint {
    pub fn table(&self) -> Option<Table> {
        self.family.table()
    }

    /// The rows of its table the point fires on: the one description the
    /// interpreter, the plans and `-p2` all use.
    pub fn rows(&self) -> RowFilter {
        use retap_schema::tables::{direction, process_event as ev, vfs_op, SYSCALL_COLUMN};
        let completed = |t: Table| t.completion_column();
        match self.family {
            Family::NetReceive => RowFilter::one_of(direction::COLUMN, &[direction::RX]),
            Family::NetTransmit => RowFilter::one_of(direction::COLUMN, &[direction::TX]),
            Family::ProcExec => RowFilter::one_of(ev::COLUMN, &[ev::EXEC]),
            Family::ProcCreate => RowFilter::one_of(ev::COLUMN, &[ev::FORK, ev::THREAD]),
            Family::ProcExit => RowFilter::one_of(ev::COLUMN, &[ev::EXIT]),
            Family::Vfs { write, ret } => {
                let op = if write { vfs_op::WRITE } else { vfs_op::READ };
                RowFilter::one_of(vfs_op::COLUMN, &[op])
                    .and_not_null(ret.then(|| completed(Table::Vfs)).flatten())
            }
            Family::Syscall { ret } | Family::SyscallAny { ret } => RowFilter {
                one_of: self.syscalls.clone().map(|names| (SYSCALL_COLUMN, names)),
                not_null: ret.then(|| completed(Table::Syscalls)).flatten(),
            },
            Family::BlockEnd => RowFilter::default().and_not_null(completed(Table::Block)),
            Family::Process { end: true, .. } => RowFilter::one_of(ev::COLUMN, &[ev::EXIT]),
            Family::Process { thread: true, .. } => {
                RowFilter::one_of(ev::COLUMN, &[ev::THREAD, ev::SNAPSHOT])
            }
            Family::Process { .. } => {
                RowFilter::one_of(ev::COLUMN, &[ev::EXEC, ev::FORK, ev::SNAPSHOT])
            }
            Family::Uprobe { .. } => match &self.uprobe {
                Some(u) => RowFilter::one_of(retap_schema::Column::Probe, &[&u.probe()]),
                None => RowFilter::default(),
            },
            Family::BlockRequest
            | Family::Tracepoint(_)
            | Family::Profile
            | Family::Begin
            | Family::End
            | Family::Error
            | Family::Never
            | Family::Timer { .. } => RowFilter::default(),
        }
    }
}

/// What a point's components look like once literal.
struct Parts<'a> {
    names: Vec<&'a str>,
    args: Vec<Option<&'a Literal>>,
}

pub struct Catalog {
    pub arch: String,
    syscalls: Vec<&'static str>,
    /// Tracepoints the trace recorded by name (None: no trace given).
    tracepoints: Option<Vec<&'static TracepointFormat>>,
    user: UserProbes,
    /// Binaries read for `process(...)` points, each once per elaboration.
    binaries: RefCell<HashMap<std::path::PathBuf, Rc<binaries::Binary>>>,
    /// Functions' parameters from debug info, by (binary, function).
    params: RefCell<HashMap<(String, String), Rc<FunctionParams>>>,
    /// How many arguments each mark found on this machine has, by probe.
    mark_args: RefCell<HashMap<String, usize>>,
    /// The kernel's HZ, when the recording (or the running kernel) says it.
    hz: Option<u32>,
}

/// A function's parameters from debug info (None: it has none).
type FunctionParams = Option<Vec<binaries::Param>>;

/// Where `process(...)` points find their probes.
#[derive(Clone, Debug, Default)]
pub enum UserProbes {
    /// Neither a trace nor this machine: each needs a recording.
    #[default]
    Unavailable,
    /// Those a trace recorded (its manifest's list).
    Recorded(Vec<Uprobe>),
    /// This machine's binaries (live runs, `retap record --for`);
    /// `target` is `-c`'s program, which `process.function` probes.
    Host { target: Option<String> },
}

const KERNEL_SYSCALL_PREFIXES: [&str; 9] = [
    "__x64_sys_",
    "__arm64_sys_",
    "__ia32_sys_",
    "__se_sys_",
    "__do_sys_",
    "__sys_",
    "ksys_",
    "sys_",
    "SyS_",
];

/// A jiffy in ns at the recorded kernel's HZ; a recording that does not
/// say it is taken at 250, stap's usual kernel build. At least 1 ns: a
/// manifest may say anything.
pub fn jiffy_ns(hz: Option<u32>) -> i64 {
    (1_000_000_000 / i64::from(hz.unwrap_or(250))).max(1)
}

impl Catalog {
    /// `tables`: what the trace holds (None when there is no trace).
    /// `user`: where `process(...)` points are looked up.
    pub fn new(arch: &str, tables: Option<&[Table]>, user: UserProbes) -> Catalog {
        Catalog {
            arch: arch.to_string(),
            syscalls: retap_schema::syscalls::all_names(arch),
            tracepoints: tables.map(|ts| ts.iter().filter_map(|t| t.tracepoint()).collect()),
            user,
            binaries: RefCell::default(),
            params: RefCell::default(),
            mark_args: RefCell::default(),
            hz: None,
        }
    }

    /// The kernel's HZ (None: the recording does not say it).
    pub fn with_hz(self, hz: Option<u32>) -> Catalog {
        Catalog { hz, ..self }
    }

    /// How many arguments a mark's note describes, where its binary was
    /// read on this machine (None over a trace: up to six were recorded).
    pub fn mark_args(&self, u: &Uprobe) -> Option<usize> {
        self.mark_args.borrow().get(&u.probe()).copied()
    }

    /// The names of a user-space function's parameters, in order, from its
    /// binary's debug info (Err: it has none).
    pub fn uprobe_params(&self, u: &Uprobe) -> Result<Vec<String>, String> {
        Ok(self.params_of(u)?.iter().map(|p| p.name.clone()).collect())
    }

    /// A user-space function's parameters from its binary's debug info,
    /// read once per elaboration.
    fn params_of(&self, u: &Uprobe) -> Result<Rc<Vec<binaries::Param>>, String> {
        let key = (u.path.clone(), u.name.clone());
        let cached = self.params.borrow().get(&key).cloned();
        let ps = match cached {
            Some(ps) => ps,
            None => {
                let ps = Rc::new(binaries::params(std::path::Path::new(&u.path), &u.name)?);
                self.params.borrow_mut().insert(key, ps.clone());
                ps
            }
        };
        match ps.as_ref() {
            Some(list) => Ok(Rc::new(list.clone())),
            None => Err(format!(
                "{} has no debug info for {} (built without -g): read its arguments as \
                 pointer_arg(N), int_arg(N), long_arg(N), ...",
                u.path, u.name
            )),
        }
    }

    /// Parameter `name` of a user-space function point, from its binary's
    /// debug info: where its value is at entry, or why it is nowhere a
    /// recording holds. Over a trace the binary is read here, at the path
    /// it was recorded at.
    pub fn uprobe_param(&self, u: &Uprobe, name: &str) -> Result<binaries::ParamReg, String> {
        let ps = self.params_of(u)?;
        match ps.iter().find(|p| p.name == name) {
            Some(p) => {
                p.at.clone()
                    .map_err(|why| format!("{} of {} is {why}", p.name, u.name))
            }
            None => {
                let names: Vec<String> = ps.iter().map(|p| format!("${}", p.name)).collect();
                Err(format!(
                    "{} has no parameter {name} (its parameters: {})",
                    u.name,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            }
        }
    }

    /// Kernel syscall names a stap alias pattern matches: the syscalls of
    /// the aliases it names (`getdents` fires on getdents64 too). A
    /// wildcard matches alias names only, as stap's does (so `syscall.*`
    /// leaves out clone3 and the other syscalls stap 4.8 has no alias for);
    /// a plain kernel name without an alias is served too, a retap extension.
    fn match_syscalls(&self, pat: &str) -> Vec<String> {
        let alias_of = |n: &str| syscall_args::of_syscall(n).map(|a| a.alias);
        if !glob::has_wildcard(pat) {
            // The common case, a plain name: no globbing over the table.
            let by_alias: Vec<String> = self
                .syscalls
                .iter()
                .filter(|n| alias_of(n) == Some(pat))
                .map(|n| n.to_string())
                .collect();
            if !by_alias.is_empty() {
                return by_alias;
            }
            return self
                .syscalls
                .iter()
                .filter(|n| **n == pat)
                .map(|n| n.to_string())
                .collect();
        }
        let mut out: Vec<String> = self
            .syscalls
            .iter()
            .filter(|n| alias_of(n).is_some_and(|a| glob::matches(pat, a)))
            .map(|n| n.to_string())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Resolves one point (no braces, no user aliases). Err is the reason
    /// the recording cannot serve it.
    pub fn resolve(&self, pp: &ProbePoint) -> Result<Vec<ResolvedPoint>, String> {
        let p = Parts {
            names: pp.components.iter().map(|c| c.name.as_str()).collect(),
            args: pp.components.iter().map(|c| c.arg.as_ref()).collect(),
        };
        let text = pp.text();
        if !p.names.iter().any(|n| glob::has_wildcard(n)) && p.args.iter().all(Option::is_none) {
            if let Some(why) = super::kernel_aliases::refusal(&p.names) {
                return Err(why);
            }
        }
        let one = |family, syscalls| {
            Ok(vec![ResolvedPoint {
                text: text.clone(),
                family,
                order: 0,
                syscalls,
                condition: None,
                procfs: None,
                switched_in: false,
                uprobe: None,
                process: None,
            }])
        };
        let num_arg = |i: usize| match p.args.get(i).copied().flatten() {
            Some(Literal::Num(n)) => Some(*n),
            _ => None,
        };
        let str_arg = |i: usize| match p.args.get(i).copied().flatten() {
            Some(Literal::Str(s)) => Some(s.as_str()),
            _ => None,
        };
        let n = &p.names;
        let first = n[0];
        let no_args_after = |k: usize| p.args.iter().skip(k).all(|a| a.is_none());
        match first {
            // stap's init runs before every begin probe.
            "init" if n.len() == 1 && p.args[0].is_none() => {
                let mut v = one(Family::Begin, None)?;
                v[0].order = i64::MIN;
                return Ok(v);
            }
            "begin" | "end" | "error" | "never" if n.len() == 1 => {
                if first == "never" && p.args[0].is_some() {
                    return Err("never takes no argument".into());
                }
                if p.args[0].is_some() && num_arg(0).is_none() {
                    return Err(format!("{first}(N) takes a number"));
                }
                let family = match first {
                    "begin" => Family::Begin,
                    "end" => Family::End,
                    "error" => Family::Error,
                    _ => Family::Never,
                };
                let mut v = one(family, None)?;
                v[0].order = num_arg(0).unwrap_or(0);
                return Ok(v);
            }
            "syscall" | "nd_syscall" | "nd1_syscall" | "nd2_syscall" | "dw_syscall"
            | "tp_syscall"
                if (n.len() == 2 || (n.len() == 3 && n[2] == "return")) && no_args_after(0) =>
            {
                return self.syscalls_point(&text, n[1], n.len() == 3);
            }
            "kernel" if n.len() >= 2 && n[1] == "syscall" && n.len() <= 4 => {
                if n.len() == 2 {
                    return Err("kernel.syscall needs a syscall name: kernel.syscall.NAME".into());
                }
                let ret = n.len() == 4 && n[3] == "return";
                if n.len() == 4 && !ret {
                    return Err(format!("unknown suffix .{} (only .return)", n[3]));
                }
                return self.syscalls_point(&text, n[2], ret);
            }
            "syscall_any" | "nd_syscall_any" if n.len() <= 2 && no_args_after(0) => {
                let ret = n.len() == 2;
                if ret && n[1] != "return" {
                    return Err(format!("unknown suffix .{} (only .return)", n[1]));
                }
                return one(Family::SyscallAny { ret }, None);
            }
            "kernel" if n.len() >= 2 && n[1] == "function" => {
                let Some(f) = str_arg(1) else {
                    return Err("kernel.function needs a quoted function name".into());
                };
                let ret = match n.get(2) {
                    None | Some(&"call") => false,
                    Some(&"return") => true,
                    Some(other) => {
                        return Err(format!(
                            "kernel.function(...).{other}: only .call and .return can come from a recording"
                        ))
                    }
                };
                let func = f.split('@').next().unwrap_or(f);
                for prefix in KERNEL_SYSCALL_PREFIXES {
                    if let Some(rest) = func.strip_prefix(prefix) {
                        // Kernel functions, not tapset aliases.
                        let names: Vec<String> = self
                            .syscalls
                            .iter()
                            .filter(|n| glob::matches(rest, n))
                            .map(|n| n.to_string())
                            .collect();
                        if !names.is_empty() {
                            let all = names.len() == self.syscalls.len();
                            return one(Family::Syscall { ret }, (!all).then_some(names));
                        }
                    }
                }
                return Err(format!(
                    "kernel.function(\"{f}\") is not a system call entry; a recording holds system \
                     calls, processes, packets, block I/O, CPU samples and vfs reads/writes, not \
                     arbitrary kernel functions"
                ));
            }
            "kernel" if n.len() == 2 && n[1] == "trace" => {
                let Some(tp) = str_arg(1) else {
                    return Err("kernel.trace needs a quoted \"subsystem:event\"".into());
                };
                return self.tracepoint(&text, tp);
            }
            "kernel" if n.len() == 3 && n[1] == "trace" && n[2] == "__switched_in" => {
                let mut points = match str_arg(1) {
                    Some(tp @ ("sched:sched_switch" | "sched_switch")) => {
                        self.tracepoint(&text, tp)?
                    }
                    _ => {
                        return Err(
                            "__switched_in is only kernel.trace(\"sched:sched_switch\")'s".into(),
                        )
                    }
                };
                for p in &mut points {
                    p.switched_in = true;
                }
                return Ok(points);
            }
            "netdev" if n.len() == 2 && no_args_after(0) => {
                let mut out = vec![];
                for (name, fam) in [
                    ("receive", Family::NetReceive),
                    ("transmit", Family::NetTransmit),
                ] {
                    if glob::matches(n[1], name) {
                        out.push(point(format!("netdev.{name}"), fam));
                    }
                }
                return nonempty(
                    out,
                    &text,
                    "netdev.receive and netdev.transmit are recorded",
                );
            }
            "ioblock" | "ioblock_trace" if n.len() == 2 && no_args_after(0) => {
                let mut out = vec![];
                for (name, fam) in [("request", Family::BlockRequest), ("end", Family::BlockEnd)] {
                    if glob::matches(n[1], name) {
                        out.push(point(format!("{first}.{name}"), fam));
                    }
                }
                return nonempty(out, &text, "ioblock.request and ioblock.end are recorded");
            }
            "kprocess" if n.len() == 2 && no_args_after(0) => {
                let mut out = vec![];
                for (name, fam) in [
                    ("exec", Family::ProcExec),
                    ("exec_complete", Family::ProcExec),
                    ("create", Family::ProcCreate),
                    ("exit", Family::ProcExit),
                ] {
                    if glob::matches(n[1], name) {
                        out.push(point(format!("kprocess.{name}"), fam));
                    }
                }
                return nonempty(
                    out,
                    &text,
                    "kprocess.exec, exec_complete, create and exit are recorded",
                );
            }
            "scheduler" if n.len() == 2 && no_args_after(0) => {
                let mut out = vec![];
                for (name, fam) in [
                    ("process_exit", Family::ProcExit),
                    ("process_fork", Family::ProcCreate),
                ] {
                    if glob::matches(n[1], name) {
                        out.push(point(format!("scheduler.{name}"), fam));
                    }
                }
                return nonempty(
                    out,
                    &text,
                    "of the scheduler probes process_exit and process_fork are recorded, \
                     cpu_on, cpu_off, ctxswitch, wakeup, wakeup_new and migrate are served over the \
                     default sched tracepoints, and kthread_stop, process_free, process_wait and \
                     wait_task over those recorded by name (the library's scheduler.stp)",
                );
            }
            "vfs" if (n.len() == 2 || (n.len() == 3 && n[2] == "return")) && no_args_after(0) => {
                let ret = n.len() == 3;
                let mut out = vec![];
                for (name, write) in [("read", false), ("write", true)] {
                    if glob::matches(n[1], name) {
                        let t = format!("vfs.{name}{}", if ret { ".return" } else { "" });
                        out.push(point(t, Family::Vfs { write, ret }));
                    }
                }
                return nonempty(out, &text, "vfs.read and vfs.write are recorded");
            }
            "timer" if n.len() >= 2 => return self.timer(&text, &p),
            "process" if n.len() >= 2 => return self.user_point(&p),
            "procfs" => return procfs_point(&text, &p),
            _ => {}
        }
        Err(match first {
            "module" => format!(
                "{first}(...) probes instrument code at record time; a recording holds system \
                 calls, processes, packets, block I/O, CPU samples and vfs events"
            ),
            "kernel" => format!(
                "{text} is not recorded; kernel.function(\"sys_*\") and kernel.trace(...) of the \
                 recorded tracepoints are"
            ),
            "signal" => "of stap's signal probes, signal.send and signal.handle are served from the signal tracepoints and signal.syskill, systkill and systgkill from the system calls".to_string(),
            "stap" | "staprun" | "stapio" => {
                "it probes stap's own translator and runtime (their static markers); retap is not stap"
                    .to_string()
            }
            "perf" => {
                "perf counters are not recorded; timer.profile serves CPU samples".to_string()
            }
            _ => format!("no recorded event serves {text}"),
        })
    }

    fn syscalls_point(
        &self,
        text: &str,
        pat: &str,
        ret: bool,
    ) -> Result<Vec<ResolvedPoint>, String> {
        let names = self.match_syscalls(pat);
        if names.is_empty() {
            return Err(format!("no system call named {pat} on {}", self.arch));
        }
        let all = names.len() == self.syscalls.len();
        Ok(vec![ResolvedPoint {
            text: text.to_string(),
            family: Family::Syscall { ret },
            order: 0,
            syscalls: (!all).then_some(names),
            condition: None,
            procfs: None,
            switched_in: false,
            uprobe: None,
            process: None,
        }])
    }

    fn tracepoint(&self, text: &str, tp: &str) -> Result<Vec<ResolvedPoint>, String> {
        let (sys, ev) = tp.split_once(':').unwrap_or(("*", tp));
        let fixed: [(&str, &str, Family); 8] = [
            (
                "raw_syscalls",
                "sys_enter",
                Family::SyscallAny { ret: false },
            ),
            ("raw_syscalls", "sys_exit", Family::SyscallAny { ret: true }),
            ("sched", "sched_process_exec", Family::ProcExec),
            ("sched", "sched_process_fork", Family::ProcCreate),
            ("sched", "sched_process_exit", Family::ProcExit),
            ("net", "netif_receive_skb", Family::NetReceive),
            ("net", "net_dev_xmit", Family::NetTransmit),
            ("block", "block_rq_issue", Family::BlockRequest),
        ];
        // A tracepoint the trace recorded by name is read from its own
        // table, with its own fields, even where a fixed table is built
        // from it too (`--tracepoints block:block_rq_issue`).
        let by_name = |s: &str, e: &str| {
            self.tracepoints
                .as_ref()
                .is_some_and(|r| r.iter().any(|f| f.system == s && f.event == e))
        };
        let mut out = vec![];
        for (s, e, fam) in fixed {
            if glob::matches(sys, s) && glob::matches(ev, e) && !by_name(s, e) {
                out.push(point(format!("kernel.trace(\"{s}:{e}\")"), fam));
            }
        }
        if glob::matches(sys, "block")
            && glob::matches(ev, "block_rq_complete")
            && !by_name("block", "block_rq_complete")
        {
            out.push(point(
                "kernel.trace(\"block:block_rq_complete\")".into(),
                Family::BlockEnd,
            ));
        }
        let served_fixed = !out.is_empty();
        if let Some(recorded) = &self.tracepoints {
            for f in recorded {
                let covered = f.system == "syscalls" || f.system == "raw_syscalls";
                if !covered && glob::matches(sys, &f.system) && glob::matches(ev, &f.event) {
                    out.push(point(
                        format!("kernel.trace(\"{}:{}\")", f.system, f.event),
                        Family::Tracepoint(f),
                    ));
                }
            }
        }
        if glob::matches(sys, "syscalls") {
            for (prefix, ret) in [("sys_enter_", false), ("sys_exit_", true)] {
                let names: Vec<String> = self
                    .syscalls
                    .iter()
                    .filter(|n| glob::matches(ev, &format!("{prefix}{n}")))
                    .map(|n| n.to_string())
                    .collect();
                if !names.is_empty() {
                    let all = names.len() == self.syscalls.len();
                    out.push(ResolvedPoint {
                        text: text.to_string(),
                        family: Family::Syscall { ret },
                        order: 0,
                        syscalls: (!all).then_some(names),
                        condition: None,
                        procfs: None,
                        switched_in: false,
                        uprobe: None,
                        process: None,
                    });
                }
            }
        }
        if out.is_empty() && !served_fixed && !glob::has_wildcard(tp) {
            return Err(match &self.tracepoints {
                Some(_) => format!(
                    "{text} is not in this trace (record it with --tracepoints {tp})"
                ),
                None => format!(
                    "{text} needs a recording that holds it (retap record --tracepoints {tp}, then --trace DIR)"
                ),
            });
        }
        nonempty(
            out,
            text,
            "recorded tracepoints: raw_syscalls:*, syscalls:sys_enter_*/sys_exit_*, \
             sched:sched_process_{exec,fork,exit}, net:netif_receive_skb, net:net_dev_xmit, \
             block:block_rq_issue, block:block_rq_complete, and those the trace recorded by name",
        )
    }

    /// `process[("PATH")][.library("LIB")].function("F")[.call|.return]`,
    /// `process("PATH")[.provider("P")].mark("M")`: one point per
    /// function or mark matched, from this machine's binaries or from
    /// the probes a trace recorded.
    fn user_point(&self, p: &Parts) -> Result<Vec<ResolvedPoint>, String> {
        let n = &p.names;
        let str_arg = |i: usize| match p.args.get(i).copied().flatten() {
            Some(Literal::Str(s)) => Ok(s.as_str()),
            _ => Err(format!("{}(...) takes a quoted string", n[i])),
        };
        let path = match p.args[0] {
            None => None,
            Some(Literal::Str(s)) => Some(s.as_str()),
            Some(_) => return Err("process(...) takes the binary's path, quoted".into()),
        };
        let mut i = 1;
        let mut library = None;
        if n[1] == "library" {
            library = Some(str_arg(1)?);
            i = 2;
        }
        let arity = |k: usize| -> Result<(), String> {
            if n.len() > k {
                Err(format!("unknown suffix .{} of a user-space probe", n[k]))
            } else {
                Ok(())
            }
        };
        if library.is_none() {
            let life = match &n[1..] {
                ["begin"] => Some((false, false)),
                ["end"] => Some((true, false)),
                ["thread", "begin"] => Some((false, true)),
                ["thread", "end"] => Some((true, true)),
                _ => None,
            };
            if let Some((end, thread)) = life {
                if p.args.iter().skip(1).any(|a| a.is_some()) {
                    return Err(format!(
                        "process(...).{} takes no argument",
                        n[1..].join(".")
                    ));
                }
                return self.process_point(p, path, end, thread);
            }
        }
        let (kind, provider, pattern) = match n.get(i).copied() {
            Some("function") => {
                let f = str_arg(i)?;
                // stap's "f@file.c:12": the function's name is what a
                // symbol table has.
                let f = f.split('@').next().unwrap_or(f);
                let kind = match n.get(i + 1).copied() {
                    None | Some("call") => UprobeKind::Function,
                    Some("return") => UprobeKind::Return,
                    Some(other) => {
                        return Err(format!(
                        "process(...).function(...).{other} is not served; .call and .return are"
                    ))
                    }
                };
                arity(i + 2)?;
                (kind, None, f)
            }
            Some("provider") if n.get(i + 1) == Some(&"mark") => {
                arity(i + 2)?;
                (UprobeKind::Mark, Some(str_arg(i)?), str_arg(i + 1)?)
            }
            Some("mark") => {
                arity(i + 1)?;
                (UprobeKind::Mark, None, str_arg(i)?)
            }
            Some(
                what @ ("statement" | "plt" | "insn" | "syscall" | "label" | "inline" | "exported"
                | "thread" | "begin" | "end"),
            ) => {
                return Err(format!(
                    "process(...).{what} is not served yet: user-space probes are .function(...), \
                     .function(...).return, .mark(...), .begin, .end, .thread.begin and .thread.end"
                ))
            }
            _ => {
                return Err(
                    "user-space probes are process(\"PATH\").function(\"F\")[.return] and \
                     process(\"PATH\").mark(\"M\")"
                        .into(),
                )
            }
        };
        let probes =
            match &self.user {
                UserProbes::Unavailable => return Err(
                    "user-space probes need a recording made for the script (retap record --for \
                     SCRIPT, then --trace DIR) or a live run (as root, without --trace)"
                        .into(),
                ),
                UserProbes::Host { target } => {
                    let file = match (library, path, target) {
                        (Some(lib), ..) => binaries::find_library(lib)?,
                        (None, Some(p), _) => binaries::find(p)?,
                        (None, None, Some(t)) => binaries::find(t)?,
                        (None, None, None) => {
                            return Err(
                                "process.function(...) without a path probes the program of \
                                    -c CMD; give -c or process(\"PATH\")"
                                    .into(),
                            )
                        }
                    };
                    self.host_probes(&file, kind, provider, pattern)?
                }
                UserProbes::Recorded(list) => {
                    recorded_probes(list, library.or(path), kind, provider, pattern)?
                }
            };
        Ok(probes
            .into_iter()
            .map(|u| {
                let mut pt = point(
                    u.probe(),
                    Family::Uprobe {
                        ret: kind == UprobeKind::Return,
                        mark: kind == UprobeKind::Mark,
                    },
                );
                pt.uprobe = Some(u);
                pt
            })
            .collect())
    }

    /// `process[("PATH")].begin` and its kin: rows of the processes table
    /// (a process that starts running PATH — exec, fork of one, or
    /// running at the start — a thread made in one, their exits), the
    /// program checked by the interpreter; at a fork or thread row the
    /// context is the task made.
    fn process_point(
        &self,
        p: &Parts,
        path: Option<&str>,
        end: bool,
        thread: bool,
    ) -> Result<Vec<ResolvedPoint>, String> {
        let exe = match (&self.user, path) {
            (_, None) => None,
            (UserProbes::Host { .. }, Some(p)) => Some(binaries::find(p)?.display().to_string()),
            (_, Some(p)) if p.starts_with('/') => Some(p.to_string()),
            (_, Some(p)) => {
                return Err(format!(
                    "process(\"{p}\"): over a trace, give the program's absolute path"
                ))
            }
        };
        let text = match &exe {
            Some(e) => format!("process(\"{e}\").{}", p.names[1..].join(".")),
            None => format!("process.{}", p.names[1..].join(".")),
        };
        let mut pt = point(text, Family::Process { end, thread });
        pt.process = Some(ProcessOf { exe, thread });
        Ok(vec![pt])
    }

    /// The functions or marks of the binary at `file` that a pattern
    /// names, or why none.
    fn host_probes(
        &self,
        file: &std::path::Path,
        kind: UprobeKind,
        provider: Option<&str>,
        pattern: &str,
    ) -> Result<Vec<Uprobe>, String> {
        let cached = self.binaries.borrow().get(file).cloned();
        let bin = match cached {
            Some(b) => b,
            None => {
                let b = Rc::new(binaries::read(file)?);
                self.binaries
                    .borrow_mut()
                    .insert(file.to_path_buf(), b.clone());
                b
            }
        };
        let at = &bin.path;
        let probe = |name: &str, provider: Option<String>| Uprobe {
            kind,
            path: at.clone(),
            name: name.to_string(),
            provider,
            string: None,
            word: None,
            stack: false,
        };
        if kind == UprobeKind::Mark {
            if bin.marks.is_empty() {
                return Err(format!("{at} has no SDT marks (no .note.stapsdt)"));
            }
            let found: Vec<Uprobe> = bin
                .marks
                .iter()
                .filter(|m| provider.is_none_or(|p| glob::matches(p, &m.provider)))
                .filter(|m| glob::matches(pattern, &m.name))
                .map(|m| {
                    let u = probe(&m.name, Some(m.provider.clone()));
                    self.mark_args.borrow_mut().insert(u.probe(), m.args);
                    u
                })
                .collect();
            if found.is_empty() {
                let names: Vec<String> = bin
                    .marks
                    .iter()
                    .map(|m| format!("{}:{}", m.provider, m.name))
                    .collect();
                let near = binaries::closest(pattern, bin.marks.iter().map(|m| m.name.as_str()));
                return Err(format!(
                    "no mark {pattern:?} in {at}{} (its marks: {})",
                    if near.is_empty() {
                        String::new()
                    } else {
                        format!("; closest: {}", near.join(", "))
                    },
                    names.join(", ")
                ));
            }
            return Ok(found);
        }
        if !bin.has_symbols {
            return Err(format!(
                "{at} has no symbol table (stripped): its functions cannot be found by name"
            ));
        }
        let found: Vec<&String> = bin
            .functions
            .iter()
            .filter(|f| glob::matches(pattern, f))
            .collect();
        if found.is_empty() {
            let near = binaries::closest(pattern, bin.functions.iter().map(|f| f.as_str()));
            return Err(format!(
                "no function {pattern:?} in {at}{}",
                if near.is_empty() {
                    String::new()
                } else {
                    format!(" (closest: {})", near.join(", "))
                }
            ));
        }
        if found.len() > binaries::MAX_FUNCTIONS {
            return Err(format!(
                "function({pattern:?}) matches {} functions of {at}; at most {} are probed at \
                 once (narrow the pattern)",
                found.len(),
                binaries::MAX_FUNCTIONS
            ));
        }
        Ok(found.into_iter().map(|f| probe(f, None)).collect())
    }

    fn timer(&self, text: &str, p: &Parts) -> Result<Vec<ResolvedPoint>, String> {
        let n = &p.names;
        let unit = n[1];
        if unit == "profile" || unit == "profile_tick" {
            if n.len() > 2 || p.args[1].is_some() {
                return Err("timer.profile takes no argument".into());
            }
            return Ok(vec![point(text.to_string(), Family::Profile)]);
        }
        let arg = |i: usize| match p.args.get(i).copied().flatten() {
            Some(Literal::Num(v)) => Some(*v),
            _ => None,
        };
        let Some(v) = arg(1) else {
            return Err(format!("timer.{unit} needs a number: timer.{unit}(N)"));
        };
        if v <= 0 {
            return Err(format!("timer.{unit}({v}): the period must be positive"));
        }
        let scale: i64 = match unit {
            "s" | "sec" => 1_000_000_000,
            "ms" | "msec" => 1_000_000,
            "us" | "usec" => 1_000,
            "ns" | "nsec" => 1,
            "jiffies" => jiffy_ns(self.hz),
            "hz" => {
                let period = 1_000_000_000 / v;
                return self.timer_rand(text, p, period, 1);
            }
            other => return Err(format!("unknown timer unit .{other}")),
        };
        let period = v.checked_mul(scale).ok_or("timer period too large")?;
        self.timer_rand(text, p, period, scale)
    }

    fn timer_rand(
        &self,
        text: &str,
        p: &Parts,
        period_ns: i64,
        scale: i64,
    ) -> Result<Vec<ResolvedPoint>, String> {
        let mut randomize_ns = 0;
        match p.names.get(2) {
            None => {}
            Some(&"randomize") => {
                let Some(Literal::Num(r)) = p.args.get(2).copied().flatten() else {
                    return Err("randomize needs a number: .randomize(N)".into());
                };
                if *r < 0 {
                    return Err("randomize(N) needs N >= 0".into());
                }
                randomize_ns = r.saturating_mul(scale);
                if randomize_ns > period_ns {
                    return Err("the randomization range cannot exceed the period".into());
                }
            }
            Some(other) => return Err(format!("unknown timer suffix .{other}")),
        }
        Ok(vec![point(
            text.to_string(),
            Family::Timer {
                period_ns,
                randomize_ns,
            },
        )])
    }
}

/// The probes of a trace a `process(...)` point names: the binary by its
/// path (or, given without a slash, by file name), the function or mark
/// by pattern.
fn recorded_probes(
    list: &[Uprobe],
    path: Option<&str>,
    kind: UprobeKind,
    provider: Option<&str>,
    pattern: &str,
) -> Result<Vec<Uprobe>, String> {
    let same_binary = |u: &Uprobe| match path {
        None => true,
        Some(p) if p.contains('/') => {
            u.path == p
                || std::fs::canonicalize(p)
                    .is_ok_and(|c| std::fs::canonicalize(&u.path).is_ok_and(|d| c == d))
        }
        Some(p) => std::path::Path::new(&u.path)
            .file_name()
            .is_some_and(|f| f == p),
    };
    let found: Vec<Uprobe> = list
        .iter()
        .filter(|u| u.kind == kind && same_binary(u))
        .filter(|u| {
            provider.is_none_or(|p| u.provider.as_deref().is_some_and(|q| glob::matches(p, q)))
        })
        .filter(|u| glob::matches(pattern, &u.name))
        .cloned()
        .collect();
    if found.is_empty() {
        let held: Vec<String> = list.iter().map(|u| u.probe()).collect();
        return Err(format!(
            "this trace did not record it ({}); record it with retap record --for SCRIPT",
            if held.is_empty() {
                "it holds no user-space probes".to_string()
            } else {
                format!("it holds {}", held.join(", "))
            }
        ));
    }
    Ok(found)
}

fn point(text: String, family: Family) -> ResolvedPoint {
    ResolvedPoint {
        text,
        family,
        order: 0,
        syscalls: None,
        condition: None,
        procfs: None,
        switched_in: false,
        uprobe: None,
        process: None,
    }
}

fn nonempty(v: Vec<ResolvedPoint>, text: &str, known: &str) -> Result<Vec<ResolvedPoint>, String> {
    if v.is_empty() {
        Err(format!("no recorded event matches {text} ({known})"))
    } else {
        Ok(v)
    }
}

/// `procfs[("NAME")].read[.maxsize(N)]`: an end probe (before the script's
/// own), its `$value` printed. stap makes a file under /proc that a user
/// reads while the script runs; a run over a recording reads it once,
/// when the events are done. Writes have no writer here.
fn procfs_point(text: &str, p: &Parts) -> Result<Vec<ResolvedPoint>, String> {
    let file = match p.args[0] {
        None => "command".to_string(),
        Some(Literal::Str(s)) if !s.is_empty() && !s.contains("..") => s.clone(),
        Some(_) => return Err("procfs(\"NAME\") takes a file name".into()),
    };
    let maxsize = match (
        p.names.get(1),
        p.names.get(2),
        p.args.get(2).copied().flatten(),
    ) {
        (Some(&"read"), None, _) => None,
        (Some(&"read"), Some(&"maxsize"), Some(Literal::Num(n)))
            if *n > 0 && p.names.len() == 3 =>
        {
            Some(*n)
        }
        (Some(&"write"), ..) => {
            return Err(format!(
            "{text} takes what a user writes to /proc/systemtap/...; nothing writes to a recording"
        ))
        }
        _ => return Err("procfs probes are procfs(\"NAME\").read or .read.maxsize(N)".into()),
    };
    if p.args[1].is_some() {
        return Err("procfs(\"NAME\").read takes no argument".into());
    }
    Ok(vec![ResolvedPoint {
        text: text.to_string(),
        family: Family::End,
        order: i64::MIN,
        syscalls: None,
        condition: None,
        procfs: Some(Procfs { file, maxsize }),
        switched_in: false,
        uprobe: None,
        process: None,
    }])
}
