"""Fault injection against running agents: a full state disk (a real small tmpfs), broken files at boot,
a taken web port, an unprivileged local user flooding the web listener, DNS-rebinding Host headers,
secrets in checks, checks that daemonize, hostile request bodies, insecure key files, and two agents on
one runtime dir. Each test names the class of issue 21 it holds."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .harness import DURANTIC, AgentHandle, Lab, run, wait_for

pytestmark = pytest.mark.lab

# the system interpreter (python3-venv pulls it in): readable by the unprivileged user, unlike a venv under /root
SYS_PYTHON = "/usr/bin/python3"


# ----- helpers -----------------------------------------------------------------------------------


def start(
    lab: Lab, name: str, *, http: str | None = None, wait: bool = True, prefix: list[str] | None = None, **extra: Any
) -> AgentHandle:
    ns = lab.ns(name)
    cfg = lab.agent_config(name, 4200000100 + len(lab.agents), f"10.77.0.{len(lab.agents) + 1}", **extra)
    cfg["api"]["http"] = http
    if prefix is None:
        return lab.start_agent(name, ns, cfg, wait=wait)
    d = lab.base / name
    d.mkdir(parents=True, exist_ok=True)
    h = AgentHandle(name, ns, d, d / "agent.yaml", Path(cfg["api"]["socket"]), None, cfg)  # type: ignore[arg-type]
    h.write_config(cfg)
    h.proc = lab.spawn(f"agent-{name}", ns, [*prefix, DURANTIC, "agent", "run", "-c", str(h.config_path)])
    lab.agents[name] = h
    if wait:
        lab.wait_agent(h)
    return h


def restart(lab: Lab, h: AgentHandle, wait: bool = True) -> None:
    lab.stop_agent(h)
    lab.start_agent(h.name, h.ns, h.config, wait=wait)


def request(h: AgentHandle, method: str, path: str, content: bytes | None = None, body: Any = None) -> httpx.Response:
    with h.client() as c:
        return c.request(method, path, content=content, json=body)


def exited(h: AgentHandle, timeout: float = 20.0) -> tuple[int, str]:
    """Waits for an agent that must refuse to start; returns its exit code and log."""
    try:
        code = h.proc.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"agent {h.name} is still running (it hangs):\n{h.proc.log()[-2000:]}") from None
    return code, h.proc.log()


def route_check(name: str, prefix: str, command: list[str], interval: str = "300ms", **hc: Any) -> dict[str, Any]:
    """A route announcement (no VIP on lo) tied to an exec check."""
    spec = {
        "exec": {"command": command},
        "interval": interval,
        "timeout": interval,
        "healthy_threshold": 1,
        "unhealthy_threshold": 1,
        **hc,
    }
    return {"name": name, "route": prefix, "health_check": spec}


def check(h: AgentHandle, name: str) -> dict[str, Any]:
    return next(c for c in h.api("GET", "/v1/checks") if c["name"] == name)


WEB_CLIENT = r"""
import http.client, json, sys
port, path, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.putrequest("GET", path, skip_host=True)
c.putheader("Host", host)
c.endheaders()
r = c.getresponse()
print(json.dumps({"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()},
                  "body": r.read().decode("utf-8", "replace")}))
"""


def web(lab: Lab, h: AgentHandle, port: int, path: str, host: str | None = None) -> dict[str, Any]:
    """A GET on the agent's loopback web listener, from inside its namespace, with a chosen Host."""
    out = run(["ip", "netns", "exec", h.ns, SYS_PYTHON, "-c", WEB_CLIENT, str(port), path, host or f"127.0.0.1:{port}"])
    return dict(json.loads(out.stdout))


# ----- class 1: disk full --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tmpfs(lab: Lab) -> Any:
    mnt = lab.base / "small-disk"
    mnt.mkdir()
    run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)])
    try:
        yield mnt
    finally:
        run(["umount", "-l", str(mnt)], check=False)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fills the file system of `directory` to the last block, then gives back `leave` bytes."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


