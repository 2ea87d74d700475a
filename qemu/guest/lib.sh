# SPDX-License-Identifier: GPL-2.0
# Helpers for the in-VM tests (sourced; tests run under `sh -e`).

# arg NAME: the value of NAME=... on the kernel command line.
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

fail() {
	echo "FAIL: $*"
	exit 1
}

# expect_fail CMD...: CMD must exit non-zero.
expect_fail() {
	if "$@"; then
		fail "expected failure: $*"
	fi
}

# expect_output PATTERN CMD...: CMD must succeed and print a line matching
# the extended regex PATTERN (stdout and stderr both count).
expect_output() {
	pattern=$1
	shift
	out=$("$@" 2>&1) || fail "command failed: $* -> $out"
	echo "$out"
	echo "$out" | grep -qE "$pattern" || fail "'$*' did not print /$pattern/"
}

module_loaded() {
	grep -q '^rnvme_hook ' /proc/modules
}

load_module() {
	module_loaded || insmod /rnvme/rnvme_hook.ko
}

unload_module() {
	if module_loaded; then rmmod rnvme_hook; fi
}

mount_nvme() {
	grep -q " /mnt/nvme " /proc/mounts || mount -t ext4 /dev/rnvme512 /mnt/nvme
	grep -q " /mnt/nvme4k " /proc/mounts || mount -t ext4 /dev/rnvme4k /mnt/nvme4k
	grep -q " /mnt/part " /proc/mounts || mount -t ext4 "$(readlink /dev/rnvmepart)p1" /mnt/part
	grep -q " /mnt/fault " /proc/mounts || mount -t ext4 /dev/rnvmefault /mnt/fault
	grep -q " /mnt/slow " /proc/mounts || mount -t ext4 /dev/rnvmeslow /mnt/slow
	grep -q " /mnt/nopoll " /proc/mounts || mount -t ext4 /dev/rnvmenopoll /mnt/nopoll
	grep -q " /mnt/xfs " /proc/mounts || mount -t xfs /dev/rnvmexfs /mnt/xfs
}

# expect_cli_error PATTERN CMD...: CMD must fail (exit 1, not a clap usage
# error or a crash), print one line on stderr starting with "rnvme: " that
# matches PATTERN, and not panic.
expect_cli_error() {
	pattern=$1
	shift
	if "$@" >/tmp/cli.out 2>/tmp/cli.err; then
		fail "succeeded: $*"
	else
		code=$?
	fi
	cat /tmp/cli.err
	[ "$code" = 1 ] || fail "exit code $code: $*"
	[ "$(wc -l </tmp/cli.err)" = 1 ] || fail "not one line: $*"
	grep -q '^rnvme: ' /tmp/cli.err || fail "no 'rnvme:' prefix: $*"
	grep -qE "$pattern" /tmp/cli.err || fail "'$*' did not say /$pattern/"
	! grep -q panicked /tmp/cli.err || fail "panic: $*"
}
