/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The slowest storage functions that still load: a loop the verifier walks
 * iteration by iteration, ROUNDS times, whose body is the costliest thing a
 * function may do per instruction walked. The including file defines ROUNDS
 * and BODY(acc, x, i) (DIV_BODY below, or its own); `s` is the scratch (u64
 * in[0], in[1]; out[2]).
 * ROUNDS is chosen so that the walk ends just under the kernel's bound
 * (RNVME_MAX_INSNS_WALKED in include/linux/rnvme.h); the same loop run twice
 * as long is refused (reject_too_complex.bpf.c).
 */
#include "rnvme_bpf.h"

/* Four 64-bit divisions and two multiplications per round. */
#define DIV_BODY(acc, x, i)						\
	do {								\
		acc = acc / x + i;					\
		x = (x * 7 + acc % x) | 1;				\
		acc = acc / x + (acc % x);				\
	} while (0)

#define SLOW_FUNCTION(name)						\
SEC("rnvme")								\
int name(struct rnvme_md *ctx)						\
{									\
	volatile __u64 *s = RNVME_SCRATCH(ctx);				\
	__u64 acc = s[0], x = s[1] | 1;					\
	__u32 i;							\
									\
	_Pragma("clang loop unroll(disable)")				\
	for (i = 0; i < ROUNDS; i++) {					\
		BODY(acc, x, i);					\
	}								\
	s[2] = acc;							\
	return RNVME_DONE;						\
}									\
char LICENSE[] SEC("license") = "GPL";
