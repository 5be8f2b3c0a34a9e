// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* retap's in-kernel half. Each program does the least it can: read a few
 * fields, pair start and end where a table needs a duration, and put one
 * fixed-size record in the ring buffer. Everything else (names, sorting,
 * compression) happens in user space, off the traced thread's path.
 *
 * Hooks are tp_btf (BTF-typed raw tracepoints: the cheapest attach point
 * that works everywhere retap runs) and perf_event for sampling. The vfs
 * table needs fentry/fexit or kprobes, which some kernels lack; those
 * programs are only loaded on request. */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "records.h"
/* USDT argument decoding, from the specs libbpf's attach_usdt finds in
 * the binary's notes (its <asm/errno.h> is bpf/asm/errno.h). */
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load (read-only after). */
const volatile u32 self_tgid = 0;      /* never trace the recorder itself */
const volatile bool filter_pids = false;
const volatile bool follow_children = false;
const volatile bool filter_comm = false;
const volatile char comm_filter[16] = {};
const volatile bool filter_syscalls = false;
const volatile bool want_procs = false;
const volatile u64 wakeup_bytes = 1 << 20; /* wake the reader past this much */
const volatile u32 string_max = 256;       /* longest file name kept, NUL included */
const volatile bool emit_entries = false;  /* live: each syscall also as it is entered */
const volatile bool entries_only = false;  /* live: only as it is entered (sys_exit not loaded) */
const volatile bool mark_programs = false; /* live: programs in progress marked (live_marks) */

/* Set by the recorder when it stops: proc_exit then only hands over
 * syscalls still in flight and writes no more process rows. */
volatile bool stopping = false;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the loader */
} events SEC(".maps");

/* Per-CPU loss counters: [kind] ring buffer full, [NR_KINDS + kind] start
 * of a paired event not stored because the in-flight map was full. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * NR_KINDS);
	__type(key, u32);
	__type(value, u64);
} losses SEC(".maps");

/* Live only: per CPU, how many programs are running there now and when
 * the first of them began. A program stamps its record's time before the
 * ring holds the record (or holds it uncommitted), and on this kernel a
 * syscall tracepoint's program can be preempted (faultable tracepoints),
 * a virtual CPU stalled by its host: no fixed slack bounds the gap. The
 * recorder's live watermark stays below the oldest mark it reads, so a
 * record stamped before the watermark cannot arrive after it. Atomics:
 * a program preempted on this CPU, or an NMI's, shares the slot. */
struct live_mark {
	u64 depth;
	u64 since;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct live_mark);
} live_marks SEC(".maps");

static __always_inline struct live_mark *mark_begin(void)
{
	if (!mark_programs)
		return NULL;
	u32 k = 0;
	struct live_mark *m = bpf_map_lookup_elem(&live_marks, &k);
	if (!m)
		return NULL;
	u64 t = bpf_ktime_get_ns();
	/* Preempted before `since` is set, the slot shows an older time: a
	 * watermark held lower than needed, never higher. */
	if (__sync_fetch_and_add(&m->depth, 1) == 0)
		m->since = t;
	return m;
}

static __always_inline void mark_end(struct live_mark **m)
{
	if (*m)
		__sync_fetch_and_sub(&(*m)->depth, 1);
}

/* First statement of every program that emits a record: marked from
 * here to each of its returns. */
#define LIVE_MARK struct live_mark *__live_mark __attribute__((cleanup(mark_end))) = mark_begin()

/* tgids being traced under -x / -c. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u8);
} targets SEC(".maps");

/* With filter_syscalls, per syscall number: bit 0 records it, bit 1 + s
 * counts it in count slot s (--count). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u32);
} syscall_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct count_key);
	__type(value, struct count_val);
} counts SEC(".maps");

const volatile u8 count_fields[COUNT_SLOTS] = {};

/* Per syscall number: its file-name arguments' registers, + 1, in the low
 * and high byte (0: none), and PATHS_AT_EXIT_NO when a name that could not
 * be read at entry must not be read again at exit (execve: the caller's
 * memory is gone by then). Set by the recorder from the kernel's
 * signatures (schema::syscalls::path_args). Its socket address argument
 * (schema::syscalls::addr_arg): how to read it in ADDR_MODE, the address
 * (or msghdr) register at ADDR_REG, the length's at ADDR_LEN_REG. */
#define PATHS_AT_EXIT_NO (1 << 16)
#define ADDR_MODE(pa) (((pa) >> 17) & 7)
#define ADDR_GIVEN 1     /* pointer, length by value: at entry */
#define ADDR_RETURNED 2  /* pointer, pointer to length: at exit */
#define ADDR_MSG_ENTRY 3 /* struct user_msghdr: at entry */
#define ADDR_MSG_EXIT 4  /* struct user_msghdr: at exit */
#define ADDR_REG(pa) (((pa) >> 20) & 0xf)
#define ADDR_LEN_REG(pa) (((pa) >> 24) & 0xf)
/* inflight.pad: bits 0-1 file names to read again at exit, and */
#define PAD_ADDR_AT_EXIT 4 /* the address is read at exit */
#define PAD_ADDR_READ 8    /* addr_len/addr_err hold it */
/* A .rodata array, not a map: every syscall reads it, and a load costs
 * less than a map lookup helper call (+19 ns a syscall as a map). */
const volatile u32 path_args[1024] = {};

static __always_inline u32 path_args_of(u32 nr)
{
	return nr < 1024 ? path_args[nr] : 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct paths_rec);
} paths_scratch SEC(".maps");

/* Task-local storage rather than a hash map keyed by tid: no hashing, no
 * bucket lock, no delete on the hot path (ts = 0 marks "no syscall in
 * flight"), and the kernel frees it when the thread exits. The recorder
 * reads what is left in flight at stop through the dump_inflight task
 * iterator. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} syscalls_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct blk_start);
} block_inflight SEC(".maps");

/* Start time of a vfs_read/vfs_write call, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u64);
} vfs_start SEC(".maps");

static __always_inline void count_loss(u32 slot)
{
	u64 *c = bpf_map_lookup_elem(&losses, &slot);
	if (c)
		*c += 1;
}

static __always_inline bool wanted(u32 tgid)
{
	if (tgid == self_tgid)
		return false;
	if (filter_pids && !bpf_map_lookup_elem(&targets, &tgid))
		return false;
	if (filter_comm) {
		char comm[16];
		bpf_get_current_comm(comm, sizeof(comm));
		for (int i = 0; i < 16; i++) {
			if (comm[i] != comm_filter[i])
				return false;
			if (!comm[i])
				break;
		}
	}
	return true;
}

static __always_inline void fill_hdr(struct hdr *h, u8 kind, u64 pid_tgid)
{
	h->ts = bpf_ktime_get_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (u32)pid_tgid;
	h->uid = (u32)bpf_get_current_uid_gid();
	h->cpu = bpf_get_smp_processor_id();
	h->kind = kind;
	h->flags = 0;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Wake the reader only when a good chunk is waiting: a wakeup per record
 * would cost more than the record. The reader also polls on a short timer,
 * so nothing waits long. */
