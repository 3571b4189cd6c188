"""`durantic apply|diff|get`: the object store as files (announcements, policy sets, assignments)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from ..common import EXIT_BAD_INPUT, agent_client, call, die, print_json, socket_option, yaml_dump


def _load_file(file: str) -> tuple[Any, bytes | None]:
    """The document, and its bytes when it is JSON (sent on as they are: no second encoding)."""
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        text = data.decode()
    except OSError as e:
        die(f"{file}: {e.strerror}", EXIT_BAD_INPUT)
    except UnicodeDecodeError:
        die(f"{file}: not valid UTF-8", EXIT_BAD_INPUT)
    if text.lstrip()[:1] in ("{", "["):
        # JSON is YAML too; generated files (10k routes) are often JSON, and json parses them far faster
        # than libyaml. Flow-style YAML that is not JSON falls through to the YAML parser.
        with contextlib.suppress(ValueError):
            return json.loads(text), data
    import yaml  # not at the top: a JSON file or a listing needs no YAML, and every CLI call is a fresh start

    from ..yamlload import load_yaml

    try:
        # libyaml when present (same safe subset), plain documents built straight from its events (yamlload)
        return load_yaml(text), None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        die(f"{file}: not valid YAML{where}", EXIT_BAD_INPUT)


def _send_file(ctx: click.Context, file: str, prune: bool, mode: str | None) -> Any:
    doc, raw = _load_file(file)
    params = {**({"prune": "1"} if prune else {}), **({mode: "1"} if mode else {})}
    where = "(stdin)" if file == "-" else file
    return call(agent_client(ctx).post, "/v1/apply", doc, params or None, raw, where=where)


FILE_HELP = "objects file, YAML or JSON (- for stdin)"
PRUNE_HELP = "also delete objects the file does not name, and reset assignments it leaves out"


@click.command()
@click.option("-f", "--file", "file", required=True, metavar="FILE", help=FILE_HELP)
@click.option("--prune", is_flag=True, help=PRUNE_HELP)
@click.option("--dry-run", is_flag=True, help="validate in the agent and print what would change; change nothing")
@socket_option
@click.pass_context
def apply(ctx: click.Context, file: str, prune: bool, dry_run: bool) -> None:
    """Create or update the objects in FILE; one line per object (created, configured, unchanged, pruned).

    The whole file is validated first: on any error every error is printed and nothing changes (exit 2).
    """
    from ...views.render import render_apply

    res = _send_file(ctx, file, prune, "dry_run" if dry_run else None)
    click.echo(render_apply(res["results"], dry_run), nl=False)


@click.command()
@click.option("-f", "--file", "file", required=True, metavar="FILE", help=FILE_HELP)
@click.option("--prune", is_flag=True, help=PRUNE_HELP)
@socket_option
@click.pass_context
def diff(ctx: click.Context, file: str, prune: bool) -> None:
    """Show what `apply -f FILE` would change, as a unified diff of each object; change nothing."""
    from ...views.render import render_diff

    res = _send_file(ctx, file, prune, "diff")
    click.echo(render_diff(res["results"]), nl=False)


@click.command()
@click.option("-o", "--output", "fmt", default="yaml", type=click.Choice(["yaml", "json"]), help="output format")
@socket_option
@click.pass_context
def get(ctx: click.Context, fmt: str) -> None:
    """Print every object; `apply -f` of this output is a no-op."""
    doc = call(agent_client(ctx).get, "/v1/objects")
    if fmt == "json":
        print_json(doc)
    else:
        click.echo(yaml_dump(doc), nl=False)


COMMANDS = (apply, diff, get)
