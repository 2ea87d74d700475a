/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Part of sqlite.bpf.c (included once, in order): comparing an index
 * record's first column with the key (text: BINARY collation; integers)
 * and reading the rowid at the end of an index record.
 */
#ifndef RNVME_BPF_SQLITE_COMPARE_H
#define RNVME_BPF_SQLITE_COMPARE_H

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

#endif
