"""`durantic`: the command line. Exit codes: 0 ok, 1 failure (agent unreachable, invalid config file),
2 bad input (one line per error naming the field and the value; nothing changed)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import click

from .. import GOBGP_VERSION, __version__
from ..errors import ConfigError
from .client import DEFAULT_SOCKET, AgentUnreachable, ApiClient, ApiError, default_socket

EXIT_FAIL = 1
EXIT_BAD_INPUT = 2
SOCKET_HELP = f"the agent's API socket (also DURANTIC_SOCKET; default {DEFAULT_SOCKET})"
JSON_HELP = "print the API's JSON instead of a table"
F = TypeVar("F", bound=Callable[..., Any])


def _die(msg: str, code: int) -> NoReturn:
    click.echo(f"durantic: {msg}", err=True)
    sys.exit(code)


def _die_lines(lines: list[str], code: int, where: str | None = None) -> NoReturn:
    for line in lines:
        click.echo(f"durantic: {where}: {line}" if where else f"durantic: {line}", err=True)
    sys.exit(code)


def _store_socket(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().ensure_object(dict)["socket"] = value


def socket_option(f: F) -> F:
    """`--socket` on every command that talks to the agent, so it may follow the subcommand too."""
    return click.option("--socket", metavar="PATH", expose_value=False, callback=_store_socket, help=SOCKET_HELP)(f)


def _api(ctx: click.Context) -> ApiClient:
    return ApiClient(default_socket(ctx.find_root().ensure_object(dict).get("socket")))


def _call(fn: Any, *args: Any, where: str | None = None, rewrite: Callable[[str], str] | None = None) -> Any:
    """The API call's answer; an error answer exits 2 (bad input) or 1, printing every line of it."""
    try:
        return fn(*args)
    except ApiError as e:
        lines = [rewrite(m) for m in e.messages] if rewrite else e.messages
        _die_lines(lines, EXIT_BAD_INPUT if e.status in (400, 404, 409) else EXIT_FAIL, where)
    except AgentUnreachable as e:
        _die(str(e), EXIT_FAIL)


def _path(*parts: str) -> str:
    return "/v1/" + "/".join(quote(p, safe="") for p in parts)


def _yaml_dump(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False))


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


class NameType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """An object name, checked before any request (the agent would refuse it, or a URL would mangle it)."""

    name = "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ..validation import check_name

        try:
            return check_name(value)
        except ValueError as e:
            self.fail(f"{value!r} {e}", param, ctx)


class PrefixType(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """An address or a prefix, in normal form (host bits cleared)."""

    name = "PREFIX"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return str(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            self.fail(f"{value!r} is not an address or prefix", param, ctx)


NAME = NameType()


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"durantic {__version__} (gobgpd {GOBGP_VERSION})")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="print the version and the pinned gobgpd version, and exit",
)
@click.option("--socket", "socket_path", metavar="PATH", envvar="DURANTIC_SOCKET", help=SOCKET_HELP)
@click.pass_context
def cli(ctx: click.Context, socket_path: str | None) -> None:
    """Durantic: BGP control agent for WireGuard meshes.

    Commands that talk to the agent find it through --socket (before or after the command) or
    DURANTIC_SOCKET. Exit codes: 0 ok, 1 failure, 2 bad input (nothing changed).
    """
    ctx.ensure_object(dict)
    if socket_path is not None:
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
@click.option(
    "-c", "--config", "config_path", required=True, type=click.Path(path_type=Path), help="the agent.yaml to run"
)
@click.option(
    "--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]), help="log threshold"
)
@click.option(
    "--log-format", default="logfmt", type=click.Choice(["logfmt", "json"]), help="log line format (on stderr)"
)
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
        _die_lines(e.messages, EXIT_FAIL, str(config_path))
    from ..agent.app import Agent

    try:
        a = Agent(config_path, cfg)
        code = asyncio.run(a.run())
    except ConfigError as e:
        _die_lines(e.messages, EXIT_FAIL, str(config_path))
    except AgentError as e:
        _die(str(e), EXIT_FAIL)
    sys.exit(code)


@agent.command("reload")
@socket_option
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


