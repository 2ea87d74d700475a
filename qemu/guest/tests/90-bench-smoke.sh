# A short benchmark run: all ways agree on every lookup (the benchmark checks
# each answer and fails otherwise), the JSON reads back valid, the plots are
# written. Correctness only: no timing is asserted. The engine workloads run
# on a small LSM and database the libraries write here, in the guest (the
# benchmark's own, `make bench-data`, is only on the disk of `make bench`):
# every answer of the chains and of the pread walk must equal RocksDB's and
# SQLite's own.
. /rnvme/lib.sh
load_module
mount_nvme
rm -rf /tmp/bench /mnt/nvme/bench-smoke
mkdir -p /mnt/nvme/bench-smoke
d=/mnt/nvme/bench-smoke
rnvme-bench-rocksdb build $d/lsm $d/lsm.keys 20000 || fail "RocksDB could not write the LSM"
rnvme-bench-sqlite build $d/rows.db $d/rows.rowids $d/rows.values 2000 ||
	fail "SQLite could not write the database"
# The debug kernel (KASAN, lockdep) does fewer engine lookups.
n=30
[ "$(arg rnvme.flavour)" != debug ] || n=12
rnvme bench -- --out /tmp/bench --depths 1,3 --block-sizes 4096,512 --threads 1,2 --deep 3 \
	--lookups 24 --warmup 4 --reps 2 --floor-reads 50 \
	--workloads bptree,chain,windows,engines,queue,fairness,live --queue-depths 1,8 --fair-seconds 0.5 \
	--live-seconds 0.5 --live-write-rate 100 \
	--engine-data $d --engine-lookups $n
rnvme-bench --validate /tmp/bench/bench.json
grep -q '<svg' /tmp/bench/bench.svg || fail "no plot"
grep -q '<svg' /tmp/bench/engines.svg || fail "no engine plot"
grep -q 'Pread' /tmp/bench/bench.txt || fail "no table"
for row in 'rocksdb get' 'sqlite rowid' 'sqlite index'; do
	grep -q "^$row" /tmp/bench/bench.txt || fail "no $row table"
done
grep -q 'rocksdb_pinned' /tmp/bench/bench.txt || fail "no rocksdb_pinned row"
grep -q '<svg' /tmp/bench/queue.svg || fail "no queue plot"
grep -q '^fairness: ' /tmp/bench/bench.txt || fail "no fairness table"
grep -qE '^8 in flight, 5 hops/ms ' /tmp/bench/bench.txt || fail "no fairness row with budgets"
grep -q '^live at 100 writes/s: Rnvme ' /tmp/bench/bench.txt || fail "no live ratio"
! grep -q '^live: .* WRONG or FAILED' /tmp/bench/bench.txt || fail "live lookups wrong or failed"
for way in IoUringHops IoUringHopsPolled RnvmeAsync RnvmeAsyncPolled; do
	grep -qE "^ +8 $way " /tmp/bench/bench.txt || fail "no $way row at queue depth 8"
done
rm -rf $d
