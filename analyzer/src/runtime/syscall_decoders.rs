//! The numbers stap's syscall tapset shows by name (`_sys_open_flag_str`,
//! `_signal_name`, `__fork_flags`, ...), named in syscalls.tapset and
//! written here from the kernel's constants with the two lookups of stap's
//! runtime: an exact name, else hex; or every flag sharing a bit with the
//! value, in the list's order, then what remains in hex.

/// A list of (value, name), in the order stap's lists them.
type List = &'static [(i64, &'static str)];

/// stap's `_stp_lookup_str2`: the name of an exact match, else the value in
/// hex (base 16) or decimal (10).
fn lookup_base(list: List, v: i64, base: u32) -> String {
    match list.iter().find(|(x, _)| *x == v) {
        Some((_, n)) => n.to_string(),
        None if base == 10 => v.to_string(),
        None => format!("0x{v:x}"),
    }
}

pub(crate) fn lookup(list: List, v: i64) -> String {
    lookup_base(list, v, 16)
}

/// stap's `_stp_lookup_or_str`.
pub(crate) fn lookup_or(list: List, v: i64) -> String {
    lookup_or_base(list, v, 16)
}

/// stap's `_stp_lookup_or_str2`: what remains in hex or decimal.
fn lookup_or_base(list: List, v: i64, base: u32) -> String {
    if v == 0 {
        return lookup_base(list, 0, base);
    }
    let mut out = String::new();
    let mut rest = v;
    for (bit, name) in list {
        if bit & rest != 0 {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        if base == 10 {
            out.push_str(&rest.to_string());
        } else {
            out.push_str(&format!("0x{rest:x}"));
        }
    }
    out
}

const O_NONBLOCK: i64 = 0o4000;
const O_CLOEXEC: i64 = 0o2000000;

pub(crate) const OPEN_FLAGS: List = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (O_NONBLOCK, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (O_CLOEXEC, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
];

fn open_flags(v: i64) -> String {
    let f = v as i32 as i64;
    let acc = match f & 3 {
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_RDONLY",
    };
    let rest = f & !3;
    if rest == 0 {
        acc.to_string()
    } else {
        format!("{acc}|{}", lookup_or(OPEN_FLAGS, rest))
    }
}

/// arch_prctl's codes (the syscall's, and ptrace's PTRACE_ARCH_PRCTL).
const ARCH_PRCTL: List = &[
    (0x1002, "ARCH_SET_FS"),
    (0x1003, "ARCH_GET_FS"),
    (0x1001, "ARCH_SET_GS"),
    (0x1004, "ARCH_GET_GS"),
];

const SIGNALS: List = &[
    (0, "SIG_0"),
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (4, "SIGILL"),
    (5, "SIGTRAP"),
    (6, "SIGABRT"),
    (7, "SIGBUS"),
    (8, "SIGFPE"),
    (9, "SIGKILL"),
    (10, "SIGUSR1"),
    (11, "SIGSEGV"),
    (13, "SIGPIPE"),
    (12, "SIGUSR2"),
    (14, "SIGALRM"),
    (15, "SIGTERM"),
    (17, "SIGCHLD"),
    (18, "SIGCONT"),
    (19, "SIGSTOP"),
    (20, "SIGTSTP"),
    (21, "SIGTTIN"),
    (22, "SIGTTOU"),
    (23, "SIGURG"),
    (24, "SIGXCPU"),
    (25, "SIGXFSZ"),
    (26, "SIGVTALRM"),
    (27, "SIGPROF"),
    (28, "SIGWINCH"),
    (29, "SIGIO/SIGPOLL"),
    (30, "SIGPWR"),
    (31, "SIGSYS"),
    (5 | 0x80, "TRACESYSGOOD"),
];

const CLONE_FLAGS: List = &[
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
];

/// `__fork_flags`: the clone flags, then the exit signal in the low byte.
fn fork_flags(v: i64) -> String {
    let mut s = lookup_or(CLONE_FLAGS, v & !0xff);
    if v & 0xff != 0 {
        if !s.is_empty() {
            s.push('|');
        }
        s.push_str(&lookup(SIGNALS, v & 0xff));
    }
    s
}

const MMAP_FLAGS: List = &[
    (1, "MAP_SHARED"),
    (2, "MAP_PRIVATE"),
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x4000000, "MAP_UNINITIALIZED"),
    (0x40, "MAP_32BIT"),
];

/// `_mmap_flags`: a huge page size (bits 26-31, log2) first, then the flags.
fn mmap_flags(v: i64) -> String {
    let huge = (v >> 26) & 0x3f;
    let flags = v & !(0x3f << 26);
    let mut s = String::new();
    if huge != 0 {
        let (n, unit) = match huge {
            60.. => (huge - 60, "EB"),
            50.. => (huge - 50, "PB"),
            40.. => (huge - 40, "TB"),
            30.. => (huge - 30, "GB"),
            20.. => (huge - 20, "MB"),
            10.. => (huge - 10, "KB"),
            _ => (huge, ""),
        };
        s = format!("MAP_HUGE_{}{unit}|", 1i64 << n);
    }
    s + &lookup_or(MMAP_FLAGS, flags)
}

/// `_sock_type_str`: the type, then SOCK_CLOEXEC and SOCK_NONBLOCK, then
/// whatever bits are left, in hex.
fn sock_type(v: i64) -> String {
    let v = v as i32;
    let mut flags = v & !0xf;
    let mut t = v & 0xf;
    let mut parts: Vec<String> = vec![];
    let name = match t {
        1 => Some("SOCK_STREAM"),
        2 => Some("SOCK_DGRAM"),
        3 => Some("SOCK_RAW"),
        4 => Some("SOCK_RDM"),
        5 => Some("SOCK_SEQPACKET"),
        6 => Some("SOCK_DCCP"),
        10 => Some("SOCK_PACKET"),
        _ => None,
    };
    if let Some(n) = name {
        parts.push(n.into());
        t = 0;
    }
    for (bit, n) in [
        (O_CLOEXEC as i32, "SOCK_CLOEXEC"),
        (O_NONBLOCK as i32, "SOCK_NONBLOCK"),
    ] {
        if flags & bit != 0 {
            parts.push(n.into());
            flags &= !bit;
        }
    }
    t |= flags;
    if t != 0 || parts.is_empty() {
        parts.push(format!("0x{:x}", t as u32));
    }
    parts.join("|")
}

/// `_sock_protocol_str(family, protocol)`: IP protocols by name for
/// PF_INET and PF_INET6, otherwise the number.
fn sock_protocol(family: i64, protocol: i64) -> String {
    const IPPROTO: List = &[
        (0, "IPPROTO_IP"),
        (1, "IPPROTO_ICMP"),
        (2, "IPPROTO_IGMP"),
        (4, "IPPROTO_IPIP"),
        (6, "IPPROTO_TCP"),
        (8, "IPPROTO_EGP"),
        (12, "IPPROTO_PUP"),
        (17, "IPPROTO_UDP"),
        (22, "IPPROTO_IDP"),
        (29, "IPPROTO_TP"),
        (33, "IPPROTO_DCCP"),
        (41, "IPPROTO_IPV6"),
        (46, "IPPROTO_RSVP"),
        (47, "IPPROTO_GRE"),
        (50, "IPPROTO_ESP"),
        (51, "IPPROTO_AH"),
        (92, "IPPROTO_MTP"),
        (98, "IPPROTO_ENCAP"),
        (103, "IPPROTO_PIM"),
        (108, "IPPROTO_COMP"),
        (132, "IPPROTO_SCTP"),
        (136, "IPPROTO_UDPLITE"),
        (255, "IPPROTO_RAW"),
    ];
    if family == 2 || family == 10 {
        if let Some((_, n)) = IPPROTO.iter().find(|(p, _)| *p == protocol) {
            return n.to_string();
        }
    }
    protocol.to_string()
}

const SOCK_FAMILY: List = &[
    (0, "PF_UNSPEC"),
    (1, "PF_LOCAL"),
    (2, "PF_INET"),
    (3, "PF_AX25"),
    (4, "PF_IPX"),
    (5, "PF_APPLETALK"),
    (6, "PF_NETROM"),
    (7, "PF_BRIDGE"),
    (8, "PF_ATMPVC"),
    (9, "PF_X25"),
    (10, "PF_INET6"),
    (11, "PF_ROSE"),
    (12, "PF_DECnet"),
    (13, "PF_NETBEUI"),
    (14, "PF_SECURITY"),
    (15, "PF_KEY"),
    (16, "PF_NETLINK"),
    (16, "PF_ROUTE"),
    (17, "PF_PACKET"),
    (18, "PF_ASH"),
    (19, "PF_ECONET"),
    (20, "PF_ATMSVC"),
    (21, "PF_RDS"),
    (22, "PF_SNA"),
    (23, "PF_IRDA"),
    (24, "PF_PPPOX"),
    (25, "PF_WANPIPE"),
    (26, "PF_LLC"),
    (27, "PF_IB"),
    (29, "PF_CAN"),
    (30, "PF_TIPC"),
    (31, "PF_BLUETOOTH"),
    (32, "PF_IUCV"),
    (33, "PF_RXRPC"),
    (34, "PF_ISDN"),
    (35, "PF_PHONET"),
    (36, "PF_IEEE802154"),
    (37, "PF_CAIF"),
    (38, "PF_ALG"),
    (39, "PF_NFC"),
    (40, "PF_VSOCK"),
];

const SOCKOPT_LEVEL: List = &[
    (0, "SOL_IP"),
    (1, "SOL_SOCKET"),
    (6, "SOL_TCP"),
    (17, "SOL_UDP"),
    (41, "SOL_IPV6"),
    (58, "SOL_ICMPV6"),
    (132, "SOL_SCTP"),
    (136, "SOL_UDPLITE"),
    (255, "SOL_RAW"),
    (256, "SOL_IPX"),
    (257, "SOL_AX25"),
    (258, "SOL_ATALK"),
    (259, "SOL_NETROM"),
    (260, "SOL_ROSE"),
    (261, "SOL_DECNET"),
    (262, "SOL_X25"),
    (263, "SOL_PACKET"),
    (264, "SOL_ATM"),
    (265, "SOL_AAL"),
    (266, "SOL_IRDA"),
    (267, "SOL_NETBEUI"),
    (268, "SOL_LLC"),
    (269, "SOL_DCCP"),
    (270, "SOL_NETLINK"),
    (271, "SOL_TIPC"),
    (272, "SOL_RXRPC"),
    (273, "SOL_PPPOL2TP"),
    (274, "SOL_BLUETOOTH"),
    (275, "SOL_PNPIPE"),
    (276, "SOL_RDS"),
    (277, "SOL_IUCV"),
    (278, "SOL_CAIF"),
    (279, "SOL_ALG"),
    (280, "SOL_NFC"),
];

/// Socket options by name (x86_64's 64-bit values: SO_RCVTIMEO is
/// SO_RCVTIMEO_OLD, and so on).
const SOCKOPT_NAME: List = &[
    (1, "SO_DEBUG"),
    (2, "SO_REUSEADDR"),
    (3, "SO_TYPE"),
    (4, "SO_ERROR"),
    (5, "SO_DONTROUTE"),
    (6, "SO_BROADCAST"),
    (7, "SO_SNDBUF"),
    (8, "SO_RCVBUF"),
    (32, "SO_SNDBUFFORCE"),
    (33, "SO_RCVBUFFORCE"),
    (9, "SO_KEEPALIVE"),
    (10, "SO_OOBINLINE"),
    (11, "SO_NO_CHECK"),
    (12, "SO_PRIORITY"),
    (13, "SO_LINGER"),
    (14, "SO_BSDCOMPAT"),
    (15, "SO_REUSEPORT"),
    (16, "SO_PASSCRED"),
    (17, "SO_PEERCRED"),
    (18, "SO_RCVLOWAT"),
    (19, "SO_SNDLOWAT"),
    (20, "SO_RCVTIMEO"),
    (21, "SO_SNDTIMEO"),
    (22, "SO_SECURITY_AUTHENTICATION"),
    (23, "SO_SECURITY_ENCRYPTION_TRANSPORT"),
    (24, "SO_SECURITY_ENCRYPTION_NETWORK"),
    (25, "SO_BINDTODEVICE"),
    (26, "SO_ATTACH_FILTER"),
    (27, "SO_DETACH_FILTER"),
    (28, "SO_PEERNAME"),
    (29, "SO_TIMESTAMP"),
    (30, "SO_ACCEPTCONN"),
    (31, "SO_PEERSEC"),
    (34, "SO_PASSSEC"),
    (35, "SO_TIMESTAMPNS"),
    (36, "SO_MARK"),
    (37, "SO_TIMESTAMPING"),
    (38, "SO_PROTOCOL"),
    (39, "SO_DOMAIN"),
    (40, "SO_RXQ_OVFL"),
    (41, "SO_WIFI_STATUS"),
    (42, "SO_PEEK_OFF"),
    (43, "SO_NOFCS"),
    (44, "SO_LOCK_FILTER"),
    (45, "SO_SELECT_ERR_QUEUE"),
    (46, "SO_BUSY_POLL"),
    (47, "SO_MAX_PACING_RATE"),
    (48, "SO_BPF_EXTENSIONS"),
    (49, "SO_INCOMING_CPU"),
    (50, "SO_ATTACH_BPF"),
    (27, "SO_DETACH_BPF"),
    (51, "SO_ATTACH_REUSEPORT_CBPF"),
    (52, "SO_ATTACH_REUSEPORT_EBPF"),
    (53, "SO_CNX_ADVICE"),
    (54, "SCM_TIMESTAMPING_OPT_STATS"),
    (55, "SO_MEMINFO"),
    (56, "SO_INCOMING_NAPI_ID"),
    (57, "SO_COOKIE"),
    (58, "SCM_TIMESTAMPING_PKTINFO"),
    (59, "SO_PEERGROUPS"),
    (60, "SO_ZEROCOPY"),
    (61, "SO_TXTIME"),
    (61, "SCM_TXTIME"),
    (62, "SO_BINDTOIFINDEX"),
    (29, "SO_TIMESTAMP_OLD"),
    (35, "SO_TIMESTAMPNS_OLD"),
    (37, "SO_TIMESTAMPING_OLD"),
    (63, "SO_TIMESTAMP_NEW"),
    (64, "SO_TIMESTAMPNS_NEW"),
    (65, "SO_TIMESTAMPING_NEW"),
    (66, "SO_RCVTIMEO_NEW"),
    (67, "SO_SNDTIMEO_NEW"),
];

const FCNTL_CMD: List = &[
    (0, "F_DUPFD"),
    (1, "F_GETFD"),
    (2, "F_SETFD"),
    (3, "F_GETFL"),
    (4, "F_SETFL"),
    (5, "F_GETLK"),
    (6, "F_SETLK"),
    (7, "F_SETLKW"),
    (8, "F_SETOWN"),
    (9, "F_GETOWN"),
    (10, "F_SETSIG"),
    (11, "F_GETSIG"),
    (15, "F_SETOWN_EX"),
    (16, "F_GETOWN_EX"),
    (17, "F_GETOWNER_UIDS"),
    (1024, "F_SETLEASE"),
    (1025, "F_GETLEASE"),
    (1030, "F_DUPFD_CLOEXEC"),
    (1026, "F_NOTIFY"),
    (1031, "F_SETPIPE_SZ"),
    (1032, "F_GETPIPE_SZ"),
];

const CLOCKS: List = &[
    (0, "CLOCK_REALTIME"),
    (1, "CLOCK_MONOTONIC"),
    (2, "CLOCK_PROCESS_CPUTIME_ID"),
    (3, "CLOCK_THREAD_CPUTIME_ID"),
    (4, "CLOCK_MONOTONIC_RAW"),
    (5, "CLOCK_REALTIME_COARSE"),
    (6, "CLOCK_MONOTONIC_COARSE"),
    (7, "CLOCK_BOOTTIME"),
    (8, "CLOCK_REALTIME_ALARM"),
    (9, "CLOCK_BOOTTIME_ALARM"),
    (10, "CLOCK_SGI_CYCLE"),
    (11, "CLOCK_TAI"),
];

const FUTEX_OPS: List = &[
    (0, "FUTEX_WAIT"),
    (1, "FUTEX_WAKE"),
    (2, "FUTEX_FD"),
    (3, "FUTEX_REQUEUE"),
    (4, "FUTEX_CMP_REQUEUE"),
    (5, "FUTEX_WAKE_OP"),
    (6, "FUTEX_LOCK_PI"),
    (7, "FUTEX_UNLOCK_PI"),
    (8, "FUTEX_TRYLOCK_PI"),
    (9, "FUTEX_WAIT_BITSET"),
    (10, "FUTEX_WAKE_BITSET"),
    (11, "FUTEX_WAIT_REQUEUE_PI"),
    (12, "FUTEX_CMP_REQUEUE_PI"),
    (128, "FUTEX_WAIT_PRIVATE"),
    (129, "FUTEX_WAKE_PRIVATE"),
    (131, "FUTEX_REQUEUE_PRIVATE"),
    (132, "FUTEX_CMP_REQUEUE_PRIVATE"),
    (133, "FUTEX_WAKE_OP_PRIVATE"),
    (134, "FUTEX_LOCK_PI_PRIVATE"),
    (135, "FUTEX_UNLOCK_PI_PRIVATE"),
    (136, "FUTEX_TRYLOCK_PI_PRIVATE"),
    (137, "FUTEX_WAIT_BITSET_PRIVATE"),
    (138, "FUTEX_WAKE_BITSET_PRIVATE"),
    (139, "FUTEX_WAIT_REQUEUE_PI_PRIVATE"),
    (140, "FUTEX_CMP_REQUEUE_PI_PRIVATE"),
];

/// `_futex_wake_op_str`: FUTEX_WAKE_OP's encoded operation and comparison.
fn futex_wake_op(v: i64) -> String {
    const OPS: List = &[
        (0, "FUTEX_OP_SET"),
        (1, "FUTEX_OP_ADD"),
        (2, "FUTEX_OP_OR"),
        (3, "FUTEX_OP_ANDN"),
        (4, "FUTEX_OP_XOR"),
    ];
    const CMPS: List = &[
        (0, "FUTEX_OP_CMP_EQ"),
        (1, "FUTEX_OP_CMP_NE"),
        (2, "FUTEX_OP_CMP_LT"),
        (3, "FUTEX_OP_CMP_LE"),
        (4, "FUTEX_OP_CMP_GT"),
        (5, "FUTEX_OP_CMP_GE"),
    ];
    let e = v as i32;
    let op = (e >> 28) & 7;
    let cmp = (e >> 24) & 15;
    let oparg = (e << 8) >> 20;
    let cmparg = (e << 20) >> 20;
    let shift = if e & (8 << 28) != 0 {
        "FUTEX_OP_OPARG_SHIFT|"
    } else {
        ""
    };
    format!(
        "{{{shift}{}, {oparg}, {}, {cmparg}}}",
        lookup(OPS, op as i64),
        lookup(CMPS, cmp as i64)
    )
}

/// `_sched_policy_str`: SCHED_RESET_ON_FORK, then the policy.
fn sched_policy(v: i64) -> String {
    const POLICIES: List = &[
        (0, "SCHED_OTHER"),
        (1, "SCHED_FIFO"),
        (2, "SCHED_RR"),
        (3, "SCHED_BATCH"),
        (5, "SCHED_IDLE"),
        (6, "SCHED_DEADLINE"),
    ];
    const RESET_ON_FORK: i64 = 0x4000_0000;
    let mut p = v as u32 as i64;
    let mut s = String::new();
    if v as i32 > 0 && p & RESET_ON_FORK != 0 {
        s.push_str("SCHED_RESET_ON_FORK|");
        p &= !RESET_ON_FORK;
    }
    s + &lookup(POLICIES, p)
}

/// `_mempolicy_mode_str`: a mode flag, then the mode.
fn mempolicy_mode(v: i64) -> String {
    const MODES: List = &[
        (0, "MPOL_DEFAULT"),
        (1, "MPOL_PREFERRED"),
        (2, "MPOL_BIND"),
        (3, "MPOL_INTERLEAVE"),
        (4, "MPOL_LOCAL"),
    ];
    const FLAGS: List = &[
        (1 << 15, "MPOL_F_STATIC_NODES"),
        (1 << 14, "MPOL_F_RELATIVE_NODES"),
    ];
    const MODE_FLAGS: i64 = (1 << 15) | (1 << 14) | (1 << 13);
    let mut m = v as u32 as i64;
    let mut s = String::new();
    if m != 0xffff_ffff && m & MODE_FLAGS != 0 {
        s = lookup(FLAGS, m & MODE_FLAGS) + "|";
        m &= !MODE_FLAGS;
    }
    s + &lookup(MODES, m)
}

/// `_mknod_mode_str`: the file type by name, then the permission bits.
fn mknod_mode(v: i64) -> String {
    let ty = v & 0o170000;
    let mode = v & !0o170000;
    let name = match ty {
        0o100000 => "S_IFREG",
        0o20000 => "S_IFCHR",
        0o60000 => "S_IFBLK",
        0o10000 => "S_IFIFO",
        0o140000 => "S_IFSOCK",
        _ => return octal(ty | mode),
    };
    format!("{name}|{}", octal(mode))
}

/// C's `%#o`.
fn octal(v: i64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("0{:o}", v as u64)
    }
}

