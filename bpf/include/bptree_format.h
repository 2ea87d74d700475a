/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The on-disk B+-tree read by bptree.bpf.c and written by the rnvme library
 * (userspace/src/format/bptree.rs). All fields little-endian; every node and
 * value-log block is one node-size block (512 B or 4 KiB), aligned.
 *
 * Block 0 is the superblock; lookups start at its `root`. A node is a
 * header followed by 8-byte slots:
 *   internal: slot[2i] = child i (file offset), slot[2i+1] = key i; child i
 *             holds the keys k with key(i-1) <= k < key(i);
 *   leaf:     slot[2i] = key i, slot[2i+1] = its value: the value itself
 *             (BPT_LEAF), or the file offset of its record in the value
 *             log (BPT_LEAF_LOG).
 */
#ifndef BPTREE_FORMAT_H
#define BPTREE_FORMAT_H

#include <linux/types.h>

#define BPT_SUPER_MAGIC	0x53545042	/* "BPTS" */
#define BPT_NODE_MAGIC	0x4e545042	/* "BPTN" */
#define BPT_VALUE_MAGIC	0x56545042	/* "BPTV" */

#define BPT_INTERNAL	0
#define BPT_LEAF	1
#define BPT_LEAF_LOG	2

/* Bytes of a node or value-log block at most. */
#define BPT_MAX_NODE	4096
/* Keys per node at most (a 4 KiB leaf: (4096 - 16) / 16). */
#define BPT_MAX_KEYS	255
#define BPT_VALUE_DATA	48

struct bpt_super {
	__u32 magic;
	__u32 node_size;
	__u64 root;		/* file offset of the root node */
	__u64 keys;
	__u32 depth;		/* levels, leaves included */
	__u32 value_log;	/* 1: leaves point into the value log */
};

struct bpt_node {
	__u32 magic;
	__u16 kind;
	__u16 nkeys;
	__u64 reserved;
	/* __u64 slot[] follows */
};

/* A record of the value log. */
struct bpt_value {
	__u32 magic;
	__u32 reserved;
	__u64 key;
	__u8 data[BPT_VALUE_DATA];
};

/* The scratch of a lookup. */
struct bpt_query {
	__u64 key;		/* in */
	__u32 found;		/* out: 1 if the key is in the tree */
	__u32 depth;		/* out: nodes visited */
	__u64 value;		/* out: the value, or its record's offset */
	__u32 state;		/* private: 1 while reading the value log */
	__u32 rec_off;		/* private: the record's offset in its block */
	__u8 data[BPT_VALUE_DATA];	/* out: the record's data (value log) */
};

#endif /* BPTREE_FORMAT_H */
