/* The few kernel types retap's BPF programs touch, declared by hand instead
 * of shipping a multi-megabyte vmlinux.h. preserve_access_index makes every
 * field access a CO-RE relocation: libbpf rewrites offsets against the
 * running kernel's BTF at load time, so only field *names* must match, and
 * only the fields listed here are used. */
#ifndef RETAP_VMLINUX_MIN_H
#define RETAP_VMLINUX_MIN_H
/* Tells bpf_tracing.h to use the kernel's pt_regs field names (di, not rdi). */
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef short int __s16;
typedef short unsigned int __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long int __s64;
typedef long long unsigned int __u64;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef int pid_t;
typedef unsigned int dev_t;
typedef _Bool bool;
typedef long unsigned int size_t;
typedef long int ssize_t;
typedef long long int loff_t;
typedef u64 sector_t;
typedef u32 blk_opf_t;
typedef u8 blk_status_t;
enum { false = 0, true = 1 };

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	long unsigned int bp;
	long unsigned int r10;
	long unsigned int r9;
	long unsigned int r8;
	long unsigned int ax;
	long unsigned int cx;
	long unsigned int dx;
	long unsigned int si;
	long unsigned int di;
	long unsigned int ip;
	long unsigned int sp;
};
typedef struct pt_regs bpf_user_pt_regs_t;
#elif defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			u64 regs[31];
			u64 sp;
			u64 pc;
			u64 pstate;
		};
	};
	u64 orig_x0;
};
typedef struct user_pt_regs bpf_user_pt_regs_t;
#else
#error "retap's BPF programs know x86_64 and arm64 register layouts only"
#endif

struct bpf_perf_event_data {
	bpf_user_pt_regs_t regs;
	__u64 sample_period;
	__u64 addr;
};

struct mm_struct {
	long unsigned int arg_start;
	long unsigned int arg_end;
};

struct thread_info {
	u32 cpu;
};

struct task_struct {
	struct thread_info thread_info;
	pid_t pid;
	pid_t tgid;
	int exit_code;
	int exit_state;
	int prio;
	struct task_struct *real_parent;
	struct mm_struct *mm;
	char comm[16];
};

/* The records the kernel's classic tracepoints fill (their tracefs format
 * files are these layouts): the raw hooks of the default set write the
 * same fields at the same offsets, so one decoder reads both. */
struct trace_event_raw_sched_switch {
	char prev_comm[16];
	pid_t prev_pid;
	int prev_prio;
	long prev_state;
	char next_comm[16];
	pid_t next_pid;
	int next_prio;
};

struct trace_event_raw_sched_wakeup_template {
	char comm[16];
	pid_t pid;
	int prio;
	int target_cpu;
};

/* comm: a __data_loc string since 6.x (the u32 field), an array before:
 * bpf_core_field_exists tells which this kernel has. */
struct trace_event_raw_sched_migrate_task {
	u32 __data_loc_comm;
	char comm[16];
	pid_t pid;
	int prio;
	int orig_cpu;
	int dest_cpu;
};

struct trace_event_raw_softirq {
	unsigned int vec;
};

struct trace_event_raw_signal_generate {
	int sig;
	int errno;
	int code;
	char comm[16];
	pid_t pid;
	int group;
	int result;
};

struct trace_event_raw_signal_deliver {
	int sig;
	int errno;
	int code;
	unsigned long sa_handler;
	unsigned long sa_flags;
};

struct kernel_siginfo {
	struct {
		int si_signo;
		int si_errno;
		int si_code;
	};
};

struct sigaction {
	void *sa_handler;
	unsigned long sa_flags;
};

struct k_sigaction {
	struct sigaction sa;
};

struct linux_binprm {
	const char *filename;
};

struct net_device {
	char name[16];
	int ifindex;
};

struct sk_buff {
	struct net_device *dev;
	unsigned int len;
	__be16 protocol;
	unsigned char *head;
	unsigned char *data;
	__u16 network_header;
};

struct block_device {
	dev_t bd_dev;
};

struct request {
	blk_opf_t cmd_flags;
	unsigned int __data_len;
	sector_t __sector;
	struct block_device *part;
};

struct file;

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	u64 session_id;
	u64 seq_num;
};

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

#pragma clang attribute pop

/* Values here are placeholders: bpf_core_enum_value() relocates each name
 * to the running kernel's value, which moved between releases. */
enum req_flag_bits {
	__REQ_SYNC = 11,
	__REQ_META = 12,
	__REQ_FUA = 17,
	__REQ_PREFLUSH = 18,
	__REQ_RAHEAD = 19,
};

/* UAPI constants (stable ABI). */
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_F_USER_STACK (1ULL << 8)
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
	BPF_MAP_TYPE_RINGBUF = 27,
};
#define BPF_F_NO_PREALLOC 1
#define BPF_LOCAL_STORAGE_GET_F_CREATE 1

#endif
