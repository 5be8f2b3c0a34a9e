/* Records the BPF programs put in the ring buffer. recorder/src/records.rs
 * decodes them by these exact offsets; a test there checks the sizes. All
 * integers are native-endian. */
#ifndef RETAP_RECORDS_H
#define RETAP_RECORDS_H

/* Record kinds; equal to schema::Table::index() and to drop counter slots. */
#define KIND_SYSCALL 0
#define KIND_PROCESS 1
#define KIND_NET 2
#define KIND_BLOCK 3
#define KIND_SAMPLE 4
#define KIND_VFS 5
#define KIND_UPROBE 6
#define KIND_TRACEPOINT 7 /* schema::tables::TRACEPOINT_KIND */
#define KIND_PATHS 8      /* a syscall's file names, read at its entry */
#define NR_KINDS 9

/* Flags on struct hdr. */
#define F_DONE 1 /* the syscall/request/call completed: ret and dur are valid */
#define F_ADDR 2 /* a syscall_addr_rec: the syscall with its socket address */
#define F_STACK 4 /* a tp_rec ending in a kernel stack (see tp_rec) */
#define F_WORD 16 /* a uprobe_rec whose word was read */
#define F_ENTRY 8 /* live (emit_entries): a syscall as it is entered, sent
		   * again whole when it returns */

struct hdr {               /* 40 bytes, every record starts with it */
	u64 ts;            /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	u32 pid;           /* tgid */
	u32 tid;
	u32 uid;
	u16 cpu;
	u8 kind;
	u8 flags;
	char comm[16];
};

struct syscall_rec {       /* 112 bytes */
	struct hdr h;
	u64 dur;
	s64 ret;
	u64 args[6];
	u32 nr;
	u32 pad;
};

#define SOCKADDR_MAX 128

/* A syscall with its socket address (schema::syscalls::addr_arg), flagged
 * F_ADDR: addr_len bytes of struct sockaddr, or addr_err the error reading
 * them. Syscalls without an address to show send a plain syscall_rec. */
struct syscall_addr_rec {  /* 248 bytes */
	struct syscall_rec s;
	s32 addr_len;
	s32 addr_err;
	u8 addr[SOCKADDR_MAX];
};

#define PROC_EXEC 1
#define PROC_FORK 2
#define PROC_THREAD 3
#define PROC_EXIT 4
#define PATH_LEN 256
#define ARGV_LEN 256

struct proc_rec {          /* 584 bytes */
	struct hdr h;
	u32 event;
	s32 ppid;
	s32 child_pid;
	s32 child_tid;
	s32 exit_code;
	u32 filename_len;
	u32 argv_len;
	u32 pad;
	char filename[PATH_LEN];
	char argv[ARGV_LEN];
};

/* The packet's IP addresses and ports, parsed from its headers: ipver 4
 * or 6 (0: not IP, or headers not readable), l4 the IP protocol number,
 * ports for TCP, UDP, UDP-Lite, DCCP and SCTP (not in later fragments;
 * `ports` says).
 * Addresses and ports as on the wire (network order). */
struct net_rec {           /* 112 bytes */
	struct hdr h;
	u32 len;
	s32 ifindex;
	u16 protocol;
	u8 rx;
	u8 ipver;
	u8 l4;
	u8 ports;          /* sport and dport were read */
	u8 pad[2];
	char dev[16];
	u16 sport;
	u16 dport;
	u8 pad2[4];
	u8 saddr[16];
	u8 daddr[16];
};

#define RWBS_SYNC 1
#define RWBS_META 2
#define RWBS_FUA 4
#define RWBS_PREFLUSH 8
#define RWBS_RAHEAD 16

struct block_rec {         /* 72 bytes */
	struct hdr h;
	u64 dur;
	u64 sector;
	u32 dev;           /* kernel dev_t: major << 20 | minor */
	u32 bytes;
	s32 error;
	u8 op;             /* cmd_flags & REQ_OP_MASK */
	u8 rwbs;           /* RWBS_* bits */
	u8 pad[2];
};

