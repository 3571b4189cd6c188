"""One line of totals over several pytest runs' JUnit XML files, in the plain `N passed, N failed` form:
`make test` runs the host's pytest and the test VM's side by side and must close on both counts.

    python tests/vm/totals.py host=artifacts/host-junit.xml vm=artifacts/vm/junit.xml

A run whose file is missing (its pytest never finished) counts as one failure.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def counts(path: Path) -> tuple[int, int, int]:
    """passed, failed (failures and errors), skipped of one JUnit file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for s in suites:
        tests += int(s.get("tests", 0))
        failed += int(s.get("failures", 0)) + int(s.get("errors", 0))
        skipped += int(s.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def main(argv: list[str]) -> int:
    total = [0, 0, 0]
    for arg in argv:
        name, _, file = arg.partition("=")
        try:
            got = counts(Path(file))
        except (OSError, ET.ParseError) as exc:
            print(f"{name}: no results ({exc})")
            got = (0, 1, 0)
        else:
            print(f"{name}: {got[0]} passed, {got[1]} failed, {got[2]} skipped")
        total = [t + g for t, g in zip(total, got, strict=True)]
    print(f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
