# Both emulated NVMe namespaces are there, named by serial (/dev/rnvme512,
# /dev/rnvme4k), with the logical block sizes the VM asked for, and the
# driver set up a poll queue (nvme.poll_queues=1).
. /rnvme/lib.sh
for serial in rnvme512 rnvme4k; do
	[ -b /dev/$serial ] || fail "/dev/$serial missing"
done
lbs() { cat /sys/block/$(basename $(readlink /dev/$1))/queue/logical_block_size; }
echo "rnvme512 -> $(readlink /dev/rnvme512): $(lbs rnvme512) B LBA"
echo "rnvme4k -> $(readlink /dev/rnvme4k): $(lbs rnvme4k) B LBA"
[ "$(lbs rnvme512)" = 512 ] || fail "rnvme512 logical block size $(lbs rnvme512)"
[ "$(lbs rnvme4k)" = 4096 ] || fail "rnvme4k logical block size $(lbs rnvme4k)"
dmesg | grep -E 'nvme nvme[0-9]+: [0-9]+/[0-9]+/[1-9][0-9]* default/read/poll queues' ||
	fail "no poll queue"
# The third namespace holds ext4 in a partition 1 MiB (2048 sectors) in.
part=$(basename $(readlink /dev/rnvmepart))
start=$(cat /sys/block/$part/${part}p1/start)
echo "rnvmepart -> $part: partition 1 starts at sector $start"
[ "$start" = 2048 ] || fail "partition starts at $start"
