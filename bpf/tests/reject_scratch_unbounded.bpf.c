// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture the verifier must refuse: indexes the scratch with a value read
 * from the block, unchecked. */
#include "rnvme_bpf.h"

SEC("rnvme")
int scratch_unbounded(struct rnvme_md *ctx)
{
	__u8 *s = RNVME_SCRATCH(ctx);
	__u32 *p = RNVME_DATA(ctx);

	if ((void *)(p + 1) > RNVME_DATA_END(ctx))
		return RNVME_ABORT;
	s[*p] = 1;
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
