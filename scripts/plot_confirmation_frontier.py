#!/usr/bin/env python3
"""Picture of the moonshine engine's confirmation variants on the tuning splits: commands kept
against false accepts, with issue 6's false-accept target scaled to the splits' negative hours.

Every variant tried so far lies on one curve: fewer false accepts only for fewer commands.

    python scripts/plot_confirmation_frontier.py [docs/confirmation-frontier.csv] [--out docs/confirmation-frontier.png]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEGATIVE_HOURS = 2.21
"""Negative audio of the tuning splits pooled (corpus v2.6), the rows' false accepts' hours."""
FA_TARGET = 0.5
"""Issue 6: false accepts an hour."""


def read_points(path: Path) -> list[tuple[str, str, int, int]]:
    rows = [r for r in csv.reader(line for line in path.read_text().splitlines() if not line.startswith("#"))]
    try:
        return [(e, v, int(c), int(f)) for e, v, c, f in rows]
    except ValueError as exc:
        sys.exit(f"error: {path}: every row must be experiment,variant,commands,false_accepts ({exc})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="?", type=Path, default=ROOT / "docs" / "confirmation-frontier.csv")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "confirmation-frontier.png")
    args = ap.parse_args()
    if not args.csv.is_file():
        sys.exit(f"error: no such file: {args.csv}")
    points = read_points(args.csv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for experiment in dict.fromkeys(e for e, *_ in points):
        xs = [c for e, _, c, _ in points if e == experiment]
        ys = [f for e, _, _, f in points if e == experiment]
        ax.scatter(xs, ys, label=experiment, s=28)
    for e, variant, c, f in points:
        if "shipped" in variant or e == "none":
            ax.annotate(variant, (c, f), textcoords="offset points", xytext=(-6, 6), ha="right", fontsize=8)
    target = FA_TARGET * NEGATIVE_HOURS
    ax.axhspan(0, target, color="tab:green", alpha=0.15, label=f"issue 6's {FA_TARGET}/h ({target:.1f} here)")
    ax.set_xlabel("commands heard, tuning + tuning-neural (of 2790)")
    ax.set_ylabel(f"false accepts in {NEGATIVE_HOURS} h of negatives")
    ax.set_title("Confirming the moonshine engine's doubtful commands: every variant tried")
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
