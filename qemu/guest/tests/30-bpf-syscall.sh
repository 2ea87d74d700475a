# The bpf(2) syscall loads a program and the JIT is on (BPF_JIT_ALWAYS_ON).
. /rnvme/lib.sh
[ "$(cat /proc/sys/net/core/bpf_jit_enable)" = 1 ] || fail "BPF JIT is off"
load_module
expect_output '^bpf: available, JIT on$' rnvme status
