"""tests/vm/totals.py closes `make test` on the host's and the VM's counts: it reads real pytest JUnit files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SAMPLE = """
import pytest
def test_ok(): pass
def test_ok_too(): pass
def test_bad(): assert False
@pytest.mark.skip(reason="sample")
def test_skipped(): pass
"""


def _junit(tmp_path: Path) -> Path:
    (tmp_path / "test_sample.py").write_text(_SAMPLE)
    xml = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path), f"--junitxml={xml}"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    return xml


def _totals(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "vm" / "totals.py"), *args], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def test_totals_add_up_runs_and_close_on_the_plain_line(tmp_path: Path) -> None:
    xml = _junit(tmp_path)
    assert _totals(f"host={xml}", f"vm={xml}") == [
        "host: 2 passed, 1 failed, 1 skipped",
        "vm: 2 passed, 1 failed, 1 skipped",
        "total: 4 passed, 2 failed, 2 skipped",
    ]


def test_a_run_without_results_counts_as_a_failure(tmp_path: Path) -> None:
    xml = _junit(tmp_path)
    lines = _totals(f"host={xml}", f"vm={tmp_path / 'missing.xml'}")
    assert lines[1].startswith("vm: no results")
    assert lines[-1] == "total: 2 passed, 2 failed, 1 skipped"