def test_disk_full_apply_is_refused_whole_and_the_previous_state_survives(lab: Lab, tmpfs: Path) -> None:
    """Class 1: ENOSPC on a real tmpfs, both a full disk and one with room for a short write."""
    state = tmpfs / "state"
    h = start(lab, "disk", state_dir=str(state))
    first = {"announcements": [{"name": "kept", "route": "198.51.100.0/24"}]}
    assert h.api("POST", "/v1/apply", first)["changed"]
    before = (state / "objects.json").read_bytes()
    big = {"announcements": [{"name": f"r{i}", "route": f"10.{i // 256}.{i % 256}.0/24"} for i in range(1500)]}
    big_file = lab.base / "big.yaml"
    big_file.write_text(yaml.safe_dump(big))
    for leave in (0, 8192):  # nothing left; room for part of the file (a short write)
        filler = fill(tmpfs, leave)
        r = request(h, "POST", "/v1/apply", body=big)
        assert r.status_code == 507, r.text
        msg = r.json()["error"]
        assert "No space left on device" in msg and "\n" not in msg
        cli = h.cli("apply", "-f", str(big_file))
        assert cli.returncode == 1 and "No space left on device" in cli.stderr, cli
        if not leave:  # a full disk refuses the smallest change too: one object, a drain
            r = request(h, "PUT", "/v1/announcements/r9999", body={"route": "10.99.0.0/24"})
            assert r.status_code == 507, r.text
            assert request(h, "POST", "/v1/drain", body={"grace": 0}).status_code == 507
            assert h.api("GET", "/v1/status")["drain"] == "none"
        # memory and disk agree, and both hold the previous state
        assert [a["name"] for a in h.api("GET", "/v1/objects")["announcements"]] == ["kept"]
        assert (state / "objects.json").read_bytes() == before
        assert not [p.name for p in state.iterdir() if p.name.startswith(".objects.json.tmp")]
        filler.unlink()
    # a restart on the nearly full disk reads the previous state back
    fill(tmpfs)
    restart(lab, h)
    assert [a["name"] for a in h.api("GET", "/v1/objects")["announcements"]] == ["kept"]
    (tmpfs / "filler").unlink()
    assert h.cli("apply", "-f", str(big_file)).returncode == 0
    assert len(h.api("GET", "/v1/objects")["announcements"]) == 1501
    lab.stop_agent(h)


# ----- class 2: boot robustness --------------------------------------------------------------------


def test_missing_program_and_ca_file_fail_their_checks_not_the_start(lab: Lab) -> None:
    """Class 2: an exec program and a CA file removed while the agent was down."""
    prog = lab.base / "check-ok"
    prog.write_text("#!/bin/sh\nexit 0\n")
    prog.chmod(0o755)
    ca = lab.base / "ca.pem"
    ca.write_text("not a certificate yet\n")
    h = start(lab, "boot")
    objs = {
        "announcements": [
            route_check("prog", "198.51.101.0/24", [str(prog)]),
            {
                "name": "tls",
                "route": "198.51.102.0/24",
                "health_check": {
                    "http": {"url": "https://127.0.0.1:1/", "ca_file": str(ca)},
                    "interval": "200ms",
                    "timeout": "150ms",
                },
            },
            {"name": "plain", "route": "198.51.103.0/24"},
        ]
    }
    assert h.api("POST", "/v1/apply", objs)["changed"]
    lab.stop_agent(h)
    prog.unlink()
    ca.unlink()
    lab.start_agent(h.name, h.ns, h.config)
    wait_for(lambda: "does not exist" in (check(h, "prog")["last_detail"] or ""), 20, "prog check detail")
    assert check(h, "prog")["last_detail"] == f"program {str(prog)!r} does not exist"
    wait_for(lambda: "ca_file" in (check(h, "tls")["last_detail"] or ""), 20, "tls check detail")
    assert "No such file or directory" in check(h, "tls")["last_detail"]
    show = h.cli("announce", "show", "prog")
    assert show.returncode == 0 and "does not exist" in show.stdout, show
    # the rest of the agent works: an unconditional route is announced
    wait_for(
        lambda: any(r["name"] == "plain" and r["announced"] for r in h.api("GET", "/v1/announcements")),
        20,
        "plain announced",
    )
    # a fresh apply still names the missing program at once
    r = request(h, "PUT", "/v1/announcements/prog2", body=route_check("prog2", "198.51.104.0/24", [str(prog)]))
    assert r.status_code == 400 and "does not exist or is not executable" in r.json()["error"]
    lab.stop_agent(h)


