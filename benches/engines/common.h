/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the engine tools of the benchmark share: the lookup keys, the plan
 * (warm-up, lookups, repetitions), the timing of each lookup and what is
 * printed. rnvme-bench (benches/src/engines/native.rs) reads it:
 *
 *   rep R                          a timed repetition starts (R from 1)
 *   LAT_NS CPU_NS HASH             one lookup: wall time, the thread's CPU
 *                                  time, FNV-1a 64 of the answer (16 hex
 *                                  digits) or "-" when there is none
 *   end WALL_NS IRQ_TICKS READS    the repetition's wall time, the guest's
 *                                  irq + softirq ticks (/proc/stat) and the
 *                                  reads the file's disk completed
 *
 * Repetition R looks up keys WARMUP + (R-1) * LOOKUPS + j (modulo their
 * number), the untimed warm-up keys 0..WARMUP. Keys are lowercase hex, one
 * per line. The code is C and C++ alike (both tools include it).
 */
#ifndef RNVME_BENCH_COMMON_H
#define RNVME_BENCH_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>

struct bench_plan {
	size_t warmup, lookups, reps;
};

struct bench_keys {
	unsigned char **data;
	size_t *len;
	size_t n;
};

struct bench_run {
	struct bench_plan plan;
	size_t nkeys, rep, done;
	dev_t dev;
	uint64_t wall0, irq0, reads0, t0, cpu0, lat, cpu;
};

static inline void bench_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline struct bench_plan bench_plan_of(char **argv)
{
	struct bench_plan p;
	p.warmup = strtoul(argv[0], NULL, 10);
	p.lookups = strtoul(argv[1], NULL, 10);
	p.reps = strtoul(argv[2], NULL, 10);
	if (!p.lookups || !p.reps)
		bench_die("lookups and reps must be positive");
	return p;
}

static inline void bench_put_hex(FILE *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%02x", b[i]);
	fputc('\n', out);
}

static inline int bench_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static inline struct bench_keys bench_read_keys(const char *path)
{
	struct bench_keys k = { NULL, NULL, 0 };
	FILE *f = fopen(path, "r");
	char line[4096];
	size_t cap = 0;
	if (!f)
		bench_die("%s: cannot open", path);
	while (fgets(line, sizeof(line), f)) {
		size_t hex = strcspn(line, "\n");
		if (hex % 2)
			bench_die("%s: odd hex line %zu", path, k.n + 1);
		if (k.n == cap) {
			cap = cap ? 2 * cap : 1024;
			k.data = (unsigned char **)realloc(k.data, cap * sizeof(*k.data));
			k.len = (size_t *)realloc(k.len, cap * sizeof(*k.len));
			if (!k.data || !k.len)
				bench_die("out of memory");
		}
		k.data[k.n] = (unsigned char *)malloc(hex / 2 + 1);
		if (!k.data[k.n])
			bench_die("out of memory");
		for (size_t i = 0; i < hex / 2; i++) {
			int hi = bench_nibble(line[2 * i]), lo = bench_nibble(line[2 * i + 1]);
			if (hi < 0 || lo < 0)
				bench_die("%s: bad hex on line %zu", path, k.n + 1);
			k.data[k.n][i] = (unsigned char)(hi << 4 | lo);
		}
		k.data[k.n][hex / 2] = 0;
		k.len[k.n++] = hex / 2;
	}
	fclose(f);
	if (!k.n)
		bench_die("%s: no keys", path);
	return k;
}

static inline uint64_t bench_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* irq + softirq ticks of the guest. */
static inline uint64_t bench_irq_ticks(void)
{
	unsigned long long v[7] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			 &v[3], &v[4], &v[5], &v[6]) != 7)
		bench_die("cannot read /proc/stat");
	fclose(f);
	return v[5] + v[6];
}

/* Reads completed by the disk (or partition) holding the files. */
static inline uint64_t bench_dev_reads(dev_t dev)
{
	char path[64];
	unsigned long long reads = 0;
	FILE *f;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/stat", major(dev), minor(dev));
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llu", &reads) != 1)
		bench_die("cannot read %s", path);
	fclose(f);
	return reads;
}

static inline void bench_start(struct bench_run *r, const struct bench_plan *p, size_t nkeys,
			       dev_t dev)
{
	memset(r, 0, sizeof(*r));
	r->plan = *p;
	r->nkeys = nkeys;
	r->dev = dev;
}

static inline void bench_rep_end(struct bench_run *r)
{
	printf("end %llu %llu %llu\n",
	       (unsigned long long)(bench_clock(CLOCK_MONOTONIC) - r->wall0),
	       (unsigned long long)(bench_irq_ticks() - r->irq0),
	       (unsigned long long)(bench_dev_reads(r->dev) - r->reads0));
}

/*
 * The next key to look up, into *key; 0 when the plan is done. Starts and
 * ends the repetitions.
 */
static inline int bench_next(struct bench_run *r, size_t *key)
{
	size_t warmup = r->plan.warmup, per = r->plan.lookups;
	if (r->rep == 0 && r->done == warmup) {
		r->rep = 1;
		r->done = 0;
	} else if (r->rep > 0 && r->done == per) {
		bench_rep_end(r);
		if (r->rep == r->plan.reps) {
			fflush(stdout);
			return 0;
		}
		r->rep++;
		r->done = 0;
	}
	if (r->rep > 0 && r->done == 0) {
		printf("rep %zu\n", r->rep);
		r->wall0 = bench_clock(CLOCK_MONOTONIC);
		r->irq0 = bench_irq_ticks();
		r->reads0 = bench_dev_reads(r->dev);
	}
	if (r->rep == 0)
		*key = r->done % r->nkeys;
	else
		*key = (warmup + (r->rep - 1) * per + r->done) % r->nkeys;
	r->done++;
	return 1;
}

static inline void bench_lookup_begin(struct bench_run *r)
{
	r->t0 = bench_clock(CLOCK_MONOTONIC);
	r->cpu0 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
}

static inline void bench_lookup_end(struct bench_run *r)
{
	r->cpu = bench_clock(CLOCK_THREAD_CPUTIME_ID) - r->cpu0;
	r->lat = bench_clock(CLOCK_MONOTONIC) - r->t0;
}

static inline uint64_t bench_fnv(uint64_t h, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define BENCH_FNV_SEED 0xcbf29ce484222325ull

/* The answer of the lookup just timed: its hash, or none. */
static inline void bench_answer_hash(struct bench_run *r, const uint64_t *hash)
{
	if (r->rep == 0)
		return;
	if (hash)
		printf("%llu %llu %016llx\n", (unsigned long long)r->lat, (unsigned long long)r->cpu,
		       (unsigned long long)*hash);
	else
		printf("%llu %llu -\n", (unsigned long long)r->lat, (unsigned long long)r->cpu);
}

#endif
