// SPDX-License-Identifier: GPL-2.0
/*
 * The SQLite side of the engine benchmark, against the system libsqlite3.
 *
 *   sqlite_bench build DB ROWIDS VALUES [ROWS]
 *       writes DB through the library: page size 4096, rollback journal,
 *       table t(id INTEGER PRIMARY KEY, k TEXT, n INTEGER, v BLOB) with an
 *       index t_k on k, ROWS rows (default 200,000: about 100 MB; one in
 *       64 with a 9,000-byte blob on overflow pages), then one row in 20
 *       deleted. Writes the lookup
 *       keys: ROWIDS (rowids as decimal text) and VALUES (values of k), one
 *       hex line each, nine in ten present.
 *   sqlite_bench get DB rowid|index KEYS WARMUP LOOKUPS REPS
 *       SQLite's own lookup, read-only, page cache at its minimum, mmap
 *       off: SELECT * FROM t WHERE id = ? (rowid) or, through t_k, WHERE
 *       k = ? (index). The file's pages are dropped from the page cache
 *       before each lookup (untimed), so each lookup reads the disk as a
 *       chain does. Prints what common.h says; the hash covers the row's
 *       columns as rnvme-bench encodes them (row_hash).
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define LOOKUP_KEYS 20000u
#define PRIME 4294967291ull

static void check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
		bench_die("sqlite_bench: %s: %s", what, sqlite3_errmsg(db));
}

static void exec(sqlite3 *db, const char *sql)
{
	check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

static uint64_t rng_state = 20261206;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Row i: rowid 3i + 1 (so rowids in between are absent), k unique. */
static long long rowid_of(unsigned i)
{
	return 3ll * i + 1;
}

static void k_of(unsigned i, char out[24])
{
	snprintf(out, 24, "k%010llu", (unsigned long long)(((i + 1) * 2654435761ull) % PRIME));
}

static int deleted(unsigned i)
{
	return i % 20 == 7;
}

static void put_text_hex(FILE *f, const char *s)
{
	bench_put_hex(f, (const unsigned char *)s, strlen(s));
}

static void build(const char *path, const char *rowids, const char *values, unsigned rows)
{
	sqlite3 *db;
	sqlite3_stmt *ins;
	static unsigned char blob[9000];
	FILE *fr, *fv;
	char k[24], num[24];

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
		bench_die("sqlite_bench: %s: cannot create", path);
	exec(db, "PRAGMA page_size = 4096");
	exec(db, "PRAGMA journal_mode = DELETE");
	exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, n INTEGER, v BLOB)");
	exec(db, "CREATE INDEX t_k ON t(k)");
	exec(db, "BEGIN");
	check(db, sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?, ?)", -1, &ins, NULL),
	      "prepare");
	if (rows < 20 || rows % 20)
		bench_die("sqlite_bench: ROWS must be a positive multiple of 20");
	for (unsigned i = 0; i < rows; i++) {
		unsigned len = i % 64 == 5 ? sizeof(blob) : 100 + rng() % 400;
		for (unsigned j = 0; j < len; j++)
			blob[j] = (unsigned char)rng();
		k_of(i, k);
		sqlite3_bind_int64(ins, 1, rowid_of(i));
		sqlite3_bind_text(ins, 2, k, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 3, (long long)(rng() >> 1));
		sqlite3_bind_blob(ins, 4, blob, (int)len, SQLITE_TRANSIENT);
		check(db, sqlite3_step(ins), "insert");
		sqlite3_reset(ins);
	}
	sqlite3_finalize(ins);
	exec(db, "COMMIT");
	exec(db, "DELETE FROM t WHERE (id - 1) / 3 % 20 = 7");
	check(db, sqlite3_close(db), "close");

	fr = fopen(rowids, "w");
	fv = fopen(values, "w");
	if (!fr || !fv)
		bench_die("sqlite_bench: cannot create the key files");
	for (unsigned n = 0; n < LOOKUP_KEYS; n++) {
		unsigned i = (unsigned)(rng() % rows);
		/* One in ten absent: a deleted row, or between rows. */
		if (n % 10 == 9 && n % 20 != 19)
			i = i - i % 20 + 7;
		if (n % 10 != 9 && deleted(i))
			i++;
		snprintf(num, sizeof(num), "%lld", rowid_of(i) + (n % 20 == 19));
		put_text_hex(fr, num);
		k_of(i, k);
		if (n % 20 == 19)
			k[1] = 'x'; /* Sorts after every key. */
		put_text_hex(fv, k);
	}
	if (fclose(fr) || fclose(fv))
		bench_die("sqlite_bench: cannot write the key files");
}

