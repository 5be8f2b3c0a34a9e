//! stap's tapset probe aliases that no recording can serve, and why.
//!
//! Most of stap's tapset probes kernel functions with kprobes (tcp.sendmsg
//! is `kernel.function("tcp_sendmsg")`). A retap recording holds system
//! calls, tracepoints, packets, block I/O, CPU samples and user-space
//! probes, never a kernel function's arguments, so those aliases are
//! refused by name with what to probe instead. The aliases stap builds on
//! tracepoints and system calls are in the library (analyzer/tapset/).

/// Why stap's alias `name` (components, no wildcard) cannot be served;
/// None for a name this table does not know.
pub fn refusal(names: &[&str]) -> Option<String> {
    let alias = names.join(".");
    let (family, rest) = (names.first()?, &names[1..]);
    let kprobes = |what: &str, instead: &str| {
        format!(
            "stap's {alias} is a kprobe on {what}; a recording holds no kernel functions ({instead})"
        )
    };
    Some(match (*family, rest) {
        ("nfs" | "nfsd" | "sunrpc", _) => kprobes(
            "the NFS client, server or RPC code (the nfs, nfsd and sunrpc modules)",
            "NFS shows in the recording as the syscalls, packets and block I/O around it",
        ),
        ("socket", _) => kprobes(
            "the kernel's socket layer (sock_sendmsg, sock_recvmsg, __sock_create, sock_release, ...)",
            "the socket system calls are recorded: syscall.sendmsg, syscall.recvfrom, syscall.socket, ...",
        ),
        ("tcp" | "udp", _) => kprobes(
            &format!("the kernel's {family} functions"),
            "the socket system calls and the packets are recorded: syscall.*, netdev.transmit, netdev.receive",
        ),
        ("ipmib" | "tcpmib" | "linuxmib", _) => kprobes(
            "the IP and TCP stack's functions, counting the kernel's SNMP (MIB) events",
            "packets are recorded: netdev.transmit, netdev.receive",
        ),
        ("netfilter", _) => format!(
            "stap's {alias} registers a netfilter hook in the kernel's packet path, which a recording cannot replay; packets are recorded: netdev.transmit, netdev.receive"
        ),
        ("netdev", [x, ..]) if !matches!(*x, "transmit" | "receive") => kprobes(
            "a network device function (dev_open, dev_close, dev_set_mtu, netif_rx, ...)",
            "netdev.transmit and netdev.receive are recorded",
        ),
        ("tty", _) => kprobes(
            "the tty layer's functions",
            "reads and writes of terminals are recorded as system calls",
        ),
        ("scsi", _) => kprobes(
            "the SCSI mid-layer (scsi_mod), reading the command's device",
            "block I/O is recorded: ioblock.request, ioblock.end",
        ),
        ("ioscheduler", ["elv_add_request", "kp"]) => kprobes(
            "elv_insert or __elv_add_request",
            "ioscheduler.elv_add_request is served from the block:block_rq_insert tracepoint",
        ),
        ("ioscheduler", _) => kprobes(
            "the I/O elevator's functions",
            "the block:block_rq_* tracepoints are served as ioscheduler.elv_add_request and ioscheduler_trace.*",
        ),
        ("ioscheduler_trace", ["elv_abort_request"]) => format!(
            "stap's {alias} reads the tracepoint block_rq_abort, which Linux removed in 4.11"
        ),
        ("ioscheduler_trace", ["unplug_io" | "unplug_timer"]) => format!(
            "stap's {alias} reads the tracepoint block_{}, which Linux removed in 2.6.39 (block:block_unplug replaced it)",
            rest[0]
        ),
        ("ioblock_trace", ["bounce"]) => format!(
            "stap's {alias} reads the tracepoint block_bio_bounce and the bio behind it; current kernels (6.x) have no such tracepoint"
        ),
        ("kprocess", [which @ ("start" | "release")]) => kprobes(
            if *which == "start" {
                "schedule_tail"
            } else {
                "release_task"
            },
            "kprocess.create, exec, exec_complete and exit are recorded",
        ),
        ("scheduler", ["balance"]) => kprobes(
            "idle_balance",
            "scheduler.migrate is served from the sched:sched_migrate_task tracepoint",
        ),
        ("scheduler", ["tick"]) => kprobes(
            "scheduler_tick",
            "timer.profile samples the CPUs; scheduler.cpu_on/cpu_off serve switches",
        ),
        ("scheduler", ["signal_send"]) => format!(
            "stap's {alias} reads the tracepoint sched_signal_send, which Linux removed in 2.6.32, else a kprobe on __send_signal; signal.send is served from the signal:signal_generate tracepoint"
        ),
        ("signal", _) => kprobes(
            "the kernel's signal code (sig_ignored, check_kill_permission, do_sigaction, sigprocmask, ...)",
            "signal.send and signal.handle are served from the signal tracepoints, signal.syskill, systkill and systgkill from the system calls, and syscall.rt_sigaction, rt_sigprocmask and the others are recorded",
        ),
        ("vm", ["kmalloc_node" | "kmem_cache_alloc_node"]) => format!(
            "stap's {alias} reads the tracepoint {}, which Linux 6.1 folded into {} (its node field), else a kprobe; vm.{} is served from kmem:{}",
            rest[0],
            rest[0].trim_end_matches("_node"),
            rest[0].trim_end_matches("_node"),
            rest[0].trim_end_matches("_node"),
        ),
        ("vm", ["pagefault" | "brk" | "mmap" | "munmap" | "oom_kill" | "write_shared" | "write_shared_copy", ..]) => kprobes(
            "the kernel's memory-management functions",
            "syscall.brk, syscall.mmap and syscall.munmap are recorded, and any kmem or exceptions tracepoint can be (--tracepoints, then kernel.trace)",
        ),
        ("workqueue", ["create" | "destroy" | "execute" | "insert"]) => format!(
            "stap's {alias} reads a workqueue_* tracepoint Linux removed in 2.6.36; today's workqueue:workqueue_* tracepoints can be recorded (--tracepoints 'workqueue:*') and read with kernel.trace"
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn each_family_says_why_and_what_instead() {
        let r = |s: &str| refusal(&s.split('.').collect::<Vec<_>>());
        assert!(r("tcp.sendmsg")
            .unwrap()
            .contains("kprobe on the kernel's tcp functions"));
        assert!(r("vm.kmalloc_node")
            .unwrap()
            .contains("Linux 6.1 folded into kmalloc (its node field), else a kprobe; vm.kmalloc is served from kmem:kmalloc"));
        assert!(r("ioscheduler_trace.unplug_io")
            .unwrap()
            .contains("block_unplug_io"));
        // Served elsewhere, or unknown here: not refused by this table.
        assert_eq!(r("vm.kmalloc"), None);
        assert_eq!(r("scheduler.cpu_on"), None);
        assert_eq!(r("kprocess.exec"), None);
        assert_eq!(r("netdev.transmit"), None);
        assert!(r("netdev.open").unwrap().contains("dev_open"));
    }
}
