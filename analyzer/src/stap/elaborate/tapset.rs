//! The tapset functions a recording can answer, with their signatures.
//! (printf, print and friends are variadic and handled by the elaborator.)

use super::ir::Ty;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    Execname,
    Pexecname,
    Pid,
    Tid,
    Ppid,
    Uid,
    Euid,
    Cpu,
    Target,
    Pp,
    Ppfunc,
    Probefunc,
    Pn,
    Pnlabel,
    Cmdline,
    Pid2execname,
    /// The process of a thread id the trace names (a tracepoint's task
    /// fields are thread ids), from the recorded process tree.
    TidTgid,
    UserMode,
    IsReturn,
    GettimeofdayS,
    GettimeofdayMs,
    GettimeofdayUs,
    GettimeofdayNs,
    LocalClockS,
    LocalClockMs,
    LocalClockUs,
    LocalClockNs,
    CpuClockS,
    CpuClockMs,
    CpuClockUs,
    CpuClockNs,
    Jiffies,
    Hz,
    GetCycles,
    Ctime,
    TzCtime,
    Strlen,
    Substr,
    Isinstr,
    StrReplace,
    Strtol,
    /// The floating-point tapset: doubles as their bits in longs
    /// (runtime/softfloat.rs).
    FpToString,
    StringToFp,
    LongToFp,
    FpToLong,
    FpAdd,
    FpSub,
    FpMul,
    FpDiv,
    FpRem,
    FpSqrt,
    FpEq,
    FpLe,
    FpLt,
    Fp32ToFp64,
    Tokenize,
    /// tokenize(delim): the next token, empty ones included.
    TokenizeNext,
    TextStr,
    TextStrn,
    Stringat,
    Isdigit,
    ErrnoStr,
    Returnstr,
    ReturnStr,
    Exit,
    Error,
    Backtrace,
    PrintBacktrace,
    Ubacktrace,
    PrintUbacktrace,
    Symname,
    Usymname,
    Addr,
    Uaddr,
    Randint,
    Abs,
    UlongArg,
    Usymdata,
    SyscallName,
    SwitchFile,
    Returnval,
    SprintBacktrace,
    SprintUbacktrace,
    PrintUbacktraceBrief,
    PrintUbacktraceFileline,
    Usymline,
    Usymfile,
    Usymfileline,
    Umodname,
    ProbeType,
    SprintStack,
    PrintStack,
    SprintUstack,
    PrintUstack,
    Matched,
    MatchedStr,
    Abort,
    Strpos,
    CmdlineArg,
    CmdlineArgs,
    Symdata,
    Modname,
    Stack,
    Ustack,
    Callers,
    Ucallers,
    Caller,
    CallerAddr,
    /// A procfs read probe's `$value` (read, `=`, `.=`): a buffer of the
    /// probe's `.maxsize`, not a MAXSTRINGLEN string.
    ProcfsValue,
    /// `user_string(...)` at a user-space probe: the string the recording
    /// kept (arguments: which — argument N, 0 the return value — and the
    /// address, for the error when it was not readable).
    UprobeString,
    /// `user_long(...)` and kin at a user-space probe: the 8 bytes the
    /// recording kept (arguments: which, the address, the C size, signed).
    UprobeWord,
    ProcfsSet,
    ProcfsAppend,
    /// The buffer's capacity, set as the probe starts.
    ProcfsOpen,
    /// retap's: the host that recorded the event's trace (its manifest's),
    /// a key across a set of traces.
    Hostname,
    /// retap's: the event's trace, its path in a set (its directory's
    /// name for a single trace).
    TraceName,
}

use Builtin::*;
use Ty::{Long as L, Str as S};