static __always_inline u64 wake_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									    : BPF_RB_NO_WAKEUP;
}

static __always_inline void submit(void *rec)
{
	bpf_ringbuf_submit(rec, wake_flags());
}

/* A record built in a scratch buffer, copied into the ring with its real
 * length (variable-length records: tracepoints, file names). */
static __always_inline long output(void *rec, u64 len)
{
	return bpf_ringbuf_output(&events, rec, len, wake_flags());
}

/* ---- syscalls ---- */

static __always_inline u64 reg_of(struct inflight *v, u32 i)
{
	switch (i) {
	case 0: return v->args[0];
	case 1: return v->args[1];
	case 2: return v->args[2];
	case 3: return v->args[3];
	case 4: return v->args[4];
	default: return v->args[5];
	}
}

/* A syscall's file names, read at entry: the kernel reads them then too,
 * and the caller may change its memory before the syscall returns. A name
 * in a page not yet faulted in (a new program's read-only data) cannot be
 * read from here; it is read again at exit, when the kernel has faulted it
 * in, and the exit's record replaces the entry's. `retry` says which to
 * read (bit 0, bit 1); returns those that failed. */
static __always_inline u32 emit_paths(struct inflight *v, u64 pid_tgid, u32 pa, u32 retry)
{
	u32 zero = 0;
	struct paths_rec *r = bpf_map_lookup_elem(&paths_scratch, &zero);
	if (!r)
		return 0;
	u32 max = string_max;
	if (max > STR_MAX)
		max = STR_MAX;
	/* The header from what sys_enter already read: no helper calls. */
	r->h.ts = v->ts;
	r->h.pid = v->pid;
	r->h.tid = (u32)pid_tgid;
	r->h.uid = v->uid;
	r->h.cpu = v->cpu;
	r->h.kind = KIND_PATHS;
	r->h.flags = 0;
	__builtin_memcpy(r->h.comm, v->comm, sizeof(r->h.comm));
	r->entry_ts = v->ts;
	r->len[0] = 0;
	r->len[1] = 0;
	u32 used = 0, failed = 0;
	u32 a = pa & 0xff;
	if (a && (retry & 1)) {
		long n = bpf_probe_read_user_str(r->data, max, (void *)reg_of(v, a - 1));
		r->len[0] = n;
		if (n > 0)
			used = n;
		else
			failed |= 1;
	}
	u32 b = (pa >> 8) & 0xff;
	if (b && (retry & 2)) {
		/* (for the verifier; a mask would turn a first name of
		 * exactly STR_MAX bytes into 0 and write this one over it) */
		if (used > STR_MAX)
			used = STR_MAX;
		long n = bpf_probe_read_user_str(r->data + used, max, (void *)reg_of(v, b - 1));
		r->len[1] = n;
		if (n > 0)
			used += n;
		else
			failed |= 2;
	}
	if (used > 2 * STR_MAX)
		used = 2 * STR_MAX;
	if (output(r, __builtin_offsetof(struct paths_rec, data) + used))
		count_loss(KIND_PATHS);
	return failed;
}

/* File names read neither at entry nor at exit (bits of emit_paths). */
static __always_inline void count_unread(u32 failed)
{
	if (failed & 1)
		count_loss(NR_KINDS + KIND_PATHS);
	if (failed & 2)
		count_loss(NR_KINDS + KIND_PATHS);
}

/* The socket address of a syscall (see ADDR_MODE), read into its inflight
 * slot for emit_syscall to send with it (one ring record, not two). A null
 * pointer reads nothing (the register says NULL); an address that cannot
 * be read is kept as its error, and counted with the file names not
 * read. */
static __always_inline void read_addr(struct inflight *v, u32 pa)
{
	u32 mode = ADDR_MODE(pa);
	u64 ptr = reg_of(v, ADDR_REG(pa));
	s32 len = 0;
	long err = 0;
	if (mode == ADDR_MSG_ENTRY || mode == ADDR_MSG_EXIT) {
		struct {
			u64 name;    /* user_msghdr.msg_name */
			s32 namelen; /* user_msghdr.msg_namelen */
		} m = {};
		err = bpf_probe_read_user(&m, sizeof(m), (void *)ptr);
		ptr = m.name;
		len = m.namelen;
		if (!err && !ptr)
			return;
	} else if (mode == ADDR_RETURNED) {
		if (!ptr)
			return;
		err = bpf_probe_read_user(&len, sizeof(len), (void *)reg_of(v, ADDR_LEN_REG(pa)));
	} else {
		if (!ptr)
			return;
		len = (s32)reg_of(v, ADDR_LEN_REG(pa));
	}
	u32 n = 0;
	if (!err && len > 0) {
		n = len;
		if (n > SOCKADDR_MAX)
			n = SOCKADDR_MAX;
		err = bpf_probe_read_user(v->addr, n, (void *)ptr);
	}
	if (err) {
		n = 0;
		count_loss(NR_KINDS + KIND_PATHS);
	}
	v->addr_len = n;
	v->addr_err = err;
	v->pad |= PAD_ADDR_READ;
}

/* Names still unread at entry, read now that the syscall is done (see
 * emit_paths); those that fail again are counted. A socket address the
 * kernel wrote for the caller, read now that it has, when it succeeded. */
static __always_inline void at_exit(struct inflight *v, u64 pid_tgid, s64 ret)
{
	if (!v->pad)
		return;
	u32 pa = path_args_of(v->nr);
	if (v->pad & 3)
		count_unread(emit_paths(v, pid_tgid, pa, v->pad & 3));
	if ((v->pad & PAD_ADDR_AT_EXIT) && ret >= 0)
		read_addr(v, pa);
}

