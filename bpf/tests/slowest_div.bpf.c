// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture: the slowest loadable loop of 64-bit divisions (see slow.h). */
#define ROUNDS 23000
#define BODY(acc, x, i)							\
	do {								\
		acc = acc / x + i;					\
		x = (x * 7 + acc % x) | 1;				\
		acc = acc / x + (acc % x);				\
	} while (0)
#include "slow.h"

SLOW_FUNCTION(slowest_div)
