// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * chain: follow a chain of linked blocks (include/chain_format.h), summing
 * their values into the scratch. Aborts on a block without the magic.
 */
#include "rnvme_bpf.h"
#include "chain_format.h"

SEC("rnvme")
int chain(struct rnvme_md *ctx)
{
	struct chain_block *b = RNVME_DATA(ctx);
	struct chain_result *r = RNVME_SCRATCH(ctx);

	if ((void *)(b + 1) > RNVME_DATA_END(ctx))
		return RNVME_ABORT;
	if (b->magic != CHAIN_MAGIC)
		return RNVME_ABORT;
	r->sum += b->value;
	r->count++;
	r->last_value = b->value;
	r->last_index = b->index;
	if (b->next == CHAIN_END)
		return RNVME_DONE;
	ctx->next_offset = b->next;
	ctx->next_len = b->next_len;
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
