// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture (must be refused, whatever the loader's capabilities): stores the
 * scratch's kernel address as the next offset, which the caller reads back.
 */
#include "rnvme_bpf.h"

SEC("rnvme")
int ptr_to_ctx(struct rnvme_md *ctx)
{
	ctx->next_offset = (__u64)(long)RNVME_SCRATCH(ctx);
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
