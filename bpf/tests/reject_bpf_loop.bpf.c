// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture (must be refused): nested bpf_loop, 2^23 x 2^23 callbacks. Before
 * the helper allowlist the verifier accepted it and one run held a CPU in
 * the NVMe completion interrupt for half a minute.
 */
#include "rnvme_bpf.h"

static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx,
			__u64 flags) = (void *)181;

static long inner(__u32 i, void *acc)
{
	*(volatile __u64 *)acc += i;
	return 0;
}

static long outer(__u32 i, void *acc)
{
	bpf_loop(1 << 23, inner, acc, 0);
	return 0;
}

SEC("rnvme")
int nested_bpf_loop(struct rnvme_md *ctx)
{
	__u64 *s = RNVME_SCRATCH(ctx);
	__u64 acc = 0;

	bpf_loop(1 << 23, outer, &acc, 0);
	s[0] = acc;
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
