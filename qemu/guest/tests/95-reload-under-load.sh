# insmod/rmmod in a loop while other processes run lookups: they get either
# answers or a clean one-line error (no device, or the module going away);
# rmmod is refused while a process has /dev/rnvme open; no oops, no hang.
. /rnvme/lib.sh
load_module
mount_nvme
rnvme mkdb bptree /mnt/nvme/reload.db --keys 500 --depth 2 --node-size 512 >/dev/null
rm -f /tmp/lk.*
# The debug kernel (KASAN, lockdep: each lookup's load and verification and
# each insmod several times slower under TCG) runs fewer rounds.
rounds=150
[ "$(arg rnvme.flavour)" != debug ] || rounds=40
for p in 1 2; do
	(
		i=0
		while [ $i -lt $rounds ]; do
			rnvme lookup /mnt/nvme/reload.db 1 2 3 >>/tmp/lk.out.$p 2>>/tmp/lk.err.$p || true
			i=$((i + 1))
		done
		echo done >/tmp/lk.done.$p
	) &
done
loads=0
busy=0
while [ ! -e /tmp/lk.done.1 ] || [ ! -e /tmp/lk.done.2 ]; do
	if rmmod rnvme_hook 2>/dev/null; then
		insmod /rnvme/rnvme_hook.ko
		loads=$((loads + 1))
	else
		busy=$((busy + 1))
	fi
done
wait
load_module
answers=$(cat /tmp/lk.out.* | grep -c 'key')
echo "$loads reloads, $busy rmmod refused (busy), $answers answers"
cat /tmp/lk.err.* | sort | uniq -c
[ "$loads" -gt 0 ] || fail "the module was never reloaded"
[ "$answers" -gt 0 ] || fail "no lookup got through"
if grep -v -E '^rnvme: .*(no rnvme control device|chain read failed|attach failed|cannot open|No such device)' /tmp/lk.err.*; then
	fail "an error that is not a clean one-line refusal"
fi
! grep -q panicked /tmp/lk.err.* || fail "panic"
rm /mnt/nvme/reload.db
