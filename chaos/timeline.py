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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        times = [t for samples in self.probes.values() for s in samples for t in [s.get("t", s.get("invoke"))] if t]
        times += [t for t, _ in self.events]
        if not times:
            return
        t0 = min(times)
        fig, ax = plt.subplots(figsize=(10, 1.2 + 0.9 * max(1, len(self.probes))))
        for row, (_name, samples) in enumerate(sorted(self.probes.items())):
            for s in samples:
                t = s.get("t", s.get("invoke"))
                ok = s.get("result", s.get("outcome")) == "ok"
                ax.plot(t - t0, row, "|", color="tab:green" if ok else "tab:red", markersize=14)
        for t, label in self.events:
            ax.axvline(t - t0, color="tab:gray", linestyle="--", linewidth=1)
            ax.annotate(label, (t - t0, len(self.probes) - 0.4), rotation=30, fontsize=7, ha="left")
        ax.set_yticks(range(len(self.probes)), sorted(self.probes))
        ax.set_ylim(-0.6, len(self.probes) + 0.4)
        ax.set_xlabel("seconds since the first sample (green: success, red: failure)")
        ax.set_title(self.scenario)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
