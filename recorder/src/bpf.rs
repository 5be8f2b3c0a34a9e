//! Loads bpf/retap.bpf.c, configures it for one recording, attaches only the
//! programs the chosen tables need, and reads back what the kernel side
//! counted (losses) or still holds (syscalls and block requests in flight).

use std::collections::BTreeSet;
use std::mem::MaybeUninit;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, OpenObject, TracepointCategory, TracepointOpts};
use retap_schema::syscalls::AddrArg;
use retap_schema::{Table, TracepointFormat, Uprobe, UprobeKind};

use crate::perf::{self, PerfFd};
use crate::records::{self, Block, Hdr, Record, Syscall};

mod skel {
    #![allow(clippy::all, unused_imports, dead_code, non_camel_case_types)]
    include!(concat!(env!("OUT_DIR"), "/retap.skel.rs"));
}
pub use skel::RetapSkel;
use skel::{OpenRetapSkel, RetapSkelBuilder};

use crate::records::NR_KINDS;

/// How the vfs table is hooked, when it is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VfsHook {
    Fentry,
    Kprobe,
}

/// A syscall's arguments in the caller's memory that the BPF side reads:
/// file names (schema::syscalls::path_args) and a socket address
/// (schema::syscalls::addr_arg).
#[derive(Clone, Debug)]
pub struct UserMemory {
    pub nr: u32,
    pub paths: Vec<usize>,
    /// execve: names not read at entry cannot be read at exit.
    pub exec: bool,
    pub addr: Option<AddrArg>,
}

impl UserMemory {
    /// bpf/retap.bpf.c `path_args`: file-name registers + 1 by byte,
    /// PATHS_AT_EXIT_NO, and the address's ADDR_MODE, ADDR_REG,
    /// ADDR_LEN_REG.
    pub fn code(&self) -> u32 {
        let mut code: u32 = self
            .paths
            .iter()
            .take(2)
            .enumerate()
            .map(|(k, a)| ((*a as u32) + 1) << (8 * k))
            .sum();
        if self.exec {
            code |= 1 << 16;
        }
        let (mode, reg, len) = match self.addr {
            None => return code,
            Some(AddrArg::Given { addr, len }) => (1, addr, len),
            Some(AddrArg::Returned { addr, len }) => (2, addr, len),
            Some(AddrArg::Message { msg, at_exit }) => (3 + u32::from(at_exit), msg, 0),
        };
        code | mode << 17 | (reg as u32) << 20 | (len as u32) << 24
    }
}

pub struct Config {
    pub tables: Vec<Table>,
    pub self_tgid: u32,
    pub targets: Vec<u32>,
    pub filter_pids: bool,
    pub follow_children: bool,
    pub comm: Option<String>,
    pub syscalls: Option<Vec<u32>>,
    pub ringbuf_bytes: u32,
    pub sample_hz: u64,
    /// Longest file name kept (NUL included).
    pub string_max: u32,
    /// Per syscall number, its file-name arguments (at most two), and
    /// whether it replaces the caller's memory (execve, execveat).
    /// What to read from the caller's memory, per syscall.
    pub user_memory: Vec<UserMemory>,
    /// Tracepoints recorded by name, all through `on_tracepoint`.
    pub tracepoints: Vec<&'static TracepointFormat>,
    /// User-space probes, by slot (the uprobes table's `probe` values).
    pub uprobes: Vec<Uprobe>,
    /// User-space probes counted in the kernel (`--count FIELDS:@SPEC`):
    /// each with its count slot; they make no rows.
    pub counted_uprobes: Vec<(u8, Uprobe)>,
    /// Each syscall also as it is entered (`--stream-fd`: live entry probes).
    pub emit_entries: bool,
    /// Only as it is entered: no record at return (`--entries-only`).
    pub entries_only: bool,
    /// Live (`--stream-fd`): programs mark themselves in progress, so the
    /// stream's watermark can stay below what is stamped and not yet in
    /// the ring ([`Session::oldest_in_progress`]).
    pub mark_programs: bool,
    /// `--count`: per slot (at most [`COUNT_SLOTS`]), the fields counted
    /// by (bpf/records.h COUNT_*) and the syscall numbers counted (none
    /// for a slot that counts a user-space probe).
    pub counts: Vec<(u8, Vec<u32>)>,
}

impl Config {
    /// Whether some count slot counts syscalls (sys_enter is loaded).
    fn counts_syscalls(&self) -> bool {
        self.counts.iter().any(|(_, nrs)| !nrs.is_empty())
    }

    /// Every user-space probe attached: those making rows, by their slot,
    /// then the counted ones (slots past them: they make no rows), each
    /// with its count slot.
    fn all_uprobes(&self) -> impl Iterator<Item = (usize, &Uprobe, Option<u8>)> {
        let rows = self.uprobes.iter().enumerate().map(|(i, u)| (i, u, None));
        let counted = self
            .counted_uprobes
            .iter()
            .enumerate()
            .map(|(i, (s, u))| (self.uprobes.len() + i, u, Some(*s)));
        rows.chain(counted)
    }
}