/// (name, builtin, parameter types, return type; Unknown = no value)
const TABLE: &[(&str, Builtin, &[Ty], Ty)] = &[
    ("execname", Execname, &[], S),
    ("hostname", Hostname, &[], S),
    ("trace_name", TraceName, &[], S),
    ("pexecname", Pexecname, &[], S),
    ("pid", Pid, &[], L),
    ("tid", Tid, &[], L),
    ("ppid", Ppid, &[], L),
    ("uid", Uid, &[], L),
    ("euid", Euid, &[], L),
    ("cpu", Cpu, &[], L),
    ("target", Target, &[], L),
    ("pp", Pp, &[], S),
    ("ppfunc", Ppfunc, &[], S),
    ("probefunc", Probefunc, &[], S),
    ("pn", Pn, &[], S),
    ("pnlabel", Pnlabel, &[], S),
    ("cmdline_str", Cmdline, &[], S),
    ("pid2execname", Pid2execname, &[L], S),
    ("__retap_tid_tgid", TidTgid, &[L], L),
    ("user_mode", UserMode, &[], L),
    ("is_return", IsReturn, &[], L),
    ("gettimeofday_s", GettimeofdayS, &[], L),
    ("gettimeofday_ms", GettimeofdayMs, &[], L),
    ("gettimeofday_us", GettimeofdayUs, &[], L),
    ("gettimeofday_ns", GettimeofdayNs, &[], L),
    ("local_clock_s", LocalClockS, &[], L),
    ("local_clock_ms", LocalClockMs, &[], L),
    ("local_clock_us", LocalClockUs, &[], L),
    ("local_clock_ns", LocalClockNs, &[], L),
    ("cpu_clock_s", CpuClockS, &[L], L),
    ("cpu_clock_ms", CpuClockMs, &[L], L),
    ("cpu_clock_us", CpuClockUs, &[L], L),
    ("cpu_clock_ns", CpuClockNs, &[L], L),
    ("jiffies", Jiffies, &[], L),
    ("HZ", Hz, &[], L),
    ("get_cycles", GetCycles, &[], L),
    ("ctime", Ctime, &[L], S),
    ("tz_ctime", TzCtime, &[L], S),
    ("strlen", Strlen, &[S], L),
    ("substr", Substr, &[S, L, L], S),
    ("isinstr", Isinstr, &[S, S], L),
    ("str_replace", StrReplace, &[S, S, S], S),
    ("strtol", Strtol, &[S, L], L),
    ("tokenize", Tokenize, &[S, S], S),
    // tokenize(delim), reached through tokenize's one-argument form only.
    ("tokenize/1", TokenizeNext, &[S], S),
    ("text_str", TextStr, &[S], S),
    ("text_strn", TextStrn, &[S, L, L], S),
    ("stringat", Stringat, &[S, L], L),
    ("isdigit", Isdigit, &[S], L),
    ("errno_str", ErrnoStr, &[L], S),
    ("returnstr", Returnstr, &[L], S),
    ("return_str", ReturnStr, &[L, L], S),
    ("exit", Exit, &[], Ty::Unknown),
    ("error", Error, &[S], Ty::Unknown),
    ("backtrace", Backtrace, &[], S),
    ("print_backtrace", PrintBacktrace, &[], Ty::Unknown),
    ("ubacktrace", Ubacktrace, &[], S),
    ("print_ubacktrace", PrintUbacktrace, &[], Ty::Unknown),
    ("symname", Symname, &[L], S),
    ("usymname", Usymname, &[L], S),
    ("usymdata", Usymdata, &[L], S),
    ("addr", Addr, &[], L),
    ("uaddr", Uaddr, &[], L),
    ("randint", Randint, &[L], L),
    ("abs", Abs, &[L], L),
    ("fp_to_string", FpToString, &[L, L], S),
    ("string_to_fp", StringToFp, &[S], L),
    ("long_to_fp", LongToFp, &[L], L),
    ("fp_to_long", FpToLong, &[L, L, L], L),
    ("fp_add", FpAdd, &[L, L], L),
    ("fp_sub", FpSub, &[L, L], L),
    ("fp_mul", FpMul, &[L, L], L),
    ("fp_div", FpDiv, &[L, L], L),
    ("fp_rem", FpRem, &[L, L], L),
    ("fp_sqrt", FpSqrt, &[L], L),
    ("fp_eq", FpEq, &[L, L], L),
    ("fp_le", FpLe, &[L, L], L),
    ("fp_lt", FpLt, &[L, L], L),
    ("fp32_to_fp64", Fp32ToFp64, &[L], L),
    // The recorded syscall argument register n (1-6); the library's
    // int_arg, uint_arg, pointer_arg, ... are written over it.
    ("ulong_arg", UlongArg, &[L], L),
    // The traced machine's name of syscall number n ("" if none).
    ("syscall_name", SyscallName, &[L], S),
    ("returnval", Returnval, &[], L),
    // Backtraces as text: stap's "simple" form (name+0xoff [module]) for
    // strings, its full form for printing, "brief" (name+0xoff).
    ("sprint_backtrace", SprintBacktrace, &[], S),
    ("sprint_ubacktrace", SprintUbacktrace, &[], S),
    (
        "print_ubacktrace_brief",
        PrintUbacktraceBrief,
        &[],
        Ty::Unknown,
    ),
    (
        "print_ubacktrace_fileline",
        PrintUbacktraceFileline,
        &[],
        Ty::Unknown,
    ),
    // Source lines of user addresses, from the mapped file's DWARF line
    // table; the file mapped at an address (stap's module path).
    ("usymline", Usymline, &[L], S),
    ("usymfile", Usymfile, &[L], S),
    ("usymfileline", Usymfileline, &[L], S),
    ("umodname", Umodname, &[L], S),
    // The low-level handler stap would run the point with ("kprobe",
    // "kernel_tracepoint", "hrtimer", ...).
    ("probe_type", ProbeType, &[], S),
    ("sprint_stack", SprintStack, &[S], S),
    ("print_stack", PrintStack, &[S], Ty::Unknown),
    ("sprint_ustack", SprintUstack, &[S], S),
    ("print_ustack", PrintUstack, &[S], Ty::Unknown),
    // The last successful =~ of the probe: subexpression n, the match.
    ("matched", Matched, &[L], S),
    ("matched_str", MatchedStr, &[], S),
    // exit(), and the handler stops here (try/catch does not catch it).
    ("abort", Abort, &[], Ty::Unknown),
    ("strpos", Strpos, &[S, S], L),
    // The process's arguments as recorded: joined by spaces, so split at
    // them (an argument holding a space reads as two).
    ("cmdline_arg", CmdlineArg, &[L], S),
    ("cmdline_args", CmdlineArgs, &[L, L, S], S),
    // A kernel address: name+0xoff/0xsize [module]; its module ("kernel").
    ("symdata", Symdata, &[L], S),
    ("modname", Modname, &[L], S),
    // Frames of a CPU sample's recorded stacks: frame n; frames 1..=n (or
    // all with -1) as hex; the caller of the sampled function.
    ("stack", Stack, &[L], L),
    ("ustack", Ustack, &[L], L),
    ("callers", Callers, &[L], S),
    ("ucallers", Ucallers, &[L], S),
    ("caller", Caller, &[], S),
    ("caller_addr", CallerAddr, &[], L),
    // The next output file (-o FILE, -S size,count), as stap's stapio.
    ("switch_file", SwitchFile, &[], Ty::Unknown),
    // Not callable: the parser never makes a call named `$...`.
    ("$value", ProcfsValue, &[], S),
    ("$uprobe_string", UprobeString, &[L, L], S),
    ("$uprobe_word", UprobeWord, &[L, L, L, L], L),
    ("$value=", ProcfsSet, &[S], S),
    ("$value.=", ProcfsAppend, &[S], S),
    ("$value.open", ProcfsOpen, &[L], Ty::Unknown),
];

