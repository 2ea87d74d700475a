// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * bptree: point lookup in an on-disk B+-tree (include/bptree_format.h).
 * Start the chain at the root (from the superblock) with struct bpt_query
 * in the scratch. Each internal node names the child to read next; a leaf
 * ends the lookup, or names the value-log block that holds the record.
 */
#include "rnvme_bpf.h"
#include "bptree_format.h"

/* Slot i of the node at data, or NULL if it lies past the block. */
static __always_inline __u64 *slot(void *data, void *end, __u32 i)
{
	__u64 *p;

	if (i > 2 * BPT_MAX_KEYS + 1)
		return 0;
	p = data + sizeof(struct bpt_node) + (__u64)i * 8;
	if ((void *)(p + 1) > end)
		return 0;
	return p;
}

static __always_inline int read_value(struct rnvme_md *ctx, struct bpt_query *q)
{
	void *end = RNVME_DATA_END(ctx);
	struct bpt_value *v;
	__u32 off = q->rec_off;
	int i;

	if (off > BPT_MAX_NODE - sizeof(*v))
		return RNVME_ABORT;
	v = RNVME_DATA(ctx) + off;
	if ((void *)(v + 1) > end)
		return RNVME_ABORT;
	if (v->magic != BPT_VALUE_MAGIC || v->key != q->key)
		return RNVME_ABORT;
	for (i = 0; i < BPT_VALUE_DATA; i++)
		q->data[i] = v->data[i];
	q->found = 1;
	return RNVME_DONE;
}

SEC("rnvme")
int bptree(struct rnvme_md *ctx)
{
	void *data = RNVME_DATA(ctx), *end = RNVME_DATA_END(ctx);
	struct bpt_query *q = RNVME_SCRATCH(ctx);
	struct bpt_node *node = data;
	__u32 lo = 0, hi, n, it;
	__u64 *k, *v;

	if (q->state == 1)
		return read_value(ctx, q);
	if ((void *)(node + 1) > end || node->magic != BPT_NODE_MAGIC)
		return RNVME_ABORT;
	n = node->nkeys;
	if (n > BPT_MAX_KEYS)
		return RNVME_ABORT;
	q->depth++;
	hi = n;

	if (node->kind == BPT_INTERNAL) {
		/* lo = number of keys <= q->key: the child to descend into. */
		for (it = 0; it < 9 && lo < hi; it++) {
			__u32 mid = (lo + hi) / 2;

			k = slot(data, end, 2 * mid + 1);
			if (!k)
				return RNVME_ABORT;
			if (*k <= q->key)
				lo = mid + 1;
			else
				hi = mid;
		}
		v = slot(data, end, 2 * lo);
		if (!v)
			return RNVME_ABORT;
		ctx->next_offset = *v;
		return RNVME_NEXT;
	}

	/* A leaf: lo = first key >= q->key. */
	for (it = 0; it < 9 && lo < hi; it++) {
		__u32 mid = (lo + hi) / 2;

		k = slot(data, end, 2 * mid);
		if (!k)
			return RNVME_ABORT;
		if (*k < q->key)
			lo = mid + 1;
		else
			hi = mid;
	}
	k = slot(data, end, 2 * lo);
	v = slot(data, end, 2 * lo + 1);
	if (lo >= n || !k || !v || *k != q->key) {
		q->found = 0;
		return RNVME_DONE;
	}
	q->value = *v;
	if (node->kind != BPT_LEAF_LOG) {
		q->found = 1;
		return RNVME_DONE;
	}
	/* Read the value log block that holds the record. */
	q->state = 1;
	q->rec_off = *v & (ctx->len - 1);
	ctx->next_offset = *v - q->rec_off;
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
