/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The scratch of the `windows` fixture (windows.bpf.c): a list of windows
 * for a chain to visit, in order, and per window a sample of the bytes the
 * function saw there. The in-VM tests mirror this layout
 * (qemu/vmtest/src/fixtures.rs) and fill in the inputs; the function writes
 * only `visited` and the samples.
 */
#ifndef WINDOWS_H
#define WINDOWS_H

#include <linux/types.h>

/* Entries that fit the scratch: 8 + 127 * 32 = 4072 bytes of 4096. */
#define WINDOWS_MAX	127
/* The furthest into a window the tail sample is taken (see windows.bpf.c). */
#define WINDOWS_TAIL_MAX	0xfff0

struct windows_entry {
	__u64 offset;	/* in: file offset of the window */
	__u32 len;	/* in: its length in bytes */
	__u32 file;	/* in: index in the tag set of its file */
	__u8 head[8];	/* out: its first min(8, len) bytes */
	__u8 tail[8];	/* out: min(8, len) bytes at windows_tail(len) */
};

struct windows_scratch {
	__u32 count;	/* in: entries to visit, 1..WINDOWS_MAX */
	__u32 visited;	/* out: entries whose window the function saw */
	struct windows_entry e[WINDOWS_MAX];
};

#endif /* WINDOWS_H */
