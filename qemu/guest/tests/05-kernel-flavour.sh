# The kernel is the flavour the host asked for: the debug one has KASAN and
# kmemleak, the release one neither.
. /rnvme/lib.sh
flavour=$(arg rnvme.flavour)
echo "flavour $flavour, kernel $(uname -r)"
if dmesg | grep -q 'KernelAddressSanitizer initialized'; then kasan=1; else kasan=0; fi
if [ -e /sys/kernel/debug/kmemleak ]; then kmemleak=1; else kmemleak=0; fi
echo "kasan $kasan, kmemleak $kmemleak"
case $flavour in
debug) [ $kasan = 1 ] && [ $kmemleak = 1 ] || fail "not a debug kernel" ;;
release) [ $kasan = 0 ] && [ $kmemleak = 0 ] || fail "a debug kernel where release was asked for" ;;
*) fail "unknown flavour $flavour" ;;
esac
