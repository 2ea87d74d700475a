#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything rnvme needs on a fresh Debian 12 machine: the Debian
# packages, the Rust pieces the kernel's Rust build needs, the pinned
# bindgen-cli, and a Python venv with the pinned rocksdict (the current
# RocksDB, for the test fixtures of scripts/fixtures/). Safe to run again: it
# only installs what is missing.
# Uses sudo when not run as root.
set -euo pipefail

BINDGEN_VERSION=0.73.2
PACKAGES=(
	# Kernel build.
	flex bison bc libelf-dev libssl-dev clang lld libclang-dev dwarves kmod
	rsync cpio xz-utils patch make
	# Guest image and VM.
	busybox-static e2fsprogs fdisk qemu-system-x86
	# The host side of the hot-unplug test (qemu/qmp-watch.py).
	python3
	# libbpf-rs / libbpf-cargo (libbpf-sys builds its bundled libbpf).
	zlib1g-dev pkg-config build-essential
	# Test fixtures (scripts/fixtures/): RocksDB 7.8 for format_version 2-5,
	# a venv for rocksdict, SQLite.
	librocksdb-dev g++ python3-venv sqlite3 libsqlite3-dev
	# The XFS namespace of the VM (qemu/mkdisk.sh).
	xfsprogs
	# The dashboard's queries checked against a real Prometheus
	# (scripts/prometheus-check.sh).
	prometheus
)
# rocksdict bundles a newer RocksDB (scripts/fixtures/rocksdict_gen.py).
ROCKSDICT_VERSION=0.3.29
CACHE=${RNVME_CACHE:-$HOME/.cache/rnvme}
VENV=$CACHE/venv

log() { printf '[deps] %s\n' "$*" >&2; }
SUDO=
[[ $(id -u) == 0 ]] || SUDO=sudo

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	$SUDO apt-get update -qq
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PATH=$HOME/.cargo/bin:$PATH
command -v rustup >/dev/null || {
	log "error: rustup not found; install Rust with rustup first (https://rustup.rs)"
	exit 1
}
for component in rust-src rustfmt; do
	if ! rustup component list --installed | grep -q "^$component"; then
		log "adding $component"
		rustup component add "$component"
	fi
done
if [[ $(bindgen --version 2>/dev/null) != "bindgen $BINDGEN_VERSION" ]]; then
	log "installing bindgen-cli $BINDGEN_VERSION (about 2 minutes)"
	cargo install --locked --quiet "bindgen-cli@$BINDGEN_VERSION"
fi
# Debian's python3 first: pyenv or conda shims may come earlier in PATH.
if [[ ! -x $VENV/bin/python ]]; then
	log "creating the Python venv $VENV"
	py=python3
	[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
	mkdir -p "$CACHE"
	"$py" -m venv "$VENV"
fi
if [[ $("$VENV/bin/python" -m pip show rocksdict 2>/dev/null | sed -n 's/^Version: //p') != "$ROCKSDICT_VERSION" ]]; then
	log "installing rocksdict $ROCKSDICT_VERSION into $VENV"
	"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "rocksdict==$ROCKSDICT_VERSION"
fi
log "ok"
