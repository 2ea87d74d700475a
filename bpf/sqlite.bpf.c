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

/*
 * Eight bytes at p, which may be unaligned: x86 and the verifier (without
 * BPF_F_STRICT_ALIGNMENT) allow it. Through a void pointer, so that clang
 * does not split the access into bytes where it knows of no alignment.
 */
static __always_inline __u64 load64(const void *p)
{
	return *(const __u64 *)p;
}

static __always_inline void store64(void *p, __u64 v)
{
	*(__u64 *)p = v;
}

static __always_inline int finish(struct sql_query *q, __u32 status,
				  __u32 reason)
{
	q->status = status;
	q->reason = reason;
	return RNVME_DONE;
}

/*
 * A read past the window, or past the verifier's reach. Only a 64 KiB page
 * has bytes out of reach, and user space can read them: hand back there.
 */
static __always_inline int unreadable(struct sql_query *q)
{
	if (q->page_size == SQL_PAGE_MAX)
		return finish(q, SQL_HANDBACK, SQL_R_REACH);
	return finish(q, SQL_CORRUPT, SQL_R_CELL);
}

/* The byte at offset off of the page, or -1 past the window or reach. */
static __always_inline int byte_at(const __u8 *data, const void *end,
				   __u64 off)
{
	const __u8 *p;

	PIN(off);
	if (off > REACH)
		return -1;
	p = data + off;
	if ((const void *)(p + 1) > end)
		return -1;
	return *p;
}

/* The big-endian u16 at off into *v; 0, or -1 past the window or reach. */
static __always_inline int be16_at(const __u8 *data, const void *end,
				   __u64 off, __u32 *v)
{
	const __u8 *p;

	PIN(off);
	if (off > REACH - 1)
		return -1;
	p = data + off;
	if ((const void *)(p + 2) > end)
		return -1;
	*v = (__u32)p[0] << 8 | p[1];
	return 0;
}

/* The big-endian u32 at off into *v; 0, or -1 past the window or reach. */
static __always_inline int be32_at(const __u8 *data, const void *end,
				   __u64 off, __u32 *v)
{
	const __u8 *p;

	PIN(off);
	if (off > REACH - 3)
		return -1;
	p = data + off;
	if ((const void *)(p + 4) > end)
		return -1;
	*v = (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
	return 0;
}

/*
 * The varint at off (1 to 9 bytes, big-endian, 7 bits a byte but 8 in the
 * ninth) into q->v and its length into q->vn; -1 past the window or reach.
 * off goes through the scratch first: the bounds checks of each byte would
 * otherwise narrow the caller's register differently on each way out.
 */
static __always_inline int varint(const __u8 *data, const void *end,
				  struct sql_query *q, __u32 off)
{
	__u64 v = 0;
	int i, b;

	q->at = off;
	RELOAD();
	off = q->at;
#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++) {
		b = byte_at(data, end, off + i);
		if (b < 0)
			return -1;
		v = v << 7 | (b & 0x7f);
		if (b < 0x80) {
			q->v = v;
			q->vn = i + 1;
			return 0;
		}
	}
	b = byte_at(data, end, off + 8);
	if (b < 0)
		return -1;
	q->v = v << 8 | b;
	q->vn = 9;
	return 0;
}

/*
 * A varint of a record header that fits in a page (a header size or a
 * serial type, < 2^21): 3 bytes at most, a longer one reads as ~0.
 */
static __always_inline int short_varint(const __u8 *data, const void *end,
					struct sql_query *q, __u32 off)
{
	__u64 v = 0;
	int i, b;

	q->at = off;
	RELOAD();
	off = q->at;
#pragma clang loop unroll(full)
	for (i = 0; i < 3; i++) {
		b = byte_at(data, end, off + i);
		if (b < 0)
			return -1;
		v = v << 7 | (b & 0x7f);
		if (b < 0x80) {
			q->v = v;
			q->vn = i + 1;
			return 0;
		}
	}
	q->v = ~0ULL;
	q->vn = 3;
	return 0;
}

/*
 * The big-endian two's complement integer of size (1..8) bytes at off into
 * q->v; -1 past the window or reach.
 */