static __always_inline void emit_syscall(struct inflight *v, u64 ts, u64 pid_tgid, s64 ret,
					 bool done, u8 flags);

/* One event counted in each slot `slots` names (bits), keyed by the
 * fields the slot's mask names. A CPU's first count of a key notes when.
 * `kind`: whose loss counter a full map counts in. */
static __always_inline void count_in(u32 slots, u64 pid_tgid, u32 kind)
{
	for (int s = 0; s < COUNT_SLOTS; s++) {
		if (!(slots & (1 << s)))
			continue;
		u8 f = count_fields[s];
		struct count_key k = {};
		k.slot = s;
		if (f & COUNT_COMM)
			bpf_get_current_comm(k.comm, sizeof(k.comm));
		if (f & COUNT_PID)
			k.pid = pid_tgid >> 32;
		if (f & COUNT_TID)
			k.tid = (u32)pid_tgid;
		if (f & COUNT_UID)
			k.uid = (u32)bpf_get_current_uid_gid();
		if (f & COUNT_CPU)
			k.cpu = bpf_get_smp_processor_id();
		struct count_val *v = bpf_map_lookup_elem(&counts, &k);
		if (!v) {
			struct count_val nv = { .n = 0, .first = 0 };
			/* (another CPU may have made it meanwhile: then it is there) */
			bpf_map_update_elem(&counts, &k, &nv, BPF_NOEXIST);
			v = bpf_map_lookup_elem(&counts, &k);
			if (!v) {
				count_loss(kind);
				continue;
			}
		}
		if (!v->n)
			v->first = bpf_ktime_get_ns();
		v->n++;
	}
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	if (filter_syscalls) {
		u32 k = id;
		u32 *on = bpf_map_lookup_elem(&syscall_filter, &k);
		if (!on || !*on)
			return 0;
		if (*on >> 1)
			count_in(*on >> 1, pid_tgid, KIND_SYSCALL);
		if (!(*on & 1))
			return 0;
	}
	struct inflight *v = bpf_task_storage_get(&syscalls_inflight, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!v) {
		count_loss(NR_KINDS + KIND_SYSCALL);
		return 0;
	}
	v->nr = id;
	v->pid = pid_tgid >> 32;
	v->uid = (u32)bpf_get_current_uid_gid();
	v->cpu = bpf_get_smp_processor_id();
	v->pad = 0;
#if defined(__TARGET_ARCH_x86)
	v->args[0] = regs->di;
	v->args[1] = regs->si;
	v->args[2] = regs->dx;
	v->args[3] = regs->r10;
	v->args[4] = regs->r8;
	v->args[5] = regs->r9;
#else
	v->args[0] = regs->orig_x0;
	v->args[1] = regs->regs[1];
	v->args[2] = regs->regs[2];
	v->args[3] = regs->regs[3];
	v->args[4] = regs->regs[4];
	v->args[5] = regs->regs[5];
#endif
	bpf_get_current_comm(v->comm, sizeof(v->comm));
	v->ts = bpf_ktime_get_ns();
	u32 pa = path_args_of(id);
	if (pa) {
		if (pa & 0xffff) {
			u32 failed = emit_paths(v, pid_tgid, pa, 3);
			if (failed && !(pa & PATHS_AT_EXIT_NO))
				v->pad = failed;
			else
				count_unread(failed);
		}
		u32 mode = ADDR_MODE(pa);
		if (mode == ADDR_GIVEN || mode == ADDR_MSG_ENTRY)
			read_addr(v, pa);
		else if (mode)
			v->pad |= PAD_ADDR_AT_EXIT;
	}
	if (emit_entries)
		emit_syscall(v, v->ts, pid_tgid, 0, false, F_ENTRY);
	/* Nothing follows it: not in flight for proc_exit or the stop's dump. */
	if (entries_only)
		v->ts = 0;
	return 0;
}

/* The syscall's record, sent when it returns (or never will: done false),
 * with its socket address when one was read (syscall_addr_rec). `ts`: its
 * entry time (the caller may have claimed v->ts already). */
static __always_inline void fill_syscall(struct syscall_rec *r, struct inflight *v, u64 ts,
					 u64 pid_tgid, s64 ret, bool done, u64 now)
{
	r->h.ts = ts;
	r->h.pid = v->pid;
	r->h.tid = (u32)pid_tgid;
	r->h.uid = v->uid;
	r->h.cpu = v->cpu;
	r->h.kind = KIND_SYSCALL;
	r->h.flags = done ? F_DONE : 0;
	__builtin_memcpy(r->h.comm, v->comm, sizeof(r->h.comm));
	r->dur = now - ts;
	r->ret = ret;
	for (int i = 0; i < 6; i++)
		r->args[i] = v->args[i];
	r->nr = v->nr;
	r->pad = 0;
}

static __always_inline void emit_syscall(struct inflight *v, u64 ts, u64 pid_tgid, s64 ret,
					 bool done, u8 flags)
{
	u64 now = bpf_ktime_get_ns();
	if (v->pad & PAD_ADDR_READ) {
		struct syscall_addr_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
		if (!r) {
			count_loss(KIND_SYSCALL);
			return;
		}
		fill_syscall(&r->s, v, ts, pid_tgid, ret, done, now);
		r->s.h.flags |= F_ADDR | flags;
		r->addr_len = v->addr_len;
		r->addr_err = v->addr_err;
		__builtin_memcpy(r->addr, v->addr, sizeof(r->addr));
		submit(r);
		return;
	}
	struct syscall_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_loss(KIND_SYSCALL);
		return;
	}
	fill_syscall(r, v, ts, pid_tgid, ret, done, now);
	r->h.flags |= flags;
	submit(r);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	LIVE_MARK;
	struct inflight *v = bpf_task_storage_get(&syscalls_inflight, bpf_get_current_task_btf(), 0, 0);
	if (!v || !v->ts)
		return 0;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	at_exit(v, pid_tgid, ret);
	emit_syscall(v, v->ts, pid_tgid, ret, true, 0);
	v->ts = 0;
	return 0;
}

/* Syscalls still in flight, written to the iterator's seq file as struct
 * inflight_dump for the recorder to read at stop. */
SEC("iter/task")
int dump_inflight(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	if (!task)
		return 0;
	struct inflight *v = bpf_task_storage_get(&syscalls_inflight, task, 0, 0);
	if (!v || !v->ts)
		return 0;
	struct inflight_dump out;
	out.tid = task->pid;
	out.pad = 0;
	out.v = *v;
	out.v.ts = __sync_lock_test_and_set(&v->ts, 0);
	if (out.v.ts)
		bpf_seq_write(ctx->meta->seq, &out, sizeof(out));
	return 0;
}

