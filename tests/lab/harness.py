"""The lab: machines as network namespaces running real agents, gobgpd, BIRD and wireguard-go (FRR and
ExaBGP neighbours: frr.py, exabgp.py).

Everything is named with a per-run prefix, every process is started here and killed by PID, and
`Lab.close()` always runs (pytest fixture finalizer, also on KeyboardInterrupt), so a failed or
interrupted run leaves no namespace or daemon behind. Agents are reached over their unix sockets,
which live on the shared filesystem and so work across namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from durantic_agent.gobgp.sidecar import GOBGPD_QUIET_FLAGS

from .pace import scaled

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DURANTIC = str(VENV_BIN / "durantic")
GOBGPD = str(ROOT / "durantic_agent" / "_bin" / "gobgpd")
GOBGP = str(ROOT / "durantic_agent" / "_bin" / "gobgp")
T = TypeVar("T")


def run(cmd: list[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, check=check, **kw)


class WaitTimeout(AssertionError):
    pass


def wait_for(pred: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `pred` until it returns something truthy; exceptions count as 'not yet'. The timeout is
    scaled for slow machines (pace.py)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            val = pred()
            if val:
                return val
        except Exception as e:  # a daemon not up yet is just "not yet"
            last_exc = e
        if time.monotonic() > deadline:
            raise WaitTimeout(
                f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else "")
            )
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class AgentHandle:
    name: str
    ns: str
    dir: Path
    config_path: Path
    socket: Path
    proc: Proc
    config: dict[str, Any]

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket)), base_url="http://agent", timeout=scaled(timeout)
        )

    def api(self, method: str, path: str, body: Any = None) -> Any:
        with self.client() as c:
            r = c.request(method, path, json=body)
            r.raise_for_status()
            return r.json()

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, DURANTIC_SOCKET=str(self.socket))
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, DURANTIC, *args],
            text=True,
            capture_output=True,
            env=env,
            check=check,
        )

    def peers(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.api("GET", "/v1/peers")}

    def established(self, *names: str) -> bool:
        p = self.peers()
        return all(p.get(n, {}).get("state") == "established" for n in names)

    def write_config(self, cfg: dict[str, Any]) -> None:
        self.config = cfg
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))


@dataclass
class Lab:
    prefix: str = field(default_factory=lambda: f"dl{os.getpid() % 100000}")
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="durantic-lab-")))
    namespaces: list[str] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)
    agents: dict[str, AgentHandle] = field(default_factory=dict)
    _links: int = 0

    # ----- namespaces and links ----------------------------------------------------------------

    def ns(self, name: str) -> str:
        full = f"{self.prefix}{name}"
        if full not in self.namespaces:
            run(["ip", "netns", "add", full])
            self.namespaces.append(full)
            self.sh(full, "ip link set lo up")
            self.sh(full, "sysctl -qw net.ipv4.ip_forward=1")
        return full

    def sh(self, ns: str, cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", ns, "sh", "-c", cmd], check=check)

    def link(self, a: str, a_addr: str, b: str, b_addr: str) -> tuple[str, str]:
        """A veth pair between two namespaces with the given interface addresses (CIDR)."""
        self._links += 1
        ia, ib = f"{self.prefix}a{self._links}", f"{self.prefix}b{self._links}"
        run(["ip", "link", "add", ia, "netns", a, "type", "veth", "peer", "name", ib, "netns", b])
        self.sh(a, f"ip addr add {a_addr} dev {ia} && ip link set {ia} up")
        self.sh(b, f"ip addr add {b_addr} dev {ib} && ip link set {ib} up")
        return ia, ib

    def unlink(self, ns: str, ifname: str) -> None:
        self.sh(ns, f"ip link del {ifname}", check=False)

    def segment(self, name: str, members: dict[str, str]) -> dict[str, str]:
        """A switch (a bridge in its own namespace) joining `members` {ns: addr/len}; returns ns->ifname."""
        sw = self.ns(f"sw{name}")
        self.sh(sw, "ip link add br0 type bridge && ip link set br0 up")
        out = {}
        for ns, addr in members.items():
            self._links += 1
            a, b = f"{self.prefix}s{self._links}", f"{self.prefix}p{self._links}"
            run(["ip", "link", "add", a, "netns", ns, "type", "veth", "peer", "name", b, "netns", sw])
            self.sh(ns, f"ip addr add {addr} dev {a} && ip link set {a} up")
            self.sh(sw, f"ip link set {b} master br0 && ip link set {b} up")
            out[ns] = a
        return out

    # ----- processes ----------------------------------------------------------------------------

    def spawn(self, name: str, ns: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log_path = self.base / f"{name}.log"
        logf = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with the lab
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, **(env or {})),
            start_new_session=True,
        )
        logf.close()
        proc = Proc(name, p, log_path)
        self.procs.append(proc)
        return proc

    def kill(self, proc: Proc, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.popen.pid, sig)
            try:
                return proc.popen.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                return proc.popen.wait(5)
        return proc.popen.returncode

    def agent_config(self, name: str, asn: int, router_id: str, **extra: Any) -> dict[str, Any]:
        d = self.base / name
        cfg: dict[str, Any] = {
            "machine": {"name": name, "asn": asn, "router_id": router_id},
            # a slow machine (emulated VM) stretches the hold time too, or sessions drop between keepalives
            "bgp": {
                "listen_port": 179,
                "hold_time": round(scaled(9)),
                "keepalive": round(scaled(3)),
                "connect_retry": 1,
            },
            "api": {"socket": str(d / "agent.sock"), "http": None},
            # an emulated VM beside a busy host can take longer than the default 10 s to start gobgpd
            "gobgpd": {"start_timeout": round(scaled(10))},
            "state_dir": str(d / "state"),
            "runtime_dir": str(d / "run"),
        }
        cfg.update(extra)
        return cfg

    def start_agent(self, name: str, ns: str, cfg: dict[str, Any], wait: bool = True) -> AgentHandle:
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        cfg_path = d / "agent.yaml"
        h = self.agents.get(name)
        if h is None:
            h = AgentHandle(name, ns, d, cfg_path, Path(cfg["api"]["socket"]), None, cfg)  # type: ignore[arg-type]
        h.write_config(cfg)
        h.proc = self.spawn(
            f"agent-{name}",
            ns,
            [DURANTIC, "agent", "run", "-c", str(cfg_path), "--log-level", "debug"],
            env={"WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"},
        )
        self.agents[name] = h
        if wait:
            self.wait_agent(h)
        return h

    def wait_agent(self, h: AgentHandle, timeout: float = 20.0) -> None:
        def up() -> bool:
            if not h.proc.alive():
                raise AssertionError(f"agent {h.name} exited ({h.proc.popen.returncode}):\n{h.proc.log()[-3000:]}")
            st = h.api("GET", "/v1/status")
            return bool(st["gobgpd"]["ready"])

        wait_for(up, timeout, f"agent {h.name} to answer")

    def stop_agent(self, h: AgentHandle, sig: int = signal.SIGTERM) -> int | None:
        return self.kill(h.proc, sig)

    def start_gobgpd(self, name: str, ns: str) -> tuple[Proc, Path]:
        """A plain gobgpd (the 'rest of the network'), configured by the test over its unix socket."""
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        sock = d / "gobgpd.sock"
        proc = self.spawn(name, ns, [GOBGPD, f"--api-hosts=unix://{sock}", *GOBGPD_QUIET_FLAGS, "--log-plain"])
        wait_for(lambda: sock.exists() or not proc.alive(), 10, f"{name} socket")
        assert proc.alive(), proc.log()
        return proc, sock

    def start_peer_gobgpd(
        self, name: str, ns: str, asn: int, router_id: str, neighbors: dict[str, int] | None = None
    ) -> tuple[Proc, Path]:
        """An independent BGP speaker: a plain gobgpd configured with the real gobgp CLI (passive side:
        the agents connect to it), peering with `neighbors` {address: asn}."""
        proc, sock = self.start_gobgpd(name, ns)
        t = f"unix://{sock}"
        run([GOBGP, "--target", t, "global", "as", str(asn), "router-id", router_id, "listen-port", "179"])
        for addr, peer_asn in (neighbors or {}).items():
            run([GOBGP, "--target", t, "neighbor", "add", addr, "as", str(peer_asn)])
        return proc, sock

    def start_bird(self, name: str, ns: str, config: str) -> tuple[Proc, Path]:
        d = self.base / name
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "bird.conf"
        conf.write_text(config)
        sock = d / "bird.ctl"
        proc = self.spawn(name, ns, ["bird", "-f", "-c", str(conf), "-s", str(sock), "-P", str(d / "bird.pid")])
        wait_for(lambda: sock.exists() or not proc.alive(), 10, f"{name} control socket")
        assert proc.alive(), proc.log()
        return proc, sock

    def dump_logs(self) -> str:
        out = []
        for p in self.procs:
            out.append(f"===== {p.name} (pid {p.popen.pid}, rc {p.popen.poll()}) =====\n{p.log()[-4000:]}")
        return "\n".join(out)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + scaled(10)
        for p in self.procs:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.popen.pid, signal.SIGKILL)
                p.popen.wait(5)
        for ns in reversed(self.namespaces):
            # whatever still runs in one of our namespaces was started by us (e.g. a gobgpd child)
            for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces.clear()
        _remove_stale_uapi_sockets(f"dur-{self.prefix}")
        if os.environ.get("DURANTIC_KEEP_LAB") != "1":
            shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def module_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A lab for one module's fixture: every daemon's log printed once if one of its tests failed."""
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (network namespaces)")
    for tool in ("ip", "bird"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `make setup`")
    failed_before = request.session.testsfailed
    lab = Lab()
    try:
        yield lab
    finally:
        if request.session.testsfailed > failed_before:
            _keep_logs(lab, request.node.name)
        lab.close()


def _keep_logs(lab: Lab, module: str) -> None:
    """Every daemon's log, written where a person can read it after the run (captured output of a
    passing teardown is never shown; the test VM's /tmp is gone when it stops)."""
    logs = lab.dump_logs()
    print(logs)
    d = Path(os.environ.get("DURANTIC_LAB_LOGS") or ROOT / "artifacts" / "lab-logs")
    try:
        d.mkdir(parents=True, exist_ok=True)
        f = d / f"{module.replace('/', '_')}-{lab.prefix}.log"
        f.write_text(logs)
        sys.stderr.write(f"lab logs of {module}: {f}\n")
    except OSError as exc:
        sys.stderr.write(f"lab logs of {module} not kept: {exc}\n")


def _remove_stale_uapi_sockets(prefix: str, directory: Path = Path("/var/run/wireguard")) -> None:
    """wireguard-go killed with SIGKILL (crash tests, parent-death) leaves its UAPI socket file behind in
    the one directory all namespaces share. Only our own names, and only sockets nobody listens on."""
    for path in directory.glob(f"{prefix}*.sock"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            except OSError:
                pass


def gobgp_cli(sock: Path, *args: str) -> Any:
    """The real gobgp CLI against a plain gobgpd, JSON output."""
    out = run([GOBGP, "--target", f"unix://{sock}", *args, "-j"]).stdout
    return json.loads(out) if out.strip() else None


def birdc(sock: Path, *args: str) -> str:
    return run(["birdc", "-s", str(sock), *args], check=False).stdout


def bird_has_route(sock: Path, prefix: str) -> bool:
    return prefix in birdc(sock, "show", "route", prefix)


def bird_sessions(sock: Path) -> dict[str, tuple[str, float]]:
    """BIRD's BGP protocols as {name: (info, since in seconds of the day)}, from `birdc show protocols`."""
    out: dict[str, tuple[str, float]] = {}
    for line in run(["birdc", "-s", str(sock), "show", "protocols"], check=False).stdout.splitlines():
        f = line.split()
        if len(f) >= 5 and f[1] == "BGP" and f[4].count(":") == 2:
            h, m, s = f[4].split(":")
            out[f[0]] = (" ".join(f[5:]), int(h) * 3600 + int(m) * 60 + float(s))
    return out


def same_sessions(before: dict[str, tuple[str, float]], after: dict[str, tuple[str, float]]) -> bool:
    """No BIRD session went down in between. BIRD prints `since` from its monotonic clock converted to
    wall-clock time when asked, so the printed time of a session that never changed wanders by
    milliseconds while the system clock is slewed; a flap moves it by the seconds a reconnect takes."""
    return before.keys() == after.keys() and all(
        before[k][0] == after[k][0] and abs(before[k][1] - after[k][1]) < 0.5 for k in before
    )


def bird_neighbour(net: str, n: int, routes: str = "", extra: str = "") -> str:
    """BIRD 2 config of neighbour `n` (`<net>.<n>`, AS 420000000<n>) peering with the agent at `<net>.1`:
    it announces the static `routes` and imports everything; `extra` goes into its bgp protocol."""
    return f"""
router id {net}.{n};
log stderr all;
protocol device {{}}
protocol static s1 {{ ipv4; {routes} }}
protocol bgp b{n} {{
  local {net}.{n} as 420000000{n};
  neighbor {net}.1 as 4200000001;
  hold time 9; keepalive time 3; connect retry time 1; connect delay time 1; error wait time 1, 2;
  {extra}
  ipv4 {{ import all; export where proto = "s1"; }};
}}
"""
