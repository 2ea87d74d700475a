/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Part of rocksdb.bpf.c (included once, in order): bounded byte access to
 * the window, varints, and comparing keys with the one looked for (8-byte
 * chunks of the scratch, then the tail), copying a key into the scratch.
 */
#ifndef RNVME_BPF_ROCKSDB_KEYS_H
#define RNVME_BPF_ROCKSDB_KEYS_H

/* n (a constant) bytes at off of the block, or NULL. */
static __always_inline const __u8 *at(const __u8 *data, const void *end,
				      __u64 off, __u32 n)
{
	const __u8 *p;

	OPAQUE(off);
	if (off >= REACH)
		return 0;
	p = data + off;
	if ((const void *)(p + n) > end)
		return 0;
	return p;
}

/*
 * The varint of at most max bytes at q->vpos, below q->limit, into *dst;
 * q->vpos moves past it.
 */
static __always_inline int varint(struct rdb_query *q, const __u8 *data,
				  const void *end, int max, __u64 *dst)
{
	__u32 o, lim;
	__u64 v = 0;
	int i;

	RELOAD();
	o = q->vpos & 0xffff;
	lim = q->limit;
	for (i = 0; i < max; i++) {
		const __u8 *p;

		if (o + i >= lim)
			return -1;
		p = at(data, end, o + i, 1);
		if (!p)
			return -1;
		v |= (__u64)(*p & 0x7f) << (7 * i);
		if (!(*p & 0x80)) {
			*dst = v;
			q->vpos = o + i + 1;
			RELOAD();
			return 0;
		}
	}
	return -1;
}

/* The order of keys of lengths n and blen whose first min(n, blen) are equal. */
static __always_inline int cmp_len(__u32 n, __u32 blen)
{
	if (n == blen)
		return 0;
	return n < blen ? -1 : 1;
}

/*
 * The first n bytes of scratch key a against (b, blen), as memcmp with
 * the shorter key first: whole 8-byte chunks in the loop, the last 0 to 7
 * bytes after it. The loop's exits all reach the tail with the same state
 * (the chunk offset goes through the scratch), so it is walked once.
 */
static __always_inline int cmp_scratch(struct rdb_query *q, const __u8 *a,
				       __u32 n, const __u8 *b, __u32 blen)
{
	__u32 m = n < blen ? n : blen, i, rem;
	__u64 x, y;

	for (i = 0; i < RDB_KEY_MAX; i += 8) {
		if (i + 8 > m)
			break;
		x = *(const __u64 *)(a + i);
		y = *(const __u64 *)(b + i);
		if (x != y)
			goto differ;
	}
	q->t_a = i;
	RELOAD();
	i = q->t_a & 0x1f8;
	rem = m - i;
	if (rem && rem < 8) {
		x = *(const __u64 *)(a + i);
		y = *(const __u64 *)(b + i);
		x = __builtin_bswap64(x) >> ((8 - rem) * 8);
		y = __builtin_bswap64(y) >> ((8 - rem) * 8);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return cmp_len(n, blen);
differ:
	x = __builtin_bswap64(x);
	y = __builtin_bswap64(y);
	return x < y ? -1 : 1;
}

/*
 * Copies the n key bytes at src of the block to cur_key at dst, 8 at a
 * time, as far as KEY_BUF (a longer key is compared by its first
 * RDB_KEY_MAX bytes, and handed back if it is the answer).
 */
static __always_inline int copy_key(struct rdb_query *q, const __u8 *data,
				    const void *end, __u32 src, __u32 dst,
				    __u32 n)
{
	__u32 i;

	for (i = 0; i < KEY_BUF; i += 8) {
		const __u8 *p;
		__u32 d = dst + i;

		if (i >= n || d >= KEY_BUF)
			break;
		p = at(data, end, (__u64)src + i, 8);
		if (!p)
			return -1;
		*(__u64 *)(q->cur_key + IDX(d, 512)) = *(const __u64 *)p;
	}
	return 0;
}

#endif
