// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The worked example of bpf/README.md: read `blocks` consecutive blocks
 * (from the scratch) and add up the first byte of each into the scratch.
 */
#include "rnvme_bpf.h"

struct first_byte_sum {
	__u64 blocks;	/* in: blocks to read */
	__u64 sum;	/* out */
};

SEC("rnvme")
int first_byte_sum(struct rnvme_md *ctx)
{
	struct first_byte_sum *s = RNVME_SCRATCH(ctx);
	__u8 *p = RNVME_DATA(ctx);

	if ((void *)(p + 1) > RNVME_DATA_END(ctx))
		return RNVME_ABORT;
	s->sum += *p;
	if (ctx->hop + 1 >= s->blocks)
		return RNVME_DONE;
	ctx->next_offset = ctx->file_offset + ctx->len;
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
