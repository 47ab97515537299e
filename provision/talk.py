"""A talk script for talk mode: the same faults in the same order at every talk, with pauses
for the speaker, and the recovery figures written to reports/ as a chaos run's are.

A script is a YAML list of steps:

    - say: The lab, live: two HAProxy nodes, three masters, three Gluster nodes.
    - pause: Now I kill the node holding the VIP.      # waits for space or Enter
    - fault: v                                          # a talk-mode key: v e m w g
    - wait: recovered                                   # every row answering (writing) again
    - restore                                           # every killed host started again

`python -m provision demo --script FILE` runs one; `--script default` runs the built-in one."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from provision.demo import KEYS, Dashboard
from provision.errors import UnderhoodError

DEFAULT = """\
- say: "The lab, live: a VIP on two HAProxy nodes, three masters, three workers, three Gluster nodes."
- pause: "First, the node holding the VIP dies (LB-06)."
- fault: v
- wait: recovered
- restore
- wait: whole
- pause: "Now the etcd leader (ETCD-05)."
- fault: e
- wait: recovered
- restore
- wait: whole
- pause: "A master dies; HAProxy takes it out (LB-08)."
- fault: m
- wait: recovered
- restore
- wait: whole
- pause: "The worker announcing the demo's address dies (MLB-05)."
- fault: w
- wait: recovered
- restore
- wait: whole
- pause: "Last, a Gluster node (STO-06): the demo's writer goes on writing to its claim."
- fault: g
- wait: recovered
- restore
- wait: whole
- say: "That was the talk: every figure is in reports/talk.json."
"""
#: How long a `wait` may take before the script goes on and says so: a talk does not hang.
WAIT_S = 180.0
WAITS = ("recovered", "whole")


@dataclass
class Step:
    kind: str  # say, pause, fault, wait, restore
    arg: str = ""


@dataclass
class Script:
    steps: list[Step]
    figures: list[dict] = field(default_factory=list)


def parse(text: str, source: str = "the script") -> Script:
    """A script's steps, each checked: a wrong step is named with its position and the fix."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UnderhoodError(f"{source}: not YAML: {exc}") from None
    if not isinstance(data, list) or not data:
        raise UnderhoodError(f"{source}: give a list of steps (say, pause, fault, wait, restore)")
    keys = {k.key for k in KEYS}
    steps = []
    for i, item in enumerate(data, 1):
        if item == "restore":
            steps.append(Step("restore"))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise UnderhoodError(f"{source}, step {i}: {item!r}: give one of say: TEXT, pause: TEXT, fault: KEY, wait: "
                                 f"{'|'.join(WAITS)}, or restore")
        (kind, arg), = item.items()
        if kind not in ("say", "pause", "fault", "wait"):
            raise UnderhoodError(f"{source}, step {i}: {kind!r} is no step: say, pause, fault, wait or restore")
        if kind == "fault" and arg not in keys:
            raise UnderhoodError(f"{source}, step {i}: fault {arg!r}: give one of the keys {', '.join(sorted(keys))}")
        if kind == "wait" and arg not in WAITS:
            raise UnderhoodError(f"{source}, step {i}: wait {arg!r}: give {' or '.join(WAITS)}")
        steps.append(Step(kind, str(arg)))
    return Script(steps)


def load(name: str) -> Script:
    if name == "default":
        return parse(DEFAULT, "the default script")
    path = Path(name)
    if not path.is_file():
        raise UnderhoodError(f"--script {name}: no such file (or give `default` for the built-in script)")
    return parse(path.read_text(), str(path))


class Runner:
    """Runs a script against a dashboard, beside its screen: `go` is set by the speaker's
    space or Enter."""

    def __init__(self, dashboard: Dashboard, script: Script, reports: Path) -> None:
        self.d, self.script, self.reports = dashboard, script, reports
        self.go = threading.Event()
        self.done = threading.Event()

    def _wait(self, what: str) -> None:
        d = self.d

        def met() -> bool:
            if what == "recovered":
                return not d.pending
            return not d.down and all(d.state["hosts"].get(h.name) for h in d.plan.hosts)

        deadline = time.monotonic() + WAIT_S
        while not met() and not d.stop.is_set():
            if time.monotonic() > deadline:
                d.events.appendleft(f"not {what} after {WAIT_S:.0f} s: going on")
                return
            d.stop.wait(0.2)

    def run(self) -> None:
        d = self.d
        try:
            for step in self.script.steps:
                if d.stop.is_set():
                    return
                if step.kind == "say":
                    d.events.appendleft(step.arg)
                elif step.kind == "pause":
                    d.events.appendleft(f"{step.arg}  [space]")
                    self.go.clear()
                    while not self.go.wait(0.2) and not d.stop.is_set():
                        pass
                elif step.kind == "fault":
                    key = next(k for k in KEYS if k.key == step.arg)
                    before = set(d.down)
                    d.key(step.arg)
                    killed = sorted(set(d.down) - before)
                    if killed:  # nothing to kill (the dashboard says why): no figure
                        self.script.figures.append({"fault": key.what, "promise": key.promise, "host": killed[0],
                                                    "at": time.time(), "gaps": {}})
                elif step.kind == "wait":
                    self._wait(step.arg)
                    if step.arg == "recovered" and self.script.figures and not self.script.figures[-1]["gaps"]:
                        self.script.figures[-1]["gaps"] = {k: round(v, 3) for k, v in d.gaps.items()}
                else:
                    d.restore()
            self.write()
        finally:
            self.done.set()

    def write(self) -> Path:
        self.reports.mkdir(parents=True, exist_ok=True)
        out = self.reports / "talk.json"
        out.write_text(json.dumps({"faults": self.script.figures}, indent=2) + "\n")
        self.d.events.appendleft(f"figures written to {out}")
        return out