/// bpf/records.h COUNT_SLOTS: how many `--count`s one recording takes.
pub const COUNT_SLOTS: usize = 16;

/// One key of the in-kernel counts, summed over CPUs (`--count`).
#[derive(Clone, Debug, PartialEq)]
pub struct Count {
    pub slot: u32,
    pub comm: String,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub cpu: u32,
    pub n: u64,
    /// The earliest CPU's first count (ktime).
    pub first: u64,
}

/// Programs each table needs. `proc_exit` also serves the syscalls table: it
/// writes exit/exit_group, which never reach sys_exit.
fn programs_for(
    cfg: &Config,
    vfs: Option<VfsHook>,
    hooks: &[Option<usize>],
) -> BTreeSet<&'static str> {
    let mut p = BTreeSet::new();
    for t in &cfg.tables {
        match t {
            Table::Syscalls if cfg.entries_only => {
                p.insert("sys_enter");
            }
            Table::Syscalls => p.extend(["sys_enter", "sys_exit", "proc_exit", "dump_inflight"]),
            Table::Processes => p.extend(["proc_exec", "proc_fork", "proc_exit"]),
            Table::Net => p.extend(["net_xmit", "net_recv"]),
            Table::Block => p.extend(["blk_issue", "blk_done"]),
            Table::Samples => {
                p.insert("on_sample");
            }
            Table::Tracepoint(_) => {}
            Table::Uprobes => {}
            Table::Vfs => match vfs {
                Some(VfsHook::Fentry) => p.extend([
                    "vfs_read_fentry",
                    "vfs_read_fexit",
                    "vfs_write_fentry",
                    "vfs_write_fexit",
                    "proc_exit",
                ]),
                Some(VfsHook::Kprobe) => p.extend([
                    "vfs_read_kprobe",
                    "vfs_read_kretprobe",
                    "vfs_write_kprobe",
                    "vfs_write_kretprobe",
                    "proc_exit",
                ]),
                None => {}
            },
        }
    }
    for h in hooks {
        p.insert(h.map_or("on_tracepoint", |i| RAW_HOOKED[i].2));
    }
    if cfg.follow_children {
        p.insert("proc_fork");
    }
    if cfg.counts_syscalls() {
        p.insert("sys_enter");
    }
    for (_, u, counted) in cfg.all_uprobes() {
        match u.kind {
            UprobeKind::Function => p.insert("on_uprobe"),
            UprobeKind::Return if counted.is_some() => p.insert("on_uretprobe"),
            UprobeKind::Return => {
                p.insert("on_uprobe");
                p.insert("on_uretprobe")
            }
            UprobeKind::Mark => p.insert("on_usdt"),
        };
    }
    p
}

/// The tracepoints bpf/retap.bpf.c also hooks raw (its TPB_* order):
/// system, event, program. The raw hook skips the classic one's building
/// of the whole record in a perf buffer; the record is the same.
const RAW_HOOKED: [(&str, &str, &str); 8] = [
    ("sched", "sched_switch", "tpb_sched_switch"),
    ("sched", "sched_wakeup", "tpb_sched_wakeup"),
    ("sched", "sched_wakeup_new", "tpb_sched_wakeup_new"),
    ("irq", "softirq_entry", "tpb_softirq_entry"),
    ("irq", "softirq_exit", "tpb_softirq_exit"),
    ("signal", "signal_generate", "tpb_signal_generate"),
    ("signal", "signal_deliver", "tpb_signal_deliver"),
    ("sched", "sched_migrate_task", "tpb_sched_migrate_task"),
];

/// For each tracepoint of the recording, the raw hook (RAW_HOOKED index)
/// that records it, if one does. Not when its stack is asked for (the
/// classic hook's stack starts where the tracepoint fired), nor under
/// RETAP_CLASSIC_TRACEPOINTS=1 (the differential test of the two hooks),
/// nor when this kernel will not load them: their CO-RE relocations and
/// arguments assume the layouts and prototypes of Linux 5.18 and later,
/// and a kernel that differs is recorded the classic way, which reads any
/// layout from its format file.
fn raw_hooks(cfg: &Config) -> Vec<Option<usize>> {
    let classic = std::env::var_os("RETAP_CLASSIC_TRACEPOINTS").is_some_and(|v| v == "1");
    let hooks: Vec<Option<usize>> = cfg
        .tracepoints
        .iter()
        .map(|f| {
            (!f.stack && !classic)
                .then(|| {
                    RAW_HOOKED
                        .iter()
                        .position(|(s, e, _)| *s == f.system && *e == f.event)
                })
                .flatten()
        })
        .collect();
    let wanted: BTreeSet<&str> = hooks.iter().flatten().map(|i| RAW_HOOKED[*i].2).collect();
    if wanted.is_empty() || raw_hooks_load(&wanted).is_ok() {
        hooks
    } else {
        vec![None; hooks.len()]
    }
}

