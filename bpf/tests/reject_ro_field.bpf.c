// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture the verifier must refuse: writes a read-only context field. */
#include "rnvme_bpf.h"

SEC("rnvme")
int ro_field(struct rnvme_md *ctx)
{
	ctx->file_offset = 0;
	return RNVME_DONE;
}

char LICENSE[] SEC("license") = "GPL";