/* ---- processes ---- */

static __always_inline struct proc_rec *proc_start(u32 event, u64 pid_tgid)
{
	struct proc_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_loss(KIND_PROCESS);
		return 0;
	}
	fill_hdr(&r->h, KIND_PROCESS, pid_tgid);
	r->event = event;
	r->ppid = -1;
	r->child_pid = -1;
	r->child_tid = -1;
	r->exit_code = 0;
	r->filename_len = 0;
	r->argv_len = 0;
	r->pad = 0;
	return r;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(proc_exit, struct task_struct *p)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	/* exit and exit_group never return: write them (and anything else
	 * this thread left in flight) now, without ret/dur. */
	struct inflight *v = bpf_task_storage_get(&syscalls_inflight, bpf_get_current_task_btf(), 0, 0);
	if (v && v->ts) {
		/* At stop the dump_inflight iterator may be reading this slot on
		 * another CPU: whoever swaps ts to 0 first writes the syscall. */
		u64 ts = __sync_lock_test_and_set(&v->ts, 0);
		if (ts)
			emit_syscall(v, ts, pid_tgid, 0, false, 0);
	}
	bpf_map_delete_elem(&vfs_start, &tid);
	if (stopping || !want_procs || !wanted(pid_tgid >> 32))
		return 0;
	struct proc_rec *r = proc_start(PROC_EXIT, pid_tgid);
	if (!r)
		return 0;
	r->ppid = BPF_CORE_READ(p, real_parent, tgid);
	r->exit_code = BPF_CORE_READ(p, exit_code);
	submit(r);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(proc_fork, struct task_struct *parent, struct task_struct *child)
{
	LIVE_MARK;
	u32 ptgid = parent->tgid;
	u32 ctgid = child->tgid;
	if (follow_children && ptgid != ctgid && bpf_map_lookup_elem(&targets, &ptgid)) {
		u8 one = 1;
		bpf_map_update_elem(&targets, &ctgid, &one, BPF_ANY);
	}
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!want_procs || !wanted(pid_tgid >> 32))
		return 0;
	struct proc_rec *r = proc_start(ptgid == ctgid ? PROC_THREAD : PROC_FORK, pid_tgid);
	if (!r)
		return 0;
	r->ppid = BPF_CORE_READ(parent, real_parent, tgid);
	r->child_pid = ctgid;
	r->child_tid = child->pid;
	submit(r);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!want_procs || !wanted(pid_tgid >> 32))
		return 0;
	struct proc_rec *r = proc_start(PROC_EXEC, pid_tgid);
	if (!r)
		return 0;
	r->ppid = BPF_CORE_READ(p, real_parent, tgid);
	long n = bpf_probe_read_kernel_str(r->filename, PATH_LEN, BPF_CORE_READ(bprm, filename));
	r->filename_len = n > 0 ? n - 1 : 0;
	unsigned long start = BPF_CORE_READ(p, mm, arg_start);
	unsigned long end = BPF_CORE_READ(p, mm, arg_end);
	unsigned long len = end - start;
	if (len > ARGV_LEN)
		len = ARGV_LEN;
	if (len > 0 && bpf_probe_read_user(r->argv, len, (void *)start) == 0)
		r->argv_len = len;
	submit(r);
	return 0;
}

/* ---- net ---- */

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct ipv4_hdr {
	u8 vihl;
	u8 tos;
	u16 tot_len;
	u16 id;
	u16 frag_off;
	u8 ttl;
	u8 protocol;
	u16 check;
	u8 saddr[4];
	u8 daddr[4];
};

struct ipv6_hdr {
	u8 vtc;  /* version, traffic class */
	u8 flow[3];
	u16 payload_len;
	u8 nexthdr;
	u8 hop_limit;
	u8 saddr[16];
	u8 daddr[16];
};

/* Addresses and ports from the packet's IP header, which starts at `ip`
 * (see net_rec). Extension headers are not followed: an IPv6 packet that
 * has them keeps its addresses and its first next-header number, no ports. */
static __always_inline void net_addresses(struct net_rec *r, const u8 *ip)
{
	u32 l4off;
	bool first = true;
	if (r->protocol == ETH_P_IP) {
		struct ipv4_hdr h;
		if (bpf_probe_read_kernel(&h, sizeof(h), ip) || (h.vihl >> 4) != 4)
			return;
		r->ipver = 4;
		r->l4 = h.protocol;
		__builtin_memcpy(r->saddr, h.saddr, 4);
		__builtin_memcpy(r->daddr, h.daddr, 4);
		l4off = (h.vihl & 0xf) * 4;
		first = !(bpf_ntohs(h.frag_off) & 0x1fff);
	} else if (r->protocol == ETH_P_IPV6) {
		struct ipv6_hdr h;
		if (bpf_probe_read_kernel(&h, sizeof(h), ip) || (h.vtc >> 4) != 6)
			return;
		r->ipver = 6;
		r->l4 = h.nexthdr;
		__builtin_memcpy(r->saddr, h.saddr, 16);
		__builtin_memcpy(r->daddr, h.daddr, 16);
		l4off = sizeof(h);
	} else {
		return;
	}
	/* TCP, UDP, DCCP, UDP-Lite, SCTP: the ports open the header. */
	if (first && (r->l4 == 6 || r->l4 == 17 || r->l4 == 33 || r->l4 == 136 || r->l4 == 132)) {
		u16 ports[2];
		if (!bpf_probe_read_kernel(ports, sizeof(ports), ip + (l4off & 0x3f))) {
			r->sport = ports[0];
			r->dport = ports[1];
			r->ports = 1;
		}
	}
}

