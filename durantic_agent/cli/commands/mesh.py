"""`durantic mesh keygen|pubkey`: WireGuard keys, offline."""

from __future__ import annotations

from pathlib import Path

import click

from ..common import EXIT_BAD_INPUT, EXIT_FAIL, die


@click.group()
def mesh() -> None:
    """WireGuard mesh keys."""


@mesh.command("keygen")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="overwrite an existing key")
def mesh_keygen(file: Path, force: bool) -> None:
    """Write a new private key to FILE (mode 0600) and print its public key."""
    import os

    from ...wg.keys import generate_private_key, public_key

    if file.exists() and not force:
        die(f"{file}: exists (use --force to replace it, or `durantic mesh pubkey {file}`)", EXIT_BAD_INPUT)
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
    from ...wg.keys import public_key

    try:
        click.echo(public_key(file.read_text().strip()))
    except OSError as e:
        die(f"{file}: {e.strerror}", EXIT_FAIL)
    except ValueError:
        die(f"{file}: is not a WireGuard private key", EXIT_BAD_INPUT)


COMMANDS = (mesh,)