/// `_swapon_flags_str`: the flags, then the priority if one is given.
fn swapon_flags(v: i64) -> String {
    const FLAGS: List = &[
        (0x8000, "SWAP_FLAG_PREFER"),
        (0x10000, "SWAP_FLAG_DISCARD"),
        (0x20000, "SWAP_FLAG_DISCARD_ONCE"),
        (0x40000, "SWAP_FLAG_DISCARD_PAGES"),
    ];
    let f = v as u32 as i64;
    let mut s = lookup_or(FLAGS, f & !0x7fff);
    if v & 0x8000 != 0 {
        s.push_str(&format!("|{}", f & 0x7fff));
    }
    s
}

/// `_stp_shmget_flags_str`: the IPC flags, then the mode bits in octal.
fn shmget_flags(v: i64) -> String {
    const FLAGS: List = &[
        (0o1000, "IPC_CREAT"),
        (0o2000, "IPC_EXCL"),
        (0o4000, "SHM_HUGETLB"),
        (0o10000, "SHM_NORESERVE"),
    ];
    let f = v as u32 as i64;
    let mode = f & 0o777;
    let mut s = lookup_or(FLAGS, f & !0o777);
    if mode != 0 {
        if s.is_empty() {
            s = octal(mode);
        } else {
            s.push('|');
            s.push_str(&octal(mode));
        }
    }
    s
}