static __always_inline int emit_net(struct sk_buff *skb, struct net_device *dev, u32 len, u8 rx)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	struct net_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_loss(KIND_NET);
		return 0;
	}
	fill_hdr(&r->h, KIND_NET, pid_tgid);
	r->len = len;
	r->ifindex = BPF_CORE_READ(dev, ifindex);
	r->protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	r->rx = rx;
	r->ipver = 0;
	r->l4 = 0;
	r->ports = 0;
	__builtin_memset(r->pad, 0, sizeof(r->pad));
	r->sport = 0;
	r->dport = 0;
	__builtin_memset(r->pad2, 0, sizeof(r->pad2));
	__builtin_memset(r->saddr, 0, sizeof(r->saddr));
	__builtin_memset(r->daddr, 0, sizeof(r->daddr));
	bpf_probe_read_kernel_str(r->dev, sizeof(r->dev), dev->name);
	/* Received: the driver has pulled the link header, data is at the
	 * network header. Sent: data is at the link header; the stack set
	 * network_header. */
	const u8 *ip;
	if (rx)
		ip = BPF_CORE_READ(skb, data);
	else
		ip = BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, network_header);
	net_addresses(r, ip);
	submit(r);
	return 0;
}

SEC("tp_btf/net_dev_xmit")
int BPF_PROG(net_xmit, struct sk_buff *skb, int rc, struct net_device *dev, unsigned int skb_len)
{
	LIVE_MARK;
	return emit_net(skb, dev, skb_len, 0);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(net_recv, struct sk_buff *skb)
{
	LIVE_MARK;
	return emit_net(skb, BPF_CORE_READ(skb, dev), BPF_CORE_READ(skb, len), 1);
}

/* ---- block ---- */

static __always_inline u8 rwbs_bits(u32 flags)
{
	u8 b = 0;
	if (flags & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_SYNC)))
		b |= RWBS_SYNC;
	if (flags & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_META)))
		b |= RWBS_META;
	if (flags & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_FUA)))
		b |= RWBS_FUA;
	if (flags & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH)))
		b |= RWBS_PREFLUSH;
	if (flags & (1U << bpf_core_enum_value(enum req_flag_bits, __REQ_RAHEAD)))
		b |= RWBS_RAHEAD;
	return b;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(blk_issue, struct request *rq)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	struct blk_start s;
	fill_hdr(&s.h, KIND_BLOCK, pid_tgid);
	u32 flags = BPF_CORE_READ(rq, cmd_flags);
	s.sector = BPF_CORE_READ(rq, __sector);
	s.bytes = BPF_CORE_READ(rq, __data_len);
	s.dev = BPF_CORE_READ(rq, part, bd_dev);
	s.op = flags & 0xff;
	s.rwbs = rwbs_bits(flags);
	u64 key = (u64)rq;
	if (bpf_map_update_elem(&block_inflight, &key, &s, BPF_ANY))
		count_loss(NR_KINDS + KIND_BLOCK);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(blk_done, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	LIVE_MARK;
	u64 key = (u64)rq;
	struct blk_start *s = bpf_map_lookup_elem(&block_inflight, &key);
	if (!s)
		return 0;
	struct block_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_loss(KIND_BLOCK);
	} else {
		r->h = s->h;
		r->h.flags = F_DONE;
		r->dur = bpf_ktime_get_ns() - s->h.ts;
		r->sector = s->sector;
		r->dev = s->dev;
		r->bytes = s->bytes;
		r->error = error;
		r->op = s->op;
		r->rwbs = s->rwbs;
		r->pad[0] = r->pad[1] = 0;
		submit(r);
	}
	bpf_map_delete_elem(&block_inflight, &key);
	return 0;
}

/* ---- samples ---- */

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	struct sample_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_loss(KIND_SAMPLE);
		return 0;
	}
	fill_hdr(&r->h, KIND_SAMPLE, pid_tgid);
	r->kstack_bytes = bpf_get_stack(ctx, r->kstack, sizeof(r->kstack), 0);
	r->ustack_bytes = bpf_get_stack(ctx, r->ustack, sizeof(r->ustack), BPF_F_USER_STACK);
	submit(r);
	return 0;
}

/* ---- vfs: fentry/fexit where the kernel has BPF trampolines, kprobes
 * where it has those; neither is attached unless --events asks. ---- */

static __always_inline int vfs_enter(void)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	u32 tid = (u32)pid_tgid;
	u64 ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&vfs_start, &tid, &ts, BPF_ANY))
		count_loss(NR_KINDS + KIND_VFS);
	return 0;
}

static __always_inline int vfs_exit(u64 count, s64 ret, u32 write)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tid = (u32)pid_tgid;
	u64 *start = bpf_map_lookup_elem(&vfs_start, &tid);
	if (!start)
		return 0;
	u64 ts = *start;
	bpf_map_delete_elem(&vfs_start, &tid);
	struct vfs_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_loss(KIND_VFS);
		return 0;
	}
	fill_hdr(&r->h, KIND_VFS, pid_tgid);
	r->dur = r->h.ts - ts;
	r->h.ts = ts;
	r->h.flags = F_DONE;
	r->ret = ret;
	r->bytes = count;
	r->write = write;
	r->pad = 0;
	submit(r);
	return 0;
}

SEC("fentry/vfs_read")
int BPF_PROG(vfs_read_fentry, struct file *file, char *buf, size_t count, loff_t *pos)
{
	LIVE_MARK;
	return vfs_enter();
}

SEC("fexit/vfs_read")
int BPF_PROG(vfs_read_fexit, struct file *file, char *buf, size_t count, loff_t *pos, ssize_t ret)
{
	LIVE_MARK;
	return vfs_exit(count, ret, 0);
}

SEC("fentry/vfs_write")
int BPF_PROG(vfs_write_fentry, struct file *file, const char *buf, size_t count, loff_t *pos)
{
	LIVE_MARK;
	return vfs_enter();
}

SEC("fexit/vfs_write")
int BPF_PROG(vfs_write_fexit, struct file *file, const char *buf, size_t count, loff_t *pos, ssize_t ret)
{
	LIVE_MARK;
	return vfs_exit(count, ret, 1);
}

/* kprobe flavour: the requested count is only known at entry, so keep it
 * with the start time (count in the upper bits is not enough: store both). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u64);
} vfs_count SEC(".maps");

static __always_inline int vfs_kenter(u64 count)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	vfs_enter();
	bpf_map_update_elem(&vfs_count, &tid, &count, BPF_ANY);
	return 0;
}

static __always_inline int vfs_kexit(s64 ret, u32 write)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *c = bpf_map_lookup_elem(&vfs_count, &tid);
	u64 count = c ? *c : 0;
	bpf_map_delete_elem(&vfs_count, &tid);
	return vfs_exit(count, ret, write);
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(vfs_read_kprobe, struct file *file, char *buf, size_t count)
{
	LIVE_MARK;
	return vfs_kenter(count);
}

SEC("kretprobe/vfs_read")
int BPF_KRETPROBE(vfs_read_kretprobe, ssize_t ret)
{
	LIVE_MARK;
	return vfs_kexit(ret, 0);
}

SEC("kprobe/vfs_write")
int BPF_KPROBE(vfs_write_kprobe, struct file *file, const char *buf, size_t count)
{
	LIVE_MARK;
	return vfs_kenter(count);
}

SEC("kretprobe/vfs_write")
int BPF_KRETPROBE(vfs_write_kretprobe, ssize_t ret)
{
	LIVE_MARK;
	return vfs_kexit(ret, 1);
}

/* ---- any tracepoint, by name ---- */

