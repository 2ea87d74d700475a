/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Part of sqlite.bpf.c (included once, in order): loads of big-endian
 * integers and varints from a page, bounded by the packet's end, the
 * step's exits (finish, unreadable), and the sizes SQLite's format derives
 * from a serial type or a payload.
 */
#ifndef RNVME_BPF_SQLITE_BYTES_H
#define RNVME_BPF_SQLITE_BYTES_H

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

#endif
