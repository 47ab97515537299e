"""`tox -e bench`: measure the build (cold and cached), the local lab's warm `up` (hosts
and Kubernetes), `verify` on it (median of 3), the chaos suite (`--chaos`), `down`, and its
memory. With `--cold`, a cold `tox -e provision,verify` is the cold build, the up and the
first verify added up: what `provision` (build, then up) and `verify` run.

Figures go to reports/bench.json; nothing here asserts a bound (performance is measured)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
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
ROOT = Path(__file__).resolve().parents[1]
#: verify is cheap: its figure is the median of this many runs
VERIFY_RUNS = 3


def suite(*argv: str) -> float:
    """Seconds one pytest run of the repository's suites took; a failed run is no figure."""
    start = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pytest", *argv, "-q", "-p", "no:cacheprovider", "-o", "addopts="],
                         cwd=ROOT, capture_output=True, text=True, timeout=3600)
    took = round(time.monotonic() - start, 2)
    if res.returncode != 0:
        raise SystemExit(f"bench: `pytest {' '.join(argv)}` failed, so its time is no figure:\n{res.stdout[-2000:]}")
    # where the time went: pytest's slowest phases (--durations in argv)
    _, _, slowest = res.stdout.partition("slowest")
    if slowest:
        print("slowest" + slowest.split("\n\n")[0] if "\n\n" in slowest else "slowest" + slowest[:3000])
    return took


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
    ap.add_argument("--chaos", action="store_true", help="also time the chaos suite on the warm lab (about a quarter of an hour)")
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
    warm = json.loads((p.state / "last-up.json").read_text())
    figures["warm_up_steps_s"], figures["warm_up_recoveries"] = warm["steps"], warm["recoveries"]
    runs = [suite("tests", "-n", "auto", "--durations=10") for _ in range(VERIFY_RUNS)]
    figures["verify_runs_s"] = runs
    figures["verify_s"] = statistics.median(runs)
    if args.cold:
        figures["cold_provision_verify_s"] = round(figures["cold_build_s"] + figures["warm_up_s"] + runs[0], 2)
    if args.chaos:
        # what `tox -e chaos` runs (the random scenario is nightly's)
        figures["chaos_s"] = suite("chaos", "-m", "not nightly", "-p", "no:xdist", "--durations=0", "--durations-min=5")
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
