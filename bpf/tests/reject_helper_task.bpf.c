// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture (must be refused): a task helper. In the completion interrupt
 * `current` is whatever task the interrupt hit, unrelated to the chain.
 */
#include "rnvme_bpf.h"

static __u64 (*bpf_get_current_task)(void) = (void *)35;

SEC("rnvme")
int current_task(struct rnvme_md *ctx)
{
	__u64 *s = RNVME_SCRATCH(ctx);

	s[0] = bpf_get_current_task();
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