@pytest.mark.parametrize("kind", ["directory", "fifo", "not-json"])
def test_state_file_that_is_not_a_file_is_one_clear_line(lab: Lab, kind: str) -> None:
    """Class 2: the state file is a directory, a FIFO (which would block an open) or not JSON."""
    name = f"sf-{kind[:3]}"
    cfg = lab.agent_config(name, 4200000150, "10.77.0.150")
    target = Path(cfg["state_dir"]) / "objects.json"
    target.parent.mkdir(parents=True)
    expected = {
        "directory": "is not a regular file (a directory)",
        "fifo": "is not a regular file (a FIFO)",
        "not-json": "is not a valid state file",
    }[kind]
    if kind == "directory":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    else:
        target.write_text("{not json")
    h = lab.start_agent(name, lab.ns(name), cfg, wait=False)
    code, log = exited(h)
    assert code == 1, log
    assert "Traceback" not in log and "unreadable" not in log, log
    assert len([ln for ln in log.splitlines() if expected in ln]) == 1, log


def test_web_port_taken_is_reported_and_retried(lab: Lab) -> None:
    """Class 2: another process holds the web port at start; the agent runs, says so, and binds later."""
    port = 19180
    ns = lab.ns("port")
    holder = lab.spawn(
        "port-holder",
        ns,
        [
            SYS_PYTHON,
            "-c",
            (
                "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
                f"s.bind(('127.0.0.1',{port}));s.listen();print('ok',flush=True);time.sleep(3600)"
            ),
        ],
    )
    wait_for(lambda: "ok" in holder.log(), 10, "port holder")
    h = start(lab, "port", http=f"127.0.0.1:{port}")
    web_st = h.api("GET", "/v1/status")["web"]
    assert web_st["listening"] is False and web_st["error"] == "Address already in use", web_st
    st = h.cli("status", "--json")
    assert st.returncode == 0 and "Address already in use" in st.stdout
    lab.kill(holder)
    wait_for(lambda: h.api("GET", "/v1/status")["web"]["listening"], 40, "web listener bound on retry")
    assert web(lab, h, port, "/v1/status")["status"] == 200
    lab.stop_agent(h)


# ----- class 3: an unprivileged local user against the web listener ---------------------------------

SLOW_CLIENTS = r"""
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    while len(socks) < n:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1")  # a head that never ends
            socks.append(s)
        except OSError:
            break
    for s in list(socks):  # drop the ones the agent closed, open new ones
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                raise OSError
        except BlockingIOError:
            continue
        except OSError:
            socks.remove(s)
            s.close()
    print(len(socks), flush=True)
    time.sleep(0.2)
"""


def nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "nobody"])
        return pwd.getpwnam("nobody")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def agent_pid(h: AgentHandle) -> int:
    return int(h.api("GET", "/v1/status")["pid"])


def test_slow_connections_of_a_local_user_starve_nothing(lab: Lab) -> None:
    """Class 3: 'nobody' holds 600 slow connections against an agent limited to 256 descriptors; the unix
    API answers, the health check keeps passing, descriptors stay in budget, the log stays short."""
    port = 19181
    flag = lab.base / "nofile-ok"
    flag.touch()
    h = start(lab, "flood", http=f"127.0.0.1:{port}", prefix=["prlimit", "--nofile=256:256"])
    svc = route_check("svc", "198.51.110.0/24", ["test", "-e", str(flag)], interval="500ms", unhealthy_threshold=2)
    h.api("POST", "/v1/apply", {"announcements": [svc]})
    wait_for(lambda: check(h, "svc")["passing"], 20, "check passing")
    pid = agent_pid(h)
    cap = h.api("GET", "/v1/status")["web"]["max_connections"]
    assert cap == 16  # 256 / 16
    user = nobody()
    attacker = lab.spawn(
        "attacker",
        h.ns,
        [
            "setpriv",
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--clear-groups",
            SYS_PYTHON,
            "-c",
            SLOW_CLIENTS,
            str(port),
            "600",
            "25",
        ],
    )
    wait_for(lambda: h.api("GET", "/v1/status")["web"]["refused"] > 100, 30, "the cap refusing connections")
    before = check(h, "svc")
    deadline = time.monotonic() + 8  # past the 5 s head timeout: expiries happen too
    peak = 0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        st = h.cli("status", "--json")
        assert st.returncode == 0, st
        assert time.monotonic() - t0 < 5, "the unix API is slow under the flood"
        assert check(h, "svc")["passing"]
        peak = max(peak, open_fds(pid))
        time.sleep(0.3)
    web_st = h.api("GET", "/v1/status")["web"]
    assert web_st["connections"] <= cap and web_st["expired"] > 0, web_st
    assert check(h, "svc")["transitions"] == before["transitions"]
    assert check(h, "svc")["probes"] >= before["probes"] + 8  # 16 due at 500 ms over the 8 s window
    assert peak < 128, f"{peak} descriptors open"
    lab.kill(attacker)
    log = h.proc.log()
    assert log.count("at its cap") <= 3, log[-2000:]
    assert len(log) < 200_000
    # after the flood the page is served again
    wait_for(lambda: web(lab, h, port, "/v1/status")["status"] == 200, 20, "web view back")
    lab.stop_agent(h)


