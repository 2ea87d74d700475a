// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Fixture (must be refused): the loop of slowest_div.bpf.c run twice as
 * long; the verifier's walk passes the kernel's bound.
 */
#define ROUNDS 28000
#define BODY DIV_BODY
#include "slow.h"

SLOW_FUNCTION(too_complex)
