#!/usr/bin/env bash
# Generate the Python gRPC stubs for GoBGP into durantic_agent/_gobgp/ (a normal subpackage) from the .proto
# files vendor-gobgp/build.sh copied out of the pinned module (protos/api/*.proto, imported as "api/x.proto").
# The imports are rewritten to the package path so the generated modules import each other as
# durantic_agent._gobgp.* and their descriptor names cannot clash with another copy of GoBGP's protos.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-"$root/.venv/bin/python"}
pkg=durantic_agent/_gobgp
files=(gobgp attribute capability common extcom nlri)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/$pkg" "$root/$pkg"
for f in "${files[@]}"; do
  [ -f "$root/protos/api/$f.proto" ] || { echo "gen-stubs: protos/api/$f.proto missing: run vendor-gobgp/build.sh" >&2; exit 1; }
  sed -E "s#^import \"api/([a-z]+)\.proto\";#import \"$pkg/\1.proto\";#" "$root/protos/api/$f.proto" > "$tmp/$pkg/$f.proto"
done
rm -f "$root/$pkg"/*_pb2*.py "$root/$pkg"/*_pb2*.pyi
"$py" -m grpc_tools.protoc -I"$tmp" --python_out="$root" --grpc_python_out="$root" \
  $(printf "$tmp/$pkg/%s.proto " "${files[@]}")
version=$(cat "$root/protos/VERSION")
echo "\"\"\"Generated GoBGP $version stubs (built by vendor-gobgp/gen-stubs.sh, never committed).\"\"\"" > "$root/$pkg/__init__.py"
echo "gen-stubs: $pkg ready (GoBGP $version)"
