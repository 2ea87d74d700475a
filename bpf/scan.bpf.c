// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * scan: filter and aggregate the records of a range of blocks
 * (include/records_format.h). The predicate (keys lo..=hi) and the end of
 * the range come in struct scan_query in the scratch; only the aggregate
 * (count, sum, min, max of the matching values) goes back to user space.
 */
#include "rnvme_bpf.h"
#include "records_format.h"

SEC("rnvme")
int scan(struct rnvme_md *ctx)
{
	void *data = RNVME_DATA(ctx), *end = RNVME_DATA_END(ctx);
	struct scan_query *q = RNVME_SCRATCH(ctx);
	struct rec_block *b = data;
	__u32 i, n;

	if ((void *)(b + 1) > end || b->magic != REC_BLOCK_MAGIC)
		return RNVME_ABORT;
	n = b->count;
	for (i = 0; i < REC_MAX_PER_BLOCK && i < n; i++) {
		struct rec *r = data + sizeof(*b) + (__u64)i * sizeof(*r);

		if ((void *)(r + 1) > end)
			return RNVME_ABORT;
		if (r->key < q->lo || r->key > q->hi)
			continue;
		if (!q->count || r->value < q->min)
			q->min = r->value;
		if (!q->count || r->value > q->max)
			q->max = r->value;
		q->count++;
		q->sum += r->value;
	}
	q->blocks++;
	if (ctx->file_offset + ctx->len >= q->end)
		return RNVME_DONE;
	ctx->next_offset = ctx->file_offset + ctx->len;
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
