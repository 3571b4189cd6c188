"""`durantic policy list|show|delete|test`: route policy sets and the machine's assignment."""

from __future__ import annotations

import click

from ..common import (
    EXIT_BAD_INPUT,
    JSON_HELP,
    NAME,
    agent_client,
    api_path,
    call,
    die,
    print_json,
    socket_option,
    yaml_dump,
)


@click.group()
def policy() -> None:
    """Route policy sets and the machine's import/export assignment."""


@policy.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def policy_list(ctx: click.Context, as_json: bool) -> None:
    """Every policy set, and the import/export assignment."""
    from ...views.render import render_policies

    data = call(agent_client(ctx).get, "/v1/policies")
    if as_json:
        print_json(data)
    else:
        click.echo(render_policies(data), nl=False)


@policy.command("show")
@click.argument("name", type=NAME)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
@socket_option
@click.pass_context
def policy_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One policy set as written (YAML)."""
    data = call(agent_client(ctx).get, api_path("policies", name))
    if as_json:
        print_json(data)
    else:
        click.echo(yaml_dump(data), nl=False)


@policy.command("delete")
@click.argument("name", type=NAME)
@socket_option
@click.pass_context
def policy_delete(ctx: click.Context, name: str) -> None:
    """Delete a policy set (refused while it is assigned)."""
    call(agent_client(ctx).delete, api_path("policies", name))
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
    from ...views.render import fmt_value

    parts = as_path.replace(",", " ").split()
    if not all(p.isdigit() and 1 <= int(p) <= 4294967295 for p in parts):
        die(f"--as-path: {as_path!r} is not a list of AS numbers like '4200000002 4200000003'", EXIT_BAD_INPUT)
    body = {
        "prefix": prefix,
        "communities": list(community),
        "large_communities": list(large_community),
        "as_path": [int(p) for p in parts],
    }
    res = call(agent_client(ctx).post, api_path("policies", name, "test"), body)
    if as_json:
        print_json(res)
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


COMMANDS = (policy,)
