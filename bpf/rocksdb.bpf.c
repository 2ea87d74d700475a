// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * rocksdb: a point get or a seek over the SST files of a RocksDB LSM tree,
 * one chain for all of them (the protocol is in include/rocksdb_format.h).
 *
 * Every read is one block and its 5-byte trailer. A block is searched the
 * way RocksDB's block iterator does: a binary search over the restart
 * array for the first restart point whose key is >= the target, then a
 * scan of the entries from the restart point before it, rebuilding each
 * delta-encoded key in the scratch, up to the first key >= the target.
 *
 * Keeping the verifier's walk small (it must stay under the bound of one
 * run in interrupt context): every step keeps its results in the scratch,
 * and the next step loads them again (RELOAD) and masks them. The paths
 * through one step (a varint of 1 to 10 bytes, a comparison that ends at
 * any chunk) then leave the same register state behind, and the verifier
 * walks the next step once, not once per path. Index and data blocks go
 * through the same code, told apart by `kind` in the scratch.
 */
#include "rnvme_bpf.h"
#include "rocksdb_format.h"

/* Load scratch fields again after this point (see above). */
#define RELOAD()	asm volatile("" ::: "memory")
/*
 * Hide what the compiler knows of x: the bounds check that follows is then
 * made on the register the access uses, where the verifier can see it.
 */
#define OPAQUE(x)	asm volatile("" : "+r"(x))
/* x masked to n (a power of two) on the register that indexes the scratch. */
#define IDX(x, n)	({ OPAQUE(x); (x) & ((n) - 1); })

/*
 * The furthest offset of data read here. The verifier caps a packet
 * offset at 0xffff; 8-byte loads up to REACH + 8 stay under it. A block
 * whose window is longer is handed back (RDB_R_BIG_BLOCK).
 */
#define REACH		0xffe0
/* The bytes of cur_key the function fills (the slack after it excluded). */
#define KEY_BUF		(RDB_KEY_MAX + RDB_INTERNAL_BYTES)
/* Restart points one block may have at most (4 bytes each, 64 KiB). */
#define MAX_RESTARTS	16383

#define CMP_ERR		2

/* q->kind: how the entries of the block being searched are laid out. */
#define K_INDEX		0x1	/* an index block (else a data block) */
#define K_IKEY		0x2	/* internal keys: the last 8 bytes not compared */
#define K_VLEN		0x4	/* entries carry a value length */
#define K_DELTA		0x8	/* values are delta-encoded block handles */

/* q->sres: what the scan of the block found. */
#define S_NONE		0	/* every key of the block is < target */
#define S_FOUND		1	/* an entry with user key >= target */
#define S_ERR		2	/* a block the function cannot parse */

#include "rocksdb/keys.h"
#include "rocksdb/block.h"

static __always_inline int handback(struct rdb_query *q, __u32 reason)
{
	q->status = RDB_HANDBACK;
	q->reason = reason;
	return RNVME_DONE;
}

/* Reads block (off, size) of the current file next, as state st. */
static __always_inline int read_block(struct rnvme_md *ctx, struct rdb_query *q,
				      __u32 file, __u64 off, __u64 size,
				      __u32 st)
{
	if (size + RDB_TRAILER > REACH) {
		q->block_off = off;
		q->block_size = size;
		return handback(q, RDB_R_BIG_BLOCK);
	}
	q->state = st;
	ctx->next_file = file;
	ctx->next_offset = off;
	ctx->next_len = size + RDB_TRAILER;
	return RNVME_NEXT;
}

/* Moves on to the next candidate file, or ends the lookup. */
static __always_inline int next_file(struct rnvme_md *ctx, struct rdb_query *q)
{
	__u32 cur = q->cur + 1;
	struct rdb_file *f;

	OPAQUE(cur);
	if (cur >= q->nfiles || cur >= RDB_FILES_MAX) {
		q->status = q->have ? RDB_FOUND : RDB_NOT_FOUND;
		return RNVME_DONE;
	}
	q->cur = cur;
	f = &q->files[IDX(cur, RDB_FILES_MAX)];
	return read_block(ctx, q, f->file, f->index_off, f->index_size,
			  RDB_ST_INDEX);
}

