//! The event a probe body runs for: which row of which batch, at which
//! moment (entry or return side), and what the context variables and
//! tapset functions read from it.

use std::collections::HashMap;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::stap::elaborate::catalog::Family;
use crate::stap::elaborate::context::CtxVar;
use crate::stap::elaborate::ir::Ty;
use crate::stap::elaborate::syscall_args::{self, AddrPart, Alias};

use super::argstr;
use retap_schema::tables::process_event as ev;

use super::events::Batch;
use super::value::Value;
use retap_schema::Column;

/// Parent and name of every process the trace saw (snapshot at start,
/// forks, execs), for ppid() and friends.
#[derive(Default)]
pub struct ProcTree {
    pub parent: FxHashMap<i64, i64>,
    pub comm: FxHashMap<i64, Rc<str>>,
    pub cmdline: FxHashMap<i64, Rc<str>>,
    /// Thread id → process id, for every thread the trace saw begin or
    /// alive at start (tracepoints name other tasks by thread id).
    pub tgid: FxHashMap<i64, i64>,
    /// Lookups of a thread the trace never saw (a warning at the end).
    pub unknown_tids: std::cell::Cell<u64>,
    /// Process id → the program it runs (exec, snapshot; kept by forks).
    pub exe: FxHashMap<i64, Rc<str>>,
    /// Whether a program path names a wanted one (the same file after
    /// links: /bin/ls is /usr/bin/ls), asked once per path.
    same_file: std::cell::RefCell<FxHashMap<(Rc<str>, String), bool>>,
}

impl ProcTree {
    /// The process a thread belongs to; 0 (and counted) for a thread the
    /// trace never saw.
    pub fn tgid_of(&self, tid: i64) -> i64 {
        match self.tgid.get(&tid) {
            Some(p) => *p,
            None if tid == 0 => 0,
            None => {
                self.unknown_tids.set(self.unknown_tids.get() + 1);
                0
            }
        }
    }

    /// Whether process `pid` runs the program at `want` (absolute).
    pub fn runs(&self, pid: i64, want: &str) -> bool {
        let Some(exe) = self.exe.get(&pid) else {
            return false;
        };
        if &**exe == want {
            return true;
        }
        let key = (exe.clone(), want.to_string());
        if let Some(&same) = self.same_file.borrow().get(&key) {
            return same;
        }
        let canon = |p: &str| std::fs::canonicalize(p).ok();
        let same = canon(exe).is_some_and(|a| Some(a) == canon(want));
        self.same_file.borrow_mut().insert(key, same);
        same
    }

    /// The processes-table columns [`ProcTree::observe`] reads.
    pub const COLUMNS: [Column; 9] = [
        Column::Event,
        Column::Pid,
        Column::Tid,
        Column::Ppid,
        Column::ChildPid,
        Column::ChildTid,
        Column::Execname,
        Column::Filename,
        Column::Argv,
    ];

    /// Follows one processes-table row.
    pub fn observe(&mut self, b: &Batch, row: usize) {
        let pid = b.int(Column::Pid, row).unwrap_or(0);
        let event = b.string(Column::Event, row);
        match event.as_deref() {
            Some(ev::SNAPSHOT) => {
                if let Some(tid) = b.int(Column::Tid, row) {
                    self.tgid.insert(tid, pid);
                }
                if let Some(pp) = b.int(Column::Ppid, row) {
                    self.parent.insert(pid, pp);
                }
                if let Some(c) = b.string(Column::Execname, row) {
                    self.comm.insert(pid, c);
                }
                if let Some(a) = b.string(Column::Argv, row) {
                    self.cmdline.insert(pid, a);
                }
                if let Some(f) = b.string(Column::Filename, row) {
                    self.exe.insert(pid, f);
                }
            }
            Some(ev::FORK | ev::THREAD) => {
                if let (Some(p), Some(t)) =
                    (b.int(Column::ChildPid, row), b.int(Column::ChildTid, row))
                {
                    self.tgid.insert(t, p);
                }
                if event.as_deref() == Some(ev::THREAD) {
                    return;
                }
                if let Some(child) = b.int(Column::ChildPid, row) {
                    self.parent.insert(child, pid);
                    if let Some(c) = b.string(Column::Execname, row) {
                        self.comm.insert(child, c);
                    }
                    if let Some(e) = self.exe.get(&pid).cloned() {
                        self.exe.insert(child, e);
                    }
                }
            }
            Some(ev::EXEC) => {
                // The exec row knows the parent too: a process forked
                // before recording began and after its snapshot has no
                // other row that does.
                if let Some(pp) = b.int(Column::Ppid, row) {
                    self.parent.insert(pid, pp);
                }
                if let Some(a) = b.string(Column::Argv, row) {
                    self.cmdline.insert(pid, a);
                }
                if let Some(f) = b.string(Column::Filename, row) {
                    self.exe.insert(pid, f.clone());
                    let base: Rc<str> = Rc::from(
                        f.rsplit('/')
                            .next()
                            .unwrap_or(&f)
                            .chars()
                            .take(15)
                            .collect::<String>(),
                    );
                    self.comm.insert(pid, base);
                }
            }
            _ => {}
        }
    }
}

