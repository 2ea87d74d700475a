// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Placeholder: to be written. */
#include "rnvme_bpf.h"
#include "sqlite_format.h"

SEC("rnvme")
int sqlite(struct rnvme_md *ctx)
{
	return RNVME_ABORT;
}

char LICENSE[] SEC("license") = "GPL";
