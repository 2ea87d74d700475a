#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guest root as an initramfs: busybox-static, the rnvme binaries
# with the shared libraries they need, the rnvme_hook module and the in-VM
# tests.  Usage: qemu/mkinitramfs.sh OUT.cpio.gz MODULE.ko BINARY...
set -euo pipefail

QEMU_DIR=$(cd "$(dirname "$0")" && pwd)
OUT=$1 MODULE=$2
shift 2
STAGE=$OUT.d

rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc,mnt/nvme,mnt/nvme4k,mnt/part,mnt/fault,mnt/slow,mnt/nopoll,mnt/xfs,mnt/out,rnvme}

# Busybox and its applets.
cp /bin/busybox "$STAGE/bin/busybox"
for applet in $(/bin/busybox --list-full); do
	[[ -e $STAGE/$applet ]] || ln -s /bin/busybox "$STAGE/$applet"
done

# Our binaries and every shared library they load, at the host's paths.
for bin in "$@"; do
	cp "$bin" "$STAGE/usr/bin/"
	ldd "$bin" | grep -o '/[^ ]*' | while read -r lib; do
		mkdir -p "$STAGE$(dirname "$lib")"
		cp -L "$lib" "$STAGE$lib"
	done
done

cp "$MODULE" "$STAGE/rnvme/"
# Storage functions built from bpf/examples/ (see the Makefile).
mkdir -p "$STAGE/rnvme/bpf"
cp "$(dirname "$OUT")"/bpf/*.bpf.o "$STAGE/rnvme/bpf/" 2>/dev/null || true
cp "$QEMU_DIR/guest/init" "$STAGE/init"
cp "$QEMU_DIR/guest/run-tests" "$QEMU_DIR/guest/lib.sh" "$QEMU_DIR/guest/demo" \
	"$QEMU_DIR/guest/metrics-load" "$STAGE/rnvme/"
cp -r "$QEMU_DIR/guest/tests" "$STAGE/rnvme/tests"
cp -r "$QEMU_DIR/guest/late" "$STAGE/rnvme/late"
chmod +x "$STAGE/init" "$STAGE/rnvme/run-tests" "$STAGE/rnvme/demo"

# An unprivileged user for the privilege tests.
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$STAGE/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$STAGE/etc/group"

(cd "$STAGE" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$OUT"
echo "[initramfs] $OUT ($(du -h "$OUT" | cut -f1))"
