// SPDX-License-Identifier: GPL-2.0
//
// The RocksDB side of the engine benchmark, against Debian's librocksdb.
//
//   rocksdb_bench build DBDIR KEYS [N]
//       writes an LSM through the library: N keys (default one million:
//       about 280 MB) in random order, flushed and compacted into L1
//       (32 MiB files), then three more flushed batches of N/25
//       overwrites and deletions that stay in L0. Uncompressed, 32 KiB
//       blocks, no filters. Writes KEYS: the keys the benchmark looks up,
//       one hex line each (nine in ten live, the rest absent or deleted).
//   rocksdb_bench get DBDIR KEYS MODE WARMUP LOOKUPS REPS
//       opens DBDIR read-only, block cache off, direct reads on, and gets
//       the keys with the library's own Get. MODE "cold": index blocks
//       are read for every Get (cache_index_and_filter_blocks with no
//       cache: the same work as one chain); "pinned": the table readers
//       hold the index blocks in memory (the library's default), only
//       data blocks are read. Prints what common.h says.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "common.h"
}

using rocksdb::DB;
using rocksdb::Status;

namespace {

constexpr unsigned LOOKUP_KEYS = 20000;

void check(const Status &s, const char *what)
{
	if (!s.ok())
		bench_die("rocksdb_bench: %s: %s", what, s.ToString().c_str());
}

// Key i: 24 bytes, a prefix and the zero-padded number.
std::string key_of(unsigned long i)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "user%020lu", i);
	return buf;
}

// A value of 150 to 350 bytes that says whose it is and in which batch.
std::string value_of(unsigned long i, unsigned batch, std::mt19937_64 &rng)
{
	std::string v = "v" + std::to_string(batch) + ":" + std::to_string(i) + ":";
	size_t len = 150 + rng() % 201;
	while (v.size() < len)
		v += static_cast<char>('a' + rng() % 26);
	return v;
}

rocksdb::Options base_options()
{
	rocksdb::Options o;
	o.compression = rocksdb::kNoCompression;
	o.compression_per_level.clear();
	o.max_open_files = -1;
	rocksdb::BlockBasedTableOptions t;
	t.block_size = 32 << 10;
	t.format_version = 5;
	t.filter_policy.reset();
	o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
	return o;
}

void build(const char *dir, const char *keys_path, unsigned long keys_total)
{
	if (keys_total < 200)
		bench_die("rocksdb_bench: at least 200 keys");
	rocksdb::Options o = base_options();
	o.create_if_missing = true;
	o.error_if_exists = true;
	o.disable_auto_compactions = true;
	o.write_buffer_size = 64 << 20;
	o.target_file_size_base = 32 << 20;
	DB *raw;
	check(DB::Open(o, dir, &raw), "open");
	std::unique_ptr<DB> db(raw);
	std::mt19937_64 rng(20261206);
	std::vector<unsigned long> order(keys_total);
	for (unsigned long i = 0; i < keys_total; i++)
		order[i] = 2 * i; // Odd numbers are never written: absent keys.
	std::shuffle(order.begin(), order.end(), rng);
	rocksdb::WriteOptions w;
	w.disableWAL = true;
	for (unsigned long i : order)
		check(db->Put(w, key_of(i), value_of(i, 0, rng)), "put");
	check(db->Flush(rocksdb::FlushOptions()), "flush");
	rocksdb::CompactRangeOptions c;
	c.change_level = true;
	c.target_level = 1;
	check(db->CompactRange(c, nullptr, nullptr), "compact");
	// Three L0 files over the whole key range: overwrites, deletions.
	std::vector<unsigned long> deleted;
	for (unsigned batch = 1; batch <= 3; batch++) {
		for (unsigned long n = 0; n < keys_total / 25; n++) {
			unsigned long i = 2 * (rng() % keys_total);
			if (n % 8 == 0) {
				check(db->Delete(w, key_of(i)), "delete");
				deleted.push_back(i);
			} else {
				check(db->Put(w, key_of(i), value_of(i, batch, rng)), "put");
			}
		}
		check(db->Flush(rocksdb::FlushOptions()), "flush");
	}
	check(db->Close(), "close");

	FILE *out = fopen(keys_path, "w");
	if (!out)
		bench_die("rocksdb_bench: %s: cannot create", keys_path);
	for (unsigned n = 0; n < LOOKUP_KEYS; n++) {
		unsigned long i;
		if (n % 10 == 9)
			i = n % 20 == 19 ? 2 * (rng() % keys_total) + 1
					 : deleted[rng() % deleted.size()];
		else
			i = 2 * (rng() % keys_total);
		std::string k = key_of(i);
		bench_put_hex(out, reinterpret_cast<const unsigned char *>(k.data()), k.size());
	}
	if (fclose(out))
		bench_die("rocksdb_bench: %s: write failed", keys_path);
}

void get(const char *dir, const char *keys_path, const std::string &mode,
	 const struct bench_plan *plan)
{
	if (mode != "cold" && mode != "pinned")
		bench_die("rocksdb_bench: mode must be cold or pinned, not %s", mode.c_str());
	rocksdb::Options o = base_options();
	o.use_direct_reads = true;
	rocksdb::BlockBasedTableOptions t;
	t.block_size = 32 << 10;
	t.no_block_cache = true;
	t.cache_index_and_filter_blocks = mode == "cold";
	o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
	DB *raw;
	check(DB::OpenForReadOnly(o, dir, &raw), "open read-only");
	std::unique_ptr<DB> db(raw);
	struct bench_keys keys = bench_read_keys(keys_path);
	rocksdb::ReadOptions r;
	r.fill_cache = false;
	r.verify_checksums = false; // The chains do not verify either.
	struct stat st;
	if (stat(dir, &st))
		bench_die("rocksdb_bench: %s: cannot stat", dir);
	struct bench_run run;
	bench_start(&run, plan, keys.n, st.st_dev);
	std::string value;
	for (size_t n = 0; bench_next(&run, &n);) {
		rocksdb::Slice key(reinterpret_cast<const char *>(keys.data[n]), keys.len[n]);
		bench_lookup_begin(&run);
		Status s = db->Get(r, key, &value);
		bench_lookup_end(&run);
		if (s.IsNotFound()) {
			bench_answer_hash(&run, nullptr);
		} else if (s.ok()) {
			uint64_t h = bench_fnv(BENCH_FNV_SEED,
					       reinterpret_cast<const unsigned char *>(value.data()),
					       value.size());
			bench_answer_hash(&run, &h);
		} else {
			bench_die("rocksdb_bench: get: %s", s.ToString().c_str());
		}
	}
}

} // namespace

int main(int argc, char **argv)
{
	std::string cmd = argc > 1 ? argv[1] : "";
	if (cmd == "build" && (argc == 4 || argc == 5)) {
		build(argv[2], argv[3], argc == 5 ? strtoul(argv[4], nullptr, 10) : 1000000);
	} else if (cmd == "get" && argc == 8) {
		struct bench_plan plan = bench_plan_of(argv + 5);
		get(argv[2], argv[3], argv[4], &plan);
	} else {
		fprintf(stderr, "usage: rocksdb_bench build DBDIR KEYS [N]\n"
				"       rocksdb_bench get DBDIR KEYS cold|pinned WARMUP LOOKUPS REPS\n");
		return 2;
	}
	return 0;
}
