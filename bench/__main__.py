"""`make bench`: run every benchmark and print its figures. Needs root (lab namespaces).

python -m bench              # all
python -m bench failover     # one (restart, failover, policy, transit, mesh-scale, vips, apply_routes, fib, rib, web,
                             # liveness-cpu, machine-death, hung, cli-client, yaml-load, wg-cost)
"""

from __future__ import annotations

import importlib
import sys

BENCHES = {
    "restart": "bench.restart",
    "failover": "bench.failover",
    "policy": "bench.bench_policy",
    "transit": "bench.transit",
    "mesh-scale": "bench.mesh_scale",
    "vips": "bench.vips",
    "apply_routes": "bench.apply_routes",
    "fib": "bench.fib",
    "rib": "bench.rib",
    "web": "bench.web",
    "liveness-cpu": "bench.liveness_cpu",
    "machine-death": "bench.machine_death",
    "hung": "bench.hung",
    "cli-client": "bench.cli_client",
    "yaml-load": "bench.yaml_load",
    "wg-cost": "bench.wg_cost",
}


def main() -> None:
    names = sys.argv[1:] or list(BENCHES)
    for n in names:
        if n not in BENCHES:
            sys.exit(f"unknown benchmark {n!r}; one of {', '.join(BENCHES)}")
    for n in names:
        print(f"===== {n} =====", flush=True)
        mod = importlib.import_module(BENCHES[n])
        mod.main()


if __name__ == "__main__":
    main()
