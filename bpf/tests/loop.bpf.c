// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture: reads the same block forever; only the hop limit ends it. */
#include "rnvme_bpf.h"

SEC("rnvme")
int loop_forever(struct rnvme_md *ctx)
{
	ctx->next_offset = ctx->file_offset;
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
