# The CLI as a user types it: build a tree, load and pin the function,
# attach in a session (lookup, stats, detach), and the one-shot commands.
. /rnvme/lib.sh
load_module
mount_nvme
cd /mnt/nvme
rm -f tree.db chain.db records.db /sys/fs/bpf/bptree

rnvme mkdb bptree tree.db --keys 20000 --depth 3 --value-log
rnvme mkdb bptree tree.db --keys 20000 --depth 3 --value-log --verify
rnvme load bptree --pin /sys/fs/bpf/bptree
[ -e /sys/fs/bpf/bptree ] || fail "not pinned"
out=$(printf 'lookup 1 2 3 8\nstats\ndetach\n' | rnvme attach tree.db --pinned /sys/fs/bpf/bptree)
echo "$out"
[ "$(echo "$out" | grep -c 'key [123]: value')" = 1 ] || fail "exactly one of keys 1..3 is in the tree"
echo "$out" | grep -q 'key 8: not found (3 nodes, 3 reads' || fail "absent key"
echo "$out" | grep -qE '(3 nodes, 4 reads, 3 in the driver)' || fail "value-log lookup: 4 reads, 3 in the driver"
echo "$out" | grep -qE '^chains +[0-9]+' || fail "stats in the session"
echo "$out" | grep -q 'detached tag' || fail "no detach"

# `rnvme tags` lists a session's tag, of another process, with its counters.
rm -f /tmp/session.in && mkfifo /tmp/session.in
rnvme attach tree.db --pinned /sys/fs/bpf/bptree </tmp/session.in >/tmp/session.out 2>&1 &
session=$!
exec 3>/tmp/session.in
echo 'lookup 1 2' >&3
i=0
until rnvme tags | grep -qE "^ *$session +[0-9]+ bptree +[0-9]+ +2 +2 +0 +0 +[0-9]+ +[0-9]+  /mnt/nvme/tree.db$"; do
	i=$((i + 1))
	[ $i -lt 100 ] || fail "rnvme tags: no bptree tag of pid $session with 2 chains: $(rnvme tags)"
	sleep 0.1
done
rnvme tags
rnvme tags --format json | grep -q "\"function\":\"bptree\"" || fail "tags json"
echo detach >&3
exec 3>&-
wait $session || fail "session: $(cat /tmp/session.out)"
rnvme tags | grep -q tree.db && fail "tag still listed after detach"

# One-shot commands.
start=$(rnvme mkdb chain chain.db --hops 8 --block-size 4096 --fragmented | sed -n 's/.*starting at offset \([0-9]*\).*/\1/p')
[ -n "$start" ] || fail "no start offset"
out=$(rnvme run chain.db --function chain --offset "$start" --len 4096)
echo "$out"
echo "$out" | grep -q 'verdict Done, 8 reads' || fail "chain run"
out=$(rnvme test-run chain --block-file chain.db --offset "$start" --len 4096)
echo "$out"
echo "$out" | grep -q 'verdict Next: read 4096 B at' || fail "test-run"
rnvme mkdb records records.db --blocks 64 --block-size 4096 --key-space 100
# A tag set: the chain is file 1 of two files.
out=$(rnvme run records.db chain.db --function chain --file-index 1 --offset "$start" --len 4096)
echo "$out"
echo "$out" | grep -q 'verdict Done, 8 reads' || fail "chain run on a tag set"
echo "$out" | grep -q 'of file 1' || fail "last read not of file 1"
out=$(rnvme scan records.db --block-size 4096 --lo 10 --hi 19)
echo "$out"
echo "$out" | grep -qE '^[1-9][0-9]* matching records in 64 blocks' || fail "scan"
out=$(rnvme stats --format json)
echo "$out"
echo "$out" | grep -qE '^\{.*"chains":[0-9]+.*"driver_hops":[0-9]+.*\}$' || fail "stats json"
out=$(rnvme lookup tree.db 1 2 3 --polled)
echo "$out" | grep -q 'value' || fail "polled lookup"
# Lookups in flight on an io_uring ring answer line for line the same
# (the driver's share of the reads aside).
same() { sed 's/, [0-9]* in the driver//'; }
want=$(echo "$out" | same)
[ "$(rnvme lookup tree.db 1 2 3 --queue-depth 3 | same)" = "$want" ] || fail "lookup --queue-depth"
[ "$(rnvme lookup tree.db 1 2 3 --queue-depth 2 --polled | same)" = "$want" ] ||
	fail "lookup --queue-depth --polled"
rm -f /sys/fs/bpf/bptree

# A user's own function (bpf/examples/first_byte_sum.bpf.c, built with
# `rnvme headers` and clang as bpf/README.md shows), loaded by the CLI.
f=/rnvme/bpf/first_byte_sum.bpf.o
[ -f $f ] || fail "example object missing"
rnvme load $f
for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf %03o $((i + 10)))" ; head -c 4095 /dev/zero; done >bytes.db
# Scratch: blocks = 8 (little-endian u64), sum = 0. Sum of first bytes: 10+..+17 = 108 = 0x6c.
out=$(rnvme run bytes.db --function $f --offset 0 --len 4096 --scratch 0800000000000000 --show 16)
echo "$out"
echo "$out" | grep -q 'verdict Done, 8 reads' || fail "example chain"
echo "$out" | grep -q 'scratch 08000000000000006c00000000000000' || fail "example sum"
