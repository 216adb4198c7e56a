#!/usr/bin/env bash
# The project's test command (the README's second command; CI runs exactly
# this): setup, static checks, then every test with the race detector,
# including the BPF LSM suites booted in QEMU on the pinned kernel matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

scripts/setup.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go mod tidy -diff"
# go.mod and go.sum say exactly what the code imports: no stale or
# missing requirement, no direct dependency marked indirect.
go mod tidy -diff
echo "== go vet"
go vet ./...
echo "== staticcheck"
# Pinned by go.mod's tool directive (honnef.co/go/tools), so it builds from
# the module cache that setup's go mod download filled: no network here.
# Exceptions are //lint:ignore lines, each with its reason.
go tool staticcheck ./...
echo "== go test -race"
# CAPFD_VM_REQUIRE turns "kernels or qemu missing" from a skip into a failure:
# setup has just installed them, so their absence is a bug.
CAPFD_VM_REQUIRE=1 go test -race -timeout 30m ./...