def test_web_listener_closes_a_request_head_that_never_ends(lab: Lab) -> None:
    """Class 3: the head deadline applies to a lone slow client too."""
    port = 19182
    h = start(lab, "slowhead", http=f"127.0.0.1:{port}")
    code = f"""
import socket, time
s = socket.create_connection(("127.0.0.1", {port}))
s.send(b"GET / HTTP/1.1\\r\\nHo")
t = time.monotonic()
s.settimeout(30)
try:
    d = s.recv(100)
except OSError:
    d = b""
print(round(time.monotonic() - t, 1), d == b"")
"""
    out = run(["ip", "netns", "exec", h.ns, SYS_PYTHON, "-c", code]).stdout.split()
    assert float(out[0]) < 15 and out[1] == "True", out
    lab.stop_agent(h)


# ----- class 4: DNS rebinding, security headers, secrets ---------------------------------------------

SECRETS = ("s3cr3t-bearer", "s3cr3t-cookie", "s3cr3t-urlpw", "s3cr3t-env", "s3cr3t-arg")


@pytest.fixture(scope="module")
def webagent(lab: Lab) -> tuple[AgentHandle, int]:
    port = 19183
    h = start(lab, "web", http=f"127.0.0.1:{port}")
    objs = {
        "announcements": [
            {
                "name": "api",
                "route": "198.51.120.0/24",
                "health_check": {
                    "http": {
                        "url": f"http://probe:{SECRETS[2]}@127.0.0.1:1/health",
                        "headers": {
                            "Authorization": f"Bearer {SECRETS[0]}",
                            "Cookie": f"sid={SECRETS[1]}",
                            "X-Trace": "visible",
                        },
                    },
                    "interval": "200ms",
                    "timeout": "100ms",
                },
            },
            route_check(
                "job", "198.51.121.0/24", ["sh", "-c", "exit 0", f"--api-token={SECRETS[4]}"], interval="500ms"
            ),
        ]
    }
    objs["announcements"][1]["health_check"]["exec"]["env"] = {"API_TOKEN": SECRETS[3]}
    assert h.api("POST", "/v1/apply", objs)["changed"]
    return h, port


@pytest.mark.parametrize("path", ["/metrics", "/v1/status", "/ui/", "/ui/api/announcements", "/", "/nope"])
def test_foreign_host_header_is_refused_on_every_path(lab: Lab, webagent: tuple[AgentHandle, int], path: str) -> None:
    """Class 4: a page elsewhere that rebinds its DNS name to 127.0.0.1 gets nothing."""
    h, port = webagent
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.nip.io:{port}", "127.0.0.2:80"):
        r = web(lab, h, port, path, host)
        assert r["status"] == 421, (host, r)
        assert "durantic" not in r["body"].lower() and "s3cr3t" not in r["body"]
        assert r["headers"]["x-content-type-options"] == "nosniff"
    # its own names, with any port: a port forward (ssh -L 8080:127.0.0.1:9179) sends its own
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}", "127.0.0.1:8080"):
        r = web(lab, h, port, path, host)
        assert r["status"] in (200, 302, 404), (host, r)