/// `__sem_flags`: IPC_CREAT, IPC_EXCL, other bits in hex, the mode in octal.
fn sem_flags(v: i64) -> String {
    let mode = v & 0o777;
    let mut f = v & !0o777;
    let mut parts: Vec<String> = vec![];
    for (bit, n) in [(0o1000, "IPC_CREAT"), (0o2000, "IPC_EXCL")] {
        if f & bit != 0 {
            parts.push(n.into());
            f &= !bit;
        }
    }
    if f != 0 {
        parts.push(format!("0x{f:x}"));
    }
    if mode != 0 {
        parts.push(octal(mode));
    }
    parts.join("|")
}

/// `_stp_msgctl_cmd_str` and `_semctl_cmd`: IPC_64, then the command.
fn ipc_cmd(v: i64, list: List) -> String {
    let mut c = v as u32 as i64;
    let mut s = String::new();
    if c & 0x100 != 0 {
        s.push_str("IPC_64|");
        c &= !0x100;
    }
    s + &lookup(list, c)
}

/// `_stp_ioprio_value_str`: the class by name, then its data.
fn ioprio_value(v: i64) -> String {
    const CLASSES: List = &[
        (0, "IOPRIO_CLASS_NONE"),
        (1, "IOPRIO_CLASS_RT"),
        (2, "IOPRIO_CLASS_BE"),
        (3, "IOPRIO_CLASS_IDLE"),
    ];
    let class = ((v as u32) >> 13) & 7;
    let data = (v as i32) & ((1 << 13) - 1);
    format!("{}|{data}", lookup(CLASSES, class as i64))
}

const KEYCTL_PERM: List = &[
    (0x0100_0000, "KEY_POS_VIEW"),
    (0x0200_0000, "KEY_POS_READ"),
    (0x0400_0000, "KEY_POS_WRITE"),
    (0x0800_0000, "KEY_POS_SEARCH"),
    (0x1000_0000, "KEY_POS_LINK"),
    (0x2000_0000, "KEY_POS_SETATTR"),
    (0x3f00_0000, "KEY_POS_ALL"),
    (0x0001_0000, "KEY_USR_VIEW"),
    (0x0002_0000, "KEY_USR_READ"),
    (0x0004_0000, "KEY_USR_WRITE"),
    (0x0008_0000, "KEY_USR_SEARCH"),
    (0x0010_0000, "KEY_USR_LINK"),
    (0x0020_0000, "KEY_USR_SETATTR"),
    (0x003f_0000, "KEY_USR_ALL"),
    (0x0100, "KEY_GRP_VIEW"),
    (0x0200, "KEY_GRP_READ"),
    (0x0400, "KEY_GRP_WRITE"),
    (0x0800, "KEY_GRP_SEARCH"),
    (0x1000, "KEY_GRP_LINK"),
    (0x2000, "KEY_GRP_SETATTR"),
    (0x3f00, "KEY_GRP_ALL"),
    (0x01, "KEY_OTH_VIEW"),
    (0x02, "KEY_OTH_READ"),
    (0x04, "KEY_OTH_WRITE"),
    (0x08, "KEY_OTH_SEARCH"),
    (0x10, "KEY_OTH_LINK"),
    (0x20, "KEY_OTH_SETATTR"),
    (0x3f, "KEY_OTH_ALL"),
];

/// `_quotactl_cmd_str`: QCMD's command (bits 8 and up), then the quota
/// type (the low byte).
fn quotactl_cmd(v: i64) -> String {
    const CMDS: List = &[
        (0x80_0001, "Q_SYNC"),
        (0x80_0002, "Q_QUOTAON"),
        (0x80_0003, "Q_QUOTAOFF"),
        (0x80_0004, "Q_GETFMT"),
        (0x80_0005, "Q_GETINFO"),
        (0x80_0006, "Q_SETINFO"),
        (0x80_0007, "Q_GETQUOTA"),
        (0x80_0008, "Q_SETQUOTA"),
        (0x5801, "Q_XQUOTAON"),
        (0x5802, "Q_XQUOTAOFF"),
        (0x5803, "Q_XGETQUOTA"),
        (0x5804, "Q_XSETQLIM"),
        (0x5805, "Q_XGETQSTAT"),
        (0x5806, "Q_XQUOTARM"),
        (0x5807, "Q_XQUOTASYNC"),
        (0x5808, "Q_XGETQSTATV"),
    ];
    let c = v as u32;
    let ty = match c & 0xff {
        0 => "|USRQUOTA".to_string(),
        1 => "|GRPQUOTA".to_string(),
        t => format!("|0x{t:x}"),
    };
    lookup(CMDS, (c >> 8) as i64) + &ty
}

