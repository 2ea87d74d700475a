# The module loads on the -rnvme kernel, creates /dev/rnvme, and
# `rnvme status` reports the ABI version it speaks.
. /rnvme/lib.sh
unload_module
case $(uname -r) in *-rnvme) ;; *) fail "kernel $(uname -r) is not an rnvme kernel" ;; esac
insmod /rnvme/rnvme_hook.ko
[ -c /dev/rnvme ] || fail "/dev/rnvme is not a character device"
dmesg | grep -E 'rnvme_hook: /dev/rnvme ready, ABI 4\.[0-9]+' || fail "no load message"
expect_output '^module: rnvme_hook ABI 4\.[0-9]+ at /dev/rnvme' rnvme status
# Any user may open the device; each ioctl checks rights on what it names.
# Unprivileged BPF is off (CONFIG_BPF_UNPRIV_DEFAULT_OFF), and status says so.
[ "$(cat /proc/sys/kernel/unprivileged_bpf_disabled)" != 0 ] || fail "unprivileged BPF is enabled"
out=$(su -s /bin/sh user -c 'rnvme status' 2>&1) || fail "status as user failed: $out"
echo "$out"
echo "$out" | grep -qE '^module: rnvme_hook ABI 4\.[0-9]+' || fail "no module line for user"
echo "$out" | grep -q '^bpf: unavailable: .*Operation not permitted' || fail "user could load BPF"
