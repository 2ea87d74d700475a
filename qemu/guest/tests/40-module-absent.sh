# Without the module, the CLI says what to do and exits non-zero; no panic.
. /rnvme/lib.sh
unload_module
[ ! -e /dev/rnvme ] || fail "/dev/rnvme exists without the module"
if out=$(rnvme status 2>&1); then
	fail "rnvme status succeeded without the module: $out"
fi
echo "$out"
echo "$out" | grep -q 'insmod rnvme_hook.ko' || fail "no hint to load the module"
echo "$out" | grep -q 'panicked' && fail "the CLI panicked"
[ "$(echo "$out" | wc -l)" = 1 ] || fail "error is not one line"
