/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The scratch of sqlite.bpf.c: a row of a SQLite database file, by rowid
 * or by the first column of an index, one chain per lookup over the file as
 * SQLite wrote it.
 *
 * User space (the rnvme library, userspace/src/engines/sqlite/) opens the
 * database once: it checks the 100-byte file header (the page size, the
 * reserved bytes at the end of each page, UTF-8 text, no hot journal, no
 * WAL frames the main file lacks: the function reads only the main file)
 * and reads the schema (sqlite_schema, the table B-tree rooted at page 1)
 * for each table's and index's root page. Per lookup it fills in the
 * inputs below and starts the chain at the root page of the first tree to
 * search. Every read of the chain is one whole page, page N being the
 * page_size bytes at (N - 1) * page_size, so all windows have one length.
 * Page 1 has its B-tree header after the file header, at offset 100.
 *
 * SQL_GET descends the table B-tree to the leaf cell of `rowid`: on an
 * interior page (0x05), into the left child of the first cell whose rowid
 * is >= it, else the right-most child; on a leaf (0x0d), a binary search
 * of the cell pointer array.
 *
 * SQL_FIND first descends the index B-tree (interior 0x02, leaf 0x0a) to
 * the first entry, in index order, whose first column equals the key: an
 * integer (SQL_KEY_INT) or a text compared bytewise, then by length
 * (SQL_KEY_TEXT: SQLite's BINARY collation), with SQLite's order of types
 * (NULL < numbers < text < blob). Interior index cells are entries too: an
 * equal one is remembered while the descent goes on into its left child,
 * where an earlier equal entry may be; if the leaf has none, the deepest
 * one remembered is the answer. The entry's last column is the rowid; the
 * chain then descends the table B-tree from table_root for it.
 *
 * The row's record (its payload) is copied into payload[]: the part in the
 * leaf cell (`local` bytes), then the overflow pages it spills onto, until
 * the record or payload[] ends. `copied` says how much of the record came;
 * user space reads the rest itself: from overflow page `ovfl_page` on,
 * starting (copied - local) % (usable - 4) bytes into its data, when
 * `ovfl_page` is not 0; otherwise from the leaf cell (`leaf_page`,
 * `payload_off`) and the overflow chain after it.
 *
 * Anything the function does not walk ends the chain with SQL_HANDBACK,
 * `reason` saying why: an index record that spills onto overflow pages
 * where the bytes compared or the rowid are, a REAL compared with an
 * integer key, a record with more columns than
 * SQL_INDEX_COLS, bytes of a 64 KiB page past the verifier's reach (its
 * last bytes, bpf/README.md). User space then finishes the lookup with
 * its own walk; `row` and `state` say whether the index part was done. A
 * page that is not what the descent expects ends it with SQL_CORRUPT and
 * a reason; child and overflow page numbers past `db_pages` are never
 * read. A read that is not the page asked for, or inputs out of range,
 * abort the chain (RNVME_ABORT).
 *
 * All integers in the scratch are host (little-endian) order; those in the
 * pages are big-endian, as SQLite writes them.
 */
#ifndef SQLITE_FORMAT_H
#define SQLITE_FORMAT_H

#include <linux/types.h>

/* Page sizes SQLite allows (powers of 2). */
#define SQL_PAGE_MIN		512
#define SQL_PAGE_MAX		65536
/* The least usable size of a page SQLite accepts. */
#define SQL_USABLE_MIN		480
/* Page 1 starts with the 100-byte file header. */
#define SQL_FILE_HEADER		100
/* Text key bytes at most; longer keys: user space. */
#define SQL_KEY_MAX		256
/* Record bytes copied into the scratch at most. */
#define SQL_PAYLOAD_MAX		3584
/* B-tree levels one descent may have (SQLite itself stops at 20). */
#define SQL_DEPTH_MAX		20
/* Binary search steps over a cell pointer array (2^16 > any page's cells). */
#define SQL_SEARCH_STEPS	16
/* Columns of an index record the function parses for its rowid. */
#define SQL_INDEX_COLS		16
/* Reads one chain may need: two descents and the overflow pages copied. */
#define SQL_MAX_HOPS		(2 * SQL_DEPTH_MAX + SQL_PAYLOAD_MAX / (SQL_USABLE_MIN - 4) + 2)

/* op */
#define SQL_GET			1	/* the row of `rowid` */
#define SQL_FIND		2	/* the first row whose indexed column == key */

/* key_type */
#define SQL_KEY_INT		1	/* key_int */
#define SQL_KEY_TEXT		2	/* key[0..key_len] */

/* status */
#define SQL_RUNNING		0	/* private: the chain is still going */
#define SQL_FOUND		1	/* the row: row, payload_size, copied... */
#define SQL_NOT_FOUND		2	/* no such rowid; no index entry == key */
#define SQL_HANDBACK		3	/* user space must finish: see reason */
#define SQL_CORRUPT		4	/* a page is not what it must be: see reason */

