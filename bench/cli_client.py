"""A CLI call's whole-process time with three HTTP clients for the agent's unix socket, side by side.

Every `durantic` call is a fresh interpreter, so what a client costs is its imports plus one request.
A real agent (no peers) answers; each run starts a fresh `python -c` that imports what `durantic status`
imports (click, the status renderer), fetches /v1/status with one client and renders it:

    hand-written   durantic_agent.cli.client.ApiClient
    http.client    the standard library's HTTPConnection, connected over AF_UNIX
    httpx          httpx.Client with HTTPTransport(uds=...)

plus `durantic status` itself and a bare `python -c pass` for reference. The variants take turns within
each repetition, so load on the shared machine falls on all of them alike; p50 and p90 of the wall time
from spawn to exit, and of the process's CPU time, over DURANTIC_BENCH_REPS repetitions (default 40).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.compare import print_comparison
from tests.lab.harness import DURANTIC, Lab

_COMMON = "import sys, click\nfrom durantic_agent.views.render import render_status\nsock = sys.argv[1]\n"
_RENDER = "\nsys.stdout.write(render_status(data))\n"

VARIANTS = {
    "hand-written": "from durantic_agent.cli.client import ApiClient\ndata = ApiClient(sock).get('/v1/status')",
    "http.client": (
        "import http.client, json, socket\n"
        "class C(http.client.HTTPConnection):\n"
        "    def connect(self):\n"
        "        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "        self.sock.settimeout(30)\n"
        "        self.sock.connect(sock)\n"
        "c = C('agent')\n"
        "c.request('GET', '/v1/status', headers={'Accept': 'application/json'})\n"
        "data = json.loads(c.getresponse().read())\n"
        "c.close()"
    ),
    "httpx": (
        "import httpx\n"
        "with httpx.Client(transport=httpx.HTTPTransport(uds=sock), timeout=30) as c:\n"
        "    data = c.get('http://agent/v1/status').json()"
    ),
}


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one process from spawn to exit; CPU (user + system) is what load on a shared
    machine stretches least."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise subprocess.CalledProcessError(p.returncode, argv)
    return wall, usage.ru_utime + usage.ru_stime


def main(reps: int | None = None) -> None:
    reps = reps or int(os.environ.get("DURANTIC_BENCH_REPS", "40"))
    lab = Lab()
    try:
        h = lab.start_agent("a", lab.ns("a"), lab.agent_config("a", 4200000001, "10.99.0.1"))
        sock = str(h.socket)
        env = dict(os.environ, DURANTIC_SOCKET=sock)
        argvs = {name: [sys.executable, "-c", _COMMON + code + _RENDER, sock] for name, code in VARIANTS.items()}
        argvs["durantic status"] = [DURANTIC, "status"]
        argvs["python -c pass"] = [sys.executable, "-c", "pass"]
        for argv in argvs.values():  # warm the page cache and .pyc files; also fails early on a broken variant
            _run(argv, env)
        wall: dict[str, list[float]] = {name: [] for name in argvs}
        cpu: dict[str, list[float]] = {name: [] for name in argvs}
        for _ in range(reps):
            for name, argv in argvs.items():
                w, c = _run(argv, env)
                wall[name].append(w)
                cpu[name].append(c)
        for label, times in (("wall", wall), ("CPU (user+sys)", cpu)):
            print(f"whole-process {label} time of a status call, {reps} repetitions each (ms):")
            print_comparison(times, "hand-written", 16, 1)
    finally:
        lab.close()


if __name__ == "__main__":
    main()
