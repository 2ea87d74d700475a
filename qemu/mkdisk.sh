#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Make an empty ext4 image for an emulated NVMe namespace.
# Usage: qemu/mkdisk.sh IMAGE SIZE_MIB LABEL
# The file system uses 4 KiB blocks, so the same image works on a namespace
# with 512 B or 4 KiB logical blocks.
set -euo pipefail

IMAGE=$1 SIZE=$2 LABEL=$3
export PATH=$PATH:/sbin:/usr/sbin
rm -f "$IMAGE"
truncate -s "${SIZE}M" "$IMAGE"
mkfs.ext4 -F -q -b 4096 -L "$LABEL" "$IMAGE"
