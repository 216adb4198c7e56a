#!/bin/sh
# Regenerates the committed BPF object and its Go bindings from
# bpf/capfd.bpf.c. Needs: clang, llvm (llvm-strip), libbpf-dev (bpf/*.h
# headers): apt-get install --no-install-recommends clang llvm libbpf-dev
set -eu
cd "$(dirname "$0")"
for tool in clang llvm-strip; do
	command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (apt-get install clang llvm)" >&2; exit 1; }
done
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "generate.sh: libbpf headers not found (apt-get install libbpf-dev)" >&2; exit 1; }
exec go generate ./