/// Loads the raw hook programs alone (as try_fentry does), to learn
/// whether this kernel accepts them before the recording depends on it.
fn raw_hooks_load(programs: &BTreeSet<&str>) -> std::result::Result<(), String> {
    // Quietly: a refusal only means the classic hooks record them.
    let print = libbpf_rs::set_print(None);
    let loaded = raw_hooks_try(programs);
    libbpf_rs::set_print(print);
    loaded
}

fn raw_hooks_try(programs: &BTreeSet<&str>) -> std::result::Result<(), String> {
    let mut obj = MaybeUninit::uninit();
    let mut open = RetapSkelBuilder::default()
        .open(&mut obj)
        .map_err(|e| e.to_string())?;
    autoload_only(&mut open, programs);
    open.maps
        .events
        .set_max_entries(4096)
        .map_err(|e| e.to_string())?;
    open.load().map(|_| ()).map_err(|e| short_err(&e))
}

fn autoload_only(open: &mut OpenRetapSkel<'_>, keep: &BTreeSet<&str>) {
    for mut prog in open.open_object_mut().progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        prog.set_autoload(keep.contains(name.as_str()));
    }
}

/// The kernel refuses fentry/fexit on some machines (no BPF trampoline, or a
/// lockdown policy) and some kernels are built without kprobes. Finds the
/// first of the two that works here, or says precisely why neither does.
pub fn choose_vfs_hook() -> Result<VfsHook> {
    let fentry_err = match try_fentry() {
        Ok(()) => return Ok(VfsHook::Fentry),
        Err(e) => e,
    };
    let kprobe_pmu = Path::new("/sys/bus/event_source/devices/kprobe/type");
    if kprobe_pmu.exists() {
        return Ok(VfsHook::Kprobe);
    }
    bail!(
        "--events vfs needs fentry/fexit or kprobes, and this kernel lacks both: \
         fentry/fexit on vfs_read was refused ({fentry_err}), and kprobes are not \
         available ({} is missing: the kernel was built without CONFIG_KPROBES). \
         Record the syscalls table instead (read/write with their byte counts and \
         latencies are there).",
        kprobe_pmu.display()
    )
}

fn try_fentry() -> std::result::Result<(), String> {
    let mut obj = MaybeUninit::uninit();
    let mut open = RetapSkelBuilder::default()
        .open(&mut obj)
        .map_err(|e| e.to_string())?;
    let keep = BTreeSet::from(["vfs_read_fentry", "vfs_read_fexit"]);
    autoload_only(&mut open, &keep);
    open.maps
        .events
        .set_max_entries(4096)
        .map_err(|e| e.to_string())?;
    let skel = open.load().map_err(|e| short_err(&e))?;
    let _link = skel
        .progs
        .vfs_read_fentry
        .attach()
        .map_err(|e| short_err(&e))?;
    Ok(())
}

fn short_err(e: &libbpf_rs::Error) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").to_string()
}

/// Tracepoint events the recording lost (Session::tracepoint_losses).
#[derive(Debug, Default)]
pub struct TracepointLosses {
    /// Per tracepoint, in the recording's order: ring buffer full, and
    /// skipped by the kernel.
    pub per_table: Vec<(u64, u64)>,
    /// Skipped by the kernel, of the tracepoints sharing the classic hook.
    pub unattributed: u64,
}

impl TracepointLosses {
    /// The classic hook's `n` skips: its table's when one tracepoint is
    /// recorded through it, else no table's (the kernel counts per program).
    fn classic_skipped(&mut self, hooks: &[Option<usize>], n: u64) {
        let classic: Vec<usize> = (0..hooks.len()).filter(|s| hooks[*s].is_none()).collect();
        match classic[..] {
            [only] => self.per_table[only].1 += n,
            _ => self.unattributed += n,
        }
    }
}

/// A loaded, attached recording session.
pub struct Session<'obj> {
    pub skel: RetapSkel<'obj>,
    links: Vec<Link>,
    /// Program name of each entry of `links`, in order.
    attached_names: Vec<String>,
    _perf: Vec<PerfFd>,
    /// Probe points attached, for the manifest.
    pub attached: Vec<String>,
    /// The tracepoints, in loss-counter slot order.
    tracepoints: Vec<&'static TracepointFormat>,
    /// Of each tracepoint, the raw hook recording it (RAW_HOOKED), if one.
    hooks: Vec<Option<usize>>,
}

