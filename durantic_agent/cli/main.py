"""`durantic`: the command line. Exit codes: 0 ok, 1 failure (agent unreachable, invalid config file),
2 bad input (one line per error naming the field and the value; nothing changed).

This module only assembles the commands (cli/commands/) under the root group and maps click's errors."""

from __future__ import annotations

import sys

import click

from .. import GOBGP_VERSION, __version__
from .commands import agent, announce, mesh, objects, policy, views
from .common import EXIT_BAD_INPUT, EXIT_FAIL, SOCKET_HELP, die


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


for _module in (agent, views, objects, announce, policy, mesh):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


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
        die("aborted", EXIT_FAIL)
    except click.BadParameter as e:
        die(_bad_parameter(e), EXIT_BAD_INPUT)
    except click.UsageError as e:
        where = f" ({e.ctx.command_path})" if e.ctx else ""
        die(f"{e.format_message()}{where}", EXIT_BAD_INPUT)
    except click.ClickException as e:
        die(e.format_message(), EXIT_BAD_INPUT)
    except SystemExit:
        raise
    sys.exit(0)
