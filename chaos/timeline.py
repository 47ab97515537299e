"""A scenario's timeline: events and probe samples with timestamps, as JSON and as a plot."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from provision.waiting import say

REPORTS = Path(__file__).resolve().parents[1] / "reports"


@dataclass
class Timeline:
    scenario: str
    events: list[tuple[float, str]] = field(default_factory=list)
    probes: dict[str, list[dict]] = field(default_factory=dict)
    figures: dict[str, float | str] = field(default_factory=dict)

    def event(self, label: str, t: float | None = None) -> float:
        t = time.time() if t is None else t
        self.events.append((t, label))
        say(f"{self.scenario} +{t - self.events[0][0]:.1f} s: {label}")
        return t

    def write(self, directory: Path = REPORTS / "chaos") -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.scenario}.json"
        path.write_text(json.dumps({"scenario": self.scenario, "events": self.events, "figures": self.figures,
                                    "probes": self.probes}, indent=1))
        self.plot(directory / f"{self.scenario}.png")
        return path

    def plot(self, path: Path) -> None:
        """The probes' samples in rows, each event a numbered line; the events' own words
        listed under the axes, where any number of them, however long, stays legible."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        times = [t for samples in self.probes.values() for s in samples for t in [s.get("t", s.get("invoke"))] if t]
        times += [t for t, _ in self.events]
        if not times:
            return
        t0 = min(times)
        rows = max(1, len(self.probes))
        fig, ax = plt.subplots(figsize=(10, 1.6 + 0.9 * rows + 0.2 * len(self.events)), layout="constrained")
        for row, (_name, samples) in enumerate(sorted(self.probes.items())):
            for s in samples:
                t = s.get("t", s.get("invoke"))
                ok = s.get("result", s.get("outcome")) == "ok"
                ax.plot(t - t0, row, "|", color="tab:green" if ok else "tab:red", markersize=14)
        # in time order: the journal's steps are added after the fact
        events = sorted(self.events)
        levels = stacks(events, max(times) - t0 or 1.0)
        for number, ((t, _label), level) in enumerate(zip(events, levels, strict=True), 1):
            ax.axvline(t - t0, color="tab:gray", linestyle="--", linewidth=1)
            ax.annotate(str(number), (t - t0, 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2 + 9 * level),
                        textcoords="offset points", fontsize=7, va="bottom")
        ax.set_yticks(range(len(self.probes)), sorted(self.probes))
        ax.set_ylim(-0.6, rows - 0.4)
        ax.set_xlabel("\n".join(["seconds since the first sample (green: success, red: failure)", *event_key(events, t0)]),
                      loc="left", fontsize=8)
        ax.set_title(self.scenario, pad=6 + 9 * (1 + max(levels, default=0)))
        fig.savefig(path, dpi=110)
        plt.close(fig)


def event_key(events: list[tuple[float, str]], t0: float) -> list[str]:
    """The plot's key: each event's number, its time since ``t0`` and its words."""
    return [f"{number}  +{t - t0:.1f} s  {label}" for number, (t, label) in enumerate(events, 1)]


def stacks(events: list[tuple[float, str]], span: float) -> list[int]:
    """Each event's number's level above the axes (``events`` in time order): one within 3 %
    of the span after the event before it goes a level up, not over it."""
    levels = [0] * len(events)
    for i in range(1, len(events)):
        if events[i][0] - events[i - 1][0] < span * 0.03:
            levels[i] = levels[i - 1] + 1
    return levels
