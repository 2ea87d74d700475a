/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Part of rocksdb.bpf.c (included once, in order): a block's restart
 * points and the binary search over them, block handles (full and
 * delta-encoded), and the linear scan of one restart interval.
 */
#ifndef RNVME_BPF_ROCKSDB_BLOCK_H
#define RNVME_BPF_ROCKSDB_BLOCK_H

/* The offset of restart point idx into *out. */
static __always_inline int restart_at(struct rdb_query *q, const __u8 *data,
				      const void *end, __u32 idx, __u32 *out)
{
	const __u8 *p;
	__u32 o;

	if (idx >= MAX_RESTARTS)
		return -1;
	p = at(data, end, (__u64)(q->rst & 0xffff) + idx * 4, 4);
	if (!p)
		return -1;
	o = *(const __u32 *)p;
	if (o >= q->limit)
		return -1;
	*out = o;
	return 0;
}

/* The user key of restart entry idx against the target. */
static __always_inline int cmp_restart(struct rdb_query *q, const __u8 *data,
				       const void *end, __u32 idx)
{
	__u64 n;

	if (restart_at(q, data, end, idx, &q->vpos))
		return CMP_ERR;
	if (varint(q, data, end, 5, &q->t_shared) || q->t_shared ||
	    varint(q, data, end, 5, &q->t_ns))
		return CMP_ERR;
	if ((q->kind & K_VLEN) && varint(q, data, end, 5, &q->t_vl))
		return CMP_ERR;
	RELOAD();
	n = q->t_ns;
	if (q->kind & K_IKEY) {
		if (n < RDB_INTERNAL_BYTES)
			return CMP_ERR;
		n -= RDB_INTERNAL_BYTES;
	}
	if (n > REACH)
		return CMP_ERR;
	if (copy_key(q, data, end, q->vpos & 0xffff, 0, n))
		return CMP_ERR;
	RELOAD();
	return cmp_scratch(q, q->cur_key, n, q->key, q->key_len & 0x1ff);
}

/* Into q->lo: the first restart point whose key is >= target (nrst if none). */
static __always_inline int search(struct rdb_query *q, const __u8 *data,
				  const void *end)
{
	int it, c;

	q->lo = 0;
	q->hi = q->nrst;
	for (it = 0; it < RDB_SEARCH_STEPS; it++) {
		__u32 lo, hi, mid;

		RELOAD();
		lo = q->lo;
		hi = q->hi;
		if (lo >= hi)
			break;
		mid = lo + (hi - lo) / 2;
		c = cmp_restart(q, data, end, mid);
		if (c == CMP_ERR)
			return -1;
		if (c < 0)
			q->lo = mid + 1;
		else
			q->hi = mid;
	}
	RELOAD();
	return q->lo < q->hi ? -1 : 0;
}

/* Zigzag-decoded signed varint (index size deltas). */
static __always_inline __u64 unzigzag(__u64 v)
{
	return (v >> 1) ^ -(v & 1);
}

/*
 * The block handle of the index entry whose value starts at q->vpos, into
 * q->ho, q->hs: in full, or (delta encoding, in an entry that shares key
 * bytes with the one before) as the size change from the previous
 * entry's handle, the offset following from it.
 */
static __always_inline int handle(struct rdb_query *q, const __u8 *data,
				  const void *end)
{
	if (!(q->kind & K_DELTA) || !q->t_shared)
		return varint(q, data, end, 10, &q->ho) ||
		       varint(q, data, end, 10, &q->hs);
	if (varint(q, data, end, 10, &q->t_a))
		return -1;
	RELOAD();
	q->ho = q->ho + q->hs + RDB_TRAILER;
	q->hs = q->hs + unzigzag(q->t_a);
	return 0;
}

/*
 * Parses the entry at q->pos: 0 to go on with the next, 1 when the scan
 * ends (q->sres says how).
 */
static __always_inline int scan_entry(struct rdb_query *q, const __u8 *data,
				      const void *end)
{
	__u32 pos, vstart, klen, ulen;
	int c;

	RELOAD();
	pos = q->pos & 0xffff;
	if (pos >= q->limit)
		return 1;
	q->vpos = pos;
	q->t_vl = 0;
	if (varint(q, data, end, 5, &q->t_shared) ||
	    varint(q, data, end, 5, &q->t_ns) ||
	    ((q->kind & K_VLEN) && varint(q, data, end, 5, &q->t_vl)))
		goto bad;
	RELOAD();
	if (q->t_shared > q->klen || q->t_ns > REACH || q->t_vl > REACH)
		goto bad;
	vstart = (q->vpos & 0xffff) + (__u32)q->t_ns;
	if (vstart + (__u32)q->t_vl > q->limit)
		goto bad;
	if (q->sres == S_NONE &&
	    copy_key(q, data, end, q->vpos & 0xffff, q->t_shared, q->t_ns))
		goto bad;
	RELOAD();
	klen = q->t_shared + q->t_ns;
	q->klen = klen;
	q->vpos = vstart;
	if ((q->kind & K_INDEX) && handle(q, data, end))
		goto bad;
	RELOAD();
	if (q->sres == S_FOUND) {
		/* The entry after the found one (index): its handle only. */
		q->nx_off = q->ho;
		q->nx_size = q->hs;
		q->has_next = 1;
		return 1;
	}
	ulen = klen;
	if (q->kind & K_IKEY) {
		if (klen < RDB_INTERNAL_BYTES)
			goto bad;
		ulen -= RDB_INTERNAL_BYTES;
	}
	c = cmp_scratch(q, q->cur_key, ulen, q->key, q->key_len & 0x1ff);
	RELOAD();
	/* Data entries end at their value; index ones after their handle. */
	q->pos = (q->kind & K_VLEN) ? vstart + (__u32)q->t_vl : q->vpos;
	if (c < 0)
		return 0;
	q->sres = S_FOUND;
	q->s_cmp = c;
	q->s_voff = vstart;
	q->s_vlen = q->t_vl;
	q->h_off = q->ho;
	q->h_size = q->hs;
	q->has_next = 0;
	return !(q->kind & K_INDEX);
bad:
	q->sres = S_ERR;
	return 1;
}

/* Scans from the restart point before q->lo: S_NONE, S_FOUND or S_ERR. */
static __always_inline int scan(struct rdb_query *q, const __u8 *data,
				const void *end)
{
	__u32 from;
	int n;

	RELOAD();
	from = q->lo ? q->lo - 1 : 0;
	if (restart_at(q, data, end, from, &q->pos))
		return S_ERR;
	q->klen = 0;
	q->sres = S_NONE;
	/* One restart interval and the entry after it, at most. */
	for (n = 0; n < RDB_SCAN_MAX + 2; n++) {
		if (n == RDB_SCAN_MAX + 1) {
			q->sres = S_ERR;
			break;
		}
		if (scan_entry(q, data, end))
			break;
	}
	RELOAD();
	return q->sres;
}

#endif