/* By slot: each tracepoint is attached with its slot as the attach cookie
 * (the record's own common_type is not readable: the kernel puts a
 * pt_regs pointer over the first 8 bytes before calling the program). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, struct tp_fmt);
} tp_formats SEC(".maps");

/* Ring buffer full, per tracepoint (tp_fmt.slot). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u64);
} tp_losses SEC(".maps");

/* A record is built here, then copied into the ring buffer with its real
 * length: reserving TP_MAX per event would waste most of the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct tp_rec);
} tp_scratch SEC(".maps");

/* One program for every tracepoint the recording asked for: the layout
 * comes from the format map, so no tracepoint needs code of its own. */
SEC("tracepoint")
int on_tracepoint(void *ctx)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	u32 slot = bpf_get_attach_cookie(ctx);
	struct tp_fmt *f = bpf_map_lookup_elem(&tp_formats, &slot);
	if (!f || !f->size)
		return 0;
	u32 zero = 0;
	struct tp_rec *r = bpf_map_lookup_elem(&tp_scratch, &zero);
	if (!r)
		return 0;
	u32 len = f->size;
	for (int i = 0; i < TP_DYN; i++) {
		if (i >= f->n_dyn)
			break;
		u16 off = f->dyn[i] & 0x7fff;
		u32 loc = 0;
		bpf_probe_read_kernel(&loc, sizeof(loc), ctx + off);
		u32 end = (loc & 0xffff) + (loc >> 16);
		if (f->dyn[i] & 0x8000)
			end += off + 4;
		if (end > len)
			len = end;
	}
	if (len > TP_MAX)
		len = TP_MAX;
	fill_hdr(&r->h, KIND_TRACEPOINT, pid_tgid);
	bpf_probe_read_kernel(r->data, len, ctx);
	if (len >= 8) /* the kernel's pt_regs pointer: the slot instead */
		*(u64 *)r->data = slot;
	if (f->flags & TP_STACK) {
		/* See tp_rec: the stack from the next multiple of 8, then its
		 * length. */
		u32 at = (len + 7) & ~7u;
		if (at > TP_MAX)
			at = TP_MAX;
		long got = bpf_get_stack(ctx, r->data + at, 8 * STACK_DEPTH, 0);
		u32 n = got < 0 ? 0 : got;
		if (n > 8 * STACK_DEPTH)
			n = 8 * STACK_DEPTH;
		u32 end = at + n;
		if (end > TP_MAX + 8 * STACK_DEPTH)
			end = TP_MAX + 8 * STACK_DEPTH;
		*(u32 *)(r->data + end) = n;
		r->h.flags = F_STACK;
		len = end + 4;
	}
	if (output(r, sizeof(struct hdr) + len)) {
		u64 *c = bpf_map_lookup_elem(&tp_losses, &slot);
		if (c)
			*c += 1;
	}
	return 0;
}

/* ---- the default set's tracepoints through their raw hooks ---- */

/* A classic tracepoint first has the kernel build its whole record in a
 * perf buffer and then calls the program; the BTF-typed raw hook calls it
 * with the tracepoint's arguments directly. For the tracepoints recorded by
 * default, these programs write the record the classic one would (the
 * format file's fields at its offsets, CO-RE relocated), so the decoder and
 * the tables are the same either way. Slot + 1 of each, 0: not recorded
 * this way (bpf.rs TPB_*). */
#define TPB_SCHED_SWITCH 0
#define TPB_SCHED_WAKEUP 1
#define TPB_SCHED_WAKEUP_NEW 2
#define TPB_SOFTIRQ_ENTRY 3
#define TPB_SOFTIRQ_EXIT 4
#define TPB_SIGNAL_GENERATE 5
#define TPB_SIGNAL_DELIVER 6
#define TPB_SCHED_MIGRATE_TASK 7
#define TPB_N 8
const volatile u32 tpb_slot[TPB_N] = {};

/* The ring record for a raw hook, `size` bytes of the classic record after
 * the header: the header filled, the tracepoint's slot where the classic
 * record's common fields are (as on_tracepoint does). */
static __always_inline void *tpb_reserve(u32 which, u64 size)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	struct tp_rec *r = bpf_ringbuf_reserve(&events, sizeof(struct hdr) + size, 0);
	u32 slot = tpb_slot[which] - 1;
	if (!r) {
		u64 *c = bpf_map_lookup_elem(&tp_losses, &slot);
		if (c)
			*c += 1;
		return 0;
	}
	fill_hdr(&r->h, KIND_TRACEPOINT, pid_tgid);
	*(u64 *)r->data = slot;
	return r;
}

/* include/trace/events/sched.h __trace_sched_switch_state: the state a
 * switched-out task reports (TASK_REPORT bits; TASK_REPORT_MAX when
 * preempted; idle and frozen waits as the kernel maps them). */
static __always_inline long switch_state(bool preempt, unsigned int st, struct task_struct *p)
{
	if (preempt)
		return 0x100;
	unsigned int state = (st | (unsigned int)p->exit_state) & 0x7f;
	if ((st & 0x402) == 0x402)
		state = 0x80;
	if (st & (0x1000 | 0x8000))
		state = 2;
	/* 1 << (fls(state) - 1): the highest bit */
	for (int b = 7; b >= 0; b--)
		if (state & (1u << b))
			return 1u << b;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tpb_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	LIVE_MARK;
	struct tp_rec *r =
		tpb_reserve(TPB_SCHED_SWITCH, bpf_core_type_size(struct trace_event_raw_sched_switch));
	if (!r)
		return 0;
	struct trace_event_raw_sched_switch *e = (void *)r->data;
	__builtin_memcpy(e->prev_comm, r->h.comm, 16); /* prev is current */
	e->prev_pid = prev->pid;
	e->prev_prio = prev->prio;
	e->prev_state = switch_state(preempt, prev_state, prev);
	bpf_probe_read_kernel(e->next_comm, 16, next->comm);
	e->next_pid = next->pid;
	e->next_prio = next->prio;
	submit(r);
	return 0;
}

