# Bad input to every subcommand: exit code 1 and one line saying what is
# wrong, never a backtrace.
. /rnvme/lib.sh
load_module
mount_nvme
cd /mnt/nvme
rnvme mkdb bptree tree.db --keys 100 --depth 2 --node-size 512 >/dev/null
rnvme mkdb chain chain.db --hops 2 >/dev/null
echo hello >/tmp/plain

expect_cli_error 'no rnvme control device' rnvme --device /dev/nonexistent status
expect_cli_error 'neither a built-in function' rnvme load nosuchfunction
expect_cli_error 'loading storage function /tmp/plain' rnvme load /tmp/plain
expect_cli_error 'is a BPF file system mounted' rnvme load chain --pin /tmp/nodir/x
expect_cli_error 'is a BPF file system mounted' rnvme attach tree.db --pinned /sys/fs/bpf/nosuch </dev/null
expect_cli_error 'cannot open' rnvme attach /mnt/nvme/missing --function bptree </dev/null
expect_cli_error 'past the end of the file' rnvme run chain.db --function chain --offset 1048576
expect_cli_error 'of a file inside the tag set' rnvme run chain.db --function chain --offset 0 --len 512 --file-index 1
expect_cli_error 'past the end of the file' rnvme run chain.db --function chain --offset 100 --len 65536
expect_cli_error 'must be on ext4' rnvme run /tmp/plain --function chain --offset 0 --len 512
expect_cli_error 'bad hex' rnvme run chain.db --function chain --offset 0 --scratch zz
expect_cli_error 'not an rnvme B\+-tree' rnvme lookup chain.db 1
expect_cli_error 'are not all in the file' rnvme scan tree.db --block-size 4096 --first 100
expect_cli_error 'no 4096 bytes' rnvme test-run chain --block-file /tmp/plain
expect_cli_error 'no rnvme control device' rnvme --device /dev/nonexistent stats
expect_cli_error 'do not fit in 1 levels' rnvme mkdb bptree /tmp/t.db --keys 100000 --depth 1
expect_cli_error 'differs from the description' rnvme mkdb bptree tree.db --keys 100 --depth 2 --node-size 512 --seed 7 --verify
# Usage errors are clap's: exit 2 with a usage message.
if rnvme run chain.db --offset 0 2>/tmp/usage.err; then fail "missing --function accepted"; fi
grep -q 'required' /tmp/usage.err || fail "no usage message"

expect_cli_error 'cannot write' rnvme headers --out /proc/nope
echo "all bad input refused"
