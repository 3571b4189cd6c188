"""`durantic status|peers|rib|checks`: what the agent knows, as tables or the API's JSON."""

from __future__ import annotations

import sys

import click

from ..common import EXIT_BAD_INPUT, JSON_HELP, PrefixType, agent_client, call, die, print_json, socket_option


@click.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Machine, gobgpd, meshes and peer summary."""
    from ...views.render import render_status

    st = call(agent_client(ctx).get, "/v1/status")
    if as_json:
        print_json(st)
    else:
        click.echo(render_status(st), nl=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def peers(ctx: click.Context, as_json: bool) -> None:
    """Mesh members and neighbours: BGP state, prefixes, WireGuard endpoint and handshake, path."""
    from ...views.render import render_peers

    rows = call(agent_client(ctx).get, "/v1/peers")
    if as_json:
        print_json(rows)
    else:
        click.echo(render_peers(rows), nl=False)


@click.command()
@click.argument("prefix", required=False, type=PrefixType())
@click.option("--longer", is_flag=True, help="every destination inside PREFIX, not only PREFIX itself")
@click.option("--all", "show_all", is_flag=True, help="every path of each destination, not only the best")
@click.option("--explain", is_flag=True, help="every path, and the rule each alternative lost on")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def rib(ctx: click.Context, prefix: str | None, longer: bool, show_all: bool, explain: bool, as_json: bool) -> None:
    """The RIB: per destination its paths, best first, and why the best won."""
    from ...views.render import render_rib

    if longer and prefix is None:
        die("--longer: needs a PREFIX", EXIT_BAD_INPUT)
    params = {"prefix": prefix, **({"longer": "1"} if longer else {})} if prefix else None
    params = params or {}
    if show_all:
        params["rejected"] = "1"  # and the routes the agent's import rules rejected, with the reason
    if as_json:
        # passed through as the agent writes it: re-parsing and re-indenting 100k routes would be slow
        call(agent_client(ctx).copy_to, "/v1/rib", sys.stdout.buffer, params)
        sys.stdout.buffer.write(b"\n")
        return
    from ...views.prefix_index import prefix_key

    # gobgpd's listing order varies between calls: every view lists destinations in address order
    rows = sorted(call(agent_client(ctx).get, "/v1/rib", params), key=lambda r: prefix_key(r["prefix"]))
    empty = "no routes" if not prefix else (f"no routes inside {prefix}" if longer else f"no route for {prefix}")
    mode = "explain" if explain else "all" if show_all else "best"
    click.echo(render_rib(rows, mode=mode, empty=empty), nl=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def checks(ctx: click.Context, as_json: bool) -> None:
    """Live health-check table."""
    from ...views.render import render_checks

    rows = call(agent_client(ctx).get, "/v1/checks")
    if as_json:
        print_json(rows)
    else:
        click.echo(render_checks(rows), nl=False)


COMMANDS = (status, peers, rib, checks)
