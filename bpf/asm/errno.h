/* What libbpf's usdt.bpf.h needs of <linux/errno.h>, whose <asm/errno.h>
 * a BPF target has no architecture directory for. */
#ifndef RETAP_ASM_ERRNO_H
#define RETAP_ASM_ERRNO_H
#define ENOENT 2
#define ESRCH 3
#define EINVAL 22
#endif