@pytest.mark.parametrize("path", ["/metrics", "/v1/status", "/ui/", "/ui/api/announcements", "/nope"])
def test_security_headers_on_every_response(lab: Lab, webagent: tuple[AgentHandle, int], path: str) -> None:
    """Class 4."""
    h, port = webagent
    hd = web(lab, h, port, path)["headers"]
    assert hd["x-content-type-options"] == "nosniff"
    assert hd["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in hd["content-security-policy"]
    assert hd["referrer-policy"] == "no-referrer"
    assert hd["cache-control"] == "no-store"
    api = request(h, "GET", "/v1/announcements")
    assert api.headers["cache-control"] == "no-store" and api.headers["x-content-type-options"] == "nosniff"


def test_secrets_are_redacted_where_shown_and_kept_in_the_root_export(
    lab: Lab, webagent: tuple[AgentHandle, int]
) -> None:
    """Class 4: web JSON, API listings, CLI show, metrics and the log never carry a check's secrets;
    `durantic get -o yaml` (root-only socket) keeps them and applies back as a no-op."""
    h, port = webagent
    wait_for(lambda: check(h, "job")["probes"] > 0 and check(h, "api")["probes"] > 0, 20, "probes ran")
    shown = [
        web(lab, h, port, "/ui/api/announcements")["body"],
        web(lab, h, port, "/metrics")["body"],
        web(lab, h, port, "/v1/status")["body"],
        request(h, "GET", "/v1/announcements").text,
        request(h, "GET", "/v1/announcements/api").text,
        request(h, "GET", "/v1/checks").text,
        h.cli("announce", "show", "api").stdout,
        h.cli("announce", "show", "job", "--json").stdout,
        h.cli("announce", "list", "--json").stdout,
        h.cli("checks", "--json").stdout,
    ]
    bad = request(
        h,
        "PUT",
        "/v1/announcements/bad",
        body={
            "route": "198.51.122.0/24",
            "health_check": {"http": {"url": "http://127.0.0.1:1/", "headers": {"Authorization": f"x{SECRETS[0]}\n"}}},
        },
    )
    assert bad.status_code == 400
    shown.append(bad.text)
    shown.append(h.proc.log())
    for text in shown:
        for s in SECRETS:
            assert s not in text, (s, text[:3000])
    row = h.api("GET", "/v1/announcements/api")["object"]["health_check"]["http"]
    assert row["headers"] == {"Authorization": "<redacted>", "Cookie": "<redacted>", "X-Trace": "visible"}
    export = h.cli("get", "-o", "yaml")
    assert export.returncode == 0 and all(s in export.stdout for s in SECRETS), export
    f = lab.base / "export.yaml"
    f.write_text(export.stdout)
    again = h.cli("apply", "-f", str(f))
    assert again.returncode == 0 and h.api("POST", "/v1/apply", yaml.safe_load(export.stdout))["changed"] is False
    # a shown (redacted) object applied back by mistake is refused rather than storing the placeholder
    r = request(h, "PUT", "/v1/announcements/api", body=h.api("GET", "/v1/announcements/api")["object"])
    assert r.status_code == 400 and "placeholder" in r.json()["error"], r.text


# ----- class 6: exec checks that daemonize -----------------------------------------------------------

DAEMONIZERS = {
    "setsid": "setsid sleep {d} & exit 0",
    "setsid-holds-stdout": "setsid sh -c 'echo started; exec sleep {d}' & echo done; exit 0",
    "double-fork": "( setsid sh -c 'sleep {d} & sleep {d}' & ) ; exit 0",
    "nohup": "nohup setsid sleep {d} >/dev/null 2>&1 & exit 0",
    "fails": "setsid sleep {d} & exit 3",
}


def alive_with_args(args: str) -> list[str]:
    out = run(["ps", "-eo", "stat=,args="]).stdout.splitlines()
    return [ln for ln in out if ln.split(None, 1)[-1] == args and not ln.startswith("Z")]


def test_daemonizing_exec_checks_leave_nothing_and_their_exit_codes_decide(lab: Lab) -> None:
    """Class 6: checks whose children leave the check's session every 500 ms, 20 probes each: no child
    survives its probe, the verdict is the exit code, given at exit (not when the stdout the children
    still hold is closed, nor at the timeout)."""
    h = start(lab, "daemon")
    sleeps = {kind: f"sleep {1000 + i}.{os.getpid() % 1000}" for i, kind in enumerate(DAEMONIZERS)}
    for i, (kind, script) in enumerate(DAEMONIZERS.items()):
        cmd = ["sh", "-c", script.format(d=sleeps[kind].split()[1])]
        h.api("PUT", f"/v1/announcements/{kind}", route_check(kind, f"198.51.{130 + i}.0/24", cmd, interval="500ms"))
    wait_for(lambda: all(check(h, k)["probes"] >= 20 for k in DAEMONIZERS), 90, "20 probes of every check")
    peak = dict.fromkeys(DAEMONIZERS, 0)
    for _ in range(5):
        for kind in DAEMONIZERS:
            peak[kind] = max(peak[kind], len(alive_with_args(sleeps[kind])))
        time.sleep(0.1)
    rows = {k: check(h, k) for k in DAEMONIZERS}
    for kind in DAEMONIZERS:
        h.api("DELETE", f"/v1/announcements/{kind}")
    left = lambda: [ln for s in sleeps.values() for ln in alive_with_args(s)]  # noqa: E731
    wait_for(lambda: not left(), 10, f"no child left once the checks are gone: {left()}")
    assert all(n <= 2 for n in peak.values()), peak  # at most the probe running at that moment
    for kind, c in rows.items():
        assert c["passing"] is (kind != "fails"), c
        assert c["transitions"] <= 1, (c["last_detail"], c["transitions"], h.proc.log()[-3000:])
        assert "timeout" not in (c["last_detail"] or ""), c
        assert c["last_latency_seconds"] < 0.5, c
    assert rows["fails"]["last_detail"].startswith("exit 3"), rows["fails"]
    lab.stop_agent(h)


# ----- class 7: input --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_agent(lab: Lab) -> AgentHandle:
    h = start(lab, "input")
    h.api(
        "POST",
        "/v1/apply",
        {
            "announcements": [{"name": "base", "route": "198.51.140.0/24"}],
            "policy_sets": [{"name": "p", "rules": [{"name": "r", "actions": {"result": "accept"}}]}],
        },
    )
    return h


NAME_CASES = [
    ("PUT", "/v1/announcements/web%0A", {"route": "198.51.141.0/24"}),
    ("POST", "/v1/apply", {"announcements": [{"name": "web\n", "route": "198.51.141.0/24"}]}),
    (
        "POST",
        "/v1/apply",
        {"policy_sets": [{"name": "p2\n", "rules": [{"name": "r", "actions": {"result": "accept"}}]}]},
    ),
    (
        "POST",
        "/v1/apply",
        {"policy_sets": [{"name": "p3", "rules": [{"name": "r\n", "actions": {"result": "accept"}}]}]},
    ),
    ("POST", "/v1/apply", {"announcements": [{"name": "m", "route": "198.51.143.0/24", "next_hop": "10.0.0.1\n"}]}),
    ("POST", "/v1/policies/p/test", {"prefix": "10.0.0.0/8\n"}),
]


@pytest.mark.parametrize(("method", "path", "body"), NAME_CASES)
def test_trailing_newline_in_names_is_refused(api_agent: AgentHandle, method: str, path: str, body: Any) -> None:
    """Class 7: `$` would accept 'web\\n'; every name and value pattern is matched whole."""
    before = api_agent.api("GET", "/v1/objects")
    r = request(api_agent, method, path, body=body)
    assert r.status_code == 400, r.text
    assert "\n" not in r.json()["error"]
    assert api_agent.api("GET", "/v1/objects") == before


BODY_CASES = [
    ("not-utf8", b'{"announcements": [{"name": "\xff\xfe"}]}'),
    ("deep-list", b"[" * 100_000 + b"]" * 100_000),
    ("deep-object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("list", b"[1, 2]"),
    ("string", b'"drain"'),
    ("truncated", b'{"grace": '),
]
ENDPOINTS = [
    ("POST", "/v1/apply"),
    ("POST", "/v1/drain"),
    ("POST", "/v1/undrain"),
    ("PUT", "/v1/announcements/x"),
    ("POST", "/v1/policies/p/test"),
    ("POST", "/v1/reload"),
    ("POST", "/v1/announcements/base/disable"),
]


@pytest.mark.parametrize(("kind", "content"), BODY_CASES, ids=[c[0] for c in BODY_CASES])
def test_hostile_bodies_are_400_with_one_line_everywhere(api_agent: AgentHandle, kind: str, content: bytes) -> None:
    """Class 7: non-UTF-8, deeply nested, wrong-typed or cut bodies on every write endpoint."""
    before = api_agent.api("GET", "/v1/objects")
    for method, path in ENDPOINTS:
        r = request(api_agent, method, path, content=content)
        assert r.status_code == 400, (method, path, r.status_code, r.text[:300])
        msg = r.json()["error"]
        assert "\n" not in msg and len(msg) < 300, msg
    assert api_agent.api("GET", "/v1/objects") == before
    st = api_agent.api("GET", "/v1/status")
    assert st["drain"] == "none"
    assert api_agent.api("GET", "/v1/announcements/base")["enabled"] is True


def test_drain_with_wrong_types_changes_nothing(api_agent: AgentHandle) -> None:
    """Class 7."""
    for body in ([{"grace": 1}], {"grace": "5"}, {"grace": True}, {"grace": -1}, {"grce": 5}, "x", 5, None):
        r = request(api_agent, "POST", "/v1/drain", content=json.dumps(body).encode())
        assert r.status_code == 400, (body, r.text)
    assert api_agent.api("GET", "/v1/status")["drain"] == "none"


@pytest.mark.parametrize(("field", "mode"), [("key", 0o644), ("key", 0o640), ("password", 0o604), ("password", 0o660)])
def test_secret_files_open_to_others_are_refused(lab: Lab, field: str, mode: int) -> None:
    """Class 7: as ssh does; the error names the file and its mode, at `config check` and at start."""
    d = lab.base / f"perm-{field}-{mode:o}"
    d.mkdir()
    secret = d / ("prod.key" if field == "key" else "tor.pw")
    secret.write_text("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n" if field == "key" else "hunter2\n")
    secret.chmod(mode)
    cfg = lab.agent_config(f"perm{mode:o}", 4200000199, "10.77.0.99")
    if field == "key":
        cfg["meshes"] = [{"name": "prod", "address": "100.64.9.1/24", "private_key_file": str(secret), "members": []}]
    else:
        cfg["neighbors"] = [{"name": "tor", "address": "10.77.9.1", "asn": 65000, "password_file": str(secret)}]
    conf = d / "agent.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    for argv in ([DURANTIC, "config", "check", str(conf)], [DURANTIC, "agent", "run", "-c", str(conf)]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r
        assert f"{str(secret)!r} has mode {mode:04o}" in r.stderr and "group or others" in r.stderr, r.stderr
        assert "hunter2" not in r.stderr and "Traceback" not in r.stderr
    secret.chmod(0o600)
    assert subprocess.run([DURANTIC, "config", "check", str(conf)], capture_output=True).returncode == 0


# ----- class 9: two agents, one runtime dir ----------------------------------------------------------


def test_second_agent_on_the_same_runtime_dir_exits_1_and_the_first_is_untouched(lab: Lab) -> None:
    """Class 9: the second agent (another ASN, its own socket and state) must not adopt the first's gobgpd."""
    first = start(lab, "lock1")
    st1 = first.api("GET", "/v1/status")
    cfg2 = lab.agent_config("lock2", 4200000999, "10.77.0.250")
    cfg2["runtime_dir"] = first.config["runtime_dir"]
    second = lab.start_agent("lock2", first.ns, cfg2, wait=False)
    code, log = exited(second)
    assert code == 1, log
    lines = [ln for ln in log.splitlines() if "another agent" in ln]
    assert len(lines) == 1 and f"pid {st1['pid']}" in lines[0] and "runtime_dir" in lines[0], log
    assert "Traceback" not in log
    st = first.api("GET", "/v1/status")
    assert st["gobgpd"]["pid"] == st1["gobgpd"]["pid"] and st["machine"]["asn"] == st1["machine"]["asn"]
    assert st["gobgpd"]["restarts"] == 0
    # same state_dir under another runtime dir: refused too
    cfg3 = lab.agent_config("lock3", 4200000998, "10.77.0.251")
    cfg3["state_dir"] = first.config["state_dir"]
    third = lab.start_agent("lock3", first.ns, cfg3, wait=False)
    code, log = exited(third)
    assert code == 1 and "another agent" in log and "state_dir" in log, log
    # after the first stops, the lock is free
    lab.stop_agent(first)
    lab.start_agent("lock2", first.ns, cfg2)
    lab.stop_agent(lab.agents["lock2"])