/* The row as rnvme-bench hashes it: per column a type letter, then I: the
 * decimal and ';', T/B: the length, ':' and the bytes, N: nothing. */
static uint64_t row_hash(sqlite3_stmt *s)
{
	uint64_t h = BENCH_FNV_SEED;
	char head[32];
	for (int c = 0; c < sqlite3_column_count(s); c++) {
		int type = sqlite3_column_type(s, c), n;
		const unsigned char *b = NULL;
		switch (type) {
		case SQLITE_INTEGER:
			n = snprintf(head, sizeof(head), "I%lld;", sqlite3_column_int64(s, c));
			break;
		case SQLITE_TEXT:
		case SQLITE_BLOB:
			b = type == SQLITE_TEXT ? sqlite3_column_text(s, c) : sqlite3_column_blob(s, c);
			n = snprintf(head, sizeof(head), "%c%d:", type == SQLITE_TEXT ? 'T' : 'B',
				     sqlite3_column_bytes(s, c));
			break;
		case SQLITE_NULL:
			n = snprintf(head, sizeof(head), "N");
			break;
		default:
			bench_die("sqlite_bench: a REAL column: the benchmark's rows have none");
		}
		h = bench_fnv(h, (const unsigned char *)head, (size_t)n);
		if (b)
			h = bench_fnv(h, b, (size_t)sqlite3_column_bytes(s, c));
	}
	return h;
}

static void get(const char *path, const char *kind, const char *keys_path,
		const struct bench_plan *plan)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	struct bench_keys keys = bench_read_keys(keys_path);
	struct bench_run run;
	struct stat st;
	int rowid = !strcmp(kind, "rowid"), fd;
	size_t n;

	if (!rowid && strcmp(kind, "index"))
		bench_die("sqlite_bench: rowid or index, not %s", kind);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL))
		bench_die("sqlite_bench: %s: cannot open", path);
	exec(db, "PRAGMA cache_size = 1");
	exec(db, "PRAGMA mmap_size = 0");
	check(db,
	      sqlite3_prepare_v2(db,
				 rowid ? "SELECT * FROM t WHERE id = ?"
				       : "SELECT * FROM t INDEXED BY t_k WHERE k = ?",
				 -1, &q, NULL),
	      "prepare");
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		bench_die("sqlite_bench: %s: cannot open", path);
	bench_start(&run, plan, keys.n, st.st_dev);
	while (bench_next(&run, &n)) {
		int rc;
		uint64_t h;
		if (rowid)
			sqlite3_bind_int64(q, 1, strtoll((const char *)keys.data[n], NULL, 10));
		else
			sqlite3_bind_text(q, 1, (const char *)keys.data[n], (int)keys.len[n],
					  SQLITE_STATIC);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		bench_lookup_begin(&run);
		rc = sqlite3_step(q);
		check(db, rc, "select");
		if (rc == SQLITE_ROW)
			h = row_hash(q);
		/* The read transaction ends here: its unlock is part of it. */
		sqlite3_reset(q);
		bench_lookup_end(&run);
		bench_answer_hash(&run, rc == SQLITE_ROW ? &h : NULL);
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
}

int main(int argc, char **argv)
{
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "build")) {
		build(argv[2], argv[3], argv[4],
		      argc == 6 ? (unsigned)strtoul(argv[5], NULL, 10) : 200000u);
	} else if (argc == 8 && !strcmp(argv[1], "get")) {
		struct bench_plan plan = bench_plan_of(argv + 5);
		get(argv[2], argv[3], argv[4], &plan);
	} else {
		fprintf(stderr, "usage: sqlite_bench build DB ROWIDS VALUES [ROWS]\n"
				"       sqlite_bench get DB rowid|index KEYS WARMUP LOOKUPS REPS\n");
		return 2;
	}
	return 0;
}
