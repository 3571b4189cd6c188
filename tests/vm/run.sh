#!/usr/bin/env bash
# Run one command as root inside a QEMU VM booted on Debian's stock kernel (tests/vm/fetch-kernel.sh),
# for what this host's kernel or init cannot give a test (kernel WireGuard; later a real systemd).
#
#   tests/vm/run.sh [--out DIR] [--cpus N] [--mem SIZE] [--timeout SECONDS] -- COMMAND [ARG...]
#
# The guest sees the host's root read-only (writes to /tmp, /etc, /var land in a discarded overlay) and
# DIR (default: a fresh temporary dir) read-write at the same path: the command's output streams to
# DIR/guest.log and its exit code to DIR/rc, which this script relays; the kernel console goes to
# DIR/console.log. COMMAND runs from the repository root with the venv first on PATH, CI passed through,
# and DURANTIC_TEST_TIME_FACTOR set for tests to scale their waits (hardware virtualization is used only
# when the CPU has vmx/svm and /dev/kvm answers; otherwise the guest is emulated, several times slower).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="" cpus="${DURANTIC_VM_CPUS:-2}" mem="${DURANTIC_VM_MEM:-2G}" limit="${DURANTIC_VM_TIMEOUT:-1800}"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --cpus) cpus="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --timeout) limit="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "vm: unknown option $1 (usage: tests/vm/run.sh [--out DIR] [--cpus N] [--mem SIZE] -- CMD...)" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "vm: no command (usage: tests/vm/run.sh [options] -- CMD...)" >&2; exit 2; }

kimg=$(ls "$repo"/tests/vm/cache/current/boot/vmlinuz-* 2>/dev/null | head -1 || true)
vng="$repo/.venv/bin/vng"
[ -n "$kimg" ] || { echo "vm: no kernel in tests/vm/cache: run \`make setup\`" >&2; exit 1; }
[ -x "$vng" ] || { echo "vm: $vng missing: run \`make setup\`" >&2; exit 1; }

# /dev/kvm may be a paravirtual one (no vmx/svm flag) on which a stock kernel hangs: emulate then
if [ -z "${DURANTIC_VM_ACCEL:-}" ]; then
  DURANTIC_VM_ACCEL=tcg
  if grep -qwE 'vmx|svm' /proc/cpuinfo && python3 -c '
import fcntl, os
fd = os.open("/dev/kvm", os.O_RDWR)
assert fcntl.ioctl(fd, 0xAE00) == 12  # KVM_GET_API_VERSION
' 2>/dev/null; then
    DURANTIC_VM_ACCEL=kvm
  fi
fi
case "$DURANTIC_VM_ACCEL" in
  kvm) accel=() factor="${DURANTIC_TEST_TIME_FACTOR:-2}" ;;
  tcg) accel=(--disable-kvm) factor="${DURANTIC_TEST_TIME_FACTOR:-15}" ;;
  *) echo "vm: DURANTIC_VM_ACCEL=$DURANTIC_VM_ACCEL is not kvm or tcg" >&2; exit 2 ;;
esac

if [ -z "$out" ]; then
  out=$(mktemp -d /tmp/durantic-vm.XXXXXX)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -rf "$out/rc" "$out/guest.log" "$out/console.log" "$out/lab-logs"
{
  printf 'export CI=%q DURANTIC_TEST_TIME_FACTOR=%q DURANTIC_LAB_LOGS=%q\n' "${CI:-}" "$factor" "$out/lab-logs"
  printf 'cd %q || exit 1\n' "$repo"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$out/cmd"
: >"$out/guest.log"

# the guest cannot write .pyc files to the read-only root, and compiling there is emulated: compile here
"$repo/.venv/bin/python" -m compileall -q -j 0 "$repo/durantic_agent" "$repo/tests" "$repo/bench" >/dev/null || true

echo "vm: $(basename "$kimg") ($DURANTIC_VM_ACCEL, $cpus cpus, $mem, time factor $factor): $*"
start=$SECONDS
# vng puts the venv's virtme-run on PATH only when the venv's bin is on PATH
PATH="$repo/.venv/bin:$PATH" timeout --kill-after=30 "$limit" "$vng" --run "$kimg" --force-9p "${accel[@]}" \
  --cpus "$cpus" --memory "$mem" --rwdir="$out" --verbose \
  --qemu-opts="-fsdev local,id=fastroot,path=/,security_model=none,readonly=on,multidevs=remap -device virtio-9p-pci,fsdev=fastroot,mount_tag=durantic.fastroot" \
  --exec "$(printf 'sh %q %q %q' "$repo/tests/vm/guest.sh" "$out" "$repo")" </dev/null >"$out/console.log" 2>&1 &
vm=$!
tail -n +1 -F --pid="$vm" -s 0.5 "$out/guest.log" 2>/dev/null &
tailer=$!
vngrc=0
wait "$vm" || vngrc=$?
wait "$tailer" || true
if [ -s "$out/rc" ]; then
  rc=$(cat "$out/rc")
else
  rc=1
  [ "$vngrc" -eq 124 ] && echo "vm: timed out after ${limit}s"
  echo "vm: the guest did not report an exit code (vng exited $vngrc); end of its console:"
  tail -n 30 "$out/console.log"
fi
echo "vm: exit $rc after $((SECONDS - start))s"
exit "$rc"
