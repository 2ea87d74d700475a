/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Part of sqlite.bpf.c (included once, in order): asking for the next
 * page, the database header's checks, a B-tree page's header, its cell
 * pointers, child pointers and table keys.
 */
#ifndef RNVME_BPF_SQLITE_PAGE_H
#define RNVME_BPF_SQLITE_PAGE_H

/*
 * An index record ends before what is needed: on overflow pages, which
 * user space reads, or nowhere.
 */
static __always_inline int short_record(struct sql_query *q)
{
	if (q->spill)
		return finish(q, SQL_HANDBACK, SQL_R_SPILL);
	return finish(q, SQL_CORRUPT, SQL_R_RECORD);
}

/* Asks for page `page` next, as `state`. */
static __always_inline int read_page(struct rnvme_md *ctx,
				     struct sql_query *q, __u32 state,
				     __u32 page)
{
	__u32 size = q->page_size;

	if (page == 0 || page > q->db_pages)
		return finish(q, SQL_CORRUPT, SQL_R_CHILD);
	q->state = state;
	q->page = page;
	ctx->next_offset = (__u64)(page - 1) * size;
	ctx->next_len = size;
	return RNVME_NEXT;
}

/* Checks the inputs and starts the lookup; 0 if the inputs are bad. */
static __always_inline int start(struct sql_query *q)
{
	__u32 size = q->page_size, usable = q->usable;

	if (size < SQL_PAGE_MIN || size > SQL_PAGE_MAX ||
	    (size & (size - 1)) || usable < SQL_USABLE_MIN || usable > size ||
	    q->db_pages == 0 || q->key_len > SQL_KEY_MAX)
		return 0;
	q->status = SQL_RUNNING;
	q->reason = 0;
	q->reads = 0;
	q->depth = 0;
	q->have_row = 0;
	q->payload_size = 0;
	q->local = 0;
	q->leaf_page = 0;
	q->payload_off = 0;
	q->copied = 0;
	q->ovfl_page = 0;
	if (q->op == SQL_GET) {
		q->state = SQL_ST_TABLE;
		q->page = q->table_root;
		q->row = q->rowid;
		return 1;
	}
	if (q->op != SQL_FIND ||
	    (q->key_type != SQL_KEY_INT && q->key_type != SQL_KEY_TEXT))
		return 0;
	q->state = SQL_ST_INDEX;
	q->page = q->index_root;
	q->row = 0;
	return 1;
}

/*
 * Checks the B-tree page's header (an index page, or a table page) and
 * notes its shape in the scratch.
 */
static __always_inline int page_header(const __u8 *data, const void *end,
				       struct sql_query *q, int index)
{
	__u32 hdr = q->page == 1 ? SQL_FILE_HEADER : 0, n, right = 0, ptrs;
	int type, leaf;

	type = byte_at(data, end, hdr);
	if (type < 0 || be16_at(data, end, hdr + 3, &n))
		return unreadable(q);
	if (index ? type != 0x02 && type != 0x0a : type != 0x05 && type != 0x0d)
		return finish(q, SQL_CORRUPT, SQL_R_PAGE_TYPE);
	leaf = type & 0x08;
	if (!leaf && be32_at(data, end, hdr + 8, &right))
		return unreadable(q);
	ptrs = hdr + (leaf ? 8 : 12);
	if (ptrs + 2 * n > q->usable)
		return finish(q, SQL_CORRUPT, SQL_R_CELL);
	if (++q->depth > SQL_DEPTH_MAX)
		return finish(q, SQL_CORRUPT, SQL_R_DEPTH);
	q->leaf = !!leaf;
	q->ncells = n;
	q->ptrs = ptrs;
	q->right = right;
	q->skip = leaf ? 0 : 4;
	q->lo = 0;
	q->hi = n;
	return GO;
}

/* The offset of cell i of the page into *c. */
static __always_inline int cell_at(const __u8 *data, const void *end,
				   struct sql_query *q, __u32 i, __u32 *c)
{
	__u32 first = q->ptrs + 2 * q->ncells;

	if (be16_at(data, end, q->ptrs + 2 * (i & 0x7fff), c))
		return unreadable(q);
	if (*c < first || *c > q->usable - 4)
		return finish(q, SQL_CORRUPT, SQL_R_CELL);
	return GO;
}

/*
 * The binary search is over: q->lo is the first cell whose key is >= the
 * one looked for (ncells if none). The child to read next, into *child.
 */
static __always_inline int child_at(const __u8 *data, const void *end,
				    struct sql_query *q, __u32 *child)
{
	__u32 lo = q->lo, c;
	int ret;

	if (lo < q->hi)
		return finish(q, SQL_CORRUPT, SQL_R_CELL);
	if (lo >= q->ncells) {
		*child = q->right;
		return GO;
	}
	ret = cell_at(data, end, q, lo, &c);
	if (ret != GO)
		return ret;
	if (be32_at(data, end, c, child))
		return unreadable(q);
	return GO;
}

/* The key of table cell c (its rowid) into q->v. */
static __always_inline int table_key(const __u8 *data, const void *end,
				     struct sql_query *q, __u32 c)
{
	if (q->leaf) {
		/* The payload size comes first. */
		if (varint(data, end, q, c))
			return -1;
		RELOAD();
		c += q->vn;
	} else {
		c += 4;
	}
	return varint(data, end, q, c);
}

#endif