/* Copies the found entry's value (s_vlen bytes at s_voff of the block). */
static __always_inline void copy_value(struct rdb_query *q, const __u8 *data,
				       const void *end)
{
	__u32 vlen = q->s_vlen, i;
	__u64 o = q->s_voff;

	q->value_copied = 0;
	if (vlen > RDB_VALUE_MAX)
		return;
	for (i = 0; i < RDB_VALUE_MAX; i += 8) {
		const __u8 *p;

		if (i >= vlen)
			break;
		p = at(data, end, o + i, 8);
		if (!p)
			return;
		*(__u64 *)(q->value + i) = *(const __u64 *)p;
	}
	q->value_copied = vlen;
}

/*
 * Takes the data-block entry the scan found (user key >= target) as the
 * answer or a candidate for it.
 */
static __always_inline int take_entry(struct rnvme_md *ctx, struct rdb_query *q,
				      const __u8 *data, const void *end)
{
	__u32 klen = q->klen, ulen, i;
	__u64 trailer;

	if (klen < RDB_INTERNAL_BYTES)
		return handback(q, RDB_R_FORMAT);
	ulen = klen - RDB_INTERNAL_BYTES;
	if (q->op == RDB_GET && q->s_cmp != 0)
		return next_file(ctx, q);
	OPAQUE(ulen);
	if (klen > KEY_BUF || ulen > RDB_KEY_MAX)
		return handback(q, RDB_R_LONG_KEY);
	/* A seek keeps the smallest user key; on a tie the newer file's. */
	if (q->have && cmp_scratch(q, q->cur_key, ulen, q->found_key,
				   q->found_key_len & 0x1ff) >= 0)
		return next_file(ctx, q);
	trailer = *(__u64 *)(q->cur_key + IDX(ulen, 512));
	q->type = trailer & 0xff;
	q->seq = trailer >> 8;
	if (q->type != RDB_TYPE_VALUE && q->type != RDB_TYPE_DELETION &&
	    q->type != RDB_TYPE_SINGLE_DELETION)
		return handback(q, RDB_R_ENTRY_TYPE);
	for (i = 0; i < RDB_KEY_MAX; i += 8)
		*(__u64 *)(q->found_key + i) = *(__u64 *)(q->cur_key + i);
	q->found_key_len = ulen;
	q->found_file = q->cur;
	q->have = 1;
	q->value_len = q->s_vlen;
	q->value_off = ctx->file_offset + q->s_voff;
	q->block_off = ctx->file_offset;
	q->block_size = ctx->len - RDB_TRAILER;
	copy_value(q, data, end);
	/*
	 * An exact match is the answer: earlier files did not have the key.
	 * A get of a deleted key is not found; a seek that lands on a
	 * deletion is FOUND with its type, for user space to go on from.
	 */
	if (q->s_cmp == 0) {
		q->status = RDB_FOUND;
		if (q->op == RDB_GET && q->type != RDB_TYPE_VALUE)
			q->status = RDB_NOT_FOUND;
		return RNVME_DONE;
	}
	return next_file(ctx, q);
}

/* After an index block or partition: the block its found entry names. */
static __always_inline int from_index(struct rnvme_md *ctx, struct rdb_query *q,
				      struct rdb_file *f, int sres)
{
	if (sres == S_NONE)
		return next_file(ctx, q);	/* key > every key of the file */
	if (q->state == RDB_ST_INDEX && (f->flags & RDB_F_PARTITIONED)) {
		q->next_size = q->has_next;	/* more partitions after it */
		return read_block(ctx, q, f->file, q->h_off, q->h_size,
				  RDB_ST_PARTITION);
	}
	/* The data block after this one, for a seek that runs off it. */
	if (q->has_next) {
		q->next_off = q->nx_off;
		q->next_size = q->nx_size;
	} else {
		if (q->state == RDB_ST_PARTITION && q->next_size &&
		    q->op == RDB_SEEK)
			q->next_off = ~0ULL;	/* in the next partition */
		else
			q->next_off = 0;
		q->next_size = 0;
	}
	return read_block(ctx, q, f->file, q->h_off, q->h_size, RDB_ST_DATA);
}

