#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the rnvme kernel in QEMU with seven emulated NVMe namespaces, six
# with a fresh ext4 file system: 512 B and 4 KiB logical blocks, a 512 B one
# whose ext4 sits in a partition starting at 1 MiB, one whose reads of one
# sector fail (blkdebug), a slow one (reads throttled to SLOW_IOPS per
# second), and one on a controller with a single I/O queue pair, hence no
# poll queues; the seventh has XFS (/mnt/xfs in the guest). Each controller's QEMU device id is its serial (rnvme512, ...).
#
# Outside shell mode, qemu/qmp-watch.py follows the console and serves the
# guest's hot-unplug requests ("rnvme-host: device_del ID") through QEMU's
# monitor (QMP socket $BUILD/qmp.sock; the exchange goes to $BUILD/qmp.log).
#
#   qemu/run.sh test    run the in-VM tests; exit 0 only if the guest printed
#                       "N passed, 0 failed" and the kernel logged no oops/BUG
#   qemu/run.sh demo    the user story: insmod, a CLI session, a short
#                       benchmark; results copied to bench-results/
#   qemu/run.sh bench   the full benchmark; results copied to bench-results/
#   qemu/run.sh metrics the exporter under load for RNVME_METRICS_SECS (default
#                       120), reachable from the host at 127.0.0.1:
#                       RNVME_METRICS_PORT (scripts/prometheus-check.sh)
#   qemu/run.sh shell   an interactive shell in the guest (Ctrl-a x quits)
#
# Inputs: KERNEL (bzImage), INITRAMFS, BUILD (work dir), FIXTURES (optional:
# a directory copied to /fixtures of the 512 B and 4 KiB disks), BENCH_DATA
# (optional: one copied to /bench of the 512 B disk). Environment:
#   RNVME_ACCEL=kvm|tcg      skip the KVM probe and use this accelerator
#   RNVME_VM_TIMEOUT=SECS    hard limit for one boot (default 900)
#   RNVME_VM_CPUS, RNVME_VM_MEM   vCPUs (default 2) and memory (default 2G)
#   RNVME_STRESS_SECS=SECS   duration of the vmtest stress scenario (default 120)
#   RNVME_POLL_QUEUES=N      NVMe poll queues per controller (default 1)
set -euo pipefail

MODE=${1:?usage: qemu/run.sh test|demo|bench|metrics|shell}
: "${KERNEL:?set KERNEL to the bzImage}" "${INITRAMFS:?set INITRAMFS}" "${BUILD:?set BUILD}"
TIMEOUT=${RNVME_VM_TIMEOUT:-900}
CPUS=${RNVME_VM_CPUS:-2}
MEM=${RNVME_VM_MEM:-2G}
STRESS_SECS=${RNVME_STRESS_SECS:-120}
QEMU_DIR=$(cd "$(dirname "$0")" && pwd)

log() { printf '[vm] %s\n' "$*" >&2; }

# The sector of the fault disk whose reads fail (see the blkdebug rule below).
FAULT_SECTOR=98304
# Reads per second of the slow disk: each read waits about 1/SLOW_IOPS s.
SLOW_IOPS=25

# nohz=off: idle vCPUs keep ticking, so when one CPU is held in interrupt
# context another keeps jiffies going and runs the RCU stall check; with an
# idle tickless guest such a stall goes unreported.
CMDLINE="console=ttyS0 loglevel=5 nohz=off nvme.poll_queues=${RNVME_POLL_QUEUES:-1} panic=-1 oops=panic rnvme.fault_sector=$FAULT_SECTOR rnvme.slow_iops=$SLOW_IOPS rnvme.stress_secs=$STRESS_SECS rnvme.mode=$MODE rnvme.flavour=${FLAVOUR:-release}"

# The stall and lockup detectors report a CPU held for 21 and 20 s. The
# debug kernel (KASAN, lockdep) runs several times slower under TCG, and
# stop_machine() alone can take 20 s there: give it three times as long, so
# that only a real stall is reported (its hung-task timeout is in
# kernel-patches/config/debug.config).
# It also boots with acpi=noirq: its ACPI interpreter cannot finish the PIIX
# machine's PCI interrupt routing method (_PRT, an AML loop) within ACPI's
# 30 s loop limit under TCG; each try (boot, hot-plug, power-down) cost 30 s
# and failed anyway. Interrupts are routed from the BIOS's MP table instead
# (CONFIG_X86_MPPARSE in its config); the NVMe controllers use MSI-X.
if [[ ${FLAVOUR:-release} == debug ]]; then
	CMDLINE+=" rcupdate.rcu_cpu_stall_timeout=60 watchdog_thresh=30 acpi=noirq"
fi
# RNVME_ONLY=a,b: a development aid, runs only the shell tests and vmtest
# scenarios whose names start with one of these (no late tests). CI never
# sets it.
if [[ -n ${RNVME_ONLY:-} ]]; then
	CMDLINE+=" rnvme.only=$RNVME_ONLY"
