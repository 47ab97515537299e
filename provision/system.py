"""Small helpers over the machine's own tools (ip, mount), each bounded in time."""

from __future__ import annotations

import subprocess
from pathlib import Path

from provision.errors import ProviderError


def sh(*argv: str, check: bool = True, timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input)
    if check and res.returncode != 0:
        raise ProviderError(f"`{' '.join(argv)}` failed ({res.returncode}): {res.stderr.strip()}")
    return res


def links_with_prefix(prefix: str) -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir() if p.name.startswith(prefix))


def netns_list(prefix: str) -> list[str]:
    d = Path("/run/netns")
    return sorted(p.name for p in d.iterdir() if p.name.startswith(prefix)) if d.exists() else []


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first (safe unmount order)."""
    root = str(path.resolve())
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == root or point.startswith(root + "/"):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Unmount whatever is mounted below ``path``, then remove it without crossing mounts."""
    if not path.exists():
        return
    for point in mounts_under(path):
        sh("umount", "-l", point, check=False)
    sh("rm", "-rf", "--one-file-system", str(path), timeout=300)