pub fn load<'obj>(
    obj: &'obj mut MaybeUninit<OpenObject>,
    cfg: &Config,
    vfs: Option<VfsHook>,
) -> Result<Session<'obj>> {
    let mut open = RetapSkelBuilder::default()
        .open(obj)
        .context("opening the BPF object")?;
    let hooks = raw_hooks(cfg);
    let keep = programs_for(cfg, vfs, &hooks);
    autoload_only(&mut open, &keep);
    {
        let ro = open
            .maps
            .rodata_data
            .as_deref_mut()
            .ok_or_else(|| anyhow!("BPF object has no .rodata"))?;
        ro.self_tgid = cfg.self_tgid;
        ro.filter_pids = cfg.filter_pids;
        ro.follow_children = cfg.follow_children;
        if let Some(c) = &cfg.comm {
            ro.filter_comm = true;
            for (d, s) in ro.comm_filter.iter_mut().zip(c.bytes().take(15)) {
                *d = s as i8;
            }
        }
        ro.filter_syscalls = cfg.syscalls.is_some() || cfg.counts_syscalls();
        for (slot, (fields, _)) in cfg.counts.iter().enumerate() {
            ro.count_fields[slot] = *fields;
        }
        ro.want_procs = cfg.tables.contains(&Table::Processes);
        ro.wakeup_bytes = u64::from(cfg.ringbuf_bytes / 4);
        ro.string_max = cfg.string_max;
        ro.emit_entries = cfg.emit_entries;
        ro.entries_only = cfg.entries_only;
        ro.mark_programs = cfg.mark_programs;
        for (slot, h) in hooks.iter().enumerate() {
            if let Some(i) = h {
                ro.tpb_slot[*i] = slot as u32 + 1;
            }
        }
        for u in &cfg.user_memory {
            if let Some(slot) = ro.path_args.get_mut(u.nr as usize) {
                *slot = u.code();
            }
        }
    }
    open.maps
        .events
        .set_max_entries(cfg.ringbuf_bytes)
        .context("sizing the ring buffer")?;
    let skel = open.load().map_err(|e| load_error(&e))?;

    for pid in &cfg.targets {
        skel.maps
            .targets
            .update(&pid.to_ne_bytes(), &[1u8], MapFlags::ANY)
            .context("adding a target pid")?;
    }
    // Bit 0: recorded; bit 1 + s: counted in slot s.
    let mut filter = [0u32; 1024];
    match &cfg.syscalls {
        Some(nrs) => nrs.iter().for_each(|nr| filter[*nr as usize % 1024] |= 1),
        None if cfg.tables.contains(&Table::Syscalls) => filter.iter_mut().for_each(|b| *b |= 1),
        None => {}
    }
    for (slot, (_, nrs)) in cfg.counts.iter().enumerate() {
        for nr in nrs {
            filter[*nr as usize % 1024] |= 2 << slot;
        }
    }
    if cfg.syscalls.is_some() || cfg.counts_syscalls() {
        for (nr, bits) in filter.iter().enumerate().filter(|(_, b)| **b != 0) {
            skel.maps
                .syscall_filter
                .update(
                    &(nr as u32).to_ne_bytes(),
                    &bits.to_ne_bytes(),
                    MapFlags::ANY,
                )
                .context("setting the syscall filter")?;
        }
    }

    for (slot, f) in cfg.tracepoints.iter().enumerate() {
        skel.maps
            .tp_formats
            .update(&(slot as u32).to_ne_bytes(), &tp_fmt(f), MapFlags::ANY)
            .context("describing a tracepoint to the BPF side")?;
    }

    let mut links = Vec::new();
    let mut attached_names = Vec::new();
    let mut attached = Vec::new();
    let mut perf_fds = Vec::new();
    // Completions first: an event whose entry is seen then has its end
    // seen too (with sys_enter first, a syscall entered and ended between
    // the two attachments was sent live at its entry and never written).
    for prog in skel
        .object()
        .progs_mut()
        .filter(|p| ends_a_pair(&p.name().to_string_lossy()))
        .chain(
            skel.object()
                .progs_mut()
                .filter(|p| !ends_a_pair(&p.name().to_string_lossy())),
        )
    {
        let name = prog.name().to_string_lossy().into_owned();
        if !keep.contains(name.as_str()) {
            continue;
        }
        let section = prog.section().to_string_lossy().into_owned();
        if name == "dump_inflight" {
            continue; // attached at stop, by syscalls_in_flight()
        }
        if name == "on_sample" {
            for cpu in crate::procfs::online_cpus() {
                let fd = perf::open_cpu_clock(cpu, cfg.sample_hz).with_context(|| {
                    format!("opening the cpu-clock sampling event on CPU {cpu}")
                })?;
                links.push(
                    prog.attach_perf_event(fd.0)
                        .with_context(|| format!("attaching the sampler on CPU {cpu}"))?,
                );
                attached_names.push(name.clone());
                perf_fds.push(fd);
            }
            attached.push(format!("perf_event/cpu-clock@{}Hz", cfg.sample_hz));
            continue;
        }
        if let Some(kinds) = uprobe_program(&name) {
            for (slot, u, count) in cfg.all_uprobes() {
                // A counted return needs no entry: nothing is paired.
                if !kinds.contains(&u.kind)
                    || (count.is_some() && u.kind == UprobeKind::Return && name == "on_uprobe")
                {
                    continue;
                }
                links.push(attach_uprobe(&prog, &name, slot, u, count)?);
                attached_names.push(name.clone());
                attached.push(format!("{section}/{}", u.spec()));
            }
            continue;
        }
        if name == "on_tracepoint" {
            for (slot, f) in cfg.tracepoints.iter().enumerate() {
                if hooks[slot].is_some() {
                    continue;
                }
                let opts = TracepointOpts {
                    cookie: slot as u64,
                    ..Default::default()
                };
                let link = prog
                    .attach_tracepoint_with_opts(
                        TracepointCategory::Custom(f.system.clone()),
                        &f.event,
                        opts,
                    )
                    .map_err(|e| {
                        anyhow!(
                            "the kernel refused tracepoint {}:{}: {e:#}",
                            f.system,
                            f.event
                        )
                    })?;
                links.push(link);
                attached_names.push(name.clone());
                attached.push(format!("tracepoint/{}/{}", f.system, f.event));
            }
            continue;
        }
        let link = prog
            .attach()
            .with_context(|| format!("attaching {section} ({name})"))?;
        links.push(link);
        attached_names.push(name);
        attached.push(section);
    }
    attached.sort();
    attached.dedup();
    Ok(Session {
        skel,
        links,
        attached_names,
        _perf: perf_fds,
        attached,
        tracepoints: cfg.tracepoints.clone(),
        hooks,
    })
}

