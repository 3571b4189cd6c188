"""A throwaway machine with systemd as PID 1, for the role's systemd path: systemd-nspawn boots this host's
own systemd over a copy-on-write view of its root.

This host's PID 1 is not systemd, and the test VM (tests/vm) emulates its CPU, far too slowly for a dozen
Ansible runs; a container boots the same systemd natively in seconds. Its root is an overlay whose lower
layer is the host's / (read-only) and whose upper layer is a tmpfs, so whatever the role installs vanishes
with it; it has its own network namespace (only lo) and /dev/net/tun for wireguard-go. It boots
basic.target, so the host image's own services (bird, databases) stay down while units started by hand
run as on any machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .conftest import must, run

# the PATH a login shell on the machine has, venv-free: the role's CLI link must be found on it
MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SystemdHost:
    """One booted container; `sh`/`run` execute commands inside all of its namespaces."""

    def __init__(self, base: Path, name: str, ro_binds: tuple[Path, ...] = ()) -> None:
        self.name = name
        self.ro_binds = ro_binds  # host paths shown read-only at the same path (the container's /tmp is its own)
        self.base = base
        self.root = base / "root"
        self.upper = base / "upper"
        self.share = base / "share"  # bound read-write at the same path inside: files both sides see
        self.log = base / "boot.log"
        self.leader = 0
        self.pidns = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def boot(self, timeout: float = 120) -> None:
        if shutil.which("systemd-nspawn") is None:
            raise AssertionError("systemd-nspawn missing: `make setup` installs systemd-container")
        for d in (self.root, self.upper, self.share):
            d.mkdir(parents=True, exist_ok=True)
        # upper and work dirs on a tmpfs of their own: they must not lie on the lower layer's filesystem
        must(["mount", "-t", "tmpfs", "-o", "mode=0755", f"{self.name}-upper", str(self.upper)])
        (self.upper / "u").mkdir()
        (self.upper / "w").mkdir()
        must(
            [
                "mount", "-t", "overlay", f"{self.name}-root", "-o",
                f"lowerdir=/,upperdir={self.upper}/u,workdir={self.upper}/w", str(self.root),
            ]
        )  # fmt: skip
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [
                    "systemd-nspawn", "--quiet", "-D", str(self.root), f"--machine={self.name}",
                    # no systemd on this host to register with or to put the container in a scope
                    "--register=no", "--keep-unit", "--link-journal=no",
                    "--private-network", "--bind=/dev/net/tun", f"--bind={self.share}",
                    *(f"--bind-ro={p}" for p in self.ro_binds),
                    "-b", "--", "systemd.unit=basic.target",
                ],
                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not self.leader:
            if self.proc.poll() is not None:
                raise AssertionError(f"systemd-nspawn exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no container init after {timeout:.0f}s:\n{self.log.read_text()[-3000:]}")
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            if children and Path(f"/proc/{children[0]}/comm").read_text().strip() == "systemd":
                self.leader = int(children[0])
                self.pidns = os.readlink(f"/proc/{self.leader}/ns/pid")
            else:
                time.sleep(0.1)
        # --wait blocks until boot finished, once the manager answers at all; "degraded" (a unit of the host
        # image failed) is still a booted system
        while True:
            p = self.run(["systemctl", "is-system-running", "--wait"], timeout=timeout)
            state = p.stdout.strip()
            if state in ("running", "degraded"):
                return
            # offline: the manager is not up yet (no /run/systemd/system)
            if state not in ("", "offline") or time.monotonic() > deadline:
                log = self.log.read_text()[-3000:]
                raise AssertionError(f"container boot ended {state!r} ({p.stderr.strip()}):\n{log}")
            time.sleep(0.2)

    def run(
        self, argv: list[str], timeout: float = 300, env: dict[str, str] | None = None, cwd: str = "/"
    ) -> subprocess.CompletedProcess[str]:
        """argv inside the container, as root, with a plain environment (plus `env`), from `cwd`."""
        base = {"PATH": MACHINE_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        # entering the mount namespace puts root and cwd at its root; nsenter's own --wd would open the
        # directory on this side first
        cmd = ["nsenter", "--target", str(self.leader), "--all", "--", "env", "-i", f"--chdir={cwd}"]
        cmd += [f"{k}={v}" for k, v in base.items()]
        return run([*cmd, *argv], timeout=timeout)

    def must(self, argv: list[str], timeout: float = 300, env: dict[str, str] | None = None) -> str:
        p = self.run(argv, timeout=timeout, env=env)
        where = f"{' '.join(argv)} exited {p.returncode} in {self.name}"
        assert p.returncode == 0, f"{where}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        return p.stdout

    def unit(self, name: str, *props: str) -> dict[str, str]:
        """`systemctl show` properties of a unit, as a dict."""
        out = self.must(["systemctl", "show", name, *(f"--property={p}" for p in props)])
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def shutdown(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self.leader:
                self.run(["systemctl", "poweroff", "--no-block"], timeout=30)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # an init that outlived nspawn (killed above, or a poweroff that never came): killing a PID
        # namespace's init kills everything in it; the namespace check keeps a reused PID safe
        with contextlib.suppress(OSError):
            if self.leader and os.readlink(f"/proc/{self.leader}/ns/pid") == self.pidns:
                os.kill(self.leader, signal.SIGKILL)
        for m in (self.root, self.upper):
            with contextlib.suppress(Exception):
                if run(["mountpoint", "-q", str(m)]).returncode == 0 and run(["umount", str(m)]).returncode != 0:
                    run(["umount", "-l", str(m)])