impl Builtin {
    /// Whether it reads a recorded stack, which only CPU samples carry
    /// (and the instruction pointer and mode that come with them).
    pub fn reads_stack(self) -> bool {
        matches!(
            self,
            Backtrace
                | PrintBacktrace
                | SprintBacktrace
                | Ubacktrace
                | PrintUbacktrace
                | SprintUbacktrace
                | PrintUbacktraceBrief
                | PrintUbacktraceFileline
                | Stack
                | Ustack
                | Callers
                | Ucallers
                | Caller
                | CallerAddr
                | UserMode
                | Addr
                | Uaddr
        )
    }

    /// Whether it reads the current task beyond its thread id, process id
    /// and name, which are all a sched_switch record says of the task
    /// switched in (scheduler.cpu_on's context).
    pub fn unknown_for_task_switched_in(self) -> bool {
        self.reads_stack()
            || matches!(
                self,
                Uid | Euid | Ppid | Pexecname | Cmdline | CmdlineArg | CmdlineArgs
            )
    }

    /// Whether the stack it reads is the kernel's alone (what tracepoints
    /// recorded with `--stacks` carry).
    pub fn reads_kernel_stack_only(self) -> bool {
        matches!(
            self,
            Backtrace | PrintBacktrace | SprintBacktrace | Stack | Callers | Caller | CallerAddr
        )
    }