#define STACK_DEPTH 32

struct sample_rec {        /* 560 bytes */
	struct hdr h;
	s32 kstack_bytes;  /* bpf_get_stack() results; <= 0 means none */
	s32 ustack_bytes;
	u64 kstack[STACK_DEPTH];
	u64 ustack[STACK_DEPTH];
};

struct vfs_rec {           /* 72 bytes */
	struct hdr h;
	u64 dur;
	s64 ret;
	u64 bytes;
	u32 write;
	u32 pad;
};


/* Any kernel tracepoint: the header, then the kernel's raw record as the
 * tracepoint's tracefs format lays it out, at most TP_MAX bytes
 * (schema::tracepoints::RAW_MAX), except that its first 8 bytes (the
 * common_* fields, which the kernel overwrites before BPF sees them) hold
 * the tracepoint's slot: its index in the recording's list. The ring
 * buffer record's length says how many bytes follow. */
#define TP_MAX 4096
#define TP_DYN 8 /* __data_loc fields followed per tracepoint */

/* With F_STACK (tracepoints recorded with --stacks), the raw record is
 * followed, from the next multiple of 8, by the kernel stack where it
 * fired (bpf_get_stack: up to STACK_DEPTH addresses) and the stack's length
 * in bytes as a u32, which ends the ring buffer record. */
struct tp_rec {
	struct hdr h;
	u8 data[TP_MAX + 8 * STACK_DEPTH + 8];
};

#define TP_STACK 1 /* tp_fmt.flags: record the kernel stack */

/* What the program needs of a tracepoint's format, by its id. */
struct tp_fmt {            /* 22 bytes */
	u16 size;          /* fixed part, common_* included */
	u16 flags;         /* TP_STACK */
	u8 n_dyn;
	u8 pad;
	u16 dyn[TP_DYN];   /* offsets of __data_loc words; bit 15: __rel_loc */
};

/* The file-name arguments of a syscall (schema::syscalls::path_args), read
 * from the caller's memory at entry and sent at once; the recorder joins
 * them to the syscall's row by thread and entry time. The strings follow
 * each other in data, len[i] bytes each (NUL included); len[i] <= 0: not
 * read (the error). The ring buffer record's length ends the second. */
#define STR_MAX 4096

struct paths_rec {
	struct hdr h;
	u64 entry_ts;
	s32 len[2];
	char data[2 * STR_MAX];
};

/* A user-space probe's firing (schema::uprobes): at a function's entry
 * its argument registers; at its return (F_DONE) the return value, the
 * time since entry and the registers as they were at entry; at a USDT
 * mark its arguments; where it fired (ip). data holds, with UP_STACK,
 * the user stack (stack_len bytes), then with a string (per probe,
 * UP_STRING_* in the cookie) str_len bytes of it (NUL included; < 0:
 * the error reading it); the ring buffer record's length ends it. */
#define USTR_MAX 512 /* stap's MAXSTRINGLEN */

struct uprobe_rec {        /* 192 bytes + the stack + the string */
	struct hdr h;
	u64 dur;
	s64 ret;
	u64 args[6];
	u32 slot;
	s32 str_len;
	u64 ip;
	u32 stack_len;
	u32 pad;
	u64 word;          /* with UP_WORD_SHIFT: 8 bytes of user memory */
	s32 word_err;      /* 0, or the error reading them */
	u32 pad2;
	u64 more[6];       /* a mark's arguments 7-12 (0 past its count) */
	u8 data[8 * STACK_DEPTH + USTR_MAX];
};

/* The attach cookie of a user-space probe: its slot (the recording's
 * list, bits 0-15), which string to read (bits 16-23: 0 none, 1-6 an
 * argument, UP_STRING_RET the return value) and what to do at a
 * function's entry (bits 24-31). */