/// The user-space probe kinds each uprobe program serves (a return probe
/// needs its entry, to pair them).
/// Programs that end what another began (bpf/retap.bpf.c): attached before
/// their beginnings.
fn ends_a_pair(name: &str) -> bool {
    matches!(
        name,
        "sys_exit"
            | "blk_done"
            | "vfs_read_fexit"
            | "vfs_write_fexit"
            | "vfs_read_kretprobe"
            | "vfs_write_kretprobe"
            | "on_uretprobe"
    )
}

fn uprobe_program(name: &str) -> Option<&'static [UprobeKind]> {
    match name {
        "on_uprobe" => Some(&[UprobeKind::Function, UprobeKind::Return]),
        "on_uretprobe" => Some(&[UprobeKind::Return]),
        "on_usdt" => Some(&[UprobeKind::Mark]),
        _ => None,
    }
}

/// bpf/records.h: the cookie's string selector and entry actions.
const UP_STRING_RET: u64 = 7;
const UP_EMIT: u64 = 1 << 24;
const UP_STORE: u64 = 1 << 25;
const UP_COUNT_SHIFT: u64 = 26;
const UP_STACK: u64 = 1 << 31;
const UP_WORD_SHIFT: u64 = 32;

/// The attach cookie of `u` in `slot` (bpf/records.h), counted in count
/// slot `count` instead of sent.
fn uprobe_cookie(slot: usize, u: &Uprobe, program: &str, count: Option<u8>) -> u64 {
    if let Some(c) = count {
        return slot as u64 | (u64::from(c) + 1) << UP_COUNT_SHIFT;
    }
    let string = match u.string {
        None => 0,
        Some(retap_schema::uprobes::STRING_OF_RETURN) => UP_STRING_RET,
        Some(n) => u64::from(n),
    };
    let action = match (u.kind, program) {
        (UprobeKind::Function, _) => UP_EMIT,
        (UprobeKind::Return, "on_uprobe") => UP_STORE,
        _ => 0,
    } | if u.stack { UP_STACK } else { 0 };
    let word = match u.word {
        None => 0,
        Some(retap_schema::uprobes::STRING_OF_RETURN) => UP_STRING_RET,
        Some(n) => u64::from(n),
    };
    slot as u64 | string << 16 | action | word << UP_WORD_SHIFT
}