    /// Whether it reads a recorded user stack (a uprobe's, kept with
    /// `:stack`, or a CPU sample's).
    pub fn reads_user_stack(self) -> bool {
        matches!(
            self,
            Ubacktrace
                | PrintUbacktrace
                | SprintUbacktrace
                | PrintUbacktraceBrief
                | PrintUbacktraceFileline
                | Ucallers
        )
    }

    /// Whether it names kernel addresses: the recording's kallsyms are
    /// loaded for it.
    pub fn reads_kernel_symbols(self) -> bool {
        matches!(
            self,
            PrintBacktrace
                | Symname
                | SprintBacktrace
                | SprintStack
                | PrintStack
                | Symdata
                | Modname
                | Caller
        )
    }

    /// Whether its answer depends on one trace's host beyond the event's
    /// row: kernel or user symbols, the process tree, the traced command's
    /// pid. Over a set of traces as one such a program runs per trace.
    pub fn answers_per_trace(self) -> bool {
        self.reads_kernel_symbols()
            || self.reads_process_tree()
            || self.reads_user_stack()
            || matches!(
                self,
                Target
                    | Usymname
                    | Usymdata
                    | Usymline
                    | Usymfile
                    | Usymfileline
                    | Umodname
                    | PrintUstack
                    | Ustack
            )
    }

    /// Whether it answers from the process tree the `processes` table
    /// records (a parent, a command line), which a run must then read
    /// whatever its probe points are.
    pub fn reads_process_tree(self) -> bool {
        matches!(
            self,
            Ppid | Pexecname | Pid2execname | TidTgid | Cmdline | CmdlineArg | CmdlineArgs
        )
    }
}

pub struct Sig {
    pub builtin: Builtin,
    pub params: &'static [Ty],
    pub ret: Ty,
}

pub fn lookup(name: &str) -> Option<Sig> {
    TABLE
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, b, p, r)| Sig {
            builtin: *b,
            params: p,
            ret: *r,
        })
}

pub fn name(b: Builtin) -> &'static str {
    TABLE
        .iter()
        .find(|(_, x, ..)| *x == b)
        .map(|(n, ..)| *n)
        .unwrap_or("?")
}

pub fn all_names() -> impl Iterator<Item = &'static str> {
    TABLE
        .iter()
        .map(|(n, ..)| *n)
        .filter(|n| !n.starts_with('$'))
}