# ----- views ---------------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Machine, gobgpd, meshes and peer summary."""
    from ..views.render import render_status

    st = _call(_api(ctx).get, "/v1/status")
    if as_json:
        _print_json(st)
    else:
        click.echo(render_status(st), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def peers(ctx: click.Context, as_json: bool) -> None:
    """Mesh members and neighbours: BGP state, prefixes, WireGuard endpoint and handshake, path."""
    from ..views.render import render_peers

    rows = _call(_api(ctx).get, "/v1/peers")
    if as_json:
        _print_json(rows)
    else:
        click.echo(render_peers(rows), nl=False)


@cli.command()
@click.argument("prefix", required=False, type=PrefixType())
@click.option("--longer", is_flag=True, help="every destination inside PREFIX, not only PREFIX itself")
@click.option("--all", "show_all", is_flag=True, help="every path of each destination, not only the best")
@click.option("--explain", is_flag=True, help="every path, and the rule each alternative lost on")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def rib(ctx: click.Context, prefix: str | None, longer: bool, show_all: bool, explain: bool, as_json: bool) -> None:
    """The RIB: per destination its paths, best first, and why the best won."""
    from ..views.render import render_rib

    if longer and prefix is None:
        _die("--longer: needs a PREFIX", EXIT_BAD_INPUT)
    params = {"prefix": prefix, **({"longer": "1"} if longer else {})} if prefix else None
    params = params or {}
    if show_all:
        params["rejected"] = "1"  # and the routes the agent's import rules rejected, with the reason
    if as_json:
        # passed through as the agent writes it: re-parsing and re-indenting 100k routes took seconds
        _call(_api(ctx).copy_to, "/v1/rib", sys.stdout.buffer, params)
        sys.stdout.buffer.write(b"\n")
        return
    from ..views.prefix_index import prefix_key

    # gobgpd's listing order varies between calls: every view lists destinations in address order
    rows = sorted(_call(_api(ctx).get, "/v1/rib", params), key=lambda r: prefix_key(r["prefix"]))
    empty = "no routes" if not prefix else (f"no routes inside {prefix}" if longer else f"no route for {prefix}")
    mode = "explain" if explain else "all" if show_all else "best"
    click.echo(render_rib(rows, mode=mode, empty=empty), nl=False)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def checks(ctx: click.Context, as_json: bool) -> None:
    """Live health-check table."""
    from ..views.render import render_checks

    rows = _call(_api(ctx).get, "/v1/checks")
    if as_json:
        _print_json(rows)
    else:
        click.echo(render_checks(rows), nl=False)


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


def _send_file(ctx: click.Context, file: str, prune: bool, mode: str | None) -> Any:
    doc, raw = _load_file(file)
    params = {**({"prune": "1"} if prune else {}), **({mode: "1"} if mode else {})}
    where = "(stdin)" if file == "-" else file
    return _call(_api(ctx).post, "/v1/apply", doc, params or None, raw, where=where)


FILE_HELP = "objects file, YAML or JSON (- for stdin)"
PRUNE_HELP = "also delete objects the file does not name, and reset assignments it leaves out"


@cli.command()
@click.option("-f", "--file", "file", required=True, metavar="FILE", help=FILE_HELP)
@click.option("--prune", is_flag=True, help=PRUNE_HELP)
@click.option("--dry-run", is_flag=True, help="validate in the agent and print what would change; change nothing")
@socket_option
@click.pass_context
def apply(ctx: click.Context, file: str, prune: bool, dry_run: bool) -> None:
    """Create or update the objects in FILE; one line per object (created, configured, unchanged, pruned).

    The whole file is validated first: on any error every error is printed and nothing changes (exit 2).
    """
    from ..views.render import render_apply

    res = _send_file(ctx, file, prune, "dry_run" if dry_run else None)
    click.echo(render_apply(res["results"], dry_run), nl=False)


@cli.command()
@click.option("-f", "--file", "file", required=True, metavar="FILE", help=FILE_HELP)
@click.option("--prune", is_flag=True, help=PRUNE_HELP)
@socket_option
@click.pass_context
def diff(ctx: click.Context, file: str, prune: bool) -> None:
    """Show what `apply -f FILE` would change, as a unified diff of each object; change nothing."""
    from ..views.render import render_diff

    res = _send_file(ctx, file, prune, "diff")
    click.echo(render_diff(res["results"]), nl=False)


@cli.command()
@click.option("-o", "--output", "fmt", default="yaml", type=click.Choice(["yaml", "json"]), help="output format")
@socket_option
@click.pass_context
def get(ctx: click.Context, fmt: str) -> None:
    """Print every object; `apply -f` of this output is a no-op."""
    doc = _call(_api(ctx).get, "/v1/objects")
    if fmt == "json":
        _print_json(doc)
    else:
        click.echo(_yaml_dump(doc), nl=False)


@cli.group()
def announce() -> None:
    """Manage announcements (VIPs with health checks, routes)."""


# the announcement's fields as `announce add` spells them, for errors that come back from the agent
_FLAGS = (
    ("vip", "--vip"),
    ("route", "--route"),
    ("communities", "--community"),
    ("large_communities", "--large-community"),
    ("med", "--med"),
    ("next_hop", "--next-hop"),
    ("health_check.tcp", "--check-tcp"),
    ("health_check.http", "--check-http"),
    ("health_check.grpc", "--check-grpc"),
    ("health_check.exec", "--check-exec"),
    ("health_check.interval", "--interval"),
    ("health_check.timeout", "--timeout"),
    ("health_check.healthy_threshold", "--healthy-threshold"),
    ("health_check.unhealthy_threshold", "--unhealthy-threshold"),
)


def _as_flags(line: str) -> str:
    """`health_check.interval: 'x' is not a duration` -> `--interval: 'x' is not a duration`."""
    field, sep, rest = line.partition(": ")
    base = re.sub(r"\[[^\]]*\]", "", field)
    for key, flag in _FLAGS:
        if base == key or base.startswith(key + "."):
            return f"{flag}: {rest}"
    return rest if field == "(top level)" and sep else line


@announce.command("add")
@click.argument("name", type=NAME)
@click.option("--vip", metavar="IP", help="a single address, announced while its health check passes")
@click.option("--route", metavar="PREFIX", help="a prefix, announced unconditionally (or by its check)")
@click.option("--check-tcp", metavar="HOST:PORT", help="health check: a TCP connect")
@click.option("--check-http", metavar="URL", help="health check: an HTTP GET answered 200-399")
@click.option("--check-grpc", metavar="HOST:PORT[/SERVICE]", help="health check: the gRPC health service")
@click.option("--check-exec", metavar="'CMD ARGS'", help="health check: a command exiting 0 (no shell)")
@click.option("--interval", metavar="DURATION", help="time between probes, e.g. 2s or 500ms  [default: 2s]")
@click.option("--timeout", metavar="DURATION", help="time a probe may take  [default: 1s, less for short intervals]")
@click.option("--healthy-threshold", type=int, metavar="N", help="passes in a row to become healthy  [default: 2]")
@click.option(
    "--unhealthy-threshold", type=int, metavar="N", help="failures in a row to become unhealthy  [default: 3]"
)
@click.option("--community", multiple=True, metavar="ASN:VALUE", help="a BGP community to attach (repeatable)")
@click.option("--large-community", multiple=True, metavar="A:B:C", help="a large community to attach (repeatable)")
@click.option("--med", type=int, metavar="N", help="MULTI_EXIT_DISC to announce with  [default: none]")
@click.option("--next-hop", metavar="IP", help="next hop to announce  [default: this machine]")
@socket_option
@click.pass_context
def announce_add(ctx: click.Context, /, name: str, **o: Any) -> None:
    """Add announcement NAME: one of --vip (needs a --check-*) or --route (use `apply -f` to replace one)."""
    obj: dict[str, Any] = {}
    if (o["vip"] is None) == (o["route"] is None):
        _die("give one of --vip or --route", EXIT_BAD_INPUT)
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
        _die(f"NAME: {name!r} already exists (delete it first, or use `durantic apply -f`)", EXIT_BAD_INPUT)
    _call(api.put, _path("announcements", name), obj, rewrite=_as_flags)
    click.echo(f"announcement/{name} created")


@announce.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def announce_list(ctx: click.Context, as_json: bool) -> None:
    """Every announcement with its health and whether it is announced."""
    from ..views.render import render_announcements

    rows = _call(_api(ctx).get, "/v1/announcements")
    if as_json:
        _print_json(rows)
    else:
        click.echo(render_announcements(rows), nl=False)


@announce.command("show")
@click.argument("name", type=NAME)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def announce_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One announcement: its state (with units) and the object as written."""
    from ..views.render import render_announcement

    row = _call(_api(ctx).get, _path("announcements", name))
    if as_json:
        _print_json(row)
    else:
        click.echo(render_announcement(row), nl=False)


@announce.command("delete")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def announce_delete(ctx: click.Context, name: str) -> None:
    """Withdraw and delete an announcement."""
    _call(_api(ctx).delete, _path("announcements", name))
    click.echo(f"announcement/{name} deleted")


@announce.command("disable")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def announce_disable(ctx: click.Context, name: str) -> None:
    """Withdraw one announcement and pause its check (kept across restarts)."""
    _call(_api(ctx).post, _path("announcements", name, "disable"))
    click.echo(f"announcement/{name} disabled")


@announce.command("enable")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def announce_enable(ctx: click.Context, name: str) -> None:
    """Resume a disabled announcement (and its check)."""
    _call(_api(ctx).post, _path("announcements", name, "enable"))
    click.echo(f"announcement/{name} enabled")


@cli.command()
@click.option("--grace", default="30s", metavar="DURATION", help="how long peers get to move away before the withdraw")
@socket_option
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
@socket_option
@click.pass_context
def undrain(ctx: click.Context) -> None:
    """Announce normally again after `drain`."""
    res = _call(_api(ctx).post, "/v1/undrain")
    click.echo(f"drain: {res['drain']}")


@cli.group()
def policy() -> None:
    """Route policy sets and the machine's import/export assignment."""


@policy.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def policy_list(ctx: click.Context, as_json: bool) -> None:
    """Every policy set, and the import/export assignment."""
    from ..views.render import render_policies

    data = _call(_api(ctx).get, "/v1/policies")
    if as_json:
        _print_json(data)
    else:
        click.echo(render_policies(data), nl=False)


@policy.command("show")
@click.argument("name", type=NAME)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def policy_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One policy set as written (YAML)."""
    data = _call(_api(ctx).get, _path("policies", name))
    if as_json:
        _print_json(data)
    else:
        click.echo(_yaml_dump(data), nl=False)


@policy.command("delete")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def policy_delete(ctx: click.Context, name: str) -> None:
    """Delete a policy set (refused while it is assigned)."""
    _call(_api(ctx).delete, _path("policies", name))
    click.echo(f"policy_set/{name} deleted")


@policy.command("test")
@click.argument("name", type=NAME)
@click.option("--prefix", required=True, metavar="PREFIX", help="the route's prefix")
@click.option("--community", multiple=True, metavar="ASN:VALUE", help="a community the route carries (repeatable)")
@click.option("--large-community", multiple=True, metavar="A:B:C", help="a large community it carries (repeatable)")
@click.option("--as-path", default="", metavar="'ASN ...'", help='its AS path, e.g. "4200000002 4200000003"')
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
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
    from ..views.render import fmt_value

    parts = as_path.replace(",", " ").split()
    if not all(p.isdigit() and 1 <= int(p) <= 4294967295 for p in parts):
        _die(f"--as-path: {as_path!r} is not a list of AS numbers like '4200000002 4200000003'", EXIT_BAD_INPUT)
    body = {
        "prefix": prefix,
        "communities": list(community),
        "large_communities": list(large_community),
        "as_path": [int(p) for p in parts],
    }
    res = _call(_api(ctx).post, _path("policies", name, "test"), body)
    if as_json:
        _print_json(res)
        return
    d = res["decided_by"]
    click.echo(f"result: {res['result']}" + (f" by {d['policy_set']}/{d['rule']}" if d else " (default action)"))
    for h in res["applied"]:
        click.echo(f"applied: {h['policy_set']}/{h['rule']} ({h['result']})")
    if res["route"]:
        for k, v in res["route"].items():
            click.echo(f"  {k}: {fmt_value(v)}")
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


def _bad_parameter(e: click.BadParameter) -> str:
    """`--med: 'x' is not a valid integer`: the option or argument as typed, then click's reason."""
    hint = e.param_hint if isinstance(e.param_hint, str) else None
    if hint is None and e.param is not None:
        hint = e.param.get_error_hint(e.ctx) if e.ctx is not None else e.param.name
    return f"{str(hint or '').strip(chr(39) + chr(34) + '[]')}: {e.message.rstrip('.')}"


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _die("aborted", EXIT_FAIL)
    except click.BadParameter as e:
        _die(_bad_parameter(e), EXIT_BAD_INPUT)
    except click.UsageError as e:
        where = f" ({e.ctx.command_path})" if e.ctx else ""
        _die(f"{e.format_message()}{where}", EXIT_BAD_INPUT)
    except click.ClickException as e:
        _die(e.format_message(), EXIT_BAD_INPUT)
    except SystemExit:
        raise
    sys.exit(0)
