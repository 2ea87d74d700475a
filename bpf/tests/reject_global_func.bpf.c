// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture (must be refused): a loop that calls a global function. The
 * verifier checks a global function once and counts each call as one
 * instruction, so the instructions it walks would not bound this run: 4096
 * calls of a function of some 4000 instructions.
 */
#include "rnvme_bpf.h"

__attribute__((noinline)) int spin(__u32 seed)
{
	__u32 i, acc = seed;

	for (i = 0; i < 1000; i++)
		acc = acc * 31 + i;
	return acc & 1;
}

SEC("rnvme")
int global_func_loop(struct rnvme_md *ctx)
{
	__u64 *s = RNVME_SCRATCH(ctx);
	__u32 i;

	for (i = 0; i < 4096; i++)
		s[0] += spin(i);
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
