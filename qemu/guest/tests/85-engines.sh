# The engine walkers pass the verifier (its walk is printed: it must stay
# under the bound of one run in interrupt context), and the CLI answers as
# RocksDB and SQLite did on the files they wrote (the .expect lines).
. /rnvme/lib.sh
load_module
mount_nvme
export RNVME_VERIFIER_LOG=150
for f in rocksdb sqlite; do
	RNVME_VERIFIER_STATS=1 expect_output "^$f: loaded" rnvme load $f
done

F=/mnt/nvme/fixtures
# rocksdb get/seek: the CLI's line starts with the library's answer line.
# Lines whose keys and values start with a byte that is not printable: the
# CLI shows those as x + hex, as the .expect files do.
hexy='function hexy(s) { b = substr(s, 2, 2); return length(s) > 1 && (b < "21" || b > "7e") }'
check_rocksdb() { # DB OP [qd]: the first short found-lines of DB.expect for OP
	awk -v op="$2" "$hexy"' $1 == op && $3 == "found" && length($0) < 200 &&
		hexy($2) && hexy($4) && (op == "get" || hexy($5))' \
		"$F/rocksdb/$1.expect" | head -3 >/tmp/want
	[ -s /tmp/want ] || fail "$1: no $2 lines to check"
	# One call for all the keys (each call loads and verifies the
	# function): a line per key, in order.
	keys=$(cut -d' ' -f2 /tmp/want)
	modes="-,--polled"
	# With qd, the gets also run in flight on an io_uring ring (each call
	# loads and verifies the walker: 13 s on the debug kernel, so one DB).
	[ "${3:-}" = qd ] && modes="$modes,--queue-depth 2,--queue-depth 3 --polled"
	IFS=,
	for mode in $modes; do
		unset IFS
		[ "$mode" = - ] && mode=
		# shellcheck disable=SC2086
		rnvme rocksdb "$2" $mode "$F/rocksdb/$1" $keys >/tmp/got ||
			fail "rnvme rocksdb $2 $mode $1 failed: $(cat /tmp/got)"
		cat /tmp/got
		[ "$(wc -l </tmp/got)" = "$(wc -l </tmp/want)" ] || fail "$1: a line per key"
		while read -r line && read -r out <&3; do
			case $out in "$line ("*) ;; *) fail "$1: want '$line'" ;; esac
		done </tmp/want 3</tmp/got
	done
}
for db in fv2 fv5 partitioned; do
	check_rocksdb $db get
done
check_rocksdb fv6 get qd
check_rocksdb fv6 seek
expect_output '"found":true' rnvme rocksdb get --format json "$F/rocksdb/fv6" \
	"$(awk '$1 == "get" && $3 == "found" {print $2; exit}' "$F/rocksdb/fv6.expect")"
expect_output '^L0 [0-9]+\.sst .*format_version 4' rnvme rocksdb files "$F/rocksdb/fv4"
# A compressed DB is still answered (user space finishes the block).
check_rocksdb lz4 get

# sqlite: rows by rowid and by an indexed column, as SQLite's SELECT gave.
expect_output "^get users 12500 found rowid 12500: id=12500 " \
	rnvme sqlite get "$F/sqlite/pages64k.db" users 12500
expect_output '"found":true' rnvme sqlite get --format json --polled \
	"$F/sqlite/pages4k.db" users 12500
expect_output "^get users 999999999 absent" rnvme sqlite get "$F/sqlite/pages4k.db" users 999999999
expect_output "^table users: root" rnvme sqlite tables "$F/sqlite/pages4k.db"
expect_output "found rowid" rnvme sqlite find "$F/sqlite/pages4k.db" users age 59
# Rows in flight on an io_uring ring: the same lines as one by one.
rowids="12500 999999999 1 2 3 40000"
# shellcheck disable=SC2086
# (The driver's share of a chain's reads may differ from run to run.)
same() { sed 's/ ([0-9]* resubmitted by the driver)//' "$1"; }
rnvme sqlite get "$F/sqlite/pages4k.db" users $rowids >/tmp/one || fail "sqlite get"
for qd in 4 "2 --polled"; do
	# shellcheck disable=SC2086
	rnvme sqlite get --queue-depth $qd "$F/sqlite/pages4k.db" users $rowids >/tmp/many ||
		fail "sqlite get --queue-depth $qd"
	[ "$(same /tmp/one)" = "$(same /tmp/many)" ] || fail "sqlite get --queue-depth $qd: $(cat /tmp/many)"
done
expect_cli_error "queue-depth is for gets" rnvme sqlite find --queue-depth 2 "$F/sqlite/pages4k.db" users age 59
# Refusals name the file and say why.
expect_cli_error "wal.db.*WAL mode.*not yet checkpointed" rnvme sqlite get "$F/sqlite/wal.db" t 1
expect_cli_error "journal.db.*hot rollback journal" rnvme sqlite get "$F/sqlite/journal.db" t 1
expect_cli_error "no such table nope" rnvme sqlite get "$F/sqlite/pages4k.db" nope 1