/// Attaches one user-space probe; libbpf finds the function in the ELF
/// symbol tables (and a mark's argument specs and semaphore in its notes).
fn attach_uprobe(
    prog: &libbpf_rs::ProgramMut<'_>,
    program: &str,
    slot: usize,
    u: &Uprobe,
    count: Option<u8>,
) -> Result<Link> {
    let cookie = uprobe_cookie(slot, u, program, count);
    let any_process = -1;
    let r = match u.kind {
        UprobeKind::Mark => prog.attach_usdt_with_opts(
            any_process,
            &u.path,
            u.provider.as_deref().unwrap_or_default(),
            &u.name,
            libbpf_rs::UsdtOpts {
                cookie,
                ..Default::default()
            },
        ),
        UprobeKind::Function | UprobeKind::Return => prog.attach_uprobe_with_opts(
            any_process,
            &u.path,
            0,
            libbpf_rs::UprobeOpts {
                cookie,
                retprobe: program == "on_uretprobe",
                func_name: Some(u.name.clone()),
                ..Default::default()
            },
        ),
    };
    r.map_err(|e| anyhow!("cannot attach {}: {}", u.probe(), short_err(&e)))
}

/// struct tp_fmt (bpf/records.h): what on_tracepoint needs of a format.
fn tp_fmt(f: &TracepointFormat) -> [u8; 22] {
    let mut b = [0u8; 22];
    b[0..2].copy_from_slice(&(f.size as u16).to_ne_bytes());
    // flags: TP_STACK
    b[2..4].copy_from_slice(&u16::from(f.stack).to_ne_bytes());
    let dyns = crate::tracepoints::dynamic_offsets(f);
    b[4] = dyns.len().min(crate::tracepoints::MAX_DYNAMIC) as u8;
    for (i, d) in dyns
        .iter()
        .take(crate::tracepoints::MAX_DYNAMIC)
        .enumerate()
    {
        b[6 + 2 * i..8 + 2 * i].copy_from_slice(&d.to_ne_bytes());
    }
    b
}

/// The links with their attachment order, newest first: the reverse of
/// attaching, so a pair's start is detached before its end. (Ends first, a
/// syscall that was in flight and returned between the two detachments
/// left no row, and its thread's next entry overwrote its in-flight slot:
/// seen live at its entry, missing from the trace.)
fn drain_newest_first(links: &mut Vec<Link>) -> impl Iterator<Item = (usize, Link)> {
    std::mem::take(links).into_iter().enumerate().rev()
}

/// In debug builds, `RETAP_TEST_DETACH_PAUSE_MS` pauses after each link
/// the stop drops: the tests widen the ~0.2 ms between detachments to
/// make a syscall end between them every time, not one run in hundreds.
fn detach_pause() -> Option<std::time::Duration> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let ms = std::env::var("RETAP_TEST_DETACH_PAUSE_MS").ok()?;
    Some(std::time::Duration::from_millis(ms.parse().ok()?))
}

fn load_error(e: &libbpf_rs::Error) -> anyhow::Error {
    anyhow!(
        "the kernel refused retap's BPF programs: {e}\n\
         (retap needs Linux >= 5.17 with BTF at /sys/kernel/btf/vmlinux; run with -v? \
         libbpf's log above says which program and why)"
    )
}

