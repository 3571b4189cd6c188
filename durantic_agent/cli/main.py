"""`durantic`: the command line. Exit codes: 0 ok, 1 failure (agent unreachable, invalid config file),
2 bad input (one line naming the field and the value; nothing changed)."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from .. import GOBGP_VERSION, __version__
from ..errors import ConfigError
from .client import AgentUnreachable, ApiClient, ApiError, default_socket

EXIT_FAIL = 1
EXIT_BAD_INPUT = 2


def _die(msg: str, code: int) -> NoReturn:
    click.echo(f"durantic: {msg}", err=True)
    sys.exit(code)


def _api(ctx: click.Context) -> ApiClient:
    return ApiClient(default_socket(ctx.obj.get("socket")))


def _call(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except ApiError as e:
        _die(str(e), EXIT_BAD_INPUT if e.status in (400, 404, 409) else EXIT_FAIL)
    except AgentUnreachable as e:
        _die(str(e), EXIT_FAIL)


def _yaml_dump(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False))


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _table(rows: list[list[Any]], headers: list[str]) -> None:
    cells = [headers] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--socket", "socket_path", envvar="DURANTIC_SOCKET", help="agent API socket")
@click.pass_context
def cli(ctx: click.Context, socket_path: str | None) -> None:
    """Durantic: BGP control agent for WireGuard meshes."""
    ctx.ensure_object(dict)
    ctx.obj["socket"] = socket_path


@cli.command()
def version() -> None:
    """Print the agent, gobgpd and gobgp (CLI) versions."""
    import asyncio

    from ..gobgp.sidecar import find_gobgp_cli, find_gobgpd, gobgpd_version

    click.echo(f"durantic {__version__}")
    try:
        binary = find_gobgpd(None)
        gv, where = asyncio.run(gobgpd_version(binary)), str(binary)
    except Exception as e:
        gv, where = f"not found ({e})", ""
    click.echo(f"gobgpd {gv} {where}".rstrip() + f" (pinned {GOBGP_VERSION})")
    cli_bin = find_gobgp_cli()
    if cli_bin is None:
        click.echo("gobgp not found")
    else:
        click.echo(f"gobgp {asyncio.run(gobgpd_version(cli_bin))} {cli_bin} (pinned {GOBGP_VERSION})")


# ----- agent ---------------------------------------------------------------------------------------


@cli.group()
def agent() -> None:
    """Run or control the agent process."""


@agent.command("run")
@click.option("-c", "--config", "config_path", required=True, type=click.Path(path_type=Path))
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--log-format", default="logfmt", type=click.Choice(["logfmt", "json"]))
def agent_run(config_path: Path, log_level: str, log_format: str) -> None:
    """Run the agent in the foreground."""
    import asyncio

    from ..config import load_config
    from ..errors import AgentError
    from ..logs import setup_logging

    setup_logging(log_level, log_format)
    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        for m in e.messages:
            click.echo(f"{config_path}: {m}", err=True)
        sys.exit(EXIT_FAIL)
    from ..agent.app import Agent

    try:
        a = Agent(config_path, cfg)
        code = asyncio.run(a.run())
    except ConfigError as e:
        for m in e.messages:
            click.echo(f"{config_path}: {m}", err=True)
        sys.exit(EXIT_FAIL)
    except AgentError as e:
        _die(str(e), EXIT_FAIL)
    sys.exit(code)


@agent.command("reload")
@click.pass_context
def agent_reload(ctx: click.Context) -> None:
    """Re-read agent.yaml in the running agent (unchanged peers are not reset)."""
    _call(_api(ctx).post, "/v1/reload")
    click.echo("reloaded")


# ----- config --------------------------------------------------------------------------------------


@cli.group()
def config() -> None:
    """Validate configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def config_check(file: Path) -> None:
    """Exit 0 when FILE is a valid agent.yaml, 1 with every error otherwise."""
    from ..config import load_config

    try:
        load_config(file)
    except ConfigError as e:
        for m in e.messages:
            click.echo(f"{file}: {m}", err=True)
        sys.exit(EXIT_FAIL)
    click.echo(f"{file}: ok")


