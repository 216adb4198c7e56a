#!/usr/bin/env bash
# Installs what capfd's demo and tests need on a bare machine of the
# project's kind (Debian, root, Go preinstalled). Idempotent: a machine that
# already has everything spends a second here.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { echo "setup: Go is missing (expected at /usr/local/go)" >&2; exit 1; }

apt_install() {
	local missing=()
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "setup: installing ${missing[*]}"
	if [ -z "${CAPFD_APT_UPDATED:-}" ]; then
		apt-get -o DPkg::Lock::Timeout=600 update -qq
		export CAPFD_APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
}

# qemu runs the BPF LSM tests inside stock Debian kernels (this host's kernel
# refuses BPF trampolines). Kernels are downloaded, pinned, into .cache/.
apt_install qemu-system-x86
# A C compiler builds the tests' C programs (tests/run/testdata: the
# supervisor floor and the many-threads open stress).
apt_install gcc libc6-dev
# The real programs of tests/realprog's matrix beyond Debian's essential set
# (coreutils, tar, gzip, bash, sed, grep, findutils, diffutils). Node.js is
# optional there (its row is skipped without it): too large to install here.
apt_install git sqlite3 rsync curl xz-utils make perl python3
# systemd-socket-activate (Debian's systemd package) runs the broker as
# examples/systemd/capfd-broker.socket would start it, for tests/broker's
# socket-activation test. Installing the package starts nothing here.
apt_install systemd
if [ -x scripts/fetch-kernels.sh ]; then
	scripts/fetch-kernels.sh
fi

go mod download
