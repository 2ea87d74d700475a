/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Record files read by scan.bpf.c and written by the rnvme library
 * (userspace/src/format/records.rs): blocks of a fixed size, each a header
 * and up to (block size - 16) / 16 records. Little-endian.
 */
#ifndef RECORDS_FORMAT_H
#define RECORDS_FORMAT_H

#include <linux/types.h>

#define REC_BLOCK_MAGIC	0x42434552	/* "RECB" */
#define REC_MAX_PER_BLOCK	255

struct rec_block {
	__u32 magic;
	__u32 count;		/* records in this block */
	__u64 reserved;
};

struct rec {
	__u64 key;
	__u64 value;
};

/* The scratch of a scan: the predicate in, the aggregate out. */
struct scan_query {
	__u64 lo;		/* in: keys lo..=hi match */
	__u64 hi;
	__u64 end;		/* in: file offset where the scan stops */
	__u64 count;		/* out: matching records */
	__u64 sum;		/* out: sum of their values */
	__u64 min;		/* out: smallest matching value (valid if count) */
	__u64 max;		/* out: largest */
	__u64 blocks;		/* out: blocks scanned */
};

#endif /* RECORDS_FORMAT_H */
