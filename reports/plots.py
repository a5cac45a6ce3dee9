"""Trend plots as SVG files (matplotlib, no display, no network)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend


def trend(series: dict[str, list[tuple[str, float]]], title: str, ylabel: str, path: Path) -> Path:
    """One line per series over the runs; an empty series set still makes a labelled plot."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for name, points in sorted(series.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    if not series:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("run")
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    if series:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg")
    plt.close(fig)
    return path
