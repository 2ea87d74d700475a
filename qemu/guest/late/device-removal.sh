# Device loss: the host hot-unplugs the NVMe controller of the fault disk
# through QEMU's monitor (QMP device_del, which the guest's ACPI PCI hotplug
# ejects) while chain loops run on a file of it, interrupt-driven and
# polled, and a CLI session holds a tag on it. The loops end with a clean
# error, the CLI reports one on one line, `rnvme stats` still works, and
# (checked by the next test) the module still unloads.
. /rnvme/lib.sh
[ "$(arg rnvme.host)" = qmp ] ||
	fail "needs the host's QMP watcher (qemu/run.sh test starts it); this VM has none"
load_module
mount_nvme
dev=$(basename "$(readlink /dev/rnvmefault)")
file=/mnt/fault/chain.db
start=$(rnvme mkdb chain $file --hops 16 --block-size 4096 | sed -n 's/.*starting at offset \([0-9]*\).*/\1/p')
rnvme-vmtest chain-loop $file "$start" irq >/tmp/loop-irq.out 2>&1 &
loop_irq=$!
rnvme-vmtest chain-loop $file "$start" polled >/tmp/loop-polled.out 2>&1 &
loop_polled=$!
rm -f /tmp/session.in
mkfifo /tmp/session.in
rnvme attach $file --function chain </tmp/session.in >/tmp/session.out 2>/tmp/session.err &
session=$!
exec 3>/tmp/session.in
echo "run $start 4096" >&3
sleep 1
for mode in irq polled; do
	grep -q looping /tmp/loop-$mode.out || fail "$mode chain loop did not start: $(cat /tmp/loop-$mode.out)"
done
grep -q 'verdict Done, 16 reads' /tmp/session.out || fail "session before the unplug: $(cat /tmp/session.out /tmp/session.err)"

# wait_gone PID WHAT: PID ends within 30 s.
wait_gone() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || fail "$2 did not end after the device went away"
		sleep 0.1
	done
}

echo "requesting device_del rnvmefault ($dev) from the host"
echo "rnvme-host: device_del rnvmefault" >/dev/console
i=0
while [ -e /sys/block/$dev ]; do
	i=$((i + 1))
	[ $i -lt 600 ] || fail "$dev still there 60 s after the device_del request: no host answered (see build/qmp.log)"
	sleep 0.1
done
echo "$dev gone $((i / 10)).$((i % 10)) s after the request"

for mode in irq polled; do
	eval "pid=\$loop_$mode"
	wait_gone "$pid" "the $mode chain loop"
	cat /tmp/loop-$mode.out
	grep -qE 'chain-loop: .*(Input/output error|No such device)' /tmp/loop-$mode.out ||
		fail "the $mode loop did not end with a device error"
done

# The session's tag outlived the device: its next chain fails with a
# one-line error, and the session still ends cleanly.
echo "run $start 4096" >&3
echo detach >&3
exec 3>&-
wait_gone $session "the attach session"
cat /tmp/session.err
grep -qE '^rnvme: chain read failed .*(Input/output error|No such device)' /tmp/session.err ||
	fail "the session did not report the lost device"
grep -q 'detached tag' /tmp/session.out || fail "the session did not end: $(cat /tmp/session.out)"
# A new attempt fails with one line too.
expect_cli_error 'Input/output error|No such device' rnvme run $file --function chain --offset "$start" --len 4096
rnvme stats
umount -l /mnt/fault
