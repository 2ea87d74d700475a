/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What every storage function includes: the kernel's UAPI for the context
 * and verdicts (<linux/rnvme.h>, taken from kernel-patches/ at build time),
 * and the few definitions a BPF object needs.
 */
#ifndef RNVME_BPF_H
#define RNVME_BPF_H

#include <linux/types.h>
#include <linux/rnvme.h>

#define SEC(name) __attribute__((section(name), used))

/*
 * Really inline: the UAPI <linux/stddef.h> defines __always_inline as plain
 * inline, and a BPF call takes five arguments at most.
 */
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))

/* The block just read and the scratch, as pointers. */
#define RNVME_DATA(ctx)		((void *)(long)(ctx)->data)
#define RNVME_DATA_END(ctx)	((void *)(long)(ctx)->data_end)
#define RNVME_SCRATCH(ctx)	((void *)(long)(ctx)->scratch)

#endif /* RNVME_BPF_H */
