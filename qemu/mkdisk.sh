#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Make an ext4 (or XFS) image for an emulated NVMe namespace.
# Usage: qemu/mkdisk.sh IMAGE SIZE_MIB LABEL [whole|partitioned|nojournal|xfs] [FIXTURES] [BENCH]
# The file system uses 4 KiB blocks, so the same image works on a namespace
# with 512 B or 4 KiB logical blocks. With "partitioned", the image gets an
# MBR with one partition starting at 1 MiB and ext4 goes in it, so that
# chain reads must honour the partition's offset. With "nojournal", ext4
# has no journal (the fault-injection disk: only file data may hit the
# failing sector). With a FIXTURES directory (scripts/fixtures/make-fixtures.sh
# output), the new file system holds a copy of it in /fixtures; with a BENCH
# directory (scripts/bench-data.sh output), one in /bench. With "xfs", the
# image is XFS (4 KiB blocks, reflink on; at least 300 MiB) and empty: tests
# copy what they need onto it in the guest.
set -euo pipefail

IMAGE=$1 SIZE=$2 LABEL=$3 LAYOUT=${4:-whole} FIXTURES=${5:-} BENCH=${6:-}
export PATH=$PATH:/sbin:/usr/sbin
rm -f "$IMAGE"
truncate -s "${SIZE}M" "$IMAGE"

# mkfs.ext4 -d copies a directory tree into the new file system; it takes
# the root directory's mode from the source, so stage it in a 0755 one.
populate=()
stage=
stage_copy() { # SOURCE NAME
	[[ -d $1 ]] || { echo "mkdisk.sh: no directory $1" >&2; exit 1; }
	if [[ -z $stage ]]; then
		stage=$(mktemp -d "$IMAGE.stage.XXXXXX")
		trap 'rm -rf "$stage"' EXIT
		chmod 0755 "$stage"
		populate=(-d "$stage")
	fi
	# Hard links when on the same file system, a copy otherwise.
	cp -al "$1" "$stage/$2" 2>/dev/null || { rm -rf "${stage:?}/$2" && cp -a "$1" "$stage/$2"; }
}
[[ -z $FIXTURES ]] || stage_copy "$FIXTURES" fixtures
[[ -z $BENCH ]] || stage_copy "$BENCH" bench

if [[ $LAYOUT == xfs ]]; then
	[[ -z $FIXTURES$BENCH ]] || { echo "mkdisk.sh: an XFS image starts empty" >&2; exit 1; }
	mkfs.xfs -f -q -b size=4096 -m reflink=1 -L "$LABEL" "$IMAGE"
elif [[ $LAYOUT == partitioned ]]; then
	echo 'start=2048, type=83' | sfdisk --quiet "$IMAGE"
	mkfs.ext4 -F -q -b 4096 -L "$LABEL" -E offset=1048576 "${populate[@]}" \
		"$IMAGE" $(((SIZE - 1) * 256))
elif [[ $LAYOUT == nojournal ]]; then
	mkfs.ext4 -F -q -b 4096 -O ^has_journal -L "$LABEL" "${populate[@]}" "$IMAGE"
else
	# verity and encrypt: attach must be shown to refuse such files.
	mkfs.ext4 -F -q -b 4096 -O verity,encrypt -L "$LABEL" "${populate[@]}" "$IMAGE"
fi
