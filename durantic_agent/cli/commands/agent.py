"""`durantic version`, `agent run|reload`, `config check`: the agent process and its configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ... import GOBGP_VERSION, __version__
from ...errors import ConfigError
from ..common import EXIT_FAIL, agent_client, call, die, die_lines, socket_option


@click.command()
def version() -> None:
    """Print the agent, gobgpd and gobgp (CLI) versions."""
    import asyncio

    from ...gobgp.sidecar import find_gobgp_cli, find_gobgpd, gobgpd_version

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


@click.group()
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

    from ...config import load_config
    from ...errors import AgentError
    from ...logs import setup_logging

    setup_logging(log_level, log_format)
    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        die_lines(e.messages, EXIT_FAIL, str(config_path))
    from ...agent.app import Agent

    try:
        a = Agent(config_path, cfg)
        code = asyncio.run(a.run())
    except ConfigError as e:
        die_lines(e.messages, EXIT_FAIL, str(config_path))
    except AgentError as e:
        die(str(e), EXIT_FAIL)
    sys.exit(code)


@agent.command("reload")
@socket_option
@click.pass_context
def agent_reload(ctx: click.Context) -> None:
    """Re-read agent.yaml in the running agent (unchanged peers are not reset)."""
    call(agent_client(ctx).post, "/v1/reload")
    click.echo("reloaded")


@click.group()
def config() -> None:
    """Validate configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def config_check(file: Path) -> None:
    """Exit 0 when FILE is a valid agent.yaml, 1 with every error otherwise."""
    from ...config import load_config

    try:
        load_config(file)
    except ConfigError as e:
        for m in e.messages:
            click.echo(f"{file}: {m}", err=True)
        sys.exit(EXIT_FAIL)
    click.echo(f"{file}: ok")


COMMANDS = (version, agent, config)
