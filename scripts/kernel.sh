#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the patched kernel into the cache outside the clone.
#
#   scripts/kernel.sh build      fetch, unpack, patch, configure, build (cached)
#   scripts/kernel.sh dir        print the build directory for the current key
#   scripts/kernel.sh key        print the cache key
#
# The cache key hashes everything the build output depends on: the pinned
# package version and tarball hash, the series and its patches, the config
# fragment(s), this script, and the toolchain versions (an out-of-tree Rust
# module must be built with the very rustc the kernel was built with).
# Unchanged key = no rebuild.
#
# Layout under ~/.cache/rnvme (RNVME_CACHE): one tree per flavour and base
# (pin + toolchain + this script), `kernel-<flavour>-<base>/{src,build}`.
# When only the patches or the fragment change, the previously applied series
# is reversed, the new one applied and make rebuilds incrementally; a change of
# base starts from a fresh unpack. DEBUG=1 selects the debug flavour (its own
# fragment, its own tree and key).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PATCHES=$ROOT/kernel-patches
CACHE=${RNVME_CACHE:-$HOME/.cache/rnvme}
export PATH=$HOME/.cargo/bin:$PATH

# shellcheck source=../kernel-patches/PIN
. "$PATCHES/PIN"

FRAGMENTS=("$PATCHES/config/rnvme.config")
FLAVOUR=release
if [[ ${DEBUG:-0} == 1 ]]; then
	FRAGMENTS+=("$PATCHES/config/debug.config")
	FLAVOUR=debug
fi

mapfile -t SERIES < <(grep -v -e '^#' -e '^[[:space:]]*$' "$PATCHES/series")

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { printf '[kernel] error: %s\n' "$*" >&2; exit 1; }

base_key() {
	{
		echo "flavour=$FLAVOUR"
		cat "$PATCHES/PIN" "$0"
		rustc --version
		clang --version | head -n1
		bindgen --version
	} | sha256sum | cut -c1-12
}

cache_key() {
	{
		echo "base=$1"
		for p in "${SERIES[@]}"; do echo "patch $p"; cat "$PATCHES/$p"; done
		# Paths relative to the checkout: the key is the same in every clone.
		for f in "${FRAGMENTS[@]}"; do echo "fragment ${f#"$ROOT"/}"; cat "$f"; done
	} | sha256sum | cut -c1-16
}

BASE=$(base_key)
KEY=$(cache_key "$BASE")
DIR=$CACHE/kernel-$FLAVOUR-$BASE
SRC=$DIR/src
OUT=$DIR/build
APPLIED=$DIR/applied
MAKE=(make -C "$SRC" O="$OUT" LLVM=1)

