// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture: visit the windows the scratch lists (windows.h), one per read.
 * On read number `hop` it checks that the bytes it was given are entry
 * `hop`'s window (file, offset, length; ABORT otherwise, so a wrong window
 * cannot pass as a right one), copies a head and a tail sample of them into
 * the entry, and asks for the next entry's window, or returns DONE after
 * the last.
 */
#include "rnvme_bpf.h"
#include "windows.h"

/* Copies the bytes from p on, at most 8 and none at or past end, to dst. */
static __always_inline void sample(__u8 *dst, const __u8 *p, const void *end)
{
	int i;

#pragma clang loop unroll(full)
	for (i = 0; i < 8; i++) {
		if ((const void *)(p + i + 1) > end)
			return;
		dst[i] = p[i];
	}
}

SEC("rnvme")
int windows(struct rnvme_md *ctx)
{
	struct windows_scratch *s = RNVME_SCRATCH(ctx);
	const __u8 *data = RNVME_DATA(ctx);
	const void *end = RNVME_DATA_END(ctx);
	__u32 hop = ctx->hop, len = ctx->len;
	struct windows_entry *e;
	__u64 t = 0;

	if (hop >= WINDOWS_MAX || hop >= s->count)
		return RNVME_ABORT;
	e = &s->e[hop];
	if (ctx->file != e->file || ctx->file_offset != e->offset ||
	    len != e->len)
		return RNVME_ABORT;
	sample(e->head, data, end);
	/*
	 * The tail sample: the last 8 bytes, but at most WINDOWS_TAIL_MAX
	 * bytes in. The verifier bounds a packet pointer's offset by
	 * MAX_PACKET_OFF (0xffff): once data + t + 8 may lie past it, a
	 * comparison with data_end proves nothing and the load is refused.
	 * The last 8 bytes of a 64 KiB window start at 65528, past that cap,
	 * so they cannot be addressed at all; 0xfff0 + 8 stays under it.
	 */
	if (len > 8)
		t = len - 8;
	if (t > WINDOWS_TAIL_MAX)
		t = WINDOWS_TAIL_MAX;
	sample(e->tail, data + t, end);
	s->visited = hop + 1;

	hop++;
	if (hop >= WINDOWS_MAX || hop >= s->count)
		return RNVME_DONE;
	e = &s->e[hop];
	ctx->next_file = e->file;
	ctx->next_offset = e->offset;
	ctx->next_len = e->len;
	return RNVME_NEXT;
}

char LICENSE[] SEC("license") = "GPL";