impl Session<'_> {
    /// First step of stopping: every probe but `sched_process_exit` is
    /// detached, and that one only hands over syscalls still in flight of
    /// threads that exit now (their task storage is freed with them), until
    /// `syscalls_in_flight` has taken the rest.
    pub fn begin_stop(&mut self) {
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            bss.stopping = true;
        }
        let exit_idx = self.attached_names.iter().position(|n| n == "proc_exit");
        let mut keep = None;
        let pause = detach_pause();
        for (i, link) in drain_newest_first(&mut self.links) {
            if Some(i) == exit_idx {
                keep = Some(link);
            } else {
                drop(link);
                if let Some(d) = pause {
                    std::thread::sleep(d);
                }
            }
        }
        self.links.extend(keep);
        self._perf.clear();
    }

    /// Waits for programs that began before `before` (monotonic ns) to
    /// finish: dropping a link stops new runs, not one already running on
    /// another CPU, and a sys_enter still running there sets its thread's
    /// in-flight slot after the dump passed it (its live entry seen, its
    /// row never written). With marks (live runs) until none that old is
    /// left (at most 200 ms); without, a 2 ms pause, ample for programs
    /// that run for microseconds.
    pub fn settle(&self, before: i64) -> Result<()> {
        let marks = self
            .skel
            .maps
            .rodata_data
            .is_some_and(|ro| ro.mark_programs);
        if !marks {
            std::thread::sleep(std::time::Duration::from_millis(2));
            return Ok(());
        }
        let end = std::time::Instant::now() + std::time::Duration::from_millis(200);
        while self.oldest_in_progress()?.is_some_and(|t| t < before)
            && std::time::Instant::now() < end
        {
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        Ok(())
    }

    /// Stops every probe: after this no new event enters the ring buffer.
    pub fn detach(&mut self) {
        drain_newest_first(&mut self.links).for_each(drop);
        self._perf.clear();
    }

    /// When the oldest program still running on any CPU began (None: none
    /// runs). Whatever it stamps is later; a program that finished before
    /// this read has its record reserved in the ring already.
    pub fn oldest_in_progress(&self) -> Result<Option<i64>> {
        let per_cpu = self
            .skel
            .maps
            .live_marks
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)?
            .unwrap_or_default();
        Ok(per_cpu
            .iter()
            .filter(|v| v.len() >= 16 && u64::from_ne_bytes(v[..8].try_into().unwrap()) != 0)
            .map(|v| u64::from_ne_bytes(v[8..16].try_into().unwrap()) as i64)
            .min())
    }

    /// Losses per table: (ring buffer full, in-flight map full).
    pub fn losses(&self) -> Result<Vec<(u64, u64)>> {
        let mut out = vec![(0, 0); NR_KINDS];
        for slot in 0..2 * NR_KINDS as u32 {
            let per_cpu = self
                .skel
                .maps
                .losses
                .lookup_percpu(&slot.to_ne_bytes(), MapFlags::ANY)?
                .unwrap_or_default();
            let sum: u64 = per_cpu
                .iter()
                .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap()))
                .sum();
            let (kind, which) = (slot as usize % NR_KINDS, slot as usize / NR_KINDS);
            if which == 0 {
                out[kind].0 = sum;
            } else {
                out[kind].1 = sum;
            }
        }
        Ok(out)
    }

    /// The in-kernel counts (`--count`), each key summed over the CPUs.
    pub fn counts(&self) -> Result<Vec<Count>> {
        let map = &self.skel.maps.counts;
        let mut out = vec![];
        for key in map.keys() {
            let Some(per_cpu) = map
                .lookup_percpu(&key, MapFlags::ANY)
                .context("reading the syscall counts")?
            else {
                continue;
            };
            let k: skel::types::count_key = from_bytes(&key);
            let (mut n, mut first) = (0u64, u64::MAX);
            for v in &per_cpu {
                let v: skel::types::count_val = from_bytes(v);
                n += v.n;
                if v.n > 0 {
                    first = first.min(v.first);
                }
            }
            if n == 0 {
                continue;
            }
            let comm: Vec<u8> = k
                .comm
                .iter()
                .map(|c| *c as u8)
                .take_while(|c| *c != 0)
                .collect();
            out.push(Count {
                slot: k.slot,
                comm: String::from_utf8_lossy(&comm).into_owned(),
                pid: k.pid,
                tid: k.tid,
                uid: k.uid,
                cpu: k.cpu,
                n,
                first,
            });
        }
        Ok(out)
    }

    /// What each tracepoint lost, in the recording's order, and what the
    /// classic hook's one program lost that no table can be named for.
    pub fn tracepoint_losses(&self) -> Result<TracepointLosses> {
        let mut out = TracepointLosses::default();
        for slot in 0..self.tracepoints.len() {
            let per_cpu = self
                .skel
                .maps
                .tp_losses
                .lookup_percpu(&(slot as u32).to_ne_bytes(), MapFlags::ANY)?
                .unwrap_or_default();
            let full: u64 = per_cpu
                .iter()
                .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap()))
                .sum();
            // A raw hook's program does not run when it fired on a CPU
            // already running it (an interrupt's wake-up during a wake-up's
            // record): the kernel counts those per program, so per table.
            let skipped = match self.hooks[slot] {
                Some(i) => self.recursion_misses(RAW_HOOKED[i].2)?,
                None => 0,
            };
            out.per_table.push((full, skipped));
        }
        // The classic hook's program is skipped while any BPF program of
        // its kind runs on the CPU; it serves every classic tracepoint.
        if self.hooks.iter().any(Option::is_none) {
            let n = self.recursion_misses("on_tracepoint")?;
            out.classic_skipped(&self.hooks, n);
        }
        Ok(out)
    }

    /// How often the kernel skipped a program because it was already
    /// running on that CPU (bpf_prog_info.recursion_misses).
    fn recursion_misses(&self, program: &str) -> Result<u64> {
        use std::os::fd::{AsFd, AsRawFd};
        let prog = self
            .skel
            .object()
            .progs()
            .find(|p| p.name() == program)
            .ok_or_else(|| anyhow!("BPF program {program} is not in the object"))?;
        let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
        let mut len = std::mem::size_of_val(&info) as u32;
        // SAFETY: info is a bpf_prog_info of len bytes, written by the kernel.
        let rc = unsafe {
            libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(
                prog.as_fd().as_raw_fd(),
                &mut info,
                &mut len,
            )
        };
        if rc != 0 {
            bail!(
                "reading BPF program {program}'s counters: {}",
                std::io::Error::from_raw_os_error(-rc)
            );
        }
        Ok(info.recursion_misses)
    }

    /// Syscalls entered but not returned, as records without ret/dur.
    /// Call after `detach`, once the ring buffer is drained.
    pub fn syscalls_in_flight(&self) -> Result<Vec<Record>> {
        use std::io::Read;
        let link = self
            .skel
            .progs
            .dump_inflight
            .attach()
            .context("attaching the in-flight syscall iterator")?;
        let mut raw = Vec::new();
        libbpf_rs::Iter::new(&link)?
            .read_to_end(&mut raw)
            .context("reading syscalls in flight")?;
        // struct inflight_dump (records.h): the thread id, then the map's
        // value, decoded through the skeleton's type of it.
        const V: usize = 8;
        const LEN: usize = V + std::mem::size_of::<skel::types::inflight>();
        let mut out = Vec::new();
        for e in raw.chunks_exact(LEN) {
            let tid = u32::from_ne_bytes(e[..4].try_into().expect("4 bytes"));
            let v: skel::types::inflight = from_bytes(&e[V..]);
            let h = Hdr {
                ts: v.ts,
                pid: v.pid,
                tid,
                uid: v.uid,
                cpu: v.cpu,
                kind: 0,
                flags: 0,
                comm: v.comm.map(|c| c as u8),
            };
            // bpf/retap.bpf.c PAD_ADDR_READ: its socket address was read.
            let addr = (v.pad & 8 != 0).then(|| records::sockaddr(v.addr_len, v.addr_err, &v.addr));
            out.push(Record::Syscall(Syscall {
                h,
                dur: 0,
                ret: 0,
                args: v.args,
                nr: v.nr,
                addr,
            }));
        }
        Ok(out)
    }

    /// Block requests issued but not completed, as records without dur.
    pub fn block_in_flight(&self) -> Result<Vec<Record>> {
        let map = &self.skel.maps.block_inflight;
        let mut out = Vec::new();
        for key in map.keys() {
            let Some(v) = map.lookup(&key, MapFlags::ANY)? else {
                continue;
            };
            let mut h = records::decode_hdr(&v).map_err(|e| anyhow!(e))?;
            h.flags = 0;
            anyhow::ensure!(
                v.len() == std::mem::size_of::<skel::types::blk_start>(),
                "block_inflight value of {} bytes",
                v.len()
            );
            let b: skel::types::blk_start = from_bytes(&v);
            out.push(Record::Block(Block {
                h,
                dur: 0,
                sector: b.sector,
                dev: b.dev,
                bytes: b.bytes,
                error: 0,
                op: b.op,
                rwbs: b.rwbs,
            }));
        }
        Ok(out)
    }
}

