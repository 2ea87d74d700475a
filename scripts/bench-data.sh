#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the engine benchmark's files with the real libraries (through the
# tools of benches/engines/, built by the Makefile): an LSM of about 280 MB
# written by Debian's librocksdb and a SQLite database of about 100 MB
# written by libsqlite3, with the keys the benchmark looks up. qemu/run.sh
# copies OUTDIR onto the 512 B disk as /bench.
# Usage: scripts/bench-data.sh TOOLDIR OUTDIR
#   OUTDIR/lsm/ lsm.keys    RocksDB (rnvme-bench-rocksdb build)
#   OUTDIR/rows.db rows.rowids rows.values   SQLite (rnvme-bench-sqlite build)
#   OUTDIR/stamp            hash of the tools and the libraries' versions:
#                           when it matches, nothing is rebuilt.
set -euo pipefail

TOOLS=${1:?usage: scripts/bench-data.sh TOOLDIR OUTDIR} OUT=${2:?usage}
log() { printf '[bench-data] %s\n' "$*" >&2; }

stamp=$({
	sha256sum "$TOOLS"/rnvme-bench-rocksdb "$TOOLS"/rnvme-bench-sqlite | cut -d' ' -f1
	dpkg-query -W -f='${Package} ${Version}\n' librocksdb-dev libsqlite3-0
} | sha256sum | cut -d' ' -f1)
if [[ -f $OUT/stamp && $(<"$OUT/stamp") == "$stamp" ]]; then
	log "up to date: $OUT"
	exit 0
fi

NEW=$OUT.new
rm -rf "$NEW"
mkdir -p "$NEW"
SECONDS=0
log "RocksDB LSM (librocksdb $(dpkg-query -W -f='${Version}' librocksdb-dev))"
"$TOOLS"/rnvme-bench-rocksdb build "$NEW/lsm" "$NEW/lsm.keys"
find "$NEW/lsm" -type f \( -name LOG -o -name 'LOG.old*' \) -delete
log "SQLite database (libsqlite3 $(dpkg-query -W -f='${Version}' libsqlite3-0))"
"$TOOLS"/rnvme-bench-sqlite build "$NEW/rows.db" "$NEW/rows.rowids" "$NEW/rows.values"
chmod -R a+rX "$NEW"
echo "$stamp" >"$NEW/stamp"
rm -rf "$OUT"
mv "$NEW" "$OUT"
log "built $OUT ($(du -sh "$OUT" | cut -f1)) in ${SECONDS}s"
