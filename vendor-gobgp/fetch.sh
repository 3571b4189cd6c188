#!/usr/bin/env bash
# Fetch the pinned GoBGP .debs with apt-get download, verify their sha256 (a mismatch is fatal),
# and extract: gobgpd/gobgp -> durantic_agent/_bin/, the three .proto files -> protos/.
# Idempotent: a verified cache is reused. Nothing it writes is committed (see .gitignore).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache="$here/cache"
bin="$root/durantic_agent/_bin"
protos="$root/protos"
mkdir -p "$cache" "$bin" "$protos"

arch=$(dpkg --print-architecture)
if [ "$arch" != amd64 ]; then
  echo "vendor-gobgp: only amd64 is pinned (this machine is $arch); add its checksums to PINS" >&2
  exit 1
fi

verify() { # file sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ]
}

grep -v '^#' "$here/PINS" | while read -r pkg ver sum; do
  [ -n "$pkg" ] || continue
  deb="$cache/${pkg}_${ver}.deb"
  if [ -f "$deb" ] && verify "$deb" "$sum"; then
    :
  else
    rm -f "$deb"
    tmp=$(mktemp -d); chmod 0755 "$tmp"  # _apt must be able to write here
    # apt-get download writes into the current directory; the epoch-free name varies, so rename.
    (cd "$tmp" && apt-get download -q "$pkg=$ver" >/dev/null) || {
      echo "vendor-gobgp: apt-get download $pkg=$ver failed (run apt-get update?)" >&2; rm -rf "$tmp"; exit 1; }
    mv "$tmp"/*.deb "$deb"
    rm -rf "$tmp"
    if ! verify "$deb" "$sum"; then
      echo "vendor-gobgp: CHECKSUM MISMATCH for $pkg $ver: expected $sum, got $(sha256sum "$deb" | cut -d' ' -f1)" >&2
      rm -f "$deb"
      exit 1
    fi
  fi
  x="$cache/x-$pkg"
  rm -rf "$x"; mkdir -p "$x"
  dpkg-deb -x "$deb" "$x"
  case "$pkg" in
    gobgpd)
      install -m 0755 "$x/usr/bin/gobgpd" "$bin/gobgpd"
      install -m 0755 "$x/usr/bin/gobgp" "$bin/gobgp"
      ;;
    golang-github-osrg-gobgp-dev)
      for f in gobgp attribute capability; do
        p=$(find "$x" -path "*/api/$f.proto" | head -n1)
        [ -n "$p" ] || { echo "vendor-gobgp: $f.proto not found in $pkg" >&2; exit 1; }
        install -m 0644 "$p" "$protos/$f.proto"
      done
      ;;
  esac
  rm -rf "$x"
done
echo "3.10.0" > "$protos/VERSION"
echo "vendor-gobgp: gobgpd $("$bin/gobgpd" --version 2>&1 | head -n1) and protos ready"
