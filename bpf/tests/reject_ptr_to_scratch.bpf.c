// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture (must be refused, whatever the loader's capabilities): stores the
 * kernel address of the block into the scratch, which goes back to whoever
 * runs the chain.
 */
#include "rnvme_bpf.h"

SEC("rnvme")
int ptr_to_scratch(struct rnvme_md *ctx)
{
	__u64 *s = RNVME_SCRATCH(ctx);

	s[0] = (__u64)(long)RNVME_DATA(ctx);
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
