# rnvme — the table of contents. `make help` lists the targets.
#
# The kernel build lives outside the clone, in ~/.cache/rnvme (RNVME_CACHE),
# keyed by a hash of the pinned source, the patches and the config; `make
# clean` keeps it, `make distclean` removes it.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.NOTPARALLEL:

export PATH := $(HOME)/.cargo/bin:$(PATH)
# DEBUG=1 selects the debug kernel (KASAN, lockdep, kmemleak): its own cache
# key, module and guest image.
DEBUG ?= 0
export DEBUG
FLAVOUR := $(if $(filter 1,$(DEBUG)),debug,release)

ROOT := $(CURDIR)
BUILD := $(ROOT)/build
CACHE ?= $(or $(RNVME_CACHE),$(HOME)/.cache/rnvme)
KDIR = $(shell DEBUG=$(DEBUG) scripts/kernel.sh dir)
KERNEL = $(KDIR)/arch/x86/boot/bzImage
MODULE := $(BUILD)/module-$(FLAVOUR)/rnvme_hook.ko
INITRAMFS := $(BUILD)/initramfs-$(FLAVOUR).cpio.gz
# The engines' own lookups for the benchmark (benches/engines/), linked
# against the system's librocksdb and libsqlite3.
BENCH_TOOLS := $(BUILD)/bench-tools/rnvme-bench-rocksdb $(BUILD)/bench-tools/rnvme-bench-sqlite
GUEST_BINS := target/release/rnvme target/release/rnvme-vmtest target/release/rnvme-bench \
	$(BENCH_TOOLS)
FIXTURES := $(BUILD)/fixtures
BENCH_DATA := $(BUILD)/bench-data
VM_ENV = KERNEL=$(KERNEL) INITRAMFS=$(INITRAMFS) BUILD=$(BUILD) FLAVOUR=$(FLAVOUR) \
	FIXTURES=$(FIXTURES)

.PHONY: help deps kernel module userspace initramfs fixtures bench-data test test-host \
	test-vm test-prometheus test-debug test-all demo bench vm clean distclean

help:
	@echo "rnvme targets:"
	@echo "  make demo       set up, build, boot the VM: insmod, a CLI session, a short benchmark"
	@echo "  make bench      the full chain-read benchmark in the VM (results in bench-results/)"
	@echo "  make test-all   make test, then make test-debug (what CI runs)"
	@echo "  make test       set up, host tests (cargo test), build, VM tests, Prometheus check"
	@echo "  make vm         interactive shell in the VM (module loaded, ext4 mounted)"
	@echo "  make deps       install Debian packages, rust-src and bindgen-cli"
	@echo "  make kernel     build the patched kernel (cached in $(CACHE))"
	@echo "  make module     build rnvme_hook.ko against it"
	@echo "  make userspace  cargo build --release"
	@echo "  make initramfs  build the guest root"
	@echo "  make fixtures   RocksDB and SQLite test databases written by the real libraries"
	@echo "  make bench-data the engine benchmark's LSM and SQLite database (the libraries write them)"
	@echo "  make test-host  cargo test only"
	@echo "  make test-vm    boot and run the in-VM tests only"
	@echo "  make test-prometheus  the dashboard's queries against Prometheus scraping the VM"
	@echo "  make test-debug the VM tests on the debug kernel (KASAN, lockdep, kmemleak)"
	@echo "  make clean      remove build outputs in the clone (keeps the kernel cache)"
	@echo "  make distclean  clean, and remove the kernel cache too"

deps:
	scripts/deps.sh

kernel:
	scripts/kernel.sh build

# kbuild writes its objects next to the sources, so build a copy in build/.
module: kernel
	mkdir -p $(BUILD)/module-$(FLAVOUR)
	rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
		--exclude='*.mod*' --exclude='Module.symvers' --exclude='modules.order' \
		rnvme_hook/ $(BUILD)/module-$(FLAVOUR)/
	$(MAKE) -C $(KDIR) M=$(BUILD)/module-$(FLAVOUR) LLVM=1 modules