/* After a data block. */
static __always_inline int from_data(struct rnvme_md *ctx, struct rdb_query *q,
				     struct rdb_file *f, const __u8 *data,
				     const void *end, int sres)
{
	if (sres == S_FOUND)
		return take_entry(ctx, q, data, end);
	/* Every key of this block is < target. */
	if (q->op == RDB_GET || q->state == RDB_ST_NEXT_DATA)
		return next_file(ctx, q);
	if (q->next_size)
		return read_block(ctx, q, f->file, q->next_off, q->next_size,
				  RDB_ST_NEXT_DATA);
	if (q->next_off == ~0ULL)
		return handback(q, RDB_R_NEXT_BLOCK);
	return next_file(ctx, q);
}

/* Validates the query on the first read. */
static __always_inline int start(struct rdb_query *q)
{
	if (q->op != RDB_GET && q->op != RDB_SEEK)
		return -1;
	if (q->key_len > RDB_KEY_MAX || !q->nfiles ||
	    q->nfiles > RDB_FILES_MAX)
		return -1;
	q->status = RDB_RUNNING;
	q->reason = 0;
	q->cur = 0;
	q->state = RDB_ST_INDEX;
	q->reads = 0;
	q->have = 0;
	q->value_copied = 0;
	q->next_size = 0;
	return 0;
}

/* The block's layout: its restart array, and q->kind for its entries. */
static __always_inline int layout(struct rdb_query *q, const __u8 *data,
				  const void *end, __u32 len, __u8 flags)
{
	__u32 size = len - RDB_TRAILER, packed, nrst, kind;
	const __u8 *p;

	p = at(data, end, size, 1);
	if (!p)
		return RDB_R_FORMAT;
	if (*p)
		return RDB_R_COMPRESSED;
	p = at(data, end, size - 4, 4);
	if (!p)
		return RDB_R_FORMAT;
	packed = *(const __u32 *)p;
	nrst = packed & 0x0fffffff;
	/* Hash index, separated values, uniform keys: not walked here. */
	if ((packed >> 28) || !nrst || nrst > MAX_RESTARTS ||
	    nrst * 4 + 4 > size)
		return RDB_R_FORMAT;
	q->nrst = nrst;
	q->rst = size - 4 - nrst * 4;
	q->limit = q->rst;
	if (q->state == RDB_ST_INDEX || q->state == RDB_ST_PARTITION) {
		kind = K_INDEX;
		if (flags & RDB_F_INTERNAL_SEP)
			kind |= K_IKEY;
		if (flags & RDB_F_INDEX_VALUE_DELTA)
			kind |= K_DELTA;
		else
			kind |= K_VLEN;
	} else {
		kind = K_IKEY | K_VLEN;
	}
	q->kind = kind;
	return 0;
}

SEC("rnvme")
int rocksdb(struct rnvme_md *ctx)
{
	struct rdb_query *q = RNVME_SCRATCH(ctx);
	const __u8 *data = RNVME_DATA(ctx);
	const void *end = RNVME_DATA_END(ctx);
	__u32 len = ctx->len, cur;
	struct rdb_file *f;
	int r;

	if (ctx->hop == 0 && start(q))
		return RNVME_ABORT;
	q->reads++;
	cur = q->cur;
	OPAQUE(cur);
	if (cur >= RDB_FILES_MAX || cur >= q->nfiles)
		return RNVME_ABORT;
	f = &q->files[IDX(cur, RDB_FILES_MAX)];
	if (ctx->file != f->file)
		return RNVME_ABORT;
	f->done = 1;
	q->block_off = ctx->file_offset;
	q->block_size = len - RDB_TRAILER;
	if (len > REACH)
		return handback(q, RDB_R_BIG_BLOCK);
	if (len < RDB_TRAILER + 4)
		return handback(q, RDB_R_FORMAT);
	r = layout(q, data, end, len, f->flags);
	if (r)
		return handback(q, r);
	if (search(q, data, end))
		return handback(q, RDB_R_FORMAT);
	r = scan(q, data, end);
	if (r == S_ERR)
		return handback(q, RDB_R_FORMAT);
	RELOAD();
	if (q->kind & K_INDEX)
		return from_index(ctx, q, f, r);
	return from_data(ctx, q, f, data, end, r);
}

char LICENSE[] SEC("license") = "GPL";
