"""`load_yaml` (cli/yamlload.py) against `yaml.load(text, Loader=CSafeLoader)`, in one process.

Two documents: the generated routes file of `bench apply_routes` (10,000 `route:` announcements, as
yaml.safe_dump writes it) and a small agent.yaml-sized document (one mesh, two neighbours). Each loader
runs on each document in turn, DURANTIC_BENCH_REPS times (default 30 for the large one, 10x that for the
small one); p50 and p90 of the wall time. Both must give the same result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import yaml

from bench.compare import print_comparison
from bench.rib import prefixes
from durantic_agent.cli.yamlload import load_yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SMALL = {
    "machine": {"name": "web-1", "asn": 4200000001},
    "bgp": {"listen_port": 179, "hold_time": 9, "keepalive": 3, "graceful_restart": True},
    "meshes": [
        {
            "name": "prod",
            "address": "100.64.0.1/24",
            "listen_port": 51820,
            "private_key_file": "/etc/durantic/prod.key",
            "members_file": "/etc/durantic/mesh-prod.yaml",
        }
    ],
    "neighbors": [
        {"name": "tor1", "address": "192.0.2.1", "asn": 65000, "import": "accept", "export": "own"},
        {
            "name": "tor2",
            "address": "192.0.2.2",
            "asn": 65000,
            "import": "accept",
            "export": "own",
            "max_prefixes": 1000,
            "bfd": {"interval": "300ms", "multiplier": 3},
        },
    ],
    "api": {"socket": "/run/durantic/agent.sock", "http": "127.0.0.1:9179"},
    "state_dir": "/var/lib/durantic",
}


def _time(fn: Callable[[str], object], text: str) -> float:
    t = time.perf_counter()
    fn(text)
    return time.perf_counter() - t


def main(reps: int | None = None) -> None:
    reps = reps or int(os.environ.get("DURANTIC_BENCH_REPS", "30"))
    large = yaml.safe_dump(
        {"announcements": [{"name": f"r{i:05d}", "route": p} for i, p in enumerate(prefixes(10_000))]},
        sort_keys=False,
    )
    small = yaml.safe_dump(SMALL, sort_keys=False)
    loaders: dict[str, Callable[[str], Any]] = {
        "load_yaml": load_yaml,
        "yaml.load(CSafeLoader)": lambda text: yaml.load(text, Loader=_LOADER),
    }
    print(f"loader: {_LOADER.__name__}")
    for label, text, n in (("10k announcements", large, reps), ("small config", small, reps * 10)):
        results = [fn(text) for fn in loaders.values()]
        assert all(r == results[0] for r in results), "the loaders disagree"
        times: dict[str, list[float]] = {name: [] for name in loaders}
        for _ in range(n):
            for name, fn in loaders.items():
                times[name].append(_time(fn, text))
        print(f"{label} ({len(text) / 1000:.0f} kB), {n} repetitions each (ms):")
        print_comparison(times, "yaml.load(CSafeLoader)", 24, 2)


if __name__ == "__main__":
    main()