static __always_inline void tpb_wakeup(u32 which, struct task_struct *p)
{
	struct tp_rec *r =
		tpb_reserve(which, bpf_core_type_size(struct trace_event_raw_sched_wakeup_template));
	if (!r)
		return;
	struct trace_event_raw_sched_wakeup_template *e = (void *)r->data;
	bpf_probe_read_kernel(e->comm, 16, p->comm);
	e->pid = p->pid;
	e->prio = p->prio;
	e->target_cpu = p->thread_info.cpu;
	submit(r);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tpb_sched_wakeup, struct task_struct *p)
{
	LIVE_MARK;
	tpb_wakeup(TPB_SCHED_WAKEUP, p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tpb_sched_wakeup_new, struct task_struct *p)
{
	LIVE_MARK;
	tpb_wakeup(TPB_SCHED_WAKEUP_NEW, p);
	return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(tpb_sched_migrate_task, struct task_struct *p, int dest_cpu)
{
	LIVE_MARK;
	/* The fixed part, then (as a __data_loc string) comm, at most 16. */
	u32 fixed = bpf_core_type_size(struct trace_event_raw_sched_migrate_task);
	struct tp_rec *r = tpb_reserve(TPB_SCHED_MIGRATE_TASK, fixed + 16);
	if (!r)
		return 0;
	struct trace_event_raw_sched_migrate_task *e = (void *)r->data;
	if (bpf_core_field_exists(e->__data_loc_comm)) {
		long n = bpf_probe_read_kernel_str(r->data + fixed, 16, p->comm);
		/* (len << 16) | offset from the record's start, as the kernel's */
		e->__data_loc_comm = ((u32)(n > 0 ? n : 0) << 16) | fixed;
	} else {
		bpf_probe_read_kernel(e->comm, 16, p->comm);
	}
	e->pid = p->pid;
	e->prio = p->prio;
	e->orig_cpu = p->thread_info.cpu;
	e->dest_cpu = dest_cpu;
	submit(r);
	return 0;
}

static __always_inline void tpb_softirq(u32 which, unsigned int vec)
{
	struct tp_rec *r = tpb_reserve(which, bpf_core_type_size(struct trace_event_raw_softirq));
	if (!r)
		return;
	struct trace_event_raw_softirq *e = (void *)r->data;
	e->vec = vec;
	submit(r);
}

SEC("tp_btf/softirq_entry")
int BPF_PROG(tpb_softirq_entry, unsigned int vec)
{
	LIVE_MARK;
	tpb_softirq(TPB_SOFTIRQ_ENTRY, vec);
	return 0;
}

SEC("tp_btf/softirq_exit")
int BPF_PROG(tpb_softirq_exit, unsigned int vec)
{
	LIVE_MARK;
	tpb_softirq(TPB_SOFTIRQ_EXIT, vec);
	return 0;
}

/* include/trace/events/signal.h TP_STORE_SIGINFO: no siginfo
 * (SEND_SIG_NOINFO) is a user's signal, SEND_SIG_PRIV the kernel's. */
static __always_inline void siginfo_fields(struct kernel_siginfo *info, int *err, int *code)
{
	if ((u64)info == 0) {
		*err = 0;
		*code = 0; /* SI_USER */
	} else if ((u64)info == 1) {
		*err = 0;
		*code = 0x80; /* SI_KERNEL */
	} else {
		/* (the verifier takes the argument for a number: it may be one
		 * of the two above) */
		*err = BPF_CORE_READ(info, si_errno);
		*code = BPF_CORE_READ(info, si_code);
	}
}

SEC("tp_btf/signal_generate")
int BPF_PROG(tpb_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	LIVE_MARK;
	struct tp_rec *r = tpb_reserve(TPB_SIGNAL_GENERATE,
				       bpf_core_type_size(struct trace_event_raw_signal_generate));
	if (!r)
		return 0;
	struct trace_event_raw_signal_generate *e = (void *)r->data;
	e->sig = sig;
	siginfo_fields(info, &e->errno, &e->code);
	bpf_probe_read_kernel(e->comm, 16, task->comm);
	e->pid = task->pid;
	e->group = group;
	e->result = result;
	submit(r);
	return 0;
}

SEC("tp_btf/signal_deliver")
int BPF_PROG(tpb_signal_deliver, int sig, struct kernel_siginfo *info, struct k_sigaction *ka)
{
	LIVE_MARK;
	struct tp_rec *r = tpb_reserve(TPB_SIGNAL_DELIVER,
				       bpf_core_type_size(struct trace_event_raw_signal_deliver));
	if (!r)
		return 0;
	struct trace_event_raw_signal_deliver *e = (void *)r->data;
	e->sig = sig;
	siginfo_fields(info, &e->errno, &e->code);
	e->sa_handler = (unsigned long)ka->sa.sa_handler;
	e->sa_flags = ka->sa.sa_flags;
	submit(r);
	return 0;
}

/* ---- user-space probes: uprobes and USDT marks ---- */

/* Per thread and probe, how deep its calls are nested, so each return
 * meets its own entry (recursion). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u64); /* tid << 32 | slot */
	__type(value, u32);
} up_depth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct up_key);
	__type(value, struct up_entry);
} up_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct uprobe_rec);
} up_scratch SEC(".maps");

/* Processes whose user stacks were sent: the first one's record wakes the
 * reader at once, which saves the process's memory maps (to name the
 * addresses) before a short-lived process is gone. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, u32);
	__type(value, u8);
} stacks_seen SEC(".maps");

static __always_inline void regs_args(struct pt_regs *ctx, u64 *a)
{
	a[0] = PT_REGS_PARM1(ctx);
	a[1] = PT_REGS_PARM2(ctx);
	a[2] = PT_REGS_PARM3(ctx);
	a[3] = PT_REGS_PARM4(ctx);
	a[4] = PT_REGS_PARM5(ctx);
	a[5] = PT_REGS_PARM6(ctx);
}

/* The address a string or word selector names: argument 1-6, or the
 * return value (UP_STRING_RET). */
