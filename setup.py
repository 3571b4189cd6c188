"""Platform-wheel tag for durantic-agent (all metadata lives in pyproject.toml).

The wheel carries a native gobgpd (and the gobgp CLI) in durantic_agent/_bin/, so it is not pure:
it is tagged py3-none-manylinux_2_N_<arch>, where N is the newest glibc symbol version the bundled
binaries need and <arch> is read from their ELF header. Any CPython 3.11+ can use it (no extension
modules), but only on that architecture and a glibc at least that new.
"""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import Distribution, setup  # type: ignore[import-untyped,unused-ignore]

try:
    from setuptools.command.bdist_wheel import bdist_wheel  # type: ignore[import-untyped,unused-ignore]
except ImportError:  # setuptools < 70.1 keeps it in the `wheel` project
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[import-not-found,no-redef,unused-ignore]

HERE = Path(__file__).resolve().parent
BIN = HERE / "durantic_agent" / "_bin"
STUBS = HERE / "durantic_agent" / "_gobgp"
REQUIRED = [BIN / "gobgpd", BIN / "gobgp", STUBS / "gobgp_pb2.py", STUBS / "gobgp_pb2_grpc.py"]
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64"}
GLIBC_RE = re.compile(rb"GLIBC_2\.(\d+)(?:\.\d+)?\x00")


def binary_platform(path: Path) -> str:
    """The manylinux platform tag a dynamically linked (glibc only) ELF executable can honestly claim."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit(f"setup.py: {path} is not a 64-bit little-endian ELF executable")
    machine = int.from_bytes(data[18:20], "little")
    arch = ELF_MACHINES.get(machine)
    if arch is None:
        raise SystemExit(f"setup.py: {path} has an unsupported ELF machine {machine:#x}")
    minors = [int(m) for m in GLIBC_RE.findall(data)]
    # A fully static binary needs no glibc at all; 2_17 is the oldest manylinux that pip still knows.
    minor = max([17, *minors])
    return f"manylinux_2_{minor}_{arch}"


class BinaryDistribution(Distribution):  # type: ignore[misc]
    """Installs the package to platlib, so the wheel root is platlib, not a `.data/purelib` subtree."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):  # type: ignore[misc,valid-type]
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def run(self) -> None:
        # Checked here, not in finalize_options: `pip install -e` finalizes this command for metadata
        # before `make stubs` can run (the stubs need the venv), and an editable install needs no stubs.
        missing = [str(p.relative_to(HERE)) for p in REQUIRED if not p.exists()]
        if missing:
            raise SystemExit(f"setup.py: {', '.join(missing)} missing: run `make setup` before building a wheel")
        super().run()

    def get_tag(self) -> tuple[str, str, str]:
        if not all((BIN / name).exists() for name in ("gobgpd", "gobgp")):
            # Only an editable install gets here without binaries; its wheel is never shipped.
            return tuple(super().get_tag())  # type: ignore[return-value,no-any-return,unused-ignore]
        plats = {binary_platform(BIN / name) for name in ("gobgpd", "gobgp")}
        # Both binaries come from one Go build; if they ever differ, the stricter (newer glibc) tag wins.
        plat = max(plats, key=lambda p: int(p.split("_")[2]))
        return "py3", "none", plat


setup(distclass=BinaryDistribution, cmdclass={"bdist_wheel": PlatformWheel})
