#!/usr/bin/env bash
# Debian's stock amd64 kernel for the test VM (tests/vm/run.sh), unpacked into tests/vm/cache/ and never
# installed: the host's own boot stays untouched. It follows Debian's linux-image-amd64 (apt checks the
# signed archive's checksums), so a fresh machine always finds the package the archive still carries.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/cache"

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -q >/dev/null
  pkg=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
fi
[ -n "$pkg" ] || { echo "fetch-kernel: apt knows no linux-image-amd64" >&2; exit 1; }
ver=${pkg#linux-image-}
dest="$cache/$ver"

if [ ! -f "$dest/lib/modules/$ver/modules.dep" ] || [ ! -f "$dest/boot/vmlinuz-$ver" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
  dpkg-deb -x "$tmp"/"${pkg}"_*.deb "$tmp/root"
  # the package ships no modules.dep (its postinst makes one): modprobe in the guest needs it
  depmod -b "$tmp/root" "$ver"
  rm -rf "$dest"
  mkdir -p "$cache"
  mv "$tmp/root" "$dest"
fi
ln -sfn "$ver" "$cache/current"
# older unpacked versions are dead weight (400 MB each)
for d in "$cache"/*/; do
  d=${d%/}
  [ "$(basename "$d")" = "$ver" ] || [ -L "$d" ] || rm -rf "$d"
done
echo "vm kernel: $pkg ready in tests/vm/cache/current"
