// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture the verifier must refuse: writes one byte past the scratch. */
#include "rnvme_bpf.h"

SEC("rnvme")
int scratch_oob(struct rnvme_md *ctx)
{
	__u8 *s = RNVME_SCRATCH(ctx);

	s[RNVME_SCRATCH_SIZE] = 1;
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
