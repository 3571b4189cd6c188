#!/usr/bin/env bash
# Generate the Python gRPC stubs for GoBGP into durantic_agent/_gobgp/ (a normal subpackage).
# The proto imports are rewritten to the package path so the generated modules import each other
# as durantic_agent._gobgp.* and their descriptor names cannot clash with another copy of gobgp.proto.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-"$root/.venv/bin/python"}
pkg=durantic_agent/_gobgp
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/$pkg" "$root/$pkg"
for f in gobgp attribute capability; do
  [ -f "$root/protos/$f.proto" ] || { echo "gen-stubs: protos/$f.proto missing: run vendor-gobgp/fetch.sh" >&2; exit 1; }
  sed "s#^import \"gobgp.proto\";#import \"$pkg/gobgp.proto\";#" "$root/protos/$f.proto" > "$tmp/$pkg/$f.proto"
done
rm -f "$root/$pkg"/*_pb2*.py "$root/$pkg"/*_pb2*.pyi
"$py" -m grpc_tools.protoc -I"$tmp" --python_out="$root" --grpc_python_out="$root" \
  "$tmp/$pkg/gobgp.proto" "$tmp/$pkg/attribute.proto" "$tmp/$pkg/capability.proto"
echo '"""Generated GoBGP 3.10 stubs (built by vendor-gobgp/gen-stubs.sh, never committed)."""' > "$root/$pkg/__init__.py"
echo "gen-stubs: $pkg ready"