/// 64 bits read as a C integer of `size` bytes (1, 2, 4; else all 8),
/// sign- or zero-extended as stap reads a typed value.
pub fn c_int(raw: i64, size: u8, signed: bool) -> i64 {
    match (size, signed) {
        (1, true) => raw as i8 as i64,
        (1, false) => raw as u8 as i64,
        (2, true) => raw as i16 as i64,
        (2, false) => raw as u16 as i64,
        (4, true) => raw as i32 as i64,
        (4, false) => raw as u32 as i64,
        _ => raw,
    }
}

pub struct EventCtx {
    pub batch: Option<Rc<Batch>>,
    pub row: usize,
    /// When the probe fires (trace clock, ns).
    pub time: i64,
    /// The row's own `ts` (entry side of a paired row).
    pub entry_time: i64,
    /// Evaluating `@entry(...)`.
    pub at_entry: bool,
    pub family: Option<Family>,
    pub point_text: Rc<str>,
    pub wall_offset: i64,
    pub arch: String,
    pub target: i64,
    /// The recorded kernel's HZ (the manifest's), for HZ() and jiffies().
    pub hz: Option<u32>,
    pub procs: ProcTree,
    /// syscall name → kernel argument names and C types, from the trace.
    pub signatures: std::sync::Arc<crate::trace::Signatures>,
    /// (the row's syscall, variable) → the syscall's alias and the
    /// variable's index there. Keyed by name, not by dictionary index:
    /// each row group has its own dictionary order.
    var_cache: FxHashMap<(Rc<str>, &'static str), VarSlot>,
    kernel_arg_cache: HashMap<(String, String), Option<(usize, bool)>>,
    /// Per syscall, its file-name registers (schema::syscalls::path_args
    /// over its signature), worked out once rather than per row.
    path_args_cache: std::cell::RefCell<FxHashMap<Rc<str>, Rc<[usize]>>>,
    pub kallsyms: Option<Rc<super::symbols::Kallsyms>>,
    /// User-space symbols (read when first asked).
    pub usyms: Rc<super::symbols::UserSymbols>,
    /// At a point whose context is the task switched in (the library's
    /// scheduler.cpu_on over sched_switch): the format indexes of the
    /// record's `next_pid` and `next_comm`, which tid(), pid() and
    /// execname() read instead of the current task's columns.
    pub switched_in: Option<(usize, usize)>,
    /// At process(...).begin/.thread.begin on a fork or thread row: the
    /// context is the task made (its ids from child_pid, child_tid).
    pub child_task: bool,
    /// The run's traces, (host, name), indexed by a batch's `member`.
    pub members: Rc<[(Rc<str>, Rc<str>)]>,
}

/// A syscall's alias (None: stap has none) and a variable's index in it
/// (None: the alias has no such variable).
type VarSlot = (Option<&'static Alias>, Option<usize>);

impl EventCtx {
    pub fn new(wall_offset: i64, arch: String, target: i64) -> EventCtx {
        EventCtx {
            batch: None,
            row: 0,
            time: 0,
            entry_time: 0,
            at_entry: false,
            family: None,
            point_text: Rc::from(""),
            wall_offset,
            arch,
            target,
            hz: None,
            procs: ProcTree::default(),
            signatures: Default::default(),
            var_cache: FxHashMap::default(),
            kernel_arg_cache: HashMap::new(),
            path_args_cache: Default::default(),
            kallsyms: None,
            usyms: Rc::default(),
            switched_in: None,
            child_task: false,
            members: Rc::from(vec![]),
        }
    }

    /// hostname() and trace_name(): the event's trace's, or with no event
    /// (begin, end, timers) the one trace's; "" over a set, where there
    /// the probe belongs to no one trace.
    pub fn member(&self, host: bool) -> Value {
        let i = match (&self.batch, self.members.len()) {
            (Some(b), _) => b.member(self.row) as usize,
            (None, 1) => 0,
            _ => return Value::Str(Rc::from("")),
        };
        match self.members.get(i) {
            Some((h, n)) => Value::Str(if host { h.clone() } else { n.clone() }),
            None => Value::Str(Rc::from("")),
        }
    }

    /// The clock a time function reads.
    pub fn now(&self) -> i64 {
        if self.at_entry {
            self.entry_time
        } else {
            self.time
        }
    }

    fn int(&self, c: Column) -> Option<i64> {
        self.batch.as_ref().and_then(|b| b.int(c, self.row))
    }

    /// The C string a user-space probe's row kept (None: not readable
    /// where it fired).
    pub fn user_string(&self) -> Option<Rc<str>> {
        self.string(Column::UserString)
    }

    /// The 8 bytes of user memory a user-space probe's row kept (None:
    /// not readable where it fired).
    pub fn user_word(&self) -> Option<i64> {
        self.int(Column::UserLong)
    }

    fn string(&self, c: Column) -> Option<Rc<str>> {
        self.batch.as_ref().and_then(|b| b.string(c, self.row))
    }

    pub fn cpu(&self) -> i32 {
        self.int(Column::Cpu).unwrap_or(0) as i32
    }
    pub fn pid(&self) -> i64 {
        if self.switched_in.is_some() {
            return self.procs.tgid_of(self.tid());
        }
        if self.child_task {
            return self.int(Column::ChildPid).unwrap_or(0);
        }
        self.int(Column::Pid).unwrap_or(0)
    }
    pub fn tid(&self) -> i64 {
        if self.child_task {
            return self.int(Column::ChildTid).unwrap_or(0);
        }
        if let Some((next_pid, _)) = self.switched_in {
            return self
                .batch
                .as_ref()
                .and_then(|b| b.field_int(next_pid, self.row))
                .unwrap_or(0);
        }
        self.int(Column::Tid).unwrap_or(0)
    }
    pub fn uid(&self) -> i64 {
        self.int(Column::Uid).unwrap_or(0)
    }
    pub fn execname(&self) -> Value {
        let name = match self.switched_in {
            Some((_, next_comm)) => self
                .batch
                .as_ref()
                .and_then(|b| b.field_string(next_comm, self.row)),
            None => self.string(Column::Execname),
        };
        match name {
            Some(s) => Value::Str(s),
            None => Value::empty_str(),
        }
    }
    pub fn syscall_name(&self) -> Option<Rc<str>> {
        self.string(Column::Syscall)
    }
    pub fn retval(&self) -> i64 {
        self.int(Column::Ret).unwrap_or(0)
    }
    pub fn raw_arg(&self, i: usize) -> i64 {
        self.int(Column::arg(i)).unwrap_or(0)
    }

    /// The string in register `i` of this row's syscall as recorded at its
    /// entry (its file names, in the `path` and `path2` columns); None
    /// when not recorded or not readable then.
    pub fn recorded_string(&self, i: usize) -> Option<Rc<str>> {
        let sys = self.syscall_name()?;
        let regs = {
            let mut cache = self.path_args_cache.borrow_mut();
            match cache.get(&sys) {
                Some(r) => r.clone(),
                None => {
                    let r: Rc<[usize]> = match self.signatures.get(&*sys) {
                        Some(sig) => retap_schema::syscalls::path_args(&sys, sig).into(),
                        None => Rc::from([]),
                    };
                    cache.insert(sys, r.clone());
                    r
                }
            }
        };
        let slot = regs.iter().position(|p| *p == i)?;
        self.string([Column::Path, Column::Path2][slot])
    }

    /// stap's pn(): the script-level point with its wildcards expanded. A
    /// syscall point with a wildcard (`syscall.open*`, `nd_syscall.*.return`)
    /// is one point here, so the alias serving the row names it
    /// (`syscall.openat`); every other point is resolved one per match
    /// already, and its text is pn().
    pub fn probe_name(&self) -> Value {
        if let Some(Family::Syscall { ret }) = self.family {
            let text = &*self.point_text;
            if let Some((family, rest)) = text.split_once('.') {
                let pattern = rest.strip_suffix(".return").unwrap_or(rest);
                if pattern.contains(['*', '?', '[']) {
                    if let Some(a) = self.alias() {
                        let ret = if ret { ".return" } else { "" };
                        return Value::from_string(format!("{family}.{}{ret}", a.alias));
                    }
                }
            }
        }
        Value::Str(self.point_text.clone())
    }

    /// The tapset alias serving this row's syscall.
    fn alias(&self) -> Option<&'static Alias> {
        syscall_args::of_syscall(&self.syscall_name()?)
    }

    pub fn var(&mut self, c: &CtxVar) -> Value {
        use CtxVar::*;
        match c {
            SyscallName => match self.syscall_name() {
                Some(n) => {
                    let s = match syscall_args::of_syscall(&n) {
                        Some(a) => a.name_for(|i| self.raw_arg(i)),
                        None => return Value::Str(n),
                    };
                    if s == &*n {
                        Value::Str(n)
                    } else {
                        Value::from_string(s.to_string())
                    }
                }
                None => Value::empty_str(),
            },
            SyscallKernelName => match self.syscall_name() {
                Some(n) if syscall_args::stap_kernel_name(&n).is_empty() => Value::empty_str(),
                Some(n) => Value::Str(n),
                None => Value::empty_str(),
            },
            SyscallNr => Value::Int(self.int(Column::Nr).unwrap_or(0)),
            Argstr => match self.alias() {
                Some(a) => Value::from_string(argstr::argstr(a, self)),
                None => Value::empty_str(),
            },
            SyscallStringAt(i) => self
                .recorded_string(*i)
                .map(Value::Str)
                .unwrap_or_else(Value::empty_str),
            Retval => Value::Int(self.retval()),
            Retstr => {
                let format = self.alias().map_or(1, |a| a.retstr);
                Value::from_string(argstr::return_str(format, self.retval()))
            }
            SyscallVar(name) => {
                let Some(sys) = self.syscall_name() else {
                    return Value::Int(0);
                };
                let key = (sys, *name);
                let (alias, ix) = match self.var_cache.get(&key) {
                    Some(v) => *v,
                    None => {
                        let a = syscall_args::of_syscall(&key.0);
                        let v = (a, a.and_then(|a| a.var(name).map(|(i, _)| i)));
                        self.var_cache.insert(key, v);
                        v
                    }
                };
                match alias.zip(ix) {
                    Some((a, i)) => argstr::eval(a, &a.vars[i].expr, self),
                    // Another syscall of the point: stap's unset local.
                    None => match syscall_args::all_var_ty(name) {
                        Ty::Str => Value::empty_str(),
                        _ => Value::Int(0),
                    },
                }
            }
            SyscallKernelArg(name) => {
                let Some(sys) = self.syscall_name() else {
                    return Value::Int(0);
                };
                let key = (sys.to_string(), name.clone());
                let hit = match self.kernel_arg_cache.get(&key) {
                    Some(v) => *v,
                    None => {
                        let v = crate::trace::Trace::kernel_arg(&self.signatures, &sys, name);
                        self.kernel_arg_cache.insert(key, v);
                        v
                    }
                };
                match hit {
                    Some((i, int)) => {
                        let raw = self.raw_arg(i);
                        Value::Int(if int { raw as i32 as i64 } else { raw })
                    }
                    None => Value::Int(0),
                }
            }
            RawArg(i) => Value::Int(self.raw_arg(*i as usize)),
            UprobeParam { reg, size, signed } => {
                Value::Int(c_int(self.raw_arg(*reg as usize), *size, *signed))
            }
            DevName => self
                .string(Column::DevName)
                .map(Value::Str)
                .unwrap_or_else(Value::empty_str),
            Length => Value::Int(self.int(Column::Length).unwrap_or(0)),
            Protocol => Value::Int(self.int(Column::Protocol).unwrap_or(0)),
            BlockDev => Value::Int(self.int(Column::Dev).unwrap_or(0)),
            BlockDevname => self
                .string(Column::Devname)
                .map(Value::Str)
                .unwrap_or_else(Value::empty_str),
            Sector => Value::Int(self.int(Column::Sector).unwrap_or(0)),
            Bytes => Value::Int(self.int(Column::Bytes).unwrap_or(0)),
            Rw => Value::Int(i64::from(
                self.string(Column::Rwbs).is_some_and(|s| s.contains('W')),
            )),
            BlockError => Value::Int(self.int(Column::Error).unwrap_or(0)),
            Filename => self
                .string(Column::Filename)
                .map(Value::Str)
                .unwrap_or_else(Value::empty_str),
            Args => self
                .string(Column::Argv)
                .map(Value::Str)
                .unwrap_or_else(Value::empty_str),
            NewPid => Value::Int(self.int(Column::ChildPid).unwrap_or(0)),
            NewTid => Value::Int(self.int(Column::ChildTid).unwrap_or(0)),
            ExitCode => Value::Int(self.int(Column::ExitCode).unwrap_or(0)),
            VfsBytes => Value::Int(self.int(Column::Bytes).unwrap_or(0)),
            MarkName | MarkProvider => {
                let u = retap_schema::Uprobe::parse_probe(&self.point_text);
                let v = match (c, u) {
                    (MarkName, Some(u)) => u.name,
                    (_, Some(u)) => u.provider.unwrap_or_default(),
                    (_, None) => String::new(),
                };
                Value::from_string(v)
            }
            TracepointField(f, i) => {
                let i = *i as usize;
                let b = self.batch.as_ref();
                if f.fields[i].kind.is_string() {
                    b.and_then(|b| b.field_string(i, self.row))
                        .map(Value::Str)
                        .unwrap_or_else(Value::empty_str)
                } else {
                    Value::Int(b.and_then(|b| b.field_int(i, self.row)).unwrap_or(0))
                }
            }
        }
    }

    pub fn kernel_stack(&self) -> Vec<u64> {
        self.batch
            .as_ref()
            .map(|b| b.addresses(Column::Kstack, self.row))
            .unwrap_or_default()
    }
    pub fn user_stack(&self) -> Vec<u64> {
        self.batch
            .as_ref()
            .map(|b| b.addresses(Column::Ustack, self.row))
            .unwrap_or_default()
    }
    pub fn ip(&self) -> i64 {
        self.int(Column::Ip).unwrap_or(0)
    }
    pub fn user_mode(&self) -> i64 {
        self.int(Column::UserMode).unwrap_or(0)
    }
}

impl argstr::Row for EventCtx {
    fn raw_arg(&self, i: usize) -> i64 {
        EventCtx::raw_arg(self, i)
    }
    fn path(&self, i: usize) -> Option<Rc<str>> {
        self.recorded_string(i)
    }
    fn address(&self, reg: usize, part: AddrPart) -> Option<String> {
        let b = self.batch.as_ref()?;
        let ptr = self.raw_arg(reg) as u64;
        let len = self.raw_arg(reg + 1) as u32 as i64;
        // Without the address (not recorded): as stap shows one it could
        // not read ("{...}"), or NULL.
        let bytes = if b.has(Column::Sockaddr) {
            b.bytes(Column::Sockaddr, self.row)
        } else {
            None
        };
        Some(super::sockaddr::inet_info(part, ptr, len, bytes))
    }
}