fetch_tarball() {
	local dl=$CACHE/dl tar
	tar=$dl/linux-source-$DEB_VERSION.tar.xz
	mkdir -p "$dl"
	if [[ ! -f $tar ]] || ! echo "$TARBALL_SHA256  $tar" | sha256sum -c --quiet - 2>/dev/null; then
		log "downloading $DEB_PACKAGE=$DEB_VERSION"
		rm -f "$dl"/*.deb
		(cd "$dl" && apt-get download "$DEB_PACKAGE=$DEB_VERSION") >&2 ||
			die "apt-get download $DEB_PACKAGE=$DEB_VERSION failed (run scripts/deps.sh; is the version still served?)"
		dpkg-deb --fsys-tarfile "$dl"/*.deb | tar -xO "./$TARBALL" >"$tar.part"
		mv "$tar.part" "$tar"
		rm -f "$dl"/*.deb
	fi
	echo "$TARBALL_SHA256  $tar" | sha256sum -c --quiet - ||
		die "sha256 of $tar does not match PIN"
	echo "$tar"
}

unpack() {
	local tar
	tar=$(fetch_tarball)
	log "unpacking into $SRC"
	rm -rf "$DIR"
	mkdir -p "$SRC" "$OUT" "$APPLIED"
	tar -xf "$tar" -C "$SRC" --strip-components=1
	echo "$BASE" >"$DIR/.unpacked"
}

# Reverse the patches applied last time (kept in $APPLIED), newest first,
# down to the longest prefix that is unchanged in the new series: unchanged
# files keep their timestamps and make rebuilds only what the change touches.
unapply() {
	local keep=0 p
	[[ -f $APPLIED/series ]] || return 0
	local -a old
	mapfile -t old <"$APPLIED/series"
	while ((keep < ${#old[@]} && keep < ${#SERIES[@]})) &&
		[[ ${old[keep]} == "${SERIES[keep]}" ]] &&
		cmp -s "$APPLIED/${old[keep]}" "$PATCHES/${SERIES[keep]}"; do
		keep=$((keep + 1))
	done
	for ((i = ${#old[@]} - 1; i >= keep; i--)); do
		p=${old[i]}
		log "reverting $p"
		patch -d "$SRC" -p1 -R --quiet --force --no-backup-if-mismatch \
			<"$APPLIED/$p" >&2 || return 1
		rm -f "$APPLIED/$p"
	done
	printf '%s\n' "${old[@]:0:keep}" | grep -v '^$' >"$APPLIED/series.new" || true
	mv "$APPLIED/series.new" "$APPLIED/series"
	KEPT=$keep
}

prepare_source() {
	[[ -f $DIR/.key && $(<"$DIR/.key") == "$KEY" ]] && return
	rm -f "$DIR/.key" "$DIR/.built"
	KEPT=0
	if [[ ! -f $DIR/.unpacked ]] || ! unapply; then
		unpack
		KEPT=0
	fi
	local p
	for p in "${SERIES[@]:KEPT}"; do
		log "applying $p"
		patch -d "$SRC" -p1 --dry-run --quiet --forward <"$PATCHES/$p" >&2 ||
			die "patch $p does not apply"
		patch -d "$SRC" -p1 --quiet --forward --no-backup-if-mismatch <"$PATCHES/$p" >&2
		cp "$PATCHES/$p" "$APPLIED/"
		echo "$p" >>"$APPLIED/series"
	done
	configure
	echo "$KEY" >"$DIR/.key"
}

# Fail when an option the fragments demand did not survive olddefconfig.
check_config() {
	local cfg=$OUT/.config bad=0 line opt val
	for f in "${FRAGMENTS[@]}"; do
		while IFS= read -r line; do
			[[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]] || continue
			opt=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
			if [[ $val == n ]]; then
				if grep -q "^$opt=" "$cfg"; then
					log "config: $opt should be off but is $(grep "^$opt=" "$cfg")"
					bad=1
				fi
			elif ! grep -qx "$opt=$val" "$cfg"; then
				log "config: $opt=$val requested, got: $(grep -E "^(# )?$opt[= ]" "$cfg" || echo absent)"
				bad=1
			fi
		done <"$f"
	done
	[[ $bad == 0 ]] || die "the kernel config lost options the fragment requires (see above)"
}

configure() {
	local merged=$DIR/fragment.config
	cat "${FRAGMENTS[@]}" >"$merged"
	log "rust toolchain check"
	"${MAKE[@]}" rustavailable >&2 || die "the Rust toolchain is not usable by this kernel (run scripts/deps.sh)"
	log "configuring (allnoconfig + fragment)"
	"${MAKE[@]}" KCONFIG_ALLCONFIG="$merged" allnoconfig >&2
	"${MAKE[@]}" olddefconfig >&2
	check_config
}

build() {
	if [[ -f $DIR/.built && -f $DIR/.key && $(<"$DIR/.key") == "$KEY" ]]; then
		log "cached: $DIR (key $KEY)"
		return
	fi
	prepare_source
	local start=$SECONDS
	log "building $FLAVOUR kernel with $(nproc) jobs; this takes about 10 minutes on 2 cores"
	"${MAKE[@]}" -j"$(nproc)" >"$DIR/build.log" 2>&1 || {
		tail -n 40 "$DIR/build.log" >&2
		die "kernel build failed; full log: $DIR/build.log"
	}
	touch "$DIR/.built"
	log "built in $((SECONDS - start)) s: $OUT/arch/x86/boot/bzImage"
}

case ${1:-build} in
build) build ;;
dir) echo "$OUT" ;;
key) echo "$KEY" ;;
*) die "usage: $0 build|dir|key" ;;
esac
