"""Probes that run inside the lab (standard library only): each prints one JSON line per
sample and stops by itself after its duration."""

from __future__ import annotations

from pathlib import Path


def source(name: str) -> str:
    return (Path(__file__).with_name(f"{name}.py")).read_text()