/* reason, with SQL_HANDBACK */
#define SQL_R_SPILL		1	/* an index record spills onto overflow pages */
#define SQL_R_REAL		2	/* an index key is a REAL (8-byte float) */
#define SQL_R_WIDE		3	/* an index record has > SQL_INDEX_COLS columns */
#define SQL_R_REACH		4	/* bytes past the verifier's reach (64 KiB pages) */
/* reason, with SQL_CORRUPT */
#define SQL_R_PAGE_TYPE		10	/* not a page of the B-tree being descended */
#define SQL_R_CELL		11	/* a cell or the cell pointers outside the page */
#define SQL_R_DEPTH		12	/* deeper than SQL_DEPTH_MAX */
#define SQL_R_CHILD		13	/* a child or overflow page 0 or past db_pages */
#define SQL_R_RECORD		14	/* a malformed record or payload size */
#define SQL_R_NO_ROW		15	/* an index entry's rowid is not in the table */

/* state: what the page read next (or the one that ended the chain) is */
#define SQL_ST_INDEX		1	/* a page of the index B-tree */
#define SQL_ST_TABLE		2	/* a page of the table B-tree */
#define SQL_ST_OVERFLOW		3	/* an overflow page of the row's record */

struct sql_query {
	/* In. */
	__u32 op;		/* SQL_GET or SQL_FIND */
	__u32 page_size;	/* bytes per page: every read's length */
	__u32 usable;		/* page_size less the reserved bytes */
	__u32 db_pages;		/* pages in the file */
	__u32 table_root;	/* root page of the table's B-tree */
	__u32 index_root;	/* SQL_FIND: root page of the index's B-tree */
	__s64 rowid;		/* SQL_GET: the rowid */
	__s64 key_int;		/* SQL_FIND, SQL_KEY_INT: the value */
	__u32 key_type;		/* SQL_FIND: SQL_KEY_INT or SQL_KEY_TEXT */
	__u32 key_len;		/* SQL_KEY_TEXT: bytes of key, 0..SQL_KEY_MAX */
	__u8 key[SQL_KEY_MAX];	/* SQL_KEY_TEXT: the text (UTF-8, no NUL) */

	/* Out. */
	__u32 status;		/* SQL_RUNNING .. SQL_CORRUPT */
	__u32 reason;		/* SQL_R_* with SQL_HANDBACK or SQL_CORRUPT */
	__u32 state;		/* SQL_ST_* of the page read last */
	__u32 page;		/* that page */
	__u32 reads;		/* pages the chain read */
	__u32 depth;		/* levels of the current descent so far */
	__s64 row;		/* the rowid searched in the table (SQL_FIND: valid if have_row) */
	__u32 have_row;		/* SQL_FIND: 1 once an index entry == key was seen */
	__u32 payload_size;	/* SQL_FOUND: bytes of the row's record */
	__u32 local;		/* of those, bytes in the leaf cell */
	__u32 leaf_page;	/* the table leaf page of the cell */
	__u32 payload_off;	/* offset of the record in that page */
	__u32 copied;		/* bytes of the record in payload[], from its start */
	__u32 ovfl_page;	/* overflow page holding record byte `copied`, or 0 */

	/*
	 * Private: the page being walked, and values passed from one step of
	 * the function to the next through the scratch (see sqlite.bpf.c).
	 */
	__u32 leaf;		/* the page is a leaf */
	__u32 ncells;		/* its cells */
	__u32 ptrs;		/* offset of its cell pointer array */
	__u32 right;		/* interior: its right-most child */
	__u32 skip;		/* bytes before a cell's payload size (left child) */
	__u32 lo, hi;		/* binary search bounds */
	__s32 cmp;		/* a comparison's result */
	__u32 at;		/* a varint's offset */
	__u32 vn;		/* its length */
	__u32 reserved;
	__u64 v;		/* its value */
	__u32 rec, rec_len;	/* an index record: offset, bytes in its cell */
	__u32 spill;		/* it spills onto overflow pages */
	__u32 hpos, hend;	/* its header: next serial type, end */
	__u32 body;		/* its next column's body */
	__u32 tlen, toff, m;	/* a text comparison: length, offset, bytes */
	__u32 src, want;	/* a copy: from where, how many bytes */
	__u32 region;		/* record bytes in this page (copy region) */
	__u32 got;		/* bytes the copy got */
	__u32 ovfl_next;	/* the overflow page after this page's part */
	__u32 stop;		/* the copy is the last step (see sqlite.bpf.c) */
	__u32 reserved2;
	/* 8-byte aligned, for the copy's 8-byte stores. */
	__u8 payload[SQL_PAYLOAD_MAX];	/* out: the first `copied` bytes of the record */
};

#endif /* SQLITE_FORMAT_H */
