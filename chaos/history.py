"""Operation histories of a key-value client and the register checks run on them.

Every operation records when it was invoked and when it completed. An operation that timed
out is *indeterminate*: it may have taken effect at any time after its invocation, or never
(etcd can commit a write after quorum returns), so the checker accepts both outcomes for it
and never counts it as lost or as wrong. The linearizability check is Wing & Gong's search
with Lowe's memoisation, for one register per key, as etcd's robustness tests do with
porcupine."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["write", "read"]
Outcome = Literal["ok", "fail", "timeout"]


@dataclass(frozen=True)
class Op:
    key: str
    kind: Kind
    value: int | None  # written value, or value read (None: the key was absent)
    invoke: float
    complete: float
    outcome: Outcome

    @property
    def indeterminate(self) -> bool:
        return self.outcome == "timeout"


@dataclass
class Verdict:
    linearizable: bool
    lost: list[Op] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.linearizable and not self.lost


def _relevant(ops: list[Op]) -> list[Op]:
    """Ops that constrain the register: acknowledged ones, and writes that may have happened."""
    return [o for o in ops if o.outcome == "ok" or (o.kind == "write" and o.indeterminate)]


def linearizable(ops: list[Op], initial: int | None = None) -> bool:
    """True when the single-key history has a legal sequential order (register semantics)."""
    ops = _relevant(ops)
    n = len(ops)
    ret = [math.inf if o.indeterminate else o.complete for o in ops]
    must = [i for i in range(n) if not ops[i].indeterminate]
    seen: set[tuple[int, int | None]] = set()
    full_must = sum(1 << i for i in must)

    def search(done: int, state: int | None) -> bool:
        if done & full_must == full_must:
            return True
        key = (done, state)
        if key in seen:
            return False
        seen.add(key)
        horizon = min(ret[i] for i in range(n) if not done >> i & 1)
        for i in range(n):
            if done >> i & 1 or ops[i].invoke > horizon:
                continue
            op = ops[i]
            if op.kind == "read":
                if op.value == state and search(done | 1 << i, state):
                    return True
            elif search(done | 1 << i, op.value):
                return True
        return False

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * n + 200))  # one frame per linearised op
    try:
        return search(0, initial)
    finally:
        sys.setrecursionlimit(limit)


def check(ops: list[Op], final: dict[str, int | None]) -> Verdict:
    """Every key's history is linearizable, and no acknowledged write is lost: the value
    read after recovery is at least the last acknowledged one (values only grow)."""
    keys = sorted({o.key for o in ops})
    lost: list[Op] = []
    for key in keys:
        history = [o for o in ops if o.key == key]
        acked = [o for o in history if o.kind == "write" and o.outcome == "ok"]
        end = final.get(key)
        lost += [o for o in acked if end is None or o.value > end]
        if not linearizable(history):
            return Verdict(False, lost, f"the history of {key} is not linearizable")
    return Verdict(True, lost, f"{len(lost)} acknowledged write(s) lost" if lost else "")