static __always_inline u64 up_addr(struct uprobe_rec *r, u32 which)
{
	switch (which) {
	case 1: return r->args[0];
	case 2: return r->args[1];
	case 3: return r->args[2];
	case 4: return r->args[3];
	case 5: return r->args[4];
	case 6: return r->args[5];
	default: return (u64)r->ret;
	}
}

/* Sends r (its header, args, ret and dur filled) with where it fired and
 * the stack and string the cookie asks for. */
static __always_inline void up_send(struct pt_regs *ctx, struct uprobe_rec *r, u64 cookie)
{
	u32 which = (cookie >> 16) & 0xff;
	u64 len = __builtin_offsetof(struct uprobe_rec, data);
	u32 at = 0;
	r->slot = cookie & 0xffff;
	r->str_len = 0;
	r->ip = PT_REGS_IP(ctx);
	if (cookie & UP_STACK) {
		long got = bpf_get_stack(ctx, r->data, 8 * STACK_DEPTH, BPF_F_USER_STACK);
		at = got > 0 ? got : 0;
		if (at > 8 * STACK_DEPTH)
			at = 8 * STACK_DEPTH;
	}
	r->stack_len = at;
	len += at;
	u32 wsel = (cookie >> UP_WORD_SHIFT) & 0xff;
	r->word = 0;
	r->word_err = 0;
	if (wsel) {
		r->word_err = bpf_probe_read_user(&r->word, 8, (void *)up_addr(r, wsel));
		if (!r->word_err)
			r->h.flags |= F_WORD;
	}
	if (which) {
		long n = bpf_probe_read_user_str(r->data + at, USTR_MAX, (void *)up_addr(r, which));
		r->str_len = n;
		if (n > 0)
			len += n > USTR_MAX ? USTR_MAX : n;
	}
	if (len > sizeof(*r))
		len = sizeof(*r);
	u64 flags = wake_flags();
	if (at) {
		u32 tgid = r->h.pid;
		u8 one = 1;
		if (!bpf_map_update_elem(&stacks_seen, &tgid, &one, BPF_NOEXIST))
			flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&events, r, len, flags))
		count_loss(KIND_UPROBE);
}

/* The scratch record, its header filled and what only some probes set
 * (a return's value and duration, a mark's arguments past the sixth)
 * cleared: the record is shared by every uprobe program on this CPU. */
static __always_inline struct uprobe_rec *up_rec(u64 pid_tgid)
{
	u32 zero = 0;
	struct uprobe_rec *r = bpf_map_lookup_elem(&up_scratch, &zero);
	if (r) {
		fill_hdr(&r->h, KIND_UPROBE, pid_tgid);
		r->dur = 0;
		r->ret = 0;
		__builtin_memset(r->more, 0, sizeof(r->more));
	}
	return r;
}

/* A probe counted in the kernel (--count): counted here, and no row. */
static __always_inline bool up_counted(u64 cookie, u64 pid_tgid)
{
	u32 counted = (cookie >> UP_COUNT_SHIFT) & 31;
	if (counted)
		count_in(1u << (counted - 1), pid_tgid, KIND_UPROBE);
	return counted;
}

SEC("uprobe")
int on_uprobe(struct pt_regs *ctx)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	u64 cookie = bpf_get_attach_cookie(ctx);
	if (up_counted(cookie, pid_tgid))
		return 0;
	if (cookie & UP_STORE) {
		u64 dk = (pid_tgid << 32) | (cookie & 0xffff);
		u32 *d = bpf_map_lookup_elem(&up_depth, &dk);
		u32 depth = d ? *d : 0;
		struct up_key k = {.tid = (u32)pid_tgid, .slot = cookie & 0xffff, .depth = depth};
		struct up_entry e = {.ts = bpf_ktime_get_ns()};
		regs_args(ctx, e.args);
		if (bpf_map_update_elem(&up_inflight, &k, &e, BPF_ANY)) {
			count_loss(NR_KINDS + KIND_UPROBE);
		} else {
			depth++;
			bpf_map_update_elem(&up_depth, &dk, &depth, BPF_ANY);
		}
	}
	if (cookie & UP_EMIT) {
		struct uprobe_rec *r = up_rec(pid_tgid);
		if (!r)
			return 0;
		regs_args(ctx, r->args);
		up_send(ctx, r, cookie);
	}
	return 0;
}

SEC("uretprobe")
int on_uretprobe(struct pt_regs *ctx)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	u64 cookie = bpf_get_attach_cookie(ctx);
	if (up_counted(cookie, pid_tgid))
		return 0;
	u64 dk = (pid_tgid << 32) | (cookie & 0xffff);
	u32 *d = bpf_map_lookup_elem(&up_depth, &dk);
	if (!d || !*d)
		return 0; /* entered before recording started */
	u32 depth = *d - 1;
	if (depth)
		bpf_map_update_elem(&up_depth, &dk, &depth, BPF_ANY);
	else
		bpf_map_delete_elem(&up_depth, &dk);
	struct up_key k = {.tid = (u32)pid_tgid, .slot = cookie & 0xffff, .depth = depth};
	struct up_entry *e = bpf_map_lookup_elem(&up_inflight, &k);
	if (!e)
		return 0;
	struct uprobe_rec *r = up_rec(pid_tgid);
	if (!r) {
		bpf_map_delete_elem(&up_inflight, &k);
		return 0;
	}
	r->dur = r->h.ts - e->ts;
	r->ret = PT_REGS_RC(ctx);
	__builtin_memcpy(r->args, e->args, sizeof(r->args));
	bpf_map_delete_elem(&up_inflight, &k);
	r->h.flags = F_DONE;
	up_send(ctx, r, cookie);
	return 0;
}

SEC("usdt")
int on_usdt(struct pt_regs *ctx)
{
	LIVE_MARK;
	u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid >> 32))
		return 0;
	u64 cookie = bpf_usdt_cookie(ctx);
	if (up_counted(cookie, pid_tgid))
		return 0;
	struct uprobe_rec *r = up_rec(pid_tgid);
	if (!r)
		return 0;
	int n = bpf_usdt_arg_cnt(ctx);
	for (int i = 0; i < 6; i++) {
		long v = 0, w = 0;
		if (i < n)
			bpf_usdt_arg(ctx, i, &v);
		if (i + 6 < n)
			bpf_usdt_arg(ctx, i + 6, &w);
		r->args[i] = v;
		r->more[i] = w;
	}
	up_send(ctx, r, cookie);
	return 0;
}