fi
# RNVME_BENCH_ARGS="--workloads windows": options for the benchmark (bench
# mode).
if [[ -n ${RNVME_BENCH_ARGS:-} ]]; then
	CMDLINE+=" rnvme.bench_args=${RNVME_BENCH_ARGS// /\~}"
fi
# Metrics mode: a virtio NIC on QEMU's user network; the guest's exporter
# (port 9435) is forwarded to 127.0.0.1:RNVME_METRICS_PORT on the host only.
NET_ARGS=()
if [[ $MODE == metrics ]]; then
	CMDLINE+=" rnvme.metrics_secs=${RNVME_METRICS_SECS:-120}"
	NET_ARGS=(-nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${RNVME_METRICS_PORT:?set RNVME_METRICS_PORT}-:9435")
fi

base_args() {
	echo -machine pc -m "$MEM" -smp "$CPUS" -no-reboot -display none
	echo -kernel "$KERNEL" -initrd "$INITRAMFS"
}

# Nested KVM on these machines is a software hypervisor that can hang or run
# slower than TCG (see shared/KERNEL-NOTES.md): use it only when a short probe
# boot under it reaches user space.
pick_accel() {
	if [[ -n ${RNVME_ACCEL:-} ]]; then
		echo "$RNVME_ACCEL"
		return
	fi
	if [[ -r /dev/kvm && -w /dev/kvm ]]; then
		local probe_log=$BUILD/kvm-probe.log
		# shellcheck disable=SC2046
		timeout -k 5 20 qemu-system-x86_64 $(base_args) -accel kvm -cpu host \
			-append "console=ttyS0 panic=-1 rnvme.mode=probe" \
			-serial "file:$probe_log" -monitor none </dev/null >/dev/null 2>&1 || true
		if grep -q 'rnvme-probe: ok' "$probe_log" 2>/dev/null; then
			echo kvm
			return
		fi
	fi
	echo tcg
}

ACCEL=$(pick_accel)
case $ACCEL in
kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
tcg) ACCEL_ARGS=(-accel tcg -cpu max) ;;
*) log "RNVME_ACCEL must be kvm or tcg"; exit 2 ;;
esac
log "accelerator: $ACCEL, $CPUS vCPUs, $MEM, mode $MODE, ${FLAVOUR:-release} kernel $KERNEL"

mkdir -p "$BUILD"
OUT=$BUILD/vm-out
rm -rf "$OUT" && mkdir -p "$OUT"
# The 512 B and 4 KiB namespaces carry the RocksDB and SQLite files the
# real libraries wrote (FIXTURES, from `make fixtures`), under /fixtures.
# With BENCH_DATA (`make bench-data`: the engine benchmark's files), the
# 512 B disk is larger and holds them under /bench.
if [[ -n ${BENCH_DATA:-} ]]; then
	"$QEMU_DIR/mkdisk.sh" "$BUILD/nvme512.img" 1536 rnvme512 whole "${FIXTURES:-}" "$BENCH_DATA"
else
	"$QEMU_DIR/mkdisk.sh" "$BUILD/nvme512.img" 768 rnvme512 whole "${FIXTURES:-}"
fi
"$QEMU_DIR/mkdisk.sh" "$BUILD/nvme4k.img" 768 rnvme4k whole "${FIXTURES:-}"
"$QEMU_DIR/mkdisk.sh" "$BUILD/nvmepart.img" 256 rnvmepart partitioned
"$QEMU_DIR/mkdisk.sh" "$BUILD/nvmefault.img" 64 rnvmefault nojournal
"$QEMU_DIR/mkdisk.sh" "$BUILD/nvmeslow.img" 16 rnvmeslow
"$QEMU_DIR/mkdisk.sh" "$BUILD/nvmenopoll.img" 16 rnvmenopoll
"$QEMU_DIR/mkdisk.sh" "$BUILD/nvmexfs.img" 512 rnvmexfs xfs
# blkdebug fails every read of sector 98304 (48 MiB into the fault disk)
# with EIO: the device error of the fault-injection tests.
printf '[inject-error]\nevent = "read_aio"\niotype = "read"\nerrno = "5"\nsector = "%d"\nonce = "off"\n' \
	"$FAULT_SECTOR" >"$BUILD/blkdebug.conf"

