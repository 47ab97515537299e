"""`tox -e bench`: measure the build (cold and cached), the local lab's warm `up` (hosts
and Kubernetes), `down`, and its memory.

Figures go to reports/bench.json; nothing here asserts a bound (performance is measured)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from provision import baseimage, topology
from provision.kube import binaries
from provision.providers.local import LocalProvider
from provision.providers.local.container import CGROUP_ROOT
from provision.providers.local.pipeline import Pipeline
from provision.system import remove_tree
from provision.version import version

REPORT = Path("reports") / "bench.json"


def lab_memory_mib(p: LocalProvider) -> dict[str, float]:
    """Per host: the v1 memory cgroup's usage minus page cache (what the processes hold)."""
    out = {}
    for h in p.plan.hosts:
        d = CGROUP_ROOT / "memory" / f"{p.prefix}-{h.name}.scope"
        try:
            usage = int((d / "memory.usage_in_bytes").read_text())
            stat = dict(line.split() for line in (d / "memory.stat").read_text().splitlines())
        except OSError:
            continue
        out[h.name] = round((usage - int(stat.get("total_cache", 0))) / 2**20, 1)
    return out


def beside_previous(previous: dict, current: dict) -> list[str]:
    """Each time figure beside the one recorded before, as a ratio (below 1: faster now)."""
    lines = []
    for key, now in current.items():
        if not key.endswith("_s") or not isinstance(now, int | float):
            continue
        before = previous.get(key)
        if isinstance(before, int | float) and before > 0:
            lines.append(f"{key:<18} {now:8.1f} s   before {before:8.1f} s   x{now / before:.2f}")
        else:
            lines.append(f"{key:<18} {now:8.1f} s   (no earlier figure)")
    return lines


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return round(time.monotonic() - start, 2)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m provision.bench")
    ap.add_argument("--cold", action="store_true",
                    help="also remove the cached base image, Kubernetes binaries, images and Go caches, and measure a cold build")
    args = ap.parse_args()
    p = LocalProvider(topology.load())
    figures: dict[str, object] = {"underhood": version()}
    p.down()
    if args.cold:
        remove_tree(baseimage.image_dir(p.plan))
        remove_tree(binaries.CACHE)
        remove_tree(binaries.GO_CACHE)
        figures["cold_build_s"] = timed(lambda: Pipeline(p).build())
    figures["cached_build_s"] = timed(lambda: Pipeline(p).build())
    figures["warm_up_s"] = timed(p.up)
    figures["warm_up_steps_s"] = json.loads((p.state / "last-up.json").read_text())["steps"]
    mem = lab_memory_mib(p)
    figures["lab_memory_mib"] = round(sum(mem.values()), 1)
    figures["memory_per_host_mib"] = mem
    figures["down_s"] = timed(p.down)
    previous = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    print("\n".join(beside_previous(previous, figures)))


if __name__ == "__main__":
    main()