/// `_fanotify_init_flags_str`: the notification class, then other flags.
fn fanotify_init_flags(v: i64) -> String {
    const CLASSES: List = &[
        (0, "FAN_CLASS_NOTIF"),
        (4, "FAN_CLASS_CONTENT"),
        (8, "FAN_CLASS_PRE_CONTENT"),
    ];
    const EXTRA: List = &[
        (1, "FAN_CLOEXEC"),
        (2, "FAN_NONBLOCK"),
        (0x10, "FAN_UNLIMITED_QUEUE"),
        (0x20, "FAN_UNLIMITED_MARKS"),
    ];
    let f = v as u32 as i64;
    let mut s = lookup(CLASSES, f & 0xc);
    if f & !0xc != 0 {
        s.push('|');
        s.push_str(&lookup_or(EXTRA, f & !0xc));
    }
    s
}

const PROT: List = &[
    (0, "PROT_NONE"),
    (1, "PROT_READ"),
    (2, "PROT_WRITE"),
    (4, "PROT_EXEC"),
    (8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];

const MADVISE: List = &[
    (0, "MADV_NORMAL"),
    (1, "MADV_RANDOM"),
    (2, "MADV_SEQUENTIAL"),
    (3, "MADV_WILLNEED"),
    (4, "MADV_DONTNEED"),
    (8, "MADV_FREE"),
    (9, "MADV_REMOVE"),
    (10, "MADV_DONTFORK"),
    (11, "MADV_DOFORK"),
    (100, "MADV_HWPOISON"),
    (101, "MADV_SOFT_OFFLINE"),
    (12, "MADV_MERGEABLE"),
    (13, "MADV_UNMERGEABLE"),
    (14, "MADV_HUGEPAGE"),
    (15, "MADV_NOHUGEPAGE"),
    (16, "MADV_DONTDUMP"),
    (17, "MADV_DODUMP"),
];

const RLIMIT_RESOURCE: List = &[
    (u32::MAX as i64, "RLIM_INFINITY"),
    (0, "RLIMIT_CPU"),
    (1, "RLIMIT_FSIZE"),
    (2, "RLIMIT_DATA"),
    (3, "RLIMIT_STACK"),
    (4, "RLIMIT_CORE"),
    (5, "RLIMIT_RSS"),
    (6, "RLIMIT_NPROC"),
    (7, "RLIMIT_NOFILE"),
    (8, "RLIMIT_MEMLOCK"),
    (9, "RLIMIT_AS"),
    (10, "RLIMIT_LOCKS"),
    (11, "RLIMIT_SIGPENDING"),
    (12, "RLIMIT_MSGQUEUE"),
    (13, "RLIMIT_NICE"),
    (14, "RLIMIT_RTPRIO"),
    (15, "RLIMIT_RTTIME"),
    (16, "RLIM_NLIMITS"),
];

const MSG_FLAGS: List = &[
    (1, "MSG_OOB"),
    (2, "MSG_PEEK"),
    (4, "MSG_DONTROUTE"),
    (4, "MSG_TRYHARD"),
    (8, "MSG_CTRUNC"),
    (0x10, "MSG_PROBE"),
    (0x20, "MSG_TRUNC"),
    (0x40, "MSG_DONTWAIT"),
    (0x80, "MSG_EOR"),
    (0x100, "MSG_WAITALL"),
    (0x200, "MSG_FIN"),
    (0x400, "MSG_SYN"),
    (0x800, "MSG_CONFIRM"),
    (0x1000, "MSG_RST"),
    (0x2000, "MSG_ERRQUEUE"),
    (0x4000, "MSG_NOSIGNAL"),
    (0x8000, "MSG_MORE"),
    (0x10000, "MSG_WAITFORONE"),
    (0x20000, "MSG_SENDPAGE_NOTLAST"),
    (0x80, "MSG_EOF"),
    (0x2000_0000, "MSG_FASTOPEN"),
    (0x4000_0000, "MSG_CMSG_CLOEXEC"),
];

const SEMCTL_CMD: List = &[
    (3, "IPC_INFO"),
    (19, "SEM_INFO"),
    (18, "SEM_STAT"),
    (13, "GETALL"),
    (12, "GETVAL"),
    (11, "GETPID"),
    (14, "GETNCNT"),
    (15, "GETZCNT"),
    (2, "IPC_STAT"),
    (16, "SETVAL"),
    (17, "SETALL"),
    (0, "IPC_RMID"),
    (1, "IPC_SET"),
];

const MSGCTL_CMD: List = &[
    (3, "IPC_INFO"),
    (2, "IPC_STAT"),
    (0, "IPC_RMID"),
    (1, "IPC_SET"),
    (12, "MSG_INFO"),
    (11, "MSG_STAT"),
];

/// How a lookup decoder reads its argument: as stap's C casts it.
#[derive(Clone, Copy)]
enum Cast {
    /// `(unsigned int)`
    U32,
    /// `(int)`
    I32,
    /// The long as it is.
    Long,
}

/// The decoders that are one list and one lookup: (name, cast, exact or
/// or-of-flags, base of an unknown exact value, list).
const LOOKUPS: &[(&str, Cast, bool, u32, List)] = &[
    ("signal", Cast::U32, false, 16, SIGNALS),
    ("prot", Cast::Long, true, 16, PROT),
    (
        "whence",
        Cast::U32,
        false,
        16,
        &[
            (0, "SEEK_SET"),
            (1, "SEEK_CUR"),
            (2, "SEEK_END"),
            (3, "SEEK_DATA"),
            (4, "SEEK_HOLE"),
        ],
    ),
    (
        "access_mode",
        Cast::U32,
        true,
        16,
        &[(0, "F_OK"), (4, "R_OK"), (2, "W_OK"), (1, "X_OK")],
    ),
    (
        "faccessat2_flags",
        Cast::U32,
        true,
        16,
        &[(0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS")],
    ),
    (
        "at_flags",
        Cast::Long,
        true,
        16,
        &[
            (0x100, "AT_SYMLINK_NOFOLLOW"),
            (0x200, "AT_REMOVEDIR"),
            (0x400, "AT_SYMLINK_FOLLOW"),
            (0x800, "AT_NO_AUTOMOUNT"),
            (0x1000, "AT_EMPTY_PATH"),
        ],
    ),
    (
        "shutdown_how",
        Cast::U32,
        false,
        16,
        &[(0, "SHUT_RD"), (1, "SHUT_WR"), (2, "SHUT_RDWR")],
    ),
    (
        "rusage_who",
        Cast::U32,
        false,
        16,
        &[
            (0, "RUSAGE_SELF"),
            (0xffff_ffff, "RUSAGE_CHILDREN"),
            (0xffff_fffe, "RUSAGE_BOTH"),
            (1, "RUSAGE_THREAD"),
        ],
    ),
    ("rlimit_resource", Cast::U32, false, 16, RLIMIT_RESOURCE),
    ("madvise", Cast::U32, false, 16, MADVISE),
    (
        "fadvise",
        Cast::Long,
        false,
        16,
        &[
            (0, "POSIX_FADV_NORMAL"),
            (1, "POSIX_FADV_RANDOM"),
            (2, "POSIX_FADV_SEQUENTIAL"),
            (3, "POSIX_FADV_WILLNEED"),
            (4, "POSIX_FADV_DONTNEED"),
            (5, "POSIX_FADV_NOREUSE"),
        ],
    ),
    (
        "wait4_options",
        Cast::U32,
        true,
        16,
        &[
            (1, "WNOHANG"),
            (4, "WEXITED"),
            (2, "WSTOPPED"),
            (8, "WCONTINUED"),
            (0x0100_0000, "WNOWAIT"),
            (0x2000_0000, "__WNOTHREAD"),
            (0x4000_0000, "__WALL"),
            (0x8000_0000, "__WCLONE"),
        ],
    ),
    (
        "sock_flags",
        Cast::U32,
        true,
        16,
        &[(O_CLOEXEC, "SOCK_CLOEXEC"), (O_NONBLOCK, "SOCK_NONBLOCK")],
    ),
    ("sock_family", Cast::U32, false, 16, SOCK_FAMILY),
    ("sockopt_level", Cast::Long, false, 16, SOCKOPT_LEVEL),
    ("sockopt_name", Cast::Long, false, 16, SOCKOPT_NAME),
    ("fcntl_cmd", Cast::U32, false, 16, FCNTL_CMD),
    (
        "statx_mask",
        Cast::I32,
        false,
        16,
        &[
            (0x6000, "AT_STATX_SYNC_TYPE"),
            (0, "AT_STATX_SYNC_AS_STAT"),
            (0x2000, "AT_STATX_FORCE_SYNC"),
            (0x4000, "AT_STATX_DONT_SYNC"),
        ],
    ),
    (
        "getrandom_flags",
        Cast::U32,
        true,
        16,
        &[(1, "GRND_NONBLOCK"), (2, "GRND_RANDOM")],
    ),
    ("arch_prctl", Cast::I32, false, 10, ARCH_PRCTL),
    ("clock", Cast::U32, false, 16, CLOCKS),
    (
        "clock_nanosleep_flags",
        Cast::U32,
        false,
        16,
        &[(1, "TIMER_ABSTIME")],
    ),
    (
        "epoll_op",
        Cast::U32,
        false,
        16,
        &[
            (1, "EPOLL_CTL_ADD"),
            (3, "EPOLL_CTL_MOD"),
            (2, "EPOLL_CTL_DEL"),
        ],
    ),
    ("dup3_flags", Cast::U32, true, 16, OPEN_FLAGS),
    ("futex_op", Cast::U32, false, 16, FUTEX_OPS),
    (
        "mempolicy_flags",
        Cast::Long,
        true,
        16,
        &[
            (1, "MPOL_F_NODE"),
            (2, "MPOL_F_ADDR"),
            (4, "MPOL_F_MEMS_ALLOWED"),
        ],
    ),
    (
        "xattr_flags",
        Cast::U32,
        true,
        16,
        &[(1, "XATTR_CREATE"), (2, "XATTR_REPLACE")],
    ),
    (
        "timerfd_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "TFD_TIMER_ABSTIME"),
            (2, "TFD_TIMER_CANCEL_ON_SET"),
            (O_CLOEXEC, "TFD_CLOEXEC"),
            (O_NONBLOCK, "TFD_NONBLOCK"),
        ],
    ),
    (
        "splice_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "SPLICE_F_MOVE"),
            (2, "SPLICE_F_NONBLOCK"),
            (4, "SPLICE_F_MORE"),
            (8, "SPLICE_F_GIFT"),
        ],
    ),
    (
        "ioprio_which",
        Cast::I32,
        false,
        10,
        &[
            (1, "IOPRIO_WHO_PROCESS"),
            (2, "IOPRIO_WHO_PGRP"),
            (3, "IOPRIO_WHO_USER"),
        ],
    ),
    (
        "priority_which",
        Cast::U32,
        false,
        16,
        &[(0, "PRIO_PROCESS"), (1, "PRIO_PGRP"), (2, "PRIO_USER")],
    ),
    ("preadv2_flags", Cast::U32, true, 16, &[(1, "RWF_HIPRI")]),
    (
        "module_flags",
        Cast::U32,
        true,
        16,
        &[(0o1000, "O_TRUNC"), (O_NONBLOCK, "O_NONBLOCK")],
    ),
    (
        "mfd_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "MFD_CLOEXEC"),
            (2, "MFD_ALLOW_SEALING"),
            (O_CLOEXEC, "O_CLOEXEC"),
        ],
    ),
    (
        "itimer_which",
        Cast::U32,
        false,
        16,
        &[
            (0, "ITIMER_REAL"),
            (1, "ITIMER_VIRTUAL"),
            (2, "ITIMER_PROF"),
        ],
    ),
    (
        "waitid_which",
        Cast::U32,
        false,
        16,
        &[(0, "P_ALL"), (1, "P_PID"), (2, "P_PGID")],
    ),
    (
        "userfaultfd_flags",
        Cast::U32,
        true,
        16,
        &[(O_NONBLOCK, "O_NONBLOCK"), (O_CLOEXEC, "O_CLOEXEC")],
    ),
    (
        "umount_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "MNT_FORCE"),
            (2, "MNT_DETACH"),
            (4, "MNT_EXPIRE"),
            (8, "UMOUNT_NOFOLLOW"),
        ],
    ),
    (
        "pipe2_flags",
        Cast::U32,
        true,
        16,
        &[
            (O_NONBLOCK, "O_NONBLOCK"),
            (O_CLOEXEC, "O_CLOEXEC"),
            (0o40000, "O_DIRECT"),
        ],
    ),
    (
        "sync_file_range_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "SYNC_FILE_RANGE_WAIT_BEFORE"),
            (2, "SYNC_FILE_RANGE_WRITE"),
            (4, "SYNC_FILE_RANGE_WAIT_AFTER"),
        ],
    ),
    ("mlock2_flags", Cast::U32, true, 16, &[(1, "MLOCK_ONFAULT")]),
    (
        "fallocate_mode",
        Cast::U32,
        true,
        16,
        &[
            (1, "FALLOC_FL_KEEP_SIZE"),
            (2, "FALLOC_FL_PUNCH_HOLE"),
            (4, "FALLOC_FL_NO_HIDE_STALE"),
            (8, "FALLOC_FL_COLLAPSE_RANGE"),
            (0x10, "FALLOC_FL_ZERO_RANGE"),
        ],
    ),
    (
        "signalfd4_flags",
        Cast::U32,
        true,
        16,
        &[(O_NONBLOCK, "SFD_NONBLOCK"), (O_CLOEXEC, "SFD_CLOEXEC")],
    ),
    (
        "shmat_flags",
        Cast::Long,
        true,
        16,
        &[
            (0o10000, "SHM_RDONLY"),
            (0o20000, "SHM_RND"),
            (0o40000, "SHM_REMAP"),
            (0o100000, "SHM_EXEC"),
        ],
    ),
    (
        "seccomp_op",
        Cast::U32,
        false,
        16,
        &[
            (0, "SECCOMP_SET_MODE_STRICT"),
            (1, "SECCOMP_SET_MODE_FILTER"),
        ],
    ),
    (
        "seccomp_flags",
        Cast::U32,
        false,
        16,
        &[(1, "SECCOMP_FILTER_FLAG_TSYNC")],
    ),
    (
        "renameat2_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "RENAME_NOREPLACE"),
            (2, "RENAME_EXCHANGE"),
            (4, "RENAME_WHITEOUT"),
        ],
    ),
    (
        "reboot_cmd",
        Cast::U32,
        false,
        16,
        &[
            (0x0123_4567, "LINUX_REBOOT_CMD_RESTART"),
            (0xCDEF_0123, "LINUX_REBOOT_CMD_HALT"),
            (0x89AB_CDEF, "LINUX_REBOOT_CMD_CAD_ON"),
            (0, "LINUX_REBOOT_CMD_CAD_OFF"),
            (0x4321_FEDC, "LINUX_REBOOT_CMD_POWER_OFF"),
            (0xA1B2_C3D4, "LINUX_REBOOT_CMD_RESTART2"),
            (0xD000_FCE2, "LINUX_REBOOT_CMD_SW_SUSPEND"),
            (0x4558_4543, "LINUX_REBOOT_CMD_KEXEC"),
        ],
    ),
    (
        "reboot_magic",
        Cast::U32,
        false,
        16,
        &[
            (0xfee1_dead, "LINUX_REBOOT_MAGIC1"),
            (672_274_793, "LINUX_REBOOT_MAGIC2"),
            (85_072_278, "LINUX_REBOOT_MAGIC2A"),
            (369_367_448, "LINUX_REBOOT_MAGIC2B"),
            (537_993_216, "LINUX_REBOOT_MAGIC2C"),
        ],
    ),
    (
        "pkey_access",
        Cast::U32,
        true,
        16,
        &[(1, "PKEY_DISABLE_ACCESS"), (2, "PKEY_DISABLE_WRITE")],
    ),
    (
        "perf_event_open_flags",
        Cast::Long,
        true,
        16,
        &[
            (1, "PERF_FLAG_FD_NO_GROUP"),
            (2, "PERF_FLAG_FD_OUTPUT"),
            (4, "PERF_FLAG_PID_CGROUP"),
            (8, "PERF_FLAG_FD_CLOEXEC"),
        ],
    ),
    (
        "msync_flags",
        Cast::U32,
        true,
        16,
        &[(1, "MS_ASYNC"), (2, "MS_INVALIDATE"), (4, "MS_SYNC")],
    ),
    (
        "mremap_flags",
        Cast::U32,
        true,
        16,
        &[(1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED")],
    ),
    (
        "mount_flags",
        Cast::Long,
        true,
        16,
        &[
            (1, "MS_RDONLY"),
            (2, "MS_NOSUID"),
            (4, "MS_NODEV"),
            (8, "MS_NOEXEC"),
            (16, "MS_SYNCHRONOUS"),
            (32, "MS_REMOUNT"),
            (64, "MS_MANDLOCK"),
            (128, "MS_DIRSYNC"),
            (1024, "MS_NOATIME"),
            (2048, "MS_NODIRATIME"),
            (4096, "MS_BIND"),
            (8192, "MS_MOVE"),
            (16384, "MS_REC"),
            (32768, "MS_SILENT"),
            (1 << 16, "MS_POSIXACL"),
            (1 << 17, "MS_UNBINDABLE"),
            (1 << 18, "MS_PRIVATE"),
            (1 << 19, "MS_SLAVE"),
            (1 << 20, "MS_SHARED"),
            (1 << 21, "MS_RELATIME"),
            (1 << 22, "MS_KERNMOUNT"),
            (1 << 23, "MS_I_VERSION"),
            (1 << 24, "MS_STRICTATIME"),
        ],
    ),
    (
        "mlockall_flags",
        Cast::U32,
        true,
        16,
        &[(1, "MCL_CURRENT"), (2, "MCL_FUTURE"), (4, "MCL_ONFAULT")],
    ),
    (
        "membarrier_cmd",
        Cast::U32,
        false,
        16,
        &[(0, "MEMBARRIER_CMD_QUERY"), (1, "MEMBARRIER_CMD_SHARED")],
    ),
    (
        "kexec_flags",
        Cast::Long,
        true,
        16,
        &[
            (1, "KEXEC_ON_CRASH"),
            (2, "KEXEC_PRESERVE_CONTEXT"),
            (0, "KEXEC_ARCH_DEFAULT"),
            (3 << 16, "KEXEC_ARCH_386"),
            (62 << 16, "KEXEC_ARCH_X86_64"),
            (20 << 16, "KEXEC_ARCH_PPC"),
            (21 << 16, "KEXEC_ARCH_PPC64"),
            (50 << 16, "KEXEC_ARCH_IA_64"),
            (40 << 16, "KEXEC_ARCH_ARM"),
            (22 << 16, "KEXEC_ARCH_S390"),
            (42 << 16, "KEXEC_ARCH_SH"),
            (10 << 16, "KEXEC_ARCH_MIPS_LE"),
            (8 << 16, "KEXEC_ARCH_MIPS"),
        ],
    ),
    (
        "kexec_file_load_flags",
        Cast::Long,
        true,
        16,
        &[
            (1, "KEXEC_FILE_UNLOAD"),
            (2, "KEXEC_FILE_ON_CRASH"),
            (4, "KEXEC_FILE_NO_INITRAMFS"),
        ],
    ),
    (
        "kcmp_type",
        Cast::U32,
        false,
        16,
        &[
            (0, "KCMP_FILE"),
            (1, "KCMP_VM"),
            (2, "KCMP_FILES"),
            (3, "KCMP_FS"),
            (4, "KCMP_SIGHAND"),
            (5, "KCMP_IO"),
            (6, "KCMP_SYSVSEM"),
            (8, "KCMP_TYPES"),
        ],
    ),
    (
        "inotify_mask",
        Cast::U32,
        true,
        16,
        &[
            (1, "IN_ACCESS"),
            (2, "IN_MODIFY"),
            (4, "IN_ATTRIB"),
            (8, "IN_CLOSE_WRITE"),
            (0x10, "IN_CLOSE_NOWRITE"),
            (0x20, "IN_OPEN"),
            (0x40, "IN_MOVED_FROM"),
            (0x80, "IN_MOVED_TO"),
            (0x100, "IN_CREATE"),
            (0x200, "IN_DELETE"),
            (0x400, "IN_DELETE_SELF"),
            (0x800, "IN_MOVE_SELF"),
            (0x2000, "IN_UNMOUNT"),
            (0x4000, "IN_Q_OVERFLOW"),
            (0x8000, "IN_IGNORED"),
            (0x0100_0000, "IN_ONLYDIR"),
            (0x0200_0000, "IN_DONT_FOLLOW"),
            (0x0400_0000, "IN_EXCL_UNLINK"),
            (0x2000_0000, "IN_MASK_ADD"),
            (0x4000_0000, "IN_ISDIR"),
            (0x8000_0000, "IN_ONESHOT"),
        ],
    ),
    (
        "inotify_init1_flags",
        Cast::U32,
        true,
        16,
        &[(O_NONBLOCK, "IN_NONBLOCK"), (O_CLOEXEC, "IN_CLOEXEC")],
    ),
    (
        "flock_cmd",
        Cast::U32,
        true,
        16,
        &[
            (1, "LOCK_SH"),
            (2, "LOCK_EX"),
            (4, "LOCK_NB"),
            (8, "LOCK_UN"),
            (32, "LOCK_MAND"),
            (64, "LOCK_READ"),
            (128, "LOCK_WRITE"),
            (192, "LOCK_RW"),
        ],
    ),
    (
        "finit_module_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "MODULE_INIT_IGNORE_MODVERSIONS"),
            (2, "MODULE_INIT_IGNORE_VERMAGIC"),
        ],
    ),
    (
        "fanotify_mark_mask",
        Cast::Long,
        true,
        16,
        &[
            (1, "FAN_ACCESS"),
            (2, "FAN_MODIFY"),
            (8, "FAN_CLOSE_WRITE"),
            (0x10, "FAN_CLOSE_NOWRITE"),
            (0x20, "FAN_OPEN"),
            (0x4000, "FAN_Q_OVERFLOW"),
            (0x10000, "FAN_OPEN_PERM"),
            (0x20000, "FAN_ACCESS_PERM"),
            (0x4000_0000, "FAN_ONDIR"),
            (0x0800_0000, "FAN_EVENT_ON_CHILD"),
        ],
    ),
    (
        "fanotify_mark_flags",
        Cast::U32,
        true,
        16,
        &[
            (1, "FAN_MARK_ADD"),
            (2, "FAN_MARK_REMOVE"),
            (0x80, "FAN_MARK_FLUSH"),
            (4, "FAN_MARK_DONT_FOLLOW"),
            (8, "FAN_MARK_ONLYDIR"),
            (0x10, "FAN_MARK_MOUNT"),
            (0x20, "FAN_MARK_IGNORED_MASK"),
            (0x40, "FAN_MARK_IGNORED_SURV_MODIFY"),
        ],
    ),
    (
        "eventfd2_flags",
        Cast::U32,
        true,
        16,
        &[
            (O_NONBLOCK, "EFD_NONBLOCK"),
            (O_CLOEXEC, "EFD_CLOEXEC"),
            (1, "EFD_SEMAPHORE"),
        ],
    ),
    (
        "epoll_create1_flags",
        Cast::U32,
        true,
        16,
        &[(O_CLOEXEC, "EPOLL_CLOEXEC")],
    ),
    (
        "bpf_cmd",
        Cast::I32,
        false,
        16,
        &[
            (0, "BPF_MAP_CREATE"),
            (1, "BPF_MAP_LOOKUP_ELEM"),
            (2, "BPF_MAP_UPDATE_ELEM"),
            (3, "BPF_MAP_DELETE_ELEM"),
            (4, "BPF_MAP_GET_NEXT_KEY"),
            (5, "BPF_PROG_LOAD"),
        ],
    ),
    (
        "keyctl_cmd",
        Cast::I32,
        false,
        10,
        &[
            (0, "KEYCTL_GET_KEYRING_ID"),
            (1, "KEYCTL_JOIN_SESSION_KEYRING"),
            (2, "KEYCTL_UPDATE"),
            (3, "KEYCTL_REVOKE"),
            (4, "KEYCTL_CHOWN"),
            (5, "KEYCTL_SETPERM"),
            (6, "KEYCTL_DESCRIBE"),
            (7, "KEYCTL_CLEAR"),
            (8, "KEYCTL_LINK"),
            (9, "KEYCTL_UNLINK"),
            (10, "KEYCTL_SEARCH"),
            (11, "KEYCTL_READ"),
            (12, "KEYCTL_INSTANTIATE"),
            (13, "KEYCTL_NEGATE"),
            (14, "KEYCTL_SET_REQKEY_KEYRING"),
            (15, "KEYCTL_SET_TIMEOUT"),
            (16, "KEYCTL_ASSUME_AUTHORITY"),
            (17, "KEYCTL_GET_SECURITY"),
            (18, "KEYCTL_SESSION_TO_PARENT"),
            (19, "KEYCTL_REJECT"),
            (20, "KEYCTL_INSTANTIATE_IOV"),
            (21, "KEYCTL_INVALIDATE"),
            (22, "KEYCTL_GET_PERSISTENT"),
        ],
    ),
    (
        "keyring_shortcut",
        Cast::I32,
        false,
        10,
        &[
            (-1, "KEY_SPEC_THREAD_KEYRING"),
            (-2, "KEY_SPEC_PROCESS_KEYRING"),
            (-3, "KEY_SPEC_SESSION_KEYRING"),
            (-4, "KEY_SPEC_USER_KEYRING"),
            (-5, "KEY_SPEC_USER_SESSION_KEYRING"),
            (-6, "KEY_SPEC_GROUP_KEYRING"),
            (-7, "KEY_SPEC_REQKEY_AUTH_KEY"),
            (-8, "KEY_SPEC_REQUESTOR_KEYRING"),
        ],
    ),
    (
        "default_keyring",
        Cast::I32,
        false,
        10,
        &[
            (-1, "KEY_REQKEY_DEFL_NO_CHANGE"),
            (0, "KEY_REQKEY_DEFL_DEFAULT"),
            (1, "KEY_REQKEY_DEFL_THREAD_KEYRING"),
            (2, "KEY_REQKEY_DEFL_PROCESS_KEYRING"),
            (3, "KEY_REQKEY_DEFL_SESSION_KEYRING"),
            (4, "KEY_REQKEY_DEFL_USER_KEYRING"),
            (5, "KEY_REQKEY_DEFL_USER_SESSION_KEYRING"),
            (6, "KEY_REQKEY_DEFL_GROUP_KEYRING"),
        ],
    ),
    (
        "quota_format",
        Cast::I32,
        false,
        16,
        &[
            (1, "QFMT_VFS_OLD"),
            (2, "QFMT_VFS_V0"),
            (3, "QFMT_OCFS2"),
            (4, "QFMT_VFS_V1"),
        ],
    ),
    (
        "msgflg",
        Cast::U32,
        true,
        16,
        &[
            (0o10000, "MSG_NOERROR"),
            (0o20000, "MSG_EXCEPT"),
            (0o4000, "IPC_NOWAIT"),
        ],
    ),
    ("msg_flags", Cast::Long, true, 16, MSG_FLAGS),
];

