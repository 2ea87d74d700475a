// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture (must be refused): a hash map, whose operations cost more than a
 * bounds check; storage functions may use array maps only.
 */
#include "rnvme_bpf.h"

#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

struct {
	__uint(type, 1); /* BPF_MAP_TYPE_HASH */
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

SEC("rnvme")
int hash_map(struct rnvme_md *ctx)
{
	__u32 key = ctx->hop;
	__u64 *v = bpf_map_lookup_elem(&seen, &key);

	return v ? RNVME_DONE : RNVME_ABORT;
}

char LICENSE[] SEC("license") = "GPL";