/// A value of a skeleton type (generated from the C struct's BTF, so laid
/// out as the kernel side writes it) from the bytes the kernel handed over.
fn from_bytes<T: Copy>(b: &[u8]) -> T {
    assert!(b.len() >= std::mem::size_of::<T>(), "short map value");
    // SAFETY: T is a plain repr(C) struct of integers and integer arrays
    // (every bit pattern valid), and `b` holds at least its size.
    unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes records.h asserts on the C side.
    #[test]
    fn in_flight_value_layout_matches_the_c_struct() {
        assert_eq!(std::mem::size_of::<skel::types::inflight>(), 224);
        assert_eq!(std::mem::size_of::<skel::types::blk_start>(), 64);
        assert_eq!(std::mem::size_of::<skel::types::tp_fmt>(), 22);
        assert_eq!(std::mem::size_of::<skel::types::count_key>(), 40);
        assert_eq!(std::mem::size_of::<skel::types::count_val>(), 16);
    }

    #[test]
    fn programs_follow_the_tables() {
        let cfg = Config {
            tables: vec![Table::Net],
            self_tgid: 1,
            targets: vec![],
            filter_pids: false,
            follow_children: true,
            comm: None,
            syscalls: None,
            ringbuf_bytes: 1 << 20,
            sample_hz: 99,
            string_max: 256,
            user_memory: vec![],
            tracepoints: vec![],
            uprobes: vec![],
            counted_uprobes: vec![],
            emit_entries: false,
            entries_only: false,
            mark_programs: false,
            counts: vec![],
        };
        let p = programs_for(&cfg, None, &[]);
        assert_eq!(
            p.into_iter().collect::<Vec<_>>(),
            ["net_recv", "net_xmit", "proc_fork"]
        );
    }

    #[test]
    fn classic_skips_go_to_the_one_classic_table_or_to_none() {
        let mut l = TracepointLosses {
            per_table: vec![(0, 1), (2, 0)],
            unattributed: 0,
        };
        // Slot 0 raw, slot 1 classic: slot 1's.
        l.classic_skipped(&[Some(0), None], 5);
        assert_eq!(l.per_table, [(0, 1), (2, 5)]);
        assert_eq!(l.unattributed, 0);
        // Two classic: no table's.
        l.classic_skipped(&[None, None], 3);
        assert_eq!(l.per_table, [(0, 1), (2, 5)]);
        assert_eq!(l.unattributed, 3);
    }
}
