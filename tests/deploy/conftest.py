"""Fixtures for the deployment tests: the built wheel, a wheelhouse of its dependencies, netns helpers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def run(cmd: list[str], timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def must(cmd: list[str], timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    p = run(cmd, timeout=timeout, **kw)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The platform wheel, built the way `make wheel` builds it (DURANTIC_TEST_WHEEL reuses one)."""
    given = os.environ.get("DURANTIC_TEST_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    # A stale build/ can carry modules deleted from the tree into the wheel.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    must([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)], timeout=600, cwd=ROOT)
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def wheelhouse(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and all its dependencies, so installs inside network namespaces need no index."""
    wh = tmp_path_factory.mktemp("wheelhouse")
    must([sys.executable, "-m", "pip", "download", "-q", "--dest", str(wh), str(built_wheel)], timeout=600)
    return wh


class Netns:
    """Network namespaces (and processes in them) made by one test, all removed by cleanup()."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def add(self, suffix: str) -> str:
        name = f"{self.prefix}{suffix}"
        must(["ip", "netns", "add", name])
        self.names.append(name)
        must(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def spawn(self, ns: str, argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with log.open("wb") as fh:
            p = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.procs.append(p)
        return p

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        for ns in self.names:
            # Anything still running in a namespace this test made was started by this test.
            for pid in run(["ip", "netns", "pids", ns]).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", ns])


@pytest.fixture
def netns() -> Iterator[Netns]:
    n = Netns(f"dt{os.getpid() % 10000}{os.urandom(1).hex()}")
    try:
        yield n
    finally:
        n.cleanup()
        for sock in Path("/var/run/wireguard").glob(f"*{n.prefix}*.sock"):
            sock.unlink(missing_ok=True)


def wait_for(what: str, probe: Callable[[], object], timeout: float, interval: float = 0.5) -> object:
    """Poll probe until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")
