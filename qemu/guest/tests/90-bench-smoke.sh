# A short benchmark run: all ways agree on every lookup (the benchmark checks
# each answer and fails otherwise), the JSON reads back valid, the plot is
# written. Correctness only: no timing is asserted.
. /rnvme/lib.sh
load_module
mount_nvme
rm -rf /tmp/bench
rnvme bench -- --out /tmp/bench --depths 1,3 --block-sizes 4096,512 --threads 1,2 --deep 3 \
	--lookups 24 --warmup 4 --reps 2 --floor-reads 50
rnvme-bench --validate /tmp/bench/bench.json
grep -q '<svg' /tmp/bench/bench.svg || fail "no plot"
grep -q 'Pread' /tmp/bench/bench.txt || fail "no table"
