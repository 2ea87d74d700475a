/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The scratch of rocksdb.bpf.c: a point get or a seek over RocksDB
 * block-based tables (SST files) as the RocksDB library writes them, one
 * chain across the files of an LSM tree.
 *
 * User space (the rnvme library, userspace/src/engines/rocksdb/) opens the
 * DB once: it reads CURRENT and the MANIFEST for the live files, their
 * levels and key ranges, and each file's footer (and, in format_version 6
 * and later, its metaindex) for the index block's handle. Per lookup it
 * lists, in the order RocksDB consults them, the files whose key range may
 * hold the key (L0 newest first, then one file per level), puts them in
 * files[] and starts the chain at the first file's index block.
 *
 * Per file the function reads the index block (then, for a two-level
 * index, the partition it names) and the data block, each block with its
 * 5-byte trailer, so it sees the compression type. In the data block it
 * finds the first entry whose user key is >= key (restart-array binary
 * search, then the scan of one restart interval). A get stops at the first
 * file holding the key, with its newest version there; a seek keeps the
 * smallest user key >= key over all files (the newest version of it: the
 * first file in order holding it), and stops early on an exact match.
 *
 * Anything the function does not walk ends the chain with RDB_HANDBACK,
 * `reason` saying why and `cur` the file: a compressed block, a block
 * larger than RNVME_MAX_WINDOW - 5, a key longer than RDB_KEY_MAX, an
 * entry type other than value/deletion, a malformed block. User space then
 * finishes that lookup itself with the file's bytes. A corrupted block can
 * make the function return RNVME_ABORT (the chain fails with ECANCELED) or
 * RDB_HANDBACK; neither shows bytes of another file.
 *
 * All integers are host (little-endian) order. Keys compare bytewise
 * (RocksDB's default BytewiseComparator); other comparators are refused by
 * user space.
 */
#ifndef ROCKSDB_FORMAT_H
#define ROCKSDB_FORMAT_H

#include <linux/types.h>

/* The 5-byte block trailer: compression type, then a 32-bit checksum. */
#define RDB_TRAILER		5
/* User-key bytes the function compares and copies; longer: user space. */
#define RDB_KEY_MAX		256
/* Internal key = user key || fixed64(seq << 8 | type). */
#define RDB_INTERNAL_BYTES	8
/* Candidate files one chain consults. */
#define RDB_FILES_MAX		32
/* Value bytes copied into the scratch; longer values: value_off/len. */
#define RDB_VALUE_MAX		2048
/* Restart-array binary search steps (2^15 > the restarts of a 64 KiB block). */
#define RDB_SEARCH_STEPS	15
/*
 * Entries one block scan parses at most: a restart interval of 16
 * (RocksDB's default) and the entry after it. A block with longer
 * intervals is handed back (RDB_R_FORMAT); the bound keeps the verifier's
 * walk of the function under the bound of one run in interrupt context.
 */
#define RDB_SCAN_MAX		16

/* op */
#define RDB_GET			1
#define RDB_SEEK		2

/* rdb_file.flags */
/* Index blocks omit value_length and delta-encode handles (format >= 4). */
#define RDB_F_INDEX_VALUE_DELTA	0x01
/* Two-level index: the index names partitions (index blocks themselves). */
#define RDB_F_PARTITIONED	0x02
/* Index separators are internal keys (index_key_is_user_key == 0). */
#define RDB_F_INTERNAL_SEP	0x04

/* status (whole lookup) */
#define RDB_RUNNING		0	/* private: the chain is still going */
#define RDB_FOUND		1	/* get: the key's value; seek: a key found */
#define RDB_NOT_FOUND		2	/* get: absent or deleted; seek: past the end */
#define RDB_HANDBACK		3	/* user space must finish: see reason, cur */

/* reason, with RDB_HANDBACK */
#define RDB_R_COMPRESSED	1	/* block at block_off is compressed */
#define RDB_R_BIG_BLOCK		2	/* block larger than one window */
#define RDB_R_LONG_KEY		3	/* a key longer than RDB_KEY_MAX */
#define RDB_R_ENTRY_TYPE	4	/* merge, blob index, wide columns... */
#define RDB_R_FORMAT		5	/* a block the function cannot parse */
#define RDB_R_NEXT_BLOCK	6	/* seek: answer may start in a later partition */
#define RDB_R_INDEX_KIND	7	/* index entry delta-encoded across restarts */

/* state: what the block just read is */
#define RDB_ST_INDEX		0	/* the file's index (top-level) block */
#define RDB_ST_PARTITION	1	/* an index partition */
#define RDB_ST_DATA		2	/* a data block */
#define RDB_ST_NEXT_DATA	3	/* seek: the data block after the one searched */

/* Entry types (db/dbformat.h). */
#define RDB_TYPE_DELETION	0x0
#define RDB_TYPE_VALUE		0x1
#define RDB_TYPE_SINGLE_DELETION 0x7

struct rdb_file {
	__u64 index_off;	/* in: file offset of the index block */
	__u32 index_size;	/* in: its size, trailer excluded */
	__u16 file;		/* in: index of the SST in the tag set */
	__u8 flags;		/* in: RDB_F_* */
	__u8 done;		/* out: 1 once the function searched this file */
};

struct rdb_query {
	/* In. */
	__u32 op;		/* RDB_GET or RDB_SEEK */
	__u32 key_len;		/* 0..RDB_KEY_MAX */
	__u32 nfiles;		/* 1..RDB_FILES_MAX */
	__u32 reserved;
	struct rdb_file files[RDB_FILES_MAX];
	__u8 key[RDB_KEY_MAX];

	/* Out. */
	__u32 status;		/* RDB_RUNNING .. RDB_HANDBACK */
	__u32 reason;		/* RDB_R_* with RDB_HANDBACK */
	__u32 cur;		/* files[] index being searched (or that ended it) */
	__u32 state;		/* RDB_ST_* of the next read */
	__u32 reads;		/* blocks read by the chain */
	/* The best entry (get: the key's newest; seek: the smallest >= key). */
	__u32 found_file;	/* files[] index it came from */
	__u32 found_key_len;	/* its user key length */
	__u32 value_len;	/* its value length (all of it) */
	__u64 value_off;	/* file offset of its value */
	__u64 seq;		/* its sequence number */
	__u32 type;		/* its entry type (RDB_TYPE_*) */
	__u32 have;		/* 1 when found_* describe an entry */
	/* With RDB_HANDBACK: the block user space must read (trailer excluded). */
	__u64 block_off;
	__u32 block_size;
	/* Value bytes in value[]: value_len, or 0 if user space must read it. */
	__u32 value_copied;
	/* Private: the next data block's handle when a seek runs off a block. */
	__u32 next_size;
	__u64 next_off;
	/* Private: the function's working state within one block. */
	__u32 lo, hi;		/* restart-array binary search bounds */
	__u32 pos;		/* offset of the entry being parsed */
	__u32 limit;		/* end of the entries (start of the restarts) */
	__u32 klen;		/* length of the key in cur_key (may exceed it) */
	__u32 rst;		/* offset of the restart array */
	__u32 nrst;		/* restart points */
	__u32 kind;		/* how the block's entries are laid out */
	__u32 vpos;		/* where the next varint is parsed */
	__u32 sres;		/* what the scan of the block found */
	__u32 s_cmp;		/* found entry: its key vs the target (0, 1) */
	__u32 s_voff;		/* found entry: its value's offset, length */
	__u32 s_vlen;
	__u32 has_next;		/* index: an entry follows the found one */
	__u64 t_shared, t_ns, t_vl, t_a;	/* varints of the entry parsed */
	__u64 ho, hs;		/* index: the entry's block handle */
	__u64 h_off, h_size;	/* index: the found entry's handle */
	__u64 nx_off, nx_size;	/* index: the next entry's handle */
	__u8 found_key[RDB_KEY_MAX];	/* its user key (first found_key_len) */
	/* Private: the key being rebuilt (8 bytes of slack for 8-byte copies). */
	__u8 cur_key[RDB_KEY_MAX + RDB_INTERNAL_BYTES + 8];
	__u8 value[RDB_VALUE_MAX];	/* first min(value_len, RDB_VALUE_MAX) */
};

#endif /* ROCKSDB_FORMAT_H */
