"""The ssh path (tox -e ssh-path: bare containers converged only over ssh, as VMs are) proves
what the local provider's own ordering proves, promise by promise, from the same commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def table(provider: str) -> dict:
    path = ROOT / "reports" / "promises" / f"{provider}-tests.json"
    if not path.exists():
        pytest.skip(f"no verify run of the {provider} provider is recorded ({path}): run `tox -e "
                    f"{'ssh-path' if provider == 'local-ssh' else 'provision,verify'}` first")
    return json.loads(path.read_text())


def test_the_ssh_path_proves_what_local_proves():
    ssh, local = table("local-ssh"), table("local")
    assert ssh["underhood"] == local["underhood"], "the two runs come from different versions of the suite"
    got = {row["id"]: row["status"] for row in ssh["promises"]}
    want = {row["id"]: row["status"] for row in local["promises"]}
    assert {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v} == {}
