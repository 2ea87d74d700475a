# Device loss: the NVMe controller of the fault disk is removed (PCI remove,
# the guest's side of a hot-unplug) while a chain loop runs on a file of it.
# The loop ends with a clean error, the module keeps working, and (checked by
# the next test) still unloads.
. /rnvme/lib.sh
load_module
mount_nvme
dev=$(basename "$(readlink /dev/rnvmefault)")
pci=$(basename "$(readlink -f /sys/block/$dev/device/device)")
start=$(rnvme mkdb chain /mnt/fault/chain.db --hops 16 --block-size 4096 | sed -n 's/.*starting at offset \([0-9]*\).*/\1/p')
rnvme-vmtest chain-loop /mnt/fault/chain.db "$start" irq >/tmp/loop.out 2>&1 &
loop=$!
sleep 1
grep -q looping /tmp/loop.out || fail "chain loop did not start: $(cat /tmp/loop.out)"
echo "removing $pci ($dev)"
echo 1 >/sys/bus/pci/devices/$pci/remove
i=0
while kill -0 $loop 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 300 ] || fail "the chain loop did not end after the device went away"
	sleep 0.1
done
cat /tmp/loop.out
grep -qE 'chain-loop: .*(Input/output error|No such device)' /tmp/loop.out ||
	fail "the loop did not end with a device error"
[ ! -e /sys/block/$dev ] || fail "$dev still there"
rnvme stats >/dev/null
umount -l /mnt/fault
