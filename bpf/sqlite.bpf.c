// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sqlite: a row of a SQLite database by rowid, or by the first column of
 * an index, as one chain over the database file (the protocol is in
 * include/sqlite_format.h).
 *
 * Every read is one page. A B-tree page is searched with a binary search
 * of its cell pointer array for the first cell whose key is >= the one
 * looked for; an interior page names the child to read next, a table leaf
 * holds the row, whose record is then copied into the scratch, overflow
 * page after overflow page.
 *
 * Keeping the verifier's walk small (as rocksdb.bpf.c does): what one step
 * computes along several paths (a varint's value and length, a
 * comparison's result, the bounds of the search) is stored to the
 * scratch's private fields and loaded back after RELOAD(), so the verifier
 * sees bounded unknowns instead of one value per path, and the paths of a
 * step meet again in one state before the next step.
 */
#include "rnvme_bpf.h"
#include "sqlite_format.h"

/* Load scratch fields again after this point (see above). */
#define RELOAD()	asm volatile("" ::: "memory")
/*
 * Keep x in one register from here on: clang must not check a copy of an
 * offset and add another to a pointer, which the verifier cannot relate.
 */
#define PIN(x)		asm volatile("" : "+r"(x))

/*
 * The furthest byte of a page read here. The verifier caps a packet
 * offset at 0xffff, counting the access's size: a 64 KiB page's last byte
 * is out of reach, and an 8-byte load must start at REACH - 7 at most.
 */
#define REACH		0xfffe

/* What a step returns besides a verdict: go on with the next step. */
#define GO		-1
/* The step found record bytes to copy: q->src, q->want, q->region. */
#define COPY		-2

/* The largest payload SQLite writes (2^31 - 1). */
#define PAYLOAD_LIMIT	0x7fffffffULL
/* The largest serial type of a column that fits in one page. */
#define SERIAL_LIMIT	(2 * SQL_PAGE_MAX + 13)

#include "sqlite/bytes.h"
#include "sqlite/page.h"
#include "sqlite/compare.h"

/*
 * A page of the index: descend into the child of the first entry whose
 * first column is >= the key, noting its rowid if it is == the key; on a
 * leaf, go on with the table.
 */
static __always_inline int index_page(struct rnvme_md *ctx, const __u8 *data,
				      const void *end, struct sql_query *q)
{
	__u32 lo, mid, c, child;
	int it, ret;

	ret = page_header(data, end, q, 1);
	if (ret != GO)
		return ret;
	for (it = 0; it < SQL_SEARCH_STEPS; it++) {
		RELOAD();
		lo = q->lo;
		if (lo >= q->hi)
			break;
		mid = (lo + q->hi) / 2;
		ret = cell_at(data, end, q, mid, &c);
		if (ret != GO)
			return ret;
		ret = index_cmp(data, end, q, c + q->skip);
		if (ret != GO)
			return ret;
		RELOAD();
		if (q->cmp < 0)
			q->lo = mid + 1;
		else
			q->hi = mid;
	}
	RELOAD();
	lo = q->lo;
	if (lo < q->hi)
		return finish(q, SQL_CORRUPT, SQL_R_CELL);
	if (lo < q->ncells) {
		ret = cell_at(data, end, q, lo, &c);
		if (ret != GO)
			return ret;
		ret = index_cmp(data, end, q, c + q->skip);
		if (ret != GO)
			return ret;
		RELOAD();
		if (q->cmp == 0) {
			/* The first entry == key so far: remember its rowid. */
			ret = index_rowid(data, end, q);
			if (ret != GO)
				return ret;
			q->have_row = 1;
		}
	}
	RELOAD();
	if (!q->leaf) {
		ret = child_at(data, end, q, &child);
		if (ret != GO)
			return ret;
		return read_page(ctx, q, SQL_ST_INDEX, child);
	}
	if (!q->have_row)
		return finish(q, SQL_NOT_FOUND, 0);
	q->depth = 0;
	return read_page(ctx, q, SQL_ST_TABLE, q->table_root);
}

/* The table leaf cell c holds the row: note its record, copy it. */
static __always_inline int table_row(const __u8 *data, const void *end,
				     struct sql_query *q, __u32 c)
{
	__u32 size, local, off, next;

	if (varint(data, end, q, c))
		return unreadable(q);
	RELOAD();
	if (q->v > PAYLOAD_LIMIT)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	q->payload_size = q->v;
	q->payload_off = c + q->vn;
	if (varint(data, end, q, q->payload_off))
		return unreadable(q);
	RELOAD();
	if ((__s64)q->v != q->row) {
		if (q->op == SQL_FIND)
			return finish(q, SQL_CORRUPT, SQL_R_NO_ROW);
		return finish(q, SQL_NOT_FOUND, 0);
	}
	off = q->payload_off + q->vn;
	size = q->payload_size;
	local = table_local(q->usable, size);
	if (off + local > q->usable)
		return finish(q, SQL_CORRUPT, SQL_R_CELL);
	q->payload_off = off;
	q->local = local;
	q->leaf_page = q->page;
	q->src = off;
	q->want = local < SQL_PAYLOAD_MAX ? local : SQL_PAYLOAD_MAX;
	q->region = local;
	q->ovfl_next = 0;
	q->stop = 0;
	if (size > local) {
		/* The first overflow page follows the local part. */
		if (be32_at(data, end, off + local, &next))
			q->stop = 1;	/* out of reach: user space reads it */
		else
			q->ovfl_next = next;
	}
	return COPY;
}

/* A page of the table: descend, or find the row on a leaf. */
static __always_inline int table_page(struct rnvme_md *ctx, const __u8 *data,
				      const void *end, struct sql_query *q)
{
	__u32 lo, mid, c, child;
	int it, ret;

	ret = page_header(data, end, q, 0);
	if (ret != GO)
		return ret;
	for (it = 0; it < SQL_SEARCH_STEPS; it++) {
		RELOAD();
		lo = q->lo;
		if (lo >= q->hi)
			break;
		mid = (lo + q->hi) / 2;
		ret = cell_at(data, end, q, mid, &c);
		if (ret != GO)
			return ret;
		if (table_key(data, end, q, c))
			return unreadable(q);
		RELOAD();
		if ((__s64)q->v < q->row)
			q->lo = mid + 1;
		else
			q->hi = mid;
	}
	RELOAD();
	if (!q->leaf) {
		ret = child_at(data, end, q, &child);
		if (ret != GO)
			return ret;
		return read_page(ctx, q, SQL_ST_TABLE, child);
	}
	lo = q->lo;
	if (lo < q->hi)
		return finish(q, SQL_CORRUPT, SQL_R_CELL);
	if (lo >= q->ncells) {
		if (q->op == SQL_FIND)
			return finish(q, SQL_CORRUPT, SQL_R_NO_ROW);
		return finish(q, SQL_NOT_FOUND, 0);
	}
	ret = cell_at(data, end, q, lo, &c);
	if (ret != GO)
		return ret;
	return table_row(data, end, q, c);
}

/* An overflow page of the row's record: a u32 next page, then its part. */
static __always_inline int overflow_page(const __u8 *data, const void *end,
					 struct sql_query *q)
{
	__u32 next, left, n;

	if (be32_at(data, end, 0, &next))
		return unreadable(q);
	left = q->payload_size - q->copied;
	n = q->usable - 4;
	if (n > left)
		n = left;
	q->region = n;
	if (n > SQL_PAYLOAD_MAX - q->copied)
		n = SQL_PAYLOAD_MAX - q->copied;
	q->src = 4;
	q->want = n;
	q->ovfl_next = next;
	q->stop = 0;
	return COPY;
}

/*
 * Copies q->want bytes at q->src of the page to payload[q->copied...], 8
 * bytes at a time and then byte by byte, stopping early at the end of the
 * window or of the reach; q->got says how many it copied.
 */
static __always_inline void copy(const __u8 *data, const void *end,
				 struct sql_query *q)
{
	__u32 src = q->src, want = q->want, dst = q->copied, o;
	__u64 d, at;
	int k, b;

	q->got = 0;
	for (k = 0; k < SQL_PAYLOAD_MAX / 8; k++) {
		const __u8 *p;

		o = k * 8;
		at = src + o;
		PIN(at);
		if (o + 8 > want || at > REACH - 7)
			break;
		p = data + at;
		if ((const void *)(p + 8) > end)
			break;
		d = dst + o;
		PIN(d);
		if (d > SQL_PAYLOAD_MAX - 8)
			break;
		store64(q->payload + d, load64(p));
		q->got = o + 8;
	}
	for (k = 0; k < 8; k++) {
		RELOAD();
		o = q->got;
		if (o >= q->want)
			break;
		b = byte_at(data, end, q->src + o);
		if (b < 0)
			break;
		d = q->copied + o;
		PIN(d);
		if (d >= SQL_PAYLOAD_MAX)
			break;
		q->payload[d] = b;
		q->got = o + 1;
	}
	RELOAD();
	q->copied += q->got;
}

/* Copies the record bytes of this page, then reads the next overflow page. */
static __always_inline int copy_step(struct rnvme_md *ctx, const __u8 *data,
				     const void *end, struct sql_query *q)
{
	copy(data, end, q);
	RELOAD();
	q->ovfl_page = 0;
	if (q->copied >= q->payload_size)
		return finish(q, SQL_FOUND, 0);
	if (q->got < q->want || q->stop)
		return finish(q, SQL_FOUND, 0);	/* user space: the leaf on */
	if (q->want < q->region) {
		/* payload[] is full halfway through this page. */
		if (q->state == SQL_ST_OVERFLOW)
			q->ovfl_page = q->page;
		return finish(q, SQL_FOUND, 0);
	}
	if (q->copied >= SQL_PAYLOAD_MAX) {
		q->ovfl_page = q->ovfl_next;
		return finish(q, SQL_FOUND, 0);
	}
	return read_page(ctx, q, SQL_ST_OVERFLOW, q->ovfl_next);
}

SEC("rnvme")
int sqlite(struct rnvme_md *ctx)
{
	struct sql_query *q = RNVME_SCRATCH(ctx);
	const __u8 *data = RNVME_DATA(ctx);
	const void *end = RNVME_DATA_END(ctx);
	int ret;

	if (ctx->hop == 0 && !start(q))
		return RNVME_ABORT;
	RELOAD();
	if (q->page == 0 || ctx->len != q->page_size ||
	    ctx->file_offset != (__u64)(q->page - 1) * q->page_size)
		return RNVME_ABORT;
	/*
	 * Every page has SQL_PAGE_MIN bytes. Proving it here gives data the
	 * same proven range on every path (the fixed offsets read below are
	 * all smaller), so that the verifier's paths meet again.
	 */
	if ((const void *)(data + SQL_PAGE_MIN) > end)
		return RNVME_ABORT;
	q->reads++;
	switch (q->state) {
	case SQL_ST_INDEX:
		ret = index_page(ctx, data, end, q);
		break;
	case SQL_ST_TABLE:
		ret = table_page(ctx, data, end, q);
		break;
	case SQL_ST_OVERFLOW:
		ret = overflow_page(data, end, q);
		break;
	default:
		return RNVME_ABORT;
	}
	if (ret != COPY)
		return ret;
	return copy_step(ctx, data, end, q);
}

char LICENSE[] SEC("license") = "GPL";
