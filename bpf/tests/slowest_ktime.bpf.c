// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture: the slowest loadable loop of helper calls (see slow.h). */
#define ROUNDS 20000
#define BODY(acc, x, i)							\
	do {								\
		acc += (bpf_ktime_get_ns() ^ bpf_get_prandom_u32()) + x;	\
	} while (0)
#include "slow.h"

static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static __u32 (*bpf_get_prandom_u32)(void) = (void *)7;

SLOW_FUNCTION(slowest_ktime)
