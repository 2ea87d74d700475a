/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The scratch of sqlite.bpf.c (placeholder: to be written).
 */
#ifndef SQLITE_FORMAT_H
#define SQLITE_FORMAT_H

#include <linux/types.h>

struct sql_query {
	__u32 op;
};

#endif /* SQLITE_FORMAT_H */
