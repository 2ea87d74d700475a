/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The on-disk chain format read by chain.bpf.c (and written by the rnvme
 * library's chain builder, userspace/src/format/chain.rs): a file of blocks,
 * each starting with this header; block `next` follows, until CHAIN_END.
 * All fields little-endian.
 */
#ifndef CHAIN_FORMAT_H
#define CHAIN_FORMAT_H

#include <linux/types.h>

#define CHAIN_MAGIC	0x4e4843454d564e52ULL	/* "RNVMECHN" */
#define CHAIN_END	0xffffffffffffffffULL

struct chain_block {
	__u64 magic;
	__u64 next;		/* file offset of the next block, or CHAIN_END */
	__u64 value;		/* payload the walk sums */
	__u32 index;		/* position in the chain, from 0 */
	__u32 next_len;		/* bytes of the next block */
};

/* What chain.bpf.c leaves in the scratch. */
struct chain_result {
	__u64 sum;		/* of value over the blocks visited */
	__u64 count;		/* blocks visited */
	__u64 last_value;
	__u64 last_index;
};

#endif /* CHAIN_FORMAT_H */
