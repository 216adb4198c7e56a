#!/usr/bin/env bash
# fetch-kernels.sh — get what the VM tests (internal/vmtest) need:
#   * qemu-system-x86 (installed with apt, without recommends: ~17 MB instead of ~160 MB);
#   * the pinned Debian kernels of tests/vm/kernels.txt, downloaded with
#     `apt-get download` and unpacked with `dpkg -x` into .cache/kernels/<name>/.
#
# The kernels are never installed. Every suite gets a private apt sources list,
# lists and cache directory under .cache/kernels/.apt/<suite>/, so the host's
# apt configuration and state stay untouched (and a trixie kernel can be fetched
# on a bookworm host). Packages are verified by apt against the signed Release
# files with the Debian archive keyring.
#
# Idempotent: a kernel whose pinned version is already unpacked is skipped.
#
# Usage:
#   scripts/fetch-kernels.sh                 fetch qemu and every kernel of the matrix
#   scripts/fetch-kernels.sh NAME...         fetch only these kernels (matrix names)
#   scripts/fetch-kernels.sh --no-qemu       do not install qemu
#   scripts/fetch-kernels.sh --madison SUITE list the cloud kernels SUITE has now
#                                            (to choose a new pin in kernels.txt)
# Environment: DEBIAN_MIRROR (default http://deb.debian.org);
#   CAPFD_VM_KERNEL_DIR (default .cache/kernels) where kernels are unpacked.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
matrix=$root/tests/vm/kernels.txt
cache=${CAPFD_VM_KERNEL_DIR:-$root/.cache/kernels}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

die() { echo "fetch-kernels: $*" >&2; exit 1; }
log() { echo "fetch-kernels: $*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_qemu() {
	if command -v qemu-system-x86_64 >/dev/null; then
		return
	fi
	log "installing qemu-system-x86 (no recommends)"
	as_root apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends qemu-system-x86 >&2
}

# apt_opts SUITE: prints the options that point apt at the private state of SUITE.
apt_opts() {
	local d=$cache/.apt/$1
	printf '%s\n' \
		-o "Dir::Etc::SourceList=$d/sources.list" \
		-o "Dir::Etc::SourceParts=$d/sources.list.d" \
		-o "Dir::Etc::Preferences=$d/preferences" \
		-o "Dir::Etc::PreferencesParts=$d/preferences.d" \
		-o "Dir::State::Lists=$d/lists" \
		-o "Dir::State::Status=$d/status" \
		-o "Dir::Cache=$d/cache" \
		-o "APT::Sandbox::User=root"
}

# apt_setup SUITE: creates the private apt state of SUITE (idempotent).
apt_setup() {
	local suite=$1 d=$cache/.apt/$1
	mkdir -p "$d/sources.list.d" "$d/preferences.d" "$d/lists/partial" "$d/cache/archives/partial"
	: >"$d/preferences"
	[ -e "$d/status" ] || : >"$d/status"
	[ -r "$keyring" ] || die "missing $keyring (apt-get install debian-archive-keyring)"
	echo "deb [signed-by=$keyring] $mirror/debian $suite main" >"$d/sources.list"
	# Backports suites have no security suite of their own.
	case $suite in
	*-backports) ;;
	*) echo "deb [signed-by=$keyring] $mirror/debian-security $suite-security main" >>"$d/sources.list" ;;
	esac
}

apt_update() {
	local suite=$1 opts
	mapfile -t opts < <(apt_opts "$suite")
	log "updating private package lists for $suite"
	apt-get "${opts[@]}" update >&2 || die "apt-get update for $suite failed"
}

madison() {
	local suite=$1 opts
	apt_setup "$suite"
	apt_update "$suite"
	mapfile -t opts < <(apt_opts "$suite")
	apt-cache "${opts[@]}" search --names-only '^linux-image-[0-9].*-cloud-amd64$' |
		cut -d' ' -f1 | sort -V | xargs apt-cache "${opts[@]}" madison
}

# fetch NAME SUITE PACKAGE VERSION: makes .cache/kernels/NAME hold PACKAGE=VERSION unpacked.
fetch() {
	local name=$1 suite=$2 pkg=$3 version=$4
	local dest=$cache/$name stamp="$pkg=$version"
	if [ -f "$dest/.pinned" ] && [ "$(cat "$dest/.pinned")" = "$stamp" ] &&
		compgen -G "$dest/boot/vmlinuz-*" >/dev/null; then
		log "$name: $stamp already unpacked"
		return
	fi

	apt_setup "$suite"
	local opts dl
	mapfile -t opts < <(apt_opts "$suite")
	dl=$(mktemp -d "$cache/.download.XXXXXX")
	compgen -G "$cache/.apt/$suite/lists/*_Packages*" >/dev/null || apt_update "$suite"
	# Lists may be absent or stale (a pin newer than them): update once, then retry.
	if ! (cd "$dl" && apt-get "${opts[@]}" download "$stamp" >&2); then
		apt_update "$suite"
		if ! (cd "$dl" && apt-get "${opts[@]}" download "$stamp" >&2); then
			rm -rf "$dl"
			die "$name: $stamp is not in $suite any more; pick a new pin in $matrix (see: $0 --madison $suite)"
		fi
	fi

	# Unpack beside the destination and swap, so an interrupted run never
	# leaves a half-extracted kernel that looks complete.
	rm -rf "$dest.new"
	dpkg -x "$dl"/*.deb "$dest.new"
	rm -rf "$dl"
	echo "$stamp" >"$dest.new/.pinned"
	rm -rf "$dest"
	mv "$dest.new" "$dest"
	log "$name: unpacked $stamp"
}

main() {
	local want_qemu=1 names=()
	while [ $# -gt 0 ]; do
		case $1 in
		--no-qemu) want_qemu=0 ;;
		--madison)
			[ $# -ge 2 ] || die "--madison needs a suite (bookworm, trixie, ...)"
			madison "$2"
			return
			;;
		-h | --help)
			sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
			return
			;;
		-*) die "unknown option $1" ;;
		*) names+=("$1") ;;
		esac
		shift
	done

	[ -r "$matrix" ] || die "missing matrix $matrix"
	command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (Debian/Ubuntu host)"
	[ "$want_qemu" = 1 ] && ensure_qemu
	mkdir -p "$cache"

	local name suite pkg version found=() n
	while read -r name suite pkg version _; do
		case $name in '' | '#'*) continue ;; esac
		[ -n "$version" ] || die "malformed line for $name in $matrix"
		if [ ${#names[@]} -gt 0 ]; then
			local hit=0
			for n in "${names[@]}"; do [ "$n" = "$name" ] && hit=1; done
			[ $hit = 1 ] || continue
		fi
		fetch "$name" "$suite" "$pkg" "$version"
		found+=("$name")
	done <"$matrix"

	for n in "${names[@]}"; do
		[[ " ${found[*]} " == *" $n "* ]] || die "no kernel named $n in $matrix"
	done
	for n in "${found[@]}"; do
		echo "$n $(ls "$cache/$n"/boot/vmlinuz-*)"
	done
}

main "$@"
