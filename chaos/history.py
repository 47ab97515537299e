"""Operation histories of a key-value client and the register checks run on them. The value
read after the run is the last read of each key's history, so a lost or rolled-back write is a
linearizability violation like any other; the search is bounded, and says "undecided".

Every operation records when it was invoked and when it completed. An operation that timed
out is *indeterminate*: it may have taken effect at any time after its invocation, or never
(etcd can commit a write after quorum returns), so the checker accepts both outcomes for it
and never counts it as lost or as wrong. The linearizability check is Wing & Gong's search
with Lowe's memoisation, for one register per key, as etcd's robustness tests do with
porcupine."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
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


#: States the search may visit before it says "undecided": a real violation while writes
#: time out must end the audit with a verdict, not hang it.
MAX_STATES = 2_000_000


class Undecided(Exception):
    """The search passed MAX_STATES without deciding."""


@dataclass
class Verdict:
    linearizable: bool | None  # None: undecided (the search was bounded)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.linearizable is True

    @property
    def undecided(self) -> bool:
        return self.linearizable is None


def _relevant(ops: list[Op]) -> list[Op]:
    """Ops that constrain the register: acknowledged ones, and writes that may have happened."""
    return [o for o in ops if o.outcome == "ok" or (o.kind == "write" and o.indeterminate)]


def _observed(ops: list[Op]) -> list[Op]:
    """Without the timed-out writes whose value no read saw: each write's value is unique, so
    one nobody observed changes no read wherever it is placed, or if it never happened (as
    etcd's robustness tests prune them; each one kept doubles the search)."""
    seen = {o.value for o in ops if o.kind == "read" and o.outcome == "ok"}
    return [o for o in ops if not (o.kind == "write" and o.indeterminate and o.value not in seen)]


def linearizable(ops: list[Op], initial: int | None = None, max_states: int = MAX_STATES) -> bool:
    """True when the single-key history has a legal sequential order (register semantics).
    Raises Undecided after ``max_states`` states."""
    ops = sorted(_relevant(ops), key=lambda o: o.invoke)
    n = len(ops)
    ret = [math.inf if o.indeterminate else o.complete for o in ops]
    seen: set[tuple[int, int | None]] = set()

    def search(done: int, state: int | None, first: int, must_left: int) -> bool:
        if must_left == 0:
            return True
        key = (done, state)
        if key in seen:
            return False
        if len(seen) >= max_states:
            raise Undecided(f"{len(seen)} states searched")
        seen.add(key)
        while first < n and done >> first & 1:
            first += 1
        # The next op must start before every pending op's return. Ops are sorted by invoke
        # and none returns before it starts, so the scan stops where invoke passes that bound.
        horizon, end = math.inf, first
        while end < n and ops[end].invoke <= horizon:
            if not done >> end & 1:
                horizon = min(horizon, ret[end])
            end += 1
        for i in range(first, end):
            op = ops[i]
            if done >> i & 1 or op.invoke > horizon:
                continue
            left = must_left - (not op.indeterminate)
            if op.kind == "read":
                if op.value == state and search(done | 1 << i, state, first, left):
                    return True
            elif search(done | 1 << i, op.value, first, left):
                return True
        return False

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * n + 200))  # one frame per linearised op
    try:
        return search(0, initial, 0, sum(1 for o in ops if not o.indeterminate))
    finally:
        sys.setrecursionlimit(limit)


def with_final_read(history: list[Op], key: str, value: int | None) -> list[Op]:
    """The value read after the run, as the history's last read: it follows every operation's
    return (timed-out writes may still land before it), whatever the clocks of the machines."""
    after = max((o.complete for o in history), default=0.0) + 1e-3
    return [*history, Op(key, "read", value, after, after + 1e-3, "ok")]


def check(ops: list[Op], final: dict[str, int | None], max_states: int = MAX_STATES) -> Verdict:
    """Every key's history, with the value read after the run as its last read, is
    linearizable: an acknowledged write lost, or rolled back to an older value, is not."""
    for key in sorted({o.key for o in ops} | set(final)):
        history = [o for o in ops if o.key == key]
        complete = _observed(with_final_read(history, key, final[key]) if key in final else history)
        try:
            if linearizable(complete, max_states=max_states):
                continue
            if key in final and linearizable(_observed(history), max_states=max_states):
                return Verdict(False, f"{key}: the value read after the run ({final[key]}) is not one its history allows: "
                                      "an acknowledged write was lost or rolled back")
        except Undecided as exc:
            return Verdict(None, f"{key}: undecided ({exc}; {len(complete)} operations): the audit proves nothing either way")
        return Verdict(False, f"the history of {key} is not linearizable")
    return Verdict(True)