const PRCTL_OPTIONS: List = &[
    (1, "PR_SET_PDEATHSIG"),
    (2, "PR_GET_PDEATHSIG"),
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (5, "PR_GET_UNALIGN"),
    (6, "PR_SET_UNALIGN"),
    (7, "PR_GET_KEEPCAPS"),
    (8, "PR_SET_KEEPCAPS"),
    (9, "PR_GET_FPEMU"),
    (10, "PR_SET_FPEMU"),
    (11, "PR_GET_FPEXC"),
    (12, "PR_SET_FPEXC"),
    (13, "PR_GET_TIMING"),
    (14, "PR_SET_TIMING"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (19, "PR_GET_ENDIAN"),
    (20, "PR_SET_ENDIAN"),
    (21, "PR_GET_SECCOMP"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (25, "PR_GET_TSC"),
    (26, "PR_SET_TSC"),
    (27, "PR_GET_SECUREBITS"),
    (28, "PR_SET_SECUREBITS"),
    (29, "PR_SET_TIMERSLACK"),
    (30, "PR_GET_TIMERSLACK"),
    (31, "PR_TASK_PERF_EVENTS_DISABLE"),
    (32, "PR_TASK_PERF_EVENTS_ENABLE"),
    (33, "PR_MCE_KILL"),
    (34, "PR_MCE_KILL_GET"),
    (35, "PR_SET_MM"),
    (0x59616d61, "PR_SET_PTRACER"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (37, "PR_GET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (39, "PR_GET_NO_NEW_PRIVS"),
    (40, "PR_GET_TID_ADDRESS"),
    (41, "PR_SET_THP_DISABLE"),
    (42, "PR_GET_THP_DISABLE"),
    (43, "PR_MPX_ENABLE_MANAGEMENT"),
    (44, "PR_MPX_DISABLE_MANAGEMENT"),
];

const CAPABILITIES: List = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (2, "CAP_DAC_READ_SEARCH"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (9, "CAP_LINUX_IMMUTABLE"),
    (10, "CAP_NET_BIND_SERVICE"),
    (11, "CAP_NET_BROADCAST"),
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
    (14, "CAP_IPC_LOCK"),
    (15, "CAP_IPC_OWNER"),
    (16, "CAP_SYS_MODULE"),
    (17, "CAP_SYS_RAWIO"),
    (18, "CAP_SYS_CHROOT"),
    (19, "CAP_SYS_PTRACE"),
    (20, "CAP_SYS_PACCT"),
    (21, "CAP_SYS_ADMIN"),
    (22, "CAP_SYS_BOOT"),
    (23, "CAP_SYS_NICE"),
    (24, "CAP_SYS_RESOURCE"),
    (25, "CAP_SYS_TIME"),
    (26, "CAP_SYS_TTY_CONFIG"),
    (27, "CAP_MKNOD"),
    (28, "CAP_LEASE"),
    (29, "CAP_AUDIT_WRITE"),
    (30, "CAP_AUDIT_CONTROL"),
    (31, "CAP_SETFCAP"),
    (32, "CAP_MAC_OVERRIDE"),
    (33, "CAP_MAC_ADMIN"),
    (34, "CAP_SYSLOG"),
    (35, "CAP_WAKE_ALARM"),
    (36, "CAP_BLOCK_SUSPEND"),
    (37, "CAP_AUDIT_READ"),
];

const SECCOMP_MODES: List = &[
    (0, "SECCOMP_MODE_DISABLED"),
    (1, "SECCOMP_MODE_STRICT"),
    (2, "SECCOMP_MODE_FILTER"),
];

/// stap's `_prctl_argstr(option, arg2, arg3, arg4, arg5)`: the option by
/// name, then its arguments as that option reads them (names for the
/// options that take a mode, hex or decimal for the others; an option it
/// does not know shows all four in hex).
fn prctl_argstr(a: &[i64]) -> String {
    let (option, arg2, arg3) = (a[0] as u32 as i64, a[1], a[2]);
    let mut s = lookup(PRCTL_OPTIONS, option);
    let named = |list: List, v: i64| format!(", {}", lookup(list, v));
    let rest = match option {
        // No arguments.
        3 | 13 | 7 | 21 | 31 | 32 | 30 | 34 | 39 | 42 | 43 | 44 | 27 => String::new(),
        6 => named(&[(1, "PR_UNALIGN_NOPRINT"), (2, "PR_UNALIGN_SIGBUS")], arg2),
        10 => named(&[(1, "PR_FPEMU_NOPRINT"), (2, "PR_FPEMU_SIGFPE")], arg2),
        12 => named(
            &[
                (0x80, "PR_FP_EXC_SW_ENABLE"),
                (0x010000, "PR_FP_EXC_DIV"),
                (0x020000, "PR_FP_EXC_OVF"),
                (0x040000, "PR_FP_EXC_UND"),
                (0x080000, "PR_FP_EXC_RES"),
                (0x100000, "PR_FP_EXC_INV"),
                (0, "PR_FP_EXC_DISABLED"),
                (1, "PR_FP_EXC_NONRECOV"),
                (2, "PR_FP_EXC_ASYNC"),
                (3, "PR_FP_EXC_PRECISE"),
            ],
            arg2,
        ),
        14 => named(
            &[(0, "PR_TIMING_STATISTICAL"), (1, "PR_TIMING_TIMESTAMP")],
            arg2,
        ),
        20 => named(
            &[
                (0, "PR_ENDIAN_BIG"),
                (1, "PR_ENDIAN_LITTLE"),
                (2, "PR_ENDIAN_PPC_LITTLE"),
            ],
            arg2,
        ),
        26 => named(&[(1, "PR_TSC_ENABLE"), (2, "PR_TSC_SIGSEGV")], arg2),
        // A pid, or -1 for any: in decimal.
        0x59616d61 => format!(", {}", lookup_base(&[(-1, "PR_SET_PTRACER_ANY")], arg2, 10)),
        23 | 24 => named(CAPABILITIES, arg2),
        28 => format!(
            ", {}",
            lookup_or(
                &[
                    (1, "SECBIT_NOROOT"),
                    (2, "SECBIT_NOROOT_LOCKED"),
                    (4, "SECBIT_NO_SETUID_FIXUP"),
                    (8, "SECBIT_NO_SETUID_FIXUP_LOCKED"),
                    (16, "SECBIT_KEEP_CAPS"),
                    (32, "SECBIT_KEEP_CAPS_LOCKED"),
                ],
                arg2
            )
        ),
        1 | 2 | 5 | 9 | 11 | 15 | 16 | 19 | 25 | 40 | 37 | 41 => format!(", 0x{:x}", arg2),
        4 | 8 | 36 | 38 | 29 => format!(", {}", arg2 as u64),
        33 => {
            let mut r = named(&[(0, "PR_MCE_KILL_CLEAR"), (1, "PR_MCE_KILL_SET")], arg2);
            match arg2 {
                1 => {
                    r += &named(
                        &[
                            (0, "PR_MCE_KILL_LATE"),
                            (1, "PR_MCE_KILL_EARLY"),
                            (2, "PR_MCE_KILL_DEFAULT"),
                        ],
                        arg3,
                    )
                }
                0 => {}
                _ => r += &format!(", 0x{:x}", arg3),
            }
            r
        }
        22 => named(SECCOMP_MODES, arg2) + &format!(", 0x{:x}", arg3),
        35 => {
            named(
                &[
                    (1, "PR_SET_MM_START_CODE"),
                    (2, "PR_SET_MM_END_CODE"),
                    (3, "PR_SET_MM_START_DATA"),
                    (4, "PR_SET_MM_END_DATA"),
                    (5, "PR_SET_MM_START_STACK"),
                    (6, "PR_SET_MM_START_BRK"),
                    (7, "PR_SET_MM_BRK"),
                    (8, "PR_SET_MM_ARG_START"),
                    (9, "PR_SET_MM_ARG_END"),
                    (10, "PR_SET_MM_ENV_START"),
                    (11, "PR_SET_MM_ENV_END"),
                    (12, "PR_SET_MM_AUXV"),
                    (13, "PR_SET_MM_EXE_FILE"),
                    (14, "PR_SET_MM_MAP"),
                    (15, "PR_SET_MM_MAP_SIZE"),
                ],
                arg2,
            ) + &format!(", 0x{:x}", arg3)
        }
        _ => format!(", 0x{:x}, 0x{:x}, 0x{:x}, 0x{:x}", arg2, arg3, a[3], a[4]),
    };
    s.push_str(&rest);
    s
}

const PTRACE_REQUESTS: List = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSR"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSR"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420a, "PTRACE_GETSIGMASK"),
    (0x420b, "PTRACE_SETSIGMASK"),
];

/// x86_64's own requests (stap's arch part of the ptrace tapset).
const PTRACE_X86_REQUESTS: List = &[
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (21, "PTRACE_OLDSETOPTIONS"),
    (25, "PTRACE_GET_THREAD_AREA"),
    (26, "PTRACE_SET_THREAD_AREA"),
    (30, "PTRACE_ARCH_PRCTL"),
    (31, "PTRACE_SYSEMU"),
    (32, "PTRACE_SYSEMU_SINGLESTEP"),
    (33, "PTRACE_SINGLEBLOCK"),
];

const PTRACE_OPTIONS: List = &[
    (0x100000, "PTRACE_O_EXITKILL"),
    (8, "PTRACE_O_TRACECLONE"),
    (0x10, "PTRACE_O_TRACEEXEC"),
    (0x40, "PTRACE_O_TRACEEXIT"),
    (2, "PTRACE_O_TRACEFORK"),
    (1, "PTRACE_O_TRACESYSGOOD"),
    (4, "PTRACE_O_TRACEVFORK"),
    (0x20, "PTRACE_O_TRACEVFORKDONE"),
    (0x80, "PTRACE_O_TRACESECCOMP"),
];

/// ELF note types, as PTRACE_GETREGSET names its `addr`.
const ELF_NOTES: List = &[
    (1, "NT_PRSTATUS"),
    (2, "NT_PRFPREG"),
    (3, "NT_PRPSINFO"),
    (4, "NT_TASKSTRUCT"),
    (6, "NT_AUXV"),
    (0x53494749, "NT_SIGINFO"),
    (0x46494c45, "NT_FILE"),
    (0x46e62b7f, "NT_PRXFPREG"),
    (0x100, "NT_PPC_VMX"),
    (0x101, "NT_PPC_SPE"),
    (0x102, "NT_PPC_VSX"),
    (0x200, "NT_386_TLS"),
    (0x201, "NT_386_IOPERM"),
    (0x202, "NT_X86_XSTATE"),
    (0x300, "NT_S390_HIGH_GPRS"),
    (0x301, "NT_S390_TIMER"),
    (0x302, "NT_S390_TODCMP"),
    (0x303, "NT_S390_TODPREG"),
    (0x304, "NT_S390_CTRS"),
    (0x305, "NT_S390_PREFIX"),
    (0x306, "NT_S390_LAST_BREAK"),
    (0x307, "NT_S390_SYSTEM_CALL"),
    (0x308, "NT_S390_TDB"),
    (0x309, "NT_S390_VXRS_LOW"),
    (0x30a, "NT_S390_VXRS_HIGH"),
    (0x400, "NT_ARM_VFP"),
    (0x401, "NT_ARM_TLS"),
    (0x402, "NT_ARM_HW_BREAK"),
    (0x403, "NT_ARM_HW_WATCH"),
    (0x404, "NT_ARM_SYSTEM_CALL"),
    (0x500, "NT_METAG_CBUF"),
    (0x501, "NT_METAG_RPIPE"),
    (0x502, "NT_METAG_TLS"),
];

/// stap's `_ptrace_argstr(request, pid, addr, data)` on x86_64: the
/// request by name and its three arguments as that request reads them.
/// PTRACE_GETREGSET's iovec is in the caller's memory, which recordings
/// do not hold: shown as stap shows one it cannot read.
fn ptrace_argstr(a: &[i64]) -> String {
    let (request, pid, addr, data) = (a[0], a[1] as i32, a[2], a[3]);
    // (stap's %p and %#x of a 64-bit number: 0x and its hex, 0x0 for 0)
    let x86 = || lookup(PTRACE_X86_REQUESTS, request);
    let req = || lookup(PTRACE_REQUESTS, request);
    let signal = || lookup(SIGNALS, data as u32 as i64);
    let options = || lookup_or(PTRACE_OPTIONS, data);
    match request {
        12..=15 | 18 | 19 => format!("{}, {pid}, {addr:#x}, {data:#x}", x86()),
        31..=33 => format!("{}, {pid}, {addr:#x}, {}", x86(), signal()),
        21 => format!("PTRACE_OLDSETOPTIONS, {pid}, {addr:#x}, {}", options()),
        25 | 26 => format!("{}, {pid}, {}, {data:#x}", x86(), addr as i32),
        // (arch_prctl's codes, unknown ones in hex)
        30 => format!(
            "PTRACE_ARCH_PRCTL, {pid}, {addr:#x}, {}",
            lookup(ARCH_PRCTL, data as u32 as i64)
        ),
        1..=3 => format!("{}, {pid}, {addr:#x}, [{data:#x}]", req()),
        4..=6 | 0x4209 | 0x4202 | 0x4203 | 0x4201 | 0x420a | 0x420b => {
            format!("{}, {pid}, {addr:#x}, {data:#x}", req())
        }
        7 | 24 | 9 | 17 => format!("{}, {pid}, {addr:#x}, {}", req(), signal()),
        0x4204 | 0x4205 => format!(
            "{}, {pid}, {}, {}",
            req(),
            lookup(ELF_NOTES, addr),
            super::argstr::unread(data, crate::stap::elaborate::syscall_args::Unread::Null)
        ),
        0 | 8 | 16 | 0x4206..=0x4208 => format!("{}, {pid}, {addr:#x}, {data:#x}", req()),
        0x4200 => format!("PTRACE_SETOPTIONS, {pid}, {addr:#x}, {}", options()),
        _ => format!("{}, {pid}, {addr:#x}, {data:#x}", req()),
    }
}

/// A syscall tapset decoder by its name in syscalls.tapset, applied to its
/// numbers (most take one; None: no such decoder, a table error a unit
/// test catches).
pub fn decode(f: &str, args: &[i64]) -> Option<String> {
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    let (v, w) = (arg(0), arg(1));
    if let Some((_, cast, or, base, list)) = LOOKUPS.iter().find(|d| d.0 == f) {
        let mut x = match cast {
            Cast::U32 => v as u32 as i64,
            Cast::I32 => v as i32 as i64,
            Cast::Long => v,
        };
        if f == "msg_flags" {
            // MSG_CMSG_COMPAT is ignored.
            x &= !0x8000_0000;
        }
        return Some(if *or {
            lookup_or(list, x)
        } else {
            lookup_base(list, x, *base)
        });
    }
    Some(match f {
        "dfd" => {
            if v as i32 == -100 {
                "AT_FDCWD".into()
            } else {
                v.to_string()
            }
        }
        "open_flags" => open_flags(v),
        "sigprocmask_how" => match v {
            0 => "SIG_BLOCK".into(),
            1 => "SIG_UNBLOCK".into(),
            2 => "SIG_SETMASK".into(),
            _ => format!("0x{v:x}"),
        },
        "fork_flags" => fork_flags(v),
        "mmap_flags" => mmap_flags(v),
        "sock_type" => sock_type(v),
        "sock_protocol" => sock_protocol(v, w),
        "futex_wake_op" => futex_wake_op(v),
        "sched_policy" => sched_policy(v),
        "mempolicy_mode" => mempolicy_mode(v),
        "mknod_mode" => mknod_mode(v),
        "swapon_flags" => swapon_flags(v),
        "shmget_flags" => shmget_flags(v),
        "sem_flags" => sem_flags(v),
        "msgctl_cmd" => ipc_cmd(v, MSGCTL_CMD),
        "semctl_cmd" => ipc_cmd(v, SEMCTL_CMD),
        "ioprio_value" => ioprio_value(v),
        "fanotify_init_flags" => fanotify_init_flags(v),
        // stap's ctime, as its tapset function prints it.
        "ctime" => crate::runtime::builtins::ctime(v).unwrap_or_else(|e| e.to_string()),
        "quotactl_cmd" => quotactl_cmd(v),
        "keyctl_perm" => lookup_or_base(KEYCTL_PERM, v as u32 as i64, 10),
        "prctl_argstr" => prctl_argstr(&[v, w, arg(2), arg(3), arg(4)]),
        "ptrace_argstr" => ptrace_argstr(&[v, w, arg(2), arg(3)]),
        "ipc_key" => {
            if v == 0 {
                "IPC_PRIVATE".into()
            } else {
                v.to_string()
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_stap_shows_them() {
        let d = |f, v| decode(f, &[v]).unwrap();
        assert_eq!(d("fork_flags", 0x11), "0x0|SIGCHLD");
        assert_eq!(
            d("fork_flags", 0x01200011),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
        );
        assert_eq!(d("mmap_flags", 0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(d("mmap_flags", 0), "0x0");
        assert_eq!(
            d("mmap_flags", (21 << 26) | 0x40022),
            "MAP_HUGE_2MB|MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB"
        );
        assert_eq!(d("sock_type", 0o2000001), "SOCK_STREAM|SOCK_CLOEXEC");
        assert_eq!(
            d("sock_type", 0x80801),
            "SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK"
        );
        assert_eq!(d("sock_type", 0), "0x0");
        assert_eq!(decode("sock_protocol", &[2, 6]).unwrap(), "IPPROTO_TCP");
        assert_eq!(decode("sock_protocol", &[16, 0]).unwrap(), "0");
        assert_eq!(d("sock_family", 1), "PF_LOCAL");
        assert_eq!(d("futex_op", 128), "FUTEX_WAIT_PRIVATE");
        assert_eq!(
            d("futex_wake_op", 0x0400_1001),
            "{FUTEX_OP_SET, 1, FUTEX_OP_CMP_GT, 1}"
        );
        assert_eq!(d("arch_prctl", 0x1002), "ARCH_SET_FS");
        assert_eq!(d("arch_prctl", 7), "7");
        assert_eq!(d("statx_mask", 0xfff), "0xfff");
        assert_eq!(d("clock", 1), "CLOCK_MONOTONIC");
        assert_eq!(d("sockopt_name", 27), "SO_DETACH_FILTER");
        assert_eq!(d("mknod_mode", 0o100644), "S_IFREG|0644");
        assert_eq!(
            d("sched_policy", 0x4000_0001),
            "SCHED_RESET_ON_FORK|SCHED_FIFO"
        );
        assert_eq!(d("sem_flags", 0o1600), "IPC_CREAT|0600");
        assert_eq!(d("shmget_flags", 0o1600), "IPC_CREAT|0600");
        assert_eq!(d("signal", 0), "SIG_0");
        assert_eq!(d("quotactl_cmd", 0x8000_0700), "Q_GETQUOTA|USRQUOTA");
        assert_eq!(d("quotactl_cmd", 0x0058_0101), "Q_XQUOTAON|GRPQUOTA");
        assert_eq!(lookup_or(OPEN_FLAGS, 0o10000), "O_SYNC");
    }
}
