#!/bin/sh
# Inside the VM: guest.sh OUT REPO (from tests/vm/run.sh). Loads the modules no udev loads, gives the
# read-only root a caching second mount where Python reads most, then runs OUT/cmd; its output and exit
# code go to OUT, the only place whose writes reach the host.
out="$1" repo="$2"
exec >>"$out/guest.log" 2>&1

fail() { echo "vm guest: $*"; echo 1 >"$out/rc"; exit 1; }

# without udev nothing loads tun for /dev/net/tun; wireguard is loaded up front to fail early and clearly
for m in wireguard tun; do
  modprobe "$m" || fail "modprobe $m failed"
done

# the root mount caches nothing (every stat crosses to the host); a second, loosely cached export of it
# (run.sh adds it as durantic.fastroot) over the trees Python and the tests read cuts an interpreter
# start several-fold
fast=/run/vm-fastroot
mkdir -p "$fast"
mkdir -p /run/vm-out
mount --bind "$out" /run/vm-out  # OUT may lie inside the repository, which the binds below cover
if mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=524288 durantic.fastroot "$fast"; then
  for d in /usr/bin /usr/sbin /usr/share /usr/lib/x86_64-linux-gnu /usr/lib/python3 /usr/lib/python3.* "$repo"; do
    [ -d "$fast$d" ] && mount --bind "$fast$d" "$d"
  done
  mount --bind /run/vm-out "$out"
else
  echo "vm guest: no cached mount of the root; running on the plain one (slower)"
fi

export PATH="$repo/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export HOME=/root PYTHONDONTWRITEBYTECODE=1
bash "$out/cmd"
rc=$?
echo "$rc" >"$out/rc"
exit "$rc"