# ----- status --------------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Machine, gobgpd and peer summary."""
    st = _call(_api(ctx).get, "/v1/status")
    if as_json:
        _print_json(st)
        return
    m = st["machine"]
    g = st["gobgpd"]
    click.echo(f"machine   {m['name']}  AS{m['asn']}  router-id {m['router_id']}")
    click.echo(f"agent     {st['version']}  pid {st['pid']}  up {st['uptime']:.0f}s  drain {st['drain']}")
    click.echo(f"gobgpd    {g['version']}  pid {g['pid']}  restarts {g['restarts']}  ready {g['ready']}")
    if not g.get("responsive", True):
        since = time.time() - g["unresponsive_since"] if g.get("unresponsive_since") else 0.0
        click.echo(f"gobgpd    UNRESPONSIVE: {g['missed_probes']} GetBgp probes unanswered ({since:.0f}s)")
    bad = {k: v for k, v in st["reconcile"].items() if not v["ok"]}
    for k, v in bad.items():
        click.echo(f"reconcile {k}: {v['error']}")
    click.echo("")
    lv = st.get("liveness") or {}
    if lv.get("error"):
        click.echo(f"liveness  {lv['error']}")
    from ..views.render import fmt_liveness, fmt_state

    _table(
        [[p["name"], p["address"], p["asn"], fmt_state(p), fmt_liveness(p.get("liveness"))] for p in st["peers"]],
        ["PEER", "ADDRESS", "ASN", "STATE", "DATA PLANE"],
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def peers(ctx: click.Context, as_json: bool) -> None:
    """Mesh members and neighbours with BGP state."""
    from ..views.render import render_peers

    rows = _call(_api(ctx).get, "/v1/peers")
    if as_json:
        _print_json(rows)
        return
    click.echo(render_peers(rows), nl=False)


@cli.command()
@click.argument("prefix", required=False)
@click.option("--all", "show_all", is_flag=True, help="every path, not only the best")
@click.option("--explain", is_flag=True, help="for every alternative, the rule it lost on")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rib(ctx: click.Context, prefix: str | None, show_all: bool, explain: bool, as_json: bool) -> None:
    """The RIB: per destination its paths, best first, and why the best won."""
    from ..views.render import render_rib

    params = {"prefix": prefix} if prefix else {}
    if show_all:
        params["rejected"] = "1"  # and the routes the agent's import rules rejected, with the reason
    if as_json:
        # passed through as the agent writes it: re-parsing and re-indenting 100k routes took seconds
        _call(_api(ctx).copy_to, "/v1/rib", sys.stdout.buffer, params)
        sys.stdout.buffer.write(b"\n")
        return
    rows = _call(_api(ctx).get, "/v1/rib", params)
    click.echo(render_rib(rows, explain=explain or show_all), nl=False)


# ----- objects -------------------------------------------------------------------------------------


def _load_file(file: str) -> tuple[Any, bytes | None]:
    """The document, and its bytes when it is JSON (sent on as they are: no second encoding)."""
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        text = data.decode()
    except OSError as e:
        _die(f"{file}: {e.strerror}", EXIT_BAD_INPUT)
    except UnicodeDecodeError:
        _die(f"{file}: not valid UTF-8", EXIT_BAD_INPUT)
    if text.lstrip()[:1] in ("{", "["):
        # JSON is YAML too; generated files (10k routes) are often JSON, and json parses them ~40x
        # faster than libyaml. Flow-style YAML that is not JSON falls through to the YAML parser.
        with contextlib.suppress(ValueError):
            return json.loads(text), data
    import yaml  # not at the top: a JSON file or a listing needs no YAML (~12 ms of every start)

    from .yamlload import load_yaml

    try:
        # libyaml when present: 10k objects load in ~0.2 s instead of ~1 s (same safe subset); plain
        # documents in ~0.08 s (see yamlload)
        return load_yaml(text), None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        _die(f"{file}: not valid YAML{where}", EXIT_BAD_INPUT)


@cli.command()
@click.option("-f", "--file", "file", required=True, help="objects YAML (or - for stdin)")
@click.option("--prune", is_flag=True, help="also delete objects not in the file")
@click.pass_context
def apply(ctx: click.Context, file: str, prune: bool) -> None:
    """Create or update the objects in FILE (idempotent; the whole file is validated first)."""
    doc, raw = _load_file(file)
    res = _call(_api(ctx).post, "/v1/apply", doc, {"prune": "1"} if prune else None, raw)
    click.echo("applied" if res.get("changed") else "unchanged")


@cli.command()
@click.option("-o", "--output", "fmt", default="yaml", type=click.Choice(["yaml", "json"]))
@click.pass_context
def get(ctx: click.Context, fmt: str) -> None:
    """Print every object; `apply -f` of this output is a no-op."""
    doc = _call(_api(ctx).get, "/v1/objects")
    if fmt == "json":
        _print_json(doc)
    else:
        click.echo(_yaml_dump(doc), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def checks(ctx: click.Context, as_json: bool) -> None:
    """Live health-check table."""
    rows = _call(_api(ctx).get, "/v1/checks")
    if as_json:
        _print_json(rows)
        return
    _table(
        [
            [
                r["name"],
                r["type"],
                r["state"],
                f"{r['last_latency'] * 1000:.1f}ms" if r["last_latency"] is not None else None,
                r["transitions"],
                r["last_detail"],
            ]
            for r in rows
        ],
        ["CHECK", "TYPE", "STATE", "LATENCY", "TRANSITIONS", "DETAIL"],
    )


@cli.group()
def announce() -> None:
    """Manage announcements (VIPs with health checks, routes)."""


@announce.command("add")
@click.argument("name")
@click.option("--vip")
@click.option("--route")
@click.option("--check-tcp", metavar="HOST:PORT")
@click.option("--check-http", metavar="URL")
@click.option("--check-grpc", metavar="HOST:PORT[/SERVICE]")
@click.option("--check-exec", metavar="'CMD ARGS'")
@click.option("--interval")
@click.option("--timeout")
@click.option("--healthy-threshold", type=int)
@click.option("--unhealthy-threshold", type=int)
@click.option("--community", multiple=True)
@click.option("--large-community", multiple=True)
@click.option("--med", type=int)
@click.option("--next-hop")
@click.pass_context
def announce_add(ctx: click.Context, /, name: str, **o: Any) -> None:
    """Add an announcement (use `apply -f` to replace one)."""
    obj: dict[str, Any] = {}
    if o["vip"] is not None:
        obj["vip"] = o["vip"]
    if o["route"] is not None:
        obj["route"] = o["route"]
    probes = {k: o[k] for k in ("check_tcp", "check_http", "check_grpc", "check_exec") if o[k] is not None}
    if len(probes) > 1:
        _die("give at most one of --check-tcp, --check-http, --check-grpc, --check-exec", EXIT_BAD_INPUT)
    hc: dict[str, Any] = {}
    if "check_tcp" in probes:
        host, _, port = probes["check_tcp"].rpartition(":")
        if not host or not port.isdigit():
            _die(f"--check-tcp: {probes['check_tcp']!r} is not HOST:PORT", EXIT_BAD_INPUT)
        hc["tcp"] = {"host": host.strip("[]"), "port": int(port)}
    elif "check_http" in probes:
        hc["http"] = {"url": probes["check_http"]}
    elif "check_grpc" in probes:
        target, _, service = probes["check_grpc"].partition("/")
        hc["grpc"] = {"target": target, "service": service}
    elif "check_exec" in probes:
        try:
            hc["exec"] = {"command": shlex.split(probes["check_exec"])}
        except ValueError as e:
            _die(f"--check-exec: {probes['check_exec']!r} cannot be split: {e}", EXIT_BAD_INPUT)
    for key in ("interval", "timeout", "healthy_threshold", "unhealthy_threshold"):
        if o[key] is not None:
            if not hc:
                _die(f"--{key.replace('_', '-')} needs a --check-* option", EXIT_BAD_INPUT)
            hc[key] = o[key]
    if hc:
        obj["health_check"] = hc
    if o["community"]:
        obj["communities"] = list(o["community"])
    if o["large_community"]:
        obj["large_communities"] = list(o["large_community"])
    if o["med"] is not None:
        obj["med"] = o["med"]
    if o["next_hop"] is not None:
        obj["next_hop"] = o["next_hop"]
    api = _api(ctx)
    existing = _call(api.get, "/v1/announcements")
    if any(a["name"] == name for a in existing):
        _die(f"name: {name!r} already exists (delete it first, or use `durantic apply -f`)", EXIT_BAD_INPUT)
    _call(api.put, f"/v1/announcements/{name}", obj)
    click.echo(f"announcement {name} added")


@announce.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def announce_list(ctx: click.Context, as_json: bool) -> None:
    rows = _call(_api(ctx).get, "/v1/announcements")
    if as_json:
        _print_json(rows)
        return
    _table(
        [
            [
                r["name"],
                r["kind"],
                r["prefix"],
                r["state"],
                "yes" if r["announced"] else "no",
                r["last_detail"],
            ]
            for r in rows
        ],
        ["NAME", "KIND", "PREFIX", "HEALTH", "ANNOUNCED", "DETAIL"],
    )


@announce.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def announce_show(ctx: click.Context, name: str, as_json: bool) -> None:
    row = _call(_api(ctx).get, f"/v1/announcements/{name}")
    if as_json:
        _print_json(row)
        return
    click.echo(_yaml_dump(row), nl=False)


@announce.command("delete")
@click.argument("name")
@click.pass_context
def announce_delete(ctx: click.Context, name: str) -> None:
    _call(_api(ctx).delete, f"/v1/announcements/{name}")
    click.echo(f"announcement {name} deleted")


@announce.command("disable")
@click.argument("name")
@click.pass_context
def announce_disable(ctx: click.Context, name: str) -> None:
    """Withdraw one announcement and pause its check (kept across restarts)."""
    _call(_api(ctx).post, f"/v1/announcements/{name}/disable")
    click.echo(f"announcement {name} disabled")


@announce.command("enable")
@click.argument("name")
@click.pass_context
def announce_enable(ctx: click.Context, name: str) -> None:
    _call(_api(ctx).post, f"/v1/announcements/{name}/enable")
    click.echo(f"announcement {name} enabled")


@cli.command()
@click.option("--grace", default="30s", help="how long peers get to move away before the withdraw")
@click.pass_context
def drain(ctx: click.Context, grace: str) -> None:
    """Tag every announcement GRACEFUL_SHUTDOWN (65535:0), then withdraw them after --grace."""
    from ..validation import parse_duration

    try:
        secs = parse_duration(grace)
    except ValueError as e:
        _die(f"--grace: {grace!r} {e}", EXIT_BAD_INPUT)
    res = _call(_api(ctx).post, "/v1/drain", {"grace": secs})
    click.echo(f"drain: {res['drain']} (withdraw in {grace})")


@cli.command()
@click.pass_context
def undrain(ctx: click.Context) -> None:
    """Announce normally again after `drain`."""
    res = _call(_api(ctx).post, "/v1/undrain")
    click.echo(f"drain: {res['drain']}")


@cli.group()
def policy() -> None:
    """Route policy sets and the machine's import/export assignment."""


@policy.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def policy_list(ctx: click.Context, as_json: bool) -> None:
    data = _call(_api(ctx).get, "/v1/policies")
    if as_json:
        _print_json(data)
        return
    _table([[p["name"], len(p["rules"])] for p in data["sets"]], ["POLICY SET", "RULES"])
    click.echo(f"\nimport: {', '.join(data['import_policies']) or '-'} (default {data['default_import']})")
    click.echo(f"export: {', '.join(data['export_policies']) or '-'} (default {data['default_export']})")


@policy.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def policy_show(ctx: click.Context, name: str, as_json: bool) -> None:
    data = _call(_api(ctx).get, f"/v1/policies/{name}")
    if as_json:
        _print_json(data)
    else:
        click.echo(_yaml_dump(data), nl=False)


@policy.command("delete")
@click.argument("name")
@click.pass_context
def policy_delete(ctx: click.Context, name: str) -> None:
    """Delete a policy set (refused while it is assigned)."""
    _call(_api(ctx).delete, f"/v1/policies/{name}")
    click.echo(f"policy set {name} deleted")


@policy.command("test")
@click.argument("name")
@click.option("--prefix", required=True)
@click.option("--community", multiple=True)
@click.option("--large-community", multiple=True)
@click.option("--as-path", default="", help='e.g. "4200000002 4200000003"')
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def policy_test(
    ctx: click.Context,
    name: str,
    prefix: str,
    community: tuple[str, ...],
    large_community: tuple[str, ...],
    as_path: str,
    as_json: bool,
) -> None:
    """Evaluate policy set NAME offline for one route: which rule matched and the resulting attributes."""
    body = {
        "prefix": prefix,
        "communities": list(community),
        "large_communities": list(large_community),
        "as_path": as_path,
    }
    res = _call(_api(ctx).post, f"/v1/policies/{name}/test", body)
    if as_json:
        _print_json(res)
        return
    d = res["decided_by"]
    click.echo(f"result: {res['result']}" + (f" by {d['policy_set']}/{d['rule']}" if d else " (default action)"))
    for h in res["applied"]:
        click.echo(f"applied: {h['policy_set']}/{h['rule']} ({h['result']})")
    if res["route"]:
        for k, v in res["route"].items():
            click.echo(f"  {k}: {v}")
    for n in res["notes"]:
        click.echo(f"note: {n}")


@cli.group()
def mesh() -> None:
    """WireGuard mesh keys."""


@mesh.command("keygen")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing key")
def mesh_keygen(file: Path, force: bool) -> None:
    """Write a new private key to FILE (mode 0600) and print its public key."""
    import os

    from ..wg.keys import generate_private_key, public_key

    if file.exists() and not force:
        _die(f"{file}: exists (use --force to replace it, or `durantic mesh pubkey {file}`)", EXIT_BAD_INPUT)
    key = generate_private_key()
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.chmod(file, 0o600)
    click.echo(public_key(key))


@mesh.command("pubkey")
@click.argument("file", type=click.Path(path_type=Path))
def mesh_pubkey(file: Path) -> None:
    """Print the public key of the private key in FILE."""
    from ..wg.keys import public_key

    try:
        click.echo(public_key(file.read_text().strip()))
    except OSError as e:
        _die(f"{file}: {e.strerror}", EXIT_FAIL)
    except ValueError:
        _die(f"{file}: is not a WireGuard private key", EXIT_BAD_INPUT)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _die("aborted", EXIT_FAIL)
    except click.UsageError as e:
        where = f" ({e.ctx.command_path})" if e.ctx else ""
        _die(f"{e.format_message()}{where}", EXIT_BAD_INPUT)
    except click.ClickException as e:
        _die(e.format_message(), EXIT_BAD_INPUT)
    except SystemExit:
        raise
    sys.exit(0)
