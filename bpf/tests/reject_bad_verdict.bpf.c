// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture the verifier must refuse: returns a value that is no verdict. */
#include "rnvme_bpf.h"

SEC("rnvme")
int bad_verdict(struct rnvme_md *ctx)
{
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
