// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture the verifier must refuse: writes into the (read-only) block. */
#include "rnvme_bpf.h"

SEC("rnvme")
int block_write(struct rnvme_md *ctx)
{
	__u64 *p = RNVME_DATA(ctx);

	if ((void *)(p + 1) > RNVME_DATA_END(ctx))
		return RNVME_ABORT;
	*p = 0;
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