#define UP_STRING_RET 7
#define UP_EMIT (1 << 24)  /* send a row at entry */
#define UP_STORE (1 << 25) /* keep entry time and registers for the return */
#define UP_COUNT_SHIFT 26  /* bits 26-30: count slot + 1 (--count), no row */
#define UP_STACK (1ull << 31) /* the user stack too */
#define UP_WORD_SHIFT 32   /* bits 32-39: whose 8 bytes to read, as the string's */

struct up_key {
	u32 tid;
	u32 slot;
	u32 depth;         /* recursion: each level its own entry */
	u32 pad;
};

struct up_entry {
	u64 ts;
	u64 args[6];
};

/* Map values and iterator output the recorder reads at stop
 * (recorder/src/bpf.rs, through the skeleton's generated types). */

/* A syscall between sys_enter and sys_exit, per thread. */
struct inflight {          /* 224 bytes */
	u64 ts;
	u64 args[6];
	u32 nr;
	u32 pid;
	u32 uid;
	u16 cpu;
	u16 pad;           /* what to read at exit, what was read (PAD_*) */
	char comm[16];
	s32 addr_len;      /* the socket address, when PAD_ADDR_READ: as in */
	s32 addr_err;      /* syscall_addr_rec */
	u8 addr[SOCKADDR_MAX];
};

/* What dump_inflight writes per thread: the value after its thread id. */
struct inflight_dump {     /* 232 bytes */
	u32 tid;
	u32 pad;
	struct inflight v;
};

/* An issued block request, by struct request address. */
struct blk_start {         /* 64 bytes */
	struct hdr h;
	u64 sector;
	u32 dev;
	u32 bytes;
	u8 op;
	u8 rwbs;
};

/* recorder/src/records.rs decodes by these sizes. */
/* Live counting in the kernel (--count): syscalls counted per slot by the
 * fields the slot's mask names, instead of each sent to user space. */
#define COUNT_SLOTS 16
#define COUNT_COMM 1
#define COUNT_PID 2
#define COUNT_TID 4
#define COUNT_UID 8
#define COUNT_CPU 16
struct count_key {         /* 40 bytes */
	u32 slot;
	u32 pid;
	u32 tid;
	u32 uid;
	u32 cpu;
	u32 pad;
	char comm[16];
};
struct count_val {         /* 16 bytes, per CPU */
	u64 n;
	u64 first;         /* ktime of this CPU's first count */
};

_Static_assert(sizeof(struct count_key) == 40, "count_key");
_Static_assert(sizeof(struct count_val) == 16, "count_val");
_Static_assert(sizeof(struct hdr) == 40, "hdr");
_Static_assert(sizeof(struct syscall_rec) == 112, "syscall_rec");
_Static_assert(sizeof(struct proc_rec) == 584, "proc_rec");
_Static_assert(sizeof(struct net_rec) == 112, "net_rec");
_Static_assert(sizeof(struct block_rec) == 72, "block_rec");
_Static_assert(sizeof(struct sample_rec) == 560, "sample_rec");
_Static_assert(sizeof(struct vfs_rec) == 72, "vfs_rec");
_Static_assert(__builtin_offsetof(struct uprobe_rec, data) == 192, "uprobe_rec");
_Static_assert(sizeof(struct up_key) == 16, "up_key");
_Static_assert(sizeof(struct up_entry) == 56, "up_entry");
_Static_assert(sizeof(struct inflight) == 224, "inflight");
_Static_assert(sizeof(struct syscall_addr_rec) == 248, "syscall_addr_rec");
_Static_assert(sizeof(struct inflight_dump) == 232, "inflight_dump");
_Static_assert(__builtin_offsetof(struct inflight_dump, v) == 8, "inflight_dump.v");
_Static_assert(sizeof(struct blk_start) == 64, "blk_start");
_Static_assert(sizeof(struct tp_fmt) == 22, "tp_fmt");
_Static_assert(sizeof(struct tp_rec) == 40 + TP_MAX + 8 * STACK_DEPTH + 8, "tp_rec");
_Static_assert(__builtin_offsetof(struct paths_rec, data) == 56, "paths_rec");
#endif
