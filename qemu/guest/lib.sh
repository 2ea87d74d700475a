# SPDX-License-Identifier: GPL-2.0
# Helpers for the in-VM tests (sourced; tests run under `sh -e`).

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
}
