# Both emulated NVMe namespaces are there, with the logical block sizes the
# VM asked for, and the driver set up a poll queue (nvme.poll_queues=1).
. /rnvme/lib.sh
for dev in nvme0n1 nvme1n1; do
	[ -b /dev/$dev ] || fail "/dev/$dev missing"
done
lbs0=$(cat /sys/block/nvme0n1/queue/logical_block_size)
lbs1=$(cat /sys/block/nvme1n1/queue/logical_block_size)
echo "nvme0n1: $lbs0 B LBA, nvme1n1: $lbs1 B LBA"
[ "$lbs0" = 512 ] || fail "nvme0n1 logical block size $lbs0, want 512"
[ "$lbs1" = 4096 ] || fail "nvme1n1 logical block size $lbs1, want 4096"
expect_output 'poll queues' dmesg
dmesg | grep -E 'nvme nvme0: [0-9]+/[0-9]+/[1-9][0-9]* default/read/poll queues' ||
	fail "no poll queue on nvme0"