static __always_inline int be_int(const __u8 *data, const void *end,
				  struct sql_query *q, __u32 off, __u32 size)
{
	__u64 v = 0;
	__u32 shift;
	int i, b;

	for (i = 0; i < 8; i++) {
		if (i >= size)
			break;
		b = byte_at(data, end, off + i);
		if (b < 0)
			return -1;
		v = v << 8 | b;
	}
	shift = 64 - 8 * (size & 7 ? size & 7 : 8);
	q->v = (__u64)((__s64)(v << shift) >> shift);
	return 0;
}

/* Bytes of an integer of serial type 1..6. */
static __always_inline __u32 int_size(__u64 t)
{
	if (t <= 4)
		return t;
	return t == 5 ? 6 : 8;
}

/*
 * Bytes of a payload of size p kept in its cell, max at most (btree.c:
 * maxLocal for index pages, maxLeaf for table leaves; minLocal).
 */
static __always_inline __u32 local_size(__u32 usable, __u32 p, __u32 max)
{
	__u32 min = (usable - 12) * 32 / 255 - 23, k;

	if (p <= max)
		return p;
	k = min + (p - min) % (usable - 4);
	return k <= max ? k : min;
}

static __always_inline __u32 index_local(__u32 usable, __u32 p)
{
	return local_size(usable, p, (usable - 12) * 64 / 255 - 23);
}

static __always_inline __u32 table_local(__u32 usable, __u32 p)
{
	return local_size(usable, p, usable - 35);
}

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

/* Compares the text of len bytes at off with the key: q->cmp. */
static __always_inline int text_cmp(const __u8 *data, const void *end,
				    struct sql_query *q, __u32 off, __u32 len)
{
	__u32 klen = q->key_len, n = len < klen ? len : klen;
	__u64 i, at;
	int k, b;

	q->m = n;
	q->toff = off;
	q->tlen = len;
	/* Eight bytes at a time: byte-swapped, they compare as memcmp(). */
	for (k = 0; k < SQL_KEY_MAX / 8; k++) {
		const __u8 *p;
		__u64 x, y;

		i = k * 8;
		if (i + 8 > n)
			break;
		at = off + i;
		PIN(at);
		if (at > REACH - 7)
			return unreadable(q);
		p = data + at;
		if ((const void *)(p + 8) > end)
			return unreadable(q);
		x = __builtin_bswap64(load64(p));
		y = __builtin_bswap64(load64(q->key + i));
		if (x != y) {
			q->cmp = x < y ? -1 : 1;
			return GO;
		}
	}
	/* The last n % 8 bytes. */
	for (k = 0; k < 8; k++) {
		RELOAD();
		n = q->m;
		i = (n & ~7U) + k;
		PIN(i);
		if (i >= n || i >= SQL_KEY_MAX)
			break;
		b = byte_at(data, end, q->toff + i);
		if (b < 0)
			return unreadable(q);
		if (b != q->key[i]) {
			q->cmp = b < q->key[i] ? -1 : 1;
			return GO;
		}
	}
	RELOAD();
	len = q->tlen;
	klen = q->key_len;
	q->cmp = len < klen ? -1 : len > klen;
	return GO;
}

/* Compares a column of serial type t at off with the integer key: q->cmp. */
static __always_inline int int_cmp(const __u8 *data, const void *end,
				   struct sql_query *q, __u64 t, __u32 off)
{
	__u32 size;
	__s64 v;

	if (t == 0) {
		q->cmp = -1;	/* NULL comes first */
		return GO;
	}
	if (t == 7)
		return finish(q, SQL_HANDBACK, SQL_R_REAL);
	if (t >= 12) {
		q->cmp = 1;	/* text and blobs come after numbers */
		return GO;
	}
	if (t >= 10)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	if (t >= 8) {
		v = t - 8;	/* the constants 0 and 1 */
	} else {
		size = int_size(t);
		if (off + size > q->rec + q->rec_len)
			return short_record(q);
		if (be_int(data, end, q, off, size))
			return unreadable(q);
		RELOAD();
		v = q->v;
	}
	q->cmp = v < q->key_int ? -1 : v > q->key_int;
	return GO;
}

