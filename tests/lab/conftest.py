from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import Lab, module_lab


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """One lab per test module (topologies are shared by the tests of a module); always torn down."""
    with module_lab(request) as lab:
        yield lab
