"""First page of the web Routing tab (GET /ui/api/rib?page=1) with 100,000 received routes in the RIB.

Same lab as `bench rib` (plain gobgpd X injects 100k /24s into agent A's RIB). Timed with curl's
time_total inside A's namespace against the agent's HTTP listener. The first request is the cold one
(nothing cached); then 5 warm ones, a deep page, and a filter. Goal: page 1 <= 300 ms.
"""

from __future__ import annotations

import json
import statistics
import subprocess

from bench.rib import load, rib_lab
from durantic_agent.views.prefix_index import prefix_key
from tests.lab.harness import Lab

HTTP = "127.0.0.1:9179"


def _get(ns: str, path: str) -> tuple[float, dict[str, object]]:
    out = subprocess.run(
        [
            "ip", "netns", "exec", ns, "curl", "-sS", "-o", "/dev/stdout", "-w", "\n%{time_total}",
            f"http://{HTTP}{path}",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    body, _, t = out.rpartition("\n")
    return float(t), json.loads(body)


def main(n: int = 100_000, runs: int = 2) -> None:
    lab = Lab()
    try:
        r = rib_lab(lab, n, http=HTTP)
        ns = r.agent.ns
        print(f"setup: {n} routes in the agent's RIB after {r.arrive_s:.2f} s")
        worst = 0.0
        for i in range(runs):
            ld = load()
            cold, body = _get(ns, "/ui/api/rib?page=1")
            assert body["total"] == n and len(body["routes"]) == 100, (body["total"], len(body["routes"]))  # type: ignore[arg-type]
            first = body["routes"][0]["prefix"]  # type: ignore[index]
            warm = [_get(ns, "/ui/api/rib?page=1")[0] for _ in range(5)]
            deep, dbody = _get(ns, f"/ui/api/rib?page={n // 100}")
            flt, fbody = _get(ns, "/ui/api/rib?page=1&filter=20.1.0.0/16")
            worst = max(worst, cold, *warm)
            print(
                f"run {i + 1}: page 1 first request {cold * 1000:.0f} ms, then median "
                f"{statistics.median(warm) * 1000:.0f} ms (max {max(warm) * 1000:.0f}); last page {deep * 1000:.0f} ms "
                f"({len(dbody['routes'])} rows); filter 20.1.0.0/16 {flt * 1000:.0f} ms "  # type: ignore[arg-type]
                f"({fbody['total']} matches); first row {first} ({ld})"
            )
        # correctness: page 1 = the first 100 destinations of the full listing in address order, same rows
        with r.agent.client(timeout=300) as c:
            full = {row["prefix"]: row for row in c.get("/v1/rib").json()}
        _, body = _get(ns, "/ui/api/rib?page=1")
        want = sorted(full, key=prefix_key)[:100]
        got = [row["prefix"] for row in body["routes"]]  # type: ignore[attr-defined]
        same = got == want and all(row == full[row["prefix"]] for row in body["routes"])  # type: ignore[attr-defined]
        print(f"page 1 equals the first 100 rows of the full listing (address order): {same}")
        verdict = "OK" if worst <= 0.3 and same else "MISSED"
        print(f"web page 1 with {n} routes: worst {worst * 1000:.0f} ms (goal <= 300 ms) {verdict}")
    finally:
        lab.close()


if __name__ == "__main__":
    main()
