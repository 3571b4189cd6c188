"""What every `durantic` command shares: exit codes, errors, the agent's client, output, argument types."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import click

from .client import DEFAULT_SOCKET, AgentUnreachable, ApiClient, ApiError, default_socket

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAIL",
    "JSON_HELP",
    "NAME",
    "SOCKET_HELP",
    "NameType",
    "PrefixType",
    "agent_client",
    "api_path",
    "call",
    "die",
    "die_lines",
    "print_json",
    "socket_option",
    "yaml_dump",
]

EXIT_FAIL = 1
EXIT_BAD_INPUT = 2
SOCKET_HELP = f"the agent's API socket (also DURANTIC_SOCKET; default {DEFAULT_SOCKET})"
JSON_HELP = "print the API's JSON instead of a table"
F = TypeVar("F", bound=Callable[..., Any])


def die(msg: str, code: int) -> NoReturn:
    click.echo(f"durantic: {msg}", err=True)
    sys.exit(code)


def die_lines(lines: list[str], code: int, where: str | None = None) -> NoReturn:
    for line in lines:
        click.echo(f"durantic: {where}: {line}" if where else f"durantic: {line}", err=True)
    sys.exit(code)


def _store_socket(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_root().ensure_object(dict)["socket"] = value


def socket_option(f: F) -> F:
    """`--socket` on every command that talks to the agent, so it may follow the subcommand too."""
    return click.option("--socket", metavar="PATH", expose_value=False, callback=_store_socket, help=SOCKET_HELP)(f)


def agent_client(ctx: click.Context) -> ApiClient:
    return ApiClient(default_socket(ctx.find_root().ensure_object(dict).get("socket")))


def call(fn: Any, *args: Any, where: str | None = None, rewrite: Callable[[str], str] | None = None) -> Any:
    """The API call's answer; an error answer exits 2 (bad input) or 1, printing every line of it."""
    try:
        return fn(*args)
    except ApiError as e:
        lines = [rewrite(m) for m in e.messages] if rewrite else e.messages
        die_lines(lines, EXIT_BAD_INPUT if e.status in (400, 404, 409) else EXIT_FAIL, where)
    except AgentUnreachable as e:
        die(str(e), EXIT_FAIL)


def api_path(*parts: str) -> str:
    return "/v1/" + "/".join(quote(p, safe="") for p in parts)


def yaml_dump(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False))


def print_json(data: Any) -> None:
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