userspace:
	cargo build --release --workspace --bins

test-host: fixtures
	cargo fmt --all --check
	rustfmt --check --edition 2021 rnvme_hook/*.rs rnvme_hook/ffi/*.rs
	cargo test --release --workspace
	cargo bench --bench formats -- --quick

# The example functions of bpf/examples/, built the way bpf/README.md tells a
# user to, for the VM's CLI tests.
EXAMPLES := $(patsubst bpf/examples/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(wildcard bpf/examples/*.bpf.c))

$(BUILD)/bpf/%.bpf.o: bpf/examples/%.bpf.c userspace
	target/release/rnvme headers --out $(BUILD)/bpf/include >/dev/null
	clang -target bpf -O2 -g -Wall -I$(BUILD)/bpf/include \
		-idirafter /usr/include/x86_64-linux-gnu -c $< -o $@

$(BUILD)/bench-tools/rnvme-bench-rocksdb: benches/engines/rocksdb_bench.cc benches/engines/common.h
	mkdir -p $(@D)
	g++ -O2 -std=c++17 -Wall -Wextra -o $@ $< -lrocksdb

$(BUILD)/bench-tools/rnvme-bench-sqlite: benches/engines/sqlite_bench.c benches/engines/common.h
	mkdir -p $(@D)
	gcc -O2 -std=gnu11 -Wall -Wextra -o $@ $< -lsqlite3

initramfs: module userspace $(EXAMPLES) $(BENCH_TOOLS)
	qemu/mkinitramfs.sh $(INITRAMFS) $(MODULE) $(GUEST_BINS)

# Databases written by the real RocksDB and SQLite libraries, with the
# libraries' answers; qemu/run.sh copies them onto the VM's disks. Rebuilt
# only when scripts/fixtures/ or the libraries change.
fixtures: deps
	scripts/fixtures/make-fixtures.sh $(FIXTURES)

# The engine benchmark's LSM and SQLite database (about 380 MB, written by
# the libraries; only `make bench` and `make demo` copy it into the VM).
bench-data: deps $(BENCH_TOOLS)
	scripts/bench-data.sh $(BUILD)/bench-tools $(BENCH_DATA)

# The release suite takes 12 to 16 minutes under TCG: allow 25 before the
# harness calls it a hang.
test-vm: initramfs fixtures
	RNVME_VM_TIMEOUT=$${RNVME_VM_TIMEOUT:-1500} $(VM_ENV) qemu/run.sh test

# Every query of grafana/rnvme-dashboard.json against Debian's Prometheus
# scraping the guest's exporter under load (release kernel).
test-prometheus: initramfs
	$(VM_ENV) scripts/prometheus-check.sh

test: deps test-host kernel test-vm test-prometheus

# The debug kernel runs several times slower under TCG: its stress scenario
# runs 60 s instead of 120 (the same checks, fewer rounds).
test-debug: deps
	$(MAKE) DEBUG=1 kernel
	RNVME_STRESS_SECS=$${RNVME_STRESS_SECS:-60} RNVME_VM_TIMEOUT=3000 $(MAKE) DEBUG=1 test-vm

# The release suite first (fast to fail), then the same on the debug kernel.
test-all: test
	$(MAKE) test-debug

demo: deps kernel initramfs fixtures bench-data
	BENCH_DATA=$(BENCH_DATA) $(VM_ENV) qemu/run.sh demo

bench: deps kernel initramfs fixtures bench-data
	BENCH_DATA=$(BENCH_DATA) RNVME_VM_TIMEOUT=3600 $(VM_ENV) qemu/run.sh bench

vm: initramfs fixtures bench-data
	BENCH_DATA=$(BENCH_DATA) $(VM_ENV) qemu/run.sh shell

clean:
	cargo clean
	rm -rf $(BUILD)

distclean: clean
	rm -rf $(CACHE)