/// Tapset functions that exist in stap but read what no recording holds.
pub fn unrecorded(name: &str) -> Option<&'static str> {
    Some(match name {
        "user_string" | "user_string_n" | "user_string_quoted" | "user_string2" => {
            "it reads memory of the traced machine, which a recording does not hold but for the file-name arguments of syscalls (user_string($filename) at a syscall entry), their socket addresses (argstr, uaddr_ip, to_str), and at user-space probes the string of an argument or return value (user_string(pointer_arg(N)), user_string($return))"
        }
        "user_long" | "user_int" | "user_char" | "user_short" | "user_ushort" | "user_ulong"
        | "user_int8" | "user_uint8" | "user_int16" | "user_uint16" | "user_int32"
        | "user_uint32" | "user_int64" | "user_uint64" => {
            "it reads memory of the traced machine, which a recording holds only at user-space probes, where it keeps the value at an argument or the return value (user_long(pointer_arg(N)), user_int($return))"
        }
        "kernel_string" | "kernel_string_n" | "kernel_long" | "kernel_int" | "kernel_pointer" => {
            "it reads memory of the traced machine, which a recording does not hold"
        }
        "gid" | "egid" => "group ids are not recorded (uid is)",
        "task_current" | "task_parent" | "task_state" | "task_prio" => {
            "it returns kernel task structures, which a recording does not hold"
        }
        "uregister" => "registers are not recorded",
        "system" => "it runs a command on the traced machine",
        "set_int_arg"
        | "set_uint_arg"
        | "set_long_arg"
        | "set_ulong_arg"
        | "set_longlong_arg"
        | "set_ulonglong_arg"
        | "set_pointer_arg"
        | "set_s32_arg"
        | "set_u32_arg"
        | "set_s64_arg"
        | "set_u64_arg"
        | "set_user_string_arg" => {
            "it writes the traced function's arguments; a recording is read-only"
        }
        "print_regs" | "registers_valid" => "registers are not recorded",
        "pid2task" | "task_ancestry" => {
            "it returns kernel task structures, which a recording does not hold"
        }
        "panic" | "raise" | "mdelay" | "udelay" => {
            "it acts on the traced machine (stap's guru mode); a recording is read-only"
        }
        "printk" | "ftrace" => "it writes to the traced machine's kernel log or trace buffer",
        "atomic_read" | "atomic_long_read" => {
            "it reads memory of the traced machine, which a recording does not hold"
        }
        "d_name" | "d_path" | "inode_name" | "inode_path" | "real_mount" | "reverse_path_walk"
        | "current_exe_file" => {
            "it reads kernel file structures (dentries, inodes, mounts), which a recording does not hold"
        }
        "stack_size" | "stack_used" | "stack_unused" => "kernel stack usage is not recorded",
        "env_var" => "the traced process's environment is not recorded",
        "get_loadavg_index" | "sprint_loadavg" => "the load average is not recorded",
        "get_sa_flags" | "get_sa_handler" | "is_sig_blocked" => {
            "it reads kernel signal structures, which a recording does not hold"
        }
        "inet_get_ip_source" | "inet_get_local_port" => {
            "it reads a kernel socket, which a recording does not hold"
        }
        "is_myproc" => "it compares with the user running stap on the traced machine; a recording has no such user",
        "ngroups" | "pgrp" | "sid" => {
            "process groups, sessions and supplementary groups are not recorded"
        }
        "stp_pid" => "there is no stapio process on the traced machine; a recording is read by retap",
        "pstrace" => "it walks kernel task structures, which a recording does not hold",
        "addr_to_node" => "the NUMA node of an address is not recorded",
        "nfsderror" => {
            "it names the errors of nfsd's replies at nfsd probes, which are kprobes on the NFS server (a recording holds no kernel functions)"
        }
        "__gfp_flag_str" => {
            "stap names allocation flags by the traced kernel's own headers, which a recording does not hold; gfp_flags holds the bits"
        }
        "cpuid" => "SystemTap 1.5 removed it; cpu() is the current CPU",
        "dump_stack" => "it writes to the traced machine's kernel log",
        "mem_page_size" | "pages_to_string" => "the traced machine's page size is not recorded",
        "symfile" | "symline" | "symfileline" | "print_backtrace_fileline" => {
            "source files and lines need the kernel's debug info (DWARF), which a recording does not hold"
        }
        "module_name" | "module_size" => {
            "it describes stap's own kernel module; a run over a recording has none"
        }
        "probemod" => "recordings hold no probe point inside a kernel module",
        n if n.starts_with("ipmib_") || n.starts_with("linuxmib_") || n.starts_with("tcpmib_") => {
            "the kernel's SNMP counters (MIBs) are not recorded"
        }
        n if n.starts_with("set_kernel_") || n.starts_with("set_user_") => {
            "it writes memory of the traced machine; a recording is read-only"
        }
        n if n.starts_with("user_") || n.starts_with("kernel_") => {
            "it reads memory of the traced machine, which a recording does not hold"
        }
        n if n.starts_with("task_") => {
            "it reads a kernel task structure, which a recording does not hold"
        }
        n if n.starts_with("fullpath_struct_") => {
            "it reads kernel file structures (dentries, inodes, mounts), which a recording does not hold"
        }
        n if n.starts_with("ns_") => "namespace ids are not recorded",
        n if n.starts_with("proc_mem_") => "process memory statistics are not recorded",
        _ => return None,
    })
}

/// Variadic printing functions and what they need.
pub fn is_print_family(name: &str) -> bool {
    matches!(
        name,
        "print"
            | "println"
            | "sprint"
            | "sprintln"
            | "printf"
            | "sprintf"
            | "printd"
            | "printdln"
            | "log"
            | "warn"
    )
}
