"""`durantic announce ...`, `drain`, `undrain`: announcements one by one, and all of them at once."""

from __future__ import annotations

import re
import shlex
from typing import Any

import click

from ..common import EXIT_BAD_INPUT, JSON_HELP, NAME, agent_client, api_path, call, die, print_json, socket_option


@click.group()
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
        die("give one of --vip or --route", EXIT_BAD_INPUT)
    if o["vip"] is not None:
        obj["vip"] = o["vip"]
    if o["route"] is not None:
        obj["route"] = o["route"]
    probes = {k: o[k] for k in ("check_tcp", "check_http", "check_grpc", "check_exec") if o[k] is not None}
    if len(probes) > 1:
        die("give at most one of --check-tcp, --check-http, --check-grpc, --check-exec", EXIT_BAD_INPUT)
    hc: dict[str, Any] = {}
    if "check_tcp" in probes:
        host, _, port = probes["check_tcp"].rpartition(":")
        if not host or not port.isdigit():
            die(f"--check-tcp: {probes['check_tcp']!r} is not HOST:PORT", EXIT_BAD_INPUT)
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
            die(f"--check-exec: {probes['check_exec']!r} cannot be split: {e}", EXIT_BAD_INPUT)
    for key in ("interval", "timeout", "healthy_threshold", "unhealthy_threshold"):
        if o[key] is not None:
            if not hc:
                die(f"--{key.replace('_', '-')} needs a --check-* option", EXIT_BAD_INPUT)
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
    api = agent_client(ctx)
    existing = call(api.get, "/v1/announcements")
    if any(a["name"] == name for a in existing):
        die(f"NAME: {name!r} already exists (delete it first, or use `durantic apply -f`)", EXIT_BAD_INPUT)
    call(api.put, api_path("announcements", name), obj, rewrite=_as_flags)
    click.echo(f"announcement/{name} created")


@announce.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def announce_list(ctx: click.Context, as_json: bool) -> None:
    """Every announcement with its health and whether it is announced."""
    from ...views.render import render_announcements

    rows = call(agent_client(ctx).get, "/v1/announcements")
    if as_json:
        print_json(rows)
    else:
        click.echo(render_announcements(rows), nl=False)


@announce.command("show")
@click.argument("name", type=NAME)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def announce_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One announcement: its state (with units) and the object as written."""
    from ...views.render import render_announcement

    row = call(agent_client(ctx).get, api_path("announcements", name))
    if as_json:
        print_json(row)
    else:
        click.echo(render_announcement(row), nl=False)


@announce.command("delete")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def announce_delete(ctx: click.Context, name: str) -> None:
    """Withdraw and delete an announcement."""
    call(agent_client(ctx).delete, api_path("announcements", name))
    click.echo(f"announcement/{name} deleted")


@announce.command("disable")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def announce_disable(ctx: click.Context, name: str) -> None:
    """Withdraw one announcement and pause its check (kept across restarts)."""
    call(agent_client(ctx).post, api_path("announcements", name, "disable"))
    click.echo(f"announcement/{name} disabled")


@announce.command("enable")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def announce_enable(ctx: click.Context, name: str) -> None:
    """Resume a disabled announcement (and its check)."""
    call(agent_client(ctx).post, api_path("announcements", name, "enable"))
    click.echo(f"announcement/{name} enabled")


@click.command()
@click.option("--grace", default="30s", metavar="DURATION", help="how long peers get to move away before the withdraw")
@socket_option
@click.pass_context
def drain(ctx: click.Context, grace: str) -> None:
    """Tag every announcement GRACEFUL_SHUTDOWN (65535:0), then withdraw them after --grace."""
    from ...validation import parse_duration

    try:
        secs = parse_duration(grace)
    except ValueError as e:
        die(f"--grace: {grace!r} {e}", EXIT_BAD_INPUT)
    res = call(agent_client(ctx).post, "/v1/drain", {"grace": secs})
    click.echo(f"drain: {res['drain']} (withdraw in {grace})")


@click.command()
@socket_option
@click.pass_context
def undrain(ctx: click.Context) -> None:
    """Announce normally again after `drain`."""
    res = call(agent_client(ctx).post, "/v1/undrain")
    click.echo(f"drain: {res['drain']}")


COMMANDS = (announce, drain, undrain)
