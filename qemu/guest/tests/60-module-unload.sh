# rmmod refuses while /dev/rnvme is open, works once it is closed, removes
# the device, and the module loads again afterwards.
. /rnvme/lib.sh
load_module
exec 3</dev/rnvme
if rmmod rnvme_hook 2>/tmp/rmmod.err; then
	fail "rmmod succeeded while /dev/rnvme was open"
fi
cat /tmp/rmmod.err
exec 3<&-
rmmod rnvme_hook
[ ! -e /dev/rnvme ] || fail "/dev/rnvme left behind"
dmesg | grep -q 'rnvme_hook: unloaded' || fail "no unload message"
expect_fail rnvme status
for i in 1 2 3; do
	insmod /rnvme/rnvme_hook.ko
	rnvme status >/dev/null
	rmmod rnvme_hook
done
module_loaded && fail "module still loaded"
echo "load/unload cycles ok"
