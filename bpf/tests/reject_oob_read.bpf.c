// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture the verifier must refuse: reads the block without a bounds check. */
#include "rnvme_bpf.h"

SEC("rnvme")
int oob_read(struct rnvme_md *ctx)
{
	__u64 *p = RNVME_DATA(ctx);

	return p[8] == 1 ? RNVME_DONE : RNVME_ABORT;
}

char LICENSE[] SEC("license") = "GPL";
