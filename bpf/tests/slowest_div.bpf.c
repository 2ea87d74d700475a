// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Fixture: the slowest loadable loop of 64-bit divisions (see slow.h). */
#define ROUNDS 14000
#define BODY DIV_BODY
#include "slow.h"

SLOW_FUNCTION(slowest_div)