/*
 * Compares the first column of the index record in the cell whose payload
 * size is at off with the key: q->cmp. Notes where the record is, q->rec,
 * and how much of it the cell holds, q->rec_len: a record on overflow
 * pages (q->spill) is compared if its cell holds the bytes compared.
 */
static __always_inline int index_cmp(const __u8 *data, const void *end,
				     struct sql_query *q, __u32 off)
{
	__u32 rec, hlen, body, len, n;
	__u64 t;

	if (varint(data, end, q, off))
		return unreadable(q);
	RELOAD();
	if (q->v > PAYLOAD_LIMIT)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	rec = off + q->vn;
	q->rec = rec;
	q->rec_len = index_local(q->usable, q->v);
	q->spill = q->rec_len < q->v;
	if (rec + q->rec_len > q->usable)
		return finish(q, SQL_CORRUPT, SQL_R_CELL);
	/* The record header's size, then the first column's serial type. */
	if (short_varint(data, end, q, rec))
		return unreadable(q);
	RELOAD();
	hlen = q->v;
	if (hlen <= q->vn)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	if (hlen > q->rec_len)
		return short_record(q);
	body = q->rec + hlen;
	q->body = body;
	if (short_varint(data, end, q, q->rec + q->vn))
		return unreadable(q);
	RELOAD();
	t = q->v;
	body = q->body;
	if (q->key_type == SQL_KEY_INT)
		return int_cmp(data, end, q, t, body);
	if (t < 12) {
		if (t == 10 || t == 11)
			return finish(q, SQL_CORRUPT, SQL_R_RECORD);
		q->cmp = -1;	/* NULL and numbers come before text */
		return GO;
	}
	if (!(t & 1)) {
		q->cmp = 1;	/* blobs come after text */
		return GO;
	}
	if (t > SERIAL_LIMIT)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	len = (t - 13) / 2;
	/* The bytes compared: the key's length at most. */
	n = len < q->key_len ? len : q->key_len;
	if (body + n > q->rec + q->rec_len ||
	    (!q->spill && body + len > q->rec + q->rec_len))
		return short_record(q);
	return text_cmp(data, end, q, body, len);
}

/* The rowid of the index record at q->rec (its last column) into q->row. */
static __always_inline int index_rowid(const __u8 *data, const void *end,
				       struct sql_query *q)
{
	__u32 pos, size;
	__u64 t;
	int c;

	if (q->spill)
		return finish(q, SQL_HANDBACK, SQL_R_SPILL);
	if (short_varint(data, end, q, q->rec))
		return unreadable(q);
	RELOAD();
	if (q->v <= q->vn || q->v > q->rec_len)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	q->hpos = q->rec + q->vn;
	q->hend = q->rec + q->v;
	q->body = q->hend;
	for (c = 0; c < SQL_INDEX_COLS; c++) {
		RELOAD();
		if (short_varint(data, end, q, q->hpos))
			return unreadable(q);
		RELOAD();
		t = q->v;
		pos = q->hpos + q->vn;
		if (pos > q->hend || t > SERIAL_LIMIT || t == 10 || t == 11)
			return finish(q, SQL_CORRUPT, SQL_R_RECORD);
		if (pos == q->hend)
			goto last;
		q->hpos = pos;
		if (t >= 12)
			size = (t - 12) / 2;
		else if (t >= 8)
			size = 0;
		else if (t == 7)
			size = 8;
		else
			size = int_size(t);
		q->body += size;
	}
	return finish(q, SQL_HANDBACK, SQL_R_WIDE);
last:
	/* The rowid: an integer, t was checked above to be < 10. */
	if (t == 0 || t == 7)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	if (t >= 8) {
		q->row = t - 8;
		return GO;
	}
	size = int_size(t);
	if (q->body + size > q->rec + q->rec_len)
		return finish(q, SQL_CORRUPT, SQL_R_RECORD);
	if (be_int(data, end, q, q->body, size))
		return unreadable(q);
	RELOAD();
	q->row = q->v;
	return GO;
}

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
