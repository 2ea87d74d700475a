// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture: read wherever the caller says. The scratch holds struct jump: on
 * every hop below `hops` the function asks for `target_len` bytes at
 * `target`; it records the first 8 bytes of each block it sees in seen[hop]
 * (a variable-offset scratch write, bounds-checked).
 */
#include "rnvme_bpf.h"

struct jump {
	__u64 target;
	__u32 target_len;
	__u32 hops;
	__u64 seen[64];
};

SEC("rnvme")
int jump(struct rnvme_md *ctx)
{
	struct jump *j = RNVME_SCRATCH(ctx);
	__u64 *first = RNVME_DATA(ctx);
	__u32 hop = ctx->hop;

	if ((void *)(first + 1) > RNVME_DATA_END(ctx))
		return RNVME_ABORT;
	if (hop < 64)
		j->seen[hop] = *first;
	if (hop >= j->hops)
		return RNVME_DONE;
	ctx->next_offset = j->target;
	ctx->next_len = j->target_len;
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
