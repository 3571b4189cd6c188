"""The CLI explains itself: every command and option has help text, and every command that talks to
the agent takes --socket (after the subcommand too) naming DURANTIC_SOCKET and the default path."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from durantic_agent.cli.main import cli

# commands that never talk to the agent
LOCAL = {"version", "agent run", "config check", "mesh keygen", "mesh pubkey"}


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + " ")
        else:
            yield path, cmd


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, cmd in _commands(cli):
        if not cmd.help:
            missing.append(path)
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.help:
                missing.append(f"{path} {p.opts[0]}")
    assert missing == []


def test_socket_after_every_agent_command() -> None:
    runner = CliRunner()
    for path, cmd in _commands(cli):
        opts = {o for p in cmd.params for o in p.opts}
        if path in LOCAL:
            assert "--socket" not in opts, path
            continue
        assert "--socket" in opts, path
        text = runner.invoke(cli, [*path.split(), "--help"], terminal_width=200).output
        assert "DURANTIC_SOCKET" in text and "/run/durantic/agent.sock" in text, path


def test_version() -> None:
    out = CliRunner().invoke(cli, ["--version"]).output
    assert out.startswith("durantic ") and "(gobgpd " in out
