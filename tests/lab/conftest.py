from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from .harness import Lab


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """One lab per test module (topologies are shared by the tests of a module); always torn down."""
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (network namespaces)")
    for tool in ("ip", "bird"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run `make setup`")
    failed_before = request.session.testsfailed
    lab = Lab()
    try:
        yield lab
    finally:
        if request.session.testsfailed > failed_before:
            print(lab.dump_logs())  # every daemon's log, once per module, when something failed
        lab.close()
