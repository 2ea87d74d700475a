# ext4 mounts on both namespaces and O_DIRECT writes read back byte for byte.
. /rnvme/lib.sh
mount_nvme
for m in /mnt/nvme /mnt/nvme4k; do
	grep " $m ext4 " /proc/mounts || fail "$m is not ext4"
	dd if=/dev/urandom of=/tmp/pattern bs=4096 count=64 2>/dev/null
	dd if=/tmp/pattern of=$m/direct bs=4096 oflag=direct 2>/dev/null
	sync
	echo 3 >/proc/sys/vm/drop_caches
	dd if=$m/direct of=/tmp/back bs=4096 iflag=direct 2>/dev/null
	cmp /tmp/pattern /tmp/back || fail "O_DIRECT data on $m differs"
	rm $m/direct
done