# The guest's hot-unplug test needs the QMP watcher, which shell mode lacks.
[[ $MODE == shell ]] || CMDLINE+=" rnvme.host=qmp"
# shellcheck disable=SC2046
ARGS=(
	$(base_args) "${ACCEL_ARGS[@]}"
	-append "$CMDLINE rnvme.accel=$ACCEL rnvme.qemu=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9.]*\).*/\1/p')"
	-drive "file=$BUILD/nvme512.img,if=none,id=nvm512,format=raw"
	-device "nvme,id=rnvme512,serial=rnvme512,drive=nvm512"
	-drive "file=$BUILD/nvme4k.img,if=none,id=nvm4k,format=raw"
	-device "nvme,id=rnvme4k,serial=rnvme4k,drive=nvm4k,logical_block_size=4096,physical_block_size=4096"
	-drive "file=$BUILD/nvmepart.img,if=none,id=nvmpart,format=raw"
	-device "nvme,id=rnvmepart,serial=rnvmepart,drive=nvmpart"
	-drive "driver=raw,file.driver=blkdebug,file.config=$BUILD/blkdebug.conf,file.image.driver=file,file.image.filename=$BUILD/nvmefault.img,if=none,id=nvmfault"
	-device "nvme,id=rnvmefault,serial=rnvmefault,drive=nvmfault"
	# QEMU's I/O throttling (blkdebug has no delay rule): SLOW_IOPS reads
	# per second (after a burst of a few reads when idle).
	-drive "file=$BUILD/nvmeslow.img,if=none,id=nvmslow,format=raw,throttling.iops-read=$SLOW_IOPS"
	-device "nvme,id=rnvmeslow,serial=rnvmeslow,drive=nvmslow"
	# One I/O queue pair: the driver keeps it for interrupt-driven I/O and
	# makes no poll queue, whatever nvme.poll_queues says.
	-drive "file=$BUILD/nvmenopoll.img,if=none,id=nvmnopoll,format=raw"
	-device "nvme,id=rnvmenopoll,serial=rnvmenopoll,drive=nvmnopoll,max_ioqpairs=1"
	# XFS (reflink on): tags work on it too.
	-drive "file=$BUILD/nvmexfs.img,if=none,id=nvmxfs,format=raw"
	-device "nvme,id=rnvmexfs,serial=rnvmexfs,drive=nvmxfs"
	-virtfs "local,path=$OUT,mount_tag=rnvmeout,security_model=none"
	"${NET_ARGS[@]}"
)

if [[ $MODE == shell ]]; then
	exec qemu-system-x86_64 "${ARGS[@]}" -nographic
fi

LOG=$BUILD/console-$MODE.log
QMP=$BUILD/qmp.sock
rm -f "$LOG" "$QMP" "$BUILD/qmp.log"
"$QEMU_DIR/qmp-watch.py" "$LOG" "$QMP" "$BUILD/qmp.log" &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT
set +e
# sed -u: lines reach the log (and the watcher) as the guest prints them.
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 "${ARGS[@]}" \
	-monitor none -qmp "unix:$QMP,server=on,wait=off" -serial stdio </dev/null |
	sed -u 's/\r//g' | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
kill "$watcher" 2>/dev/null || true
wait "$watcher" 2>/dev/null || true

# Fails when the console log $1 shows a kernel report (KERNEL_BUGS below).
scan_console() {
	if grep -qE "$KERNEL_BUGS" "$1"; then
		fail "the guest kernel reported a bug:$(printf '\n'; grep -m5 -E "$KERNEL_BUGS" "$1")"
	fi
}

fail() {
	log "$*"
	log "last lines of the console ($LOG):"
	tail -n 40 "$LOG" | sed 's/^/    /' >&2
	exit 1
}

if [[ $status == 124 || $status == 137 ]]; then
	fail "the VM did not finish within ${TIMEOUT}s (hang?)"
elif [[ $status != 0 ]]; then
	fail "QEMU exited with status $status"
fi
# Any oops, BUG (KASAN reports are "BUG: KASAN: ..."), WARNING (lockdep's too),
# UBSAN report, a leak kmemleak found, or a CPU or task held too long fails
# the run, whatever the tests said: RCU stalls ("rcu: INFO: rcu_sched detected
# stalls", "self-detected stall"), soft and hard lockups, hung tasks ("INFO:
# task ... blocked for more than", "hung_task"), and handlers that "took too
# long to run".
KERNEL_BUGS='Kernel panic|BUG:|Oops|WARNING:|general protection fault|UBSAN|unreferenced object|possible recursive locking|inconsistent lock state'
KERNEL_BUGS+='|rcu: INFO:|detected stalls? on CPU|self-detected stall|soft lockup|hard LOCKUP|INFO: task .* blocked|blocked for more than [0-9]+ seconds|hung_task|took too long to run'
scan_console "$LOG"
if [[ $MODE == demo || $MODE == bench ]]; then
	grep -q '^rnvme-bench: done' "$LOG" || fail "the benchmark did not finish"
	RESULTS=${RESULTS:-$(dirname "$BUILD")/bench-results}
	mkdir -p "$RESULTS"
	cp "$OUT"/bench/bench.json "$OUT"/bench/bench.txt "$RESULTS"/
	# bench.svg plots the chain workloads, engines.svg the engine ones,
	# queue.svg the lookups in flight from one thread.
	for svg in bench.svg engines.svg queue.svg; do
		rm -f "${RESULTS:?}/$svg"
		[[ ! -f $OUT/bench/$svg ]] || cp "$OUT/bench/$svg" "$RESULTS"/
	done
	log "results: $RESULTS/bench.txt, bench.json and the plots"
fi
if [[ $MODE == test ]]; then
	result=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOG" | tail -n 1)
	[[ -n $result ]] || fail "the guest did not report a test result (crash, hang or early exit)"
	log "guest ($ACCEL): $result"
	[[ $result == *" 0 failed" ]] || fail "guest tests failed"
	echo "$result"
fi
