"""Machine limits that a lab of many Kubernetes nodes needs, raised for the lab's life only.

Every container of the local lab runs as the machine's root, so the inotify instances of
all of them (systemd, kubelet, the control plane's watchers) count against one per-user
limit, 128 by default: the third master's kubelet then fails with "inotify_init: too many
open files". `up` raises it and records the value it found; `down` puts that value back,
after every process of the lab has ended."""

from __future__ import annotations

import json
from pathlib import Path

#: /proc/sys path -> the least the lab needs.
NEEDED = {"fs/inotify/max_user_instances": 1024}


def raise_limits(state: Path) -> list[str]:
    """Raise what is below the need; return what changed (for the up's change list)."""
    record = state / "machine-limits.json"
    saved = json.loads(record.read_text()) if record.exists() else {}
    changed = []
    for key, need in NEEDED.items():
        proc = Path("/proc/sys") / key
        current = int(proc.read_text())
        if current < need:
            saved.setdefault(key, current)
            proc.write_text(f"{need}\n")
            changed.append(f"machine: {key.replace('/', '.')} {current} -> {need} (until down)")
    if saved:
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(saved))
    return changed


def restore_limits(state: Path) -> None:
    record = state / "machine-limits.json"
    if not record.exists():
        return
    for key, value in json.loads(record.read_text()).items():
        (Path("/proc/sys") / key).write_text(f"{value}\n")
    record.unlink()
