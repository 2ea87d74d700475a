// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture: aborts every chain on its first block. */
#include "rnvme_bpf.h"

SEC("rnvme")
int abort_all(struct rnvme_md *ctx)
{
	return RNVME_ABORT;
}

char LICENSE[] SEC("license") = "GPL";
