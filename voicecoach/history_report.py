"""History for people: a table of recent sessions, a CSV of every set, a plot of load and volume.

Volume is sets x reps x load, i.e. the sum over sets of reps done x load, in the load's unit
(kg or lb; lb loads in a mostly-kg history are converted, and vice versa).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import IO

from voicecoach.records import SetRecord
from voicecoach.storage import SessionHistory

LB_PER_KG = 2.2046226218
EMPTY_MESSAGE = "No sessions recorded yet: history fills in as you finish sets."


class HistoryReportError(Exception):
    """Nothing sensible to report (e.g. an empty history); str() is the one line to show."""


@dataclass(frozen=True)
class SessionSummary:
    """One row of the history table."""

    started: datetime | None
    """Wall-clock start (None if the stored stamp does not parse)."""
    started_text: str
    plan: str
    variation: str
    """The main variation: the one with the most sets done (later blocks win ties)."""
    sets_done: int
    """Sets finished; a single-leg set (left and right) counts once."""
    sets_planned: int | None
    reps_done: int
    reps_planned: int
    load: float | None
    """Heaviest load used, in `unit`; None when no load was recorded."""
    unit: str | None
    volume: float | None
    """Sum of reps x load over loaded sets, in `unit`; None when no load was recorded."""
    pain: bool
    stopped_early: bool


def summarize(session: SessionHistory) -> SessionSummary:
    """Totals for one session."""
    sets = session.sets
    units = Counter(s.unit for s in sets if s.load is not None and s.unit)
    unit = units.most_common(1)[0][0] if units else (session.info.unit if session.info else None)
    loaded = [(s, _convert(s.load, s.unit, unit)) for s in sets if s.load is not None and s.unit]
    by_variation = Counter(s.variation for s in sets)
    variation = max(by_variation, key=lambda v: (by_variation[v], max(i for i, s in enumerate(sets) if s.variation == v))) if sets else "-"
    info = session.info
    return SessionSummary(
        started=_parse_time(session.started_at),
        started_text=session.started_at,
        plan=session.plan,
        variation=variation,
        sets_done=len({(s.block, s.set_number) for s in sets}),  # left + right is one single-leg set
        sets_planned=info.sets_planned if info else None,
        reps_done=sum(s.reps_done for s in sets),
        reps_planned=sum(s.reps_planned for s in sets),
        load=max(v for _, v in loaded) if loaded else (info.load if info and info.load else None),
        unit=unit,
        volume=sum(s.reps_done * v for s, v in loaded) if loaded else None,
        pain=any(s.pain for s in sets) or bool(info and info.pain),
        stopped_early=any(s.stopped_early for s in sets) or bool(info and info.stopped_early),
    )


def format_table(sessions: Sequence[SessionHistory]) -> str:
    """A plain-text table of `sessions` (newest first, as given), or a message if there are none."""
    if not sessions:
        return EMPTY_MESSAGE
    header = ("Date", "Plan", "Variation", "Sets", "Reps", "Load", "Volume", "Notes")
    rows = [header]
    for s in map(summarize, sessions):
        when = s.started.strftime("%Y-%m-%d %H:%M") if s.started else s.started_text[:16]
        notes = ", ".join(n for n, flag in (("pain", s.pain), ("stopped early", s.stopped_early)) if flag)
        rows.append((
            when, s.plan, s.variation,
            f"{s.sets_done}/{s.sets_planned}" if s.sets_planned else str(s.sets_done),
            f"{s.reps_done}/{s.reps_planned}",
            f"{s.load:g} {s.unit}" if s.load is not None else "unknown" if s.variation != "bodyweight" else "body",
            f"{s.volume:,.0f} {s.unit}" if s.volume is not None else "-",
            notes,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    numeric = {3, 4, 5, 6}  # right-align numbers so they line up by magnitude
    lines = ["  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


CSV_COLUMNS = [f.name for f in fields(SetRecord)]


def write_csv(path_or_stream: str | Path | IO[str], sets: Iterable[SetRecord]) -> int:
    """Write one row per set (columns: the SetRecord fields; commands space-separated).
    Returns the number of rows written, header not counted."""
    if isinstance(path_or_stream, (str, Path)):
        with open(path_or_stream, "w", newline="", encoding="utf-8") as f:
            return write_csv(f, sets)
    writer = csv.writer(path_or_stream)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for rec in sets:
        row = []
        for col in CSV_COLUMNS:
            value = getattr(rec, col)
            if col == "commands":
                value = " ".join(value)
            elif isinstance(value, bool):
                value = int(value)  # 0/1 reads cleanly in spreadsheets
            row.append("" if value is None else value)
        writer.writerow(row)
        n += 1
    return n


def csv_text(sets: Iterable[SetRecord]) -> str:
    """The CSV as a string (for printing to stdout)."""
    buf = io.StringIO()
    write_csv(buf, sets)
    return buf.getvalue()


def plot_history(path: str | Path, sessions: Sequence[SessionHistory]) -> Path:
    """Draw load and volume per session over time into a PNG at `path`; returns the path.

    Raises HistoryReportError (one line to show) when there is nothing to draw.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must happen before pyplot is imported
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    points = sorted((s for s in map(summarize, sessions) if s.started and s.sets_done), key=lambda s: s.started)
    if not points:
        raise HistoryReportError(EMPTY_MESSAGE + " Nothing to plot.")
    units = Counter(s.unit for s in points if s.load is not None)
    unit = units.most_common(1)[0][0] if units else None
    plans = list(dict.fromkeys(s.plan for s in points))
    colors = {p: plt.get_cmap("tab10")(i % 10) for i, p in enumerate(plans)}
    first, last = points[0].started, points[-1].started
    assert first is not None and last is not None
    xs, bar_width = _day_positions([s.started for s in points], mdates.date2num)

    if unit:
        fig, (ax_load, ax_vol) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, height_ratios=[1, 1])
        fig.suptitle("Hip thrust progress: load and volume per session", fontsize=15, fontweight="bold")
        for plan in plans:
            mine = [s for s in points if s.plan == plan and s.load is not None]
            if mine:
                loads = [_convert(s.load, s.unit, unit) for s in mine]
                x = [xs[points.index(s)] for s in mine]
                ax_load.plot(x, loads, marker="o", linewidth=2, color=colors[plan])
                # The latest load, written by its point: the number a person looks for first.
                ax_load.annotate(f"{loads[-1]:g} {unit}", (x[-1], loads[-1]),
                                 xytext=(0, 8), textcoords="offset points", ha="center", fontsize=9,
                                 color=colors[plan], fontweight="bold")
        ax_load.set_ylabel(f"Heaviest load ({unit})")
        ax_load.set_title("Load", loc="left", fontsize=11)
        ax_load.set_ylim(bottom=0)
        vol_ax, values = ax_vol, [_convert(s.volume, s.unit, unit) if s.volume is not None else 0.0 for s in points]
        vol_ax.set_ylabel(f"Volume ({unit} lifted)")
        ax_load.set_ylim(top=max(_convert(s.load, s.unit, unit) for s in points if s.load is not None) * 1.15)
        vol_ax.set_title("Volume = sets x reps x load", loc="left", fontsize=11)
        pain_axes = [ax_load, vol_ax]
    else:
        fig, vol_ax = plt.subplots(figsize=(10, 4.5))
        fig.suptitle("Hip thrust progress: reps per session (no loads recorded)", fontsize=15, fontweight="bold")
        values = [float(s.reps_done) for s in points]
        vol_ax.set_ylabel("Reps done (all sets)")
        pain_axes = [vol_ax]
    vol_ax.bar(xs, values, width=bar_width, color=[colors[s.plan] for s in points],
               label=None)
    vol_ax.set_ylim(bottom=0)

    # Mark sessions with pain so a drop in load reads as deliberate, not as a failure.
    pain = [s for s in points if s.pain]
    if pain:
        for ax in pain_axes:
            for s in pain:
                ax.axvline(xs[points.index(s)], color="crimson", linestyle=":", linewidth=1.8, zorder=3)

    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[p]) for p in plans]
    labels = list(plans)
    if pain:
        handles.append(plt.Line2D([], [], color="crimson", linestyle=":"))
        labels.append("pain reported")
    fig.legend(handles, labels, title="Plan", loc="upper right", bbox_to_anchor=(0.99, 0.93), frameon=False)
    vol_ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    # Day and month on every tick ("05 Jan"); the year too when the history spans New Year.
    vol_ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b" if first.year == last.year else "%d %b %Y"))
    vol_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    # At least a week across, so one or two sessions get day ticks rather than hour ticks.
    lo, hi = xs[0], xs[-1]
    pad = max(bar_width, (hi - lo) * 0.04, (7 - (hi - lo)) / 2)
    vol_ax.set_xlim(lo - pad, hi + pad)
    vol_ax.set_xlabel(f"Session date ({first.year})" if first.year == last.year else "Session date")
    for ax in {*pain_axes, vol_ax}:
        ax.grid(axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _day_positions(times: Sequence[datetime | None], to_num: Callable[[datetime], float]) -> tuple[list[float], float]:
    """x positions (matplotlib date numbers) and bar width (days) for sessions sorted by time.

    Each session sits on its calendar day's tick, so a bar reads as "that day", not as "between
    two days"; a second session on the same day sits just beside the first."""
    days = [datetime(t.year, t.month, t.day) for t in times if t is not None]
    distinct = sorted(set(days))
    gaps = [(b - a).days for a, b in zip(distinct, distinct[1:])]
    per_day = max(Counter(days).values())
    width = min(0.6, 0.7 * min(gaps, default=1)) / per_day
    xs: list[float] = []
    seen: Counter[datetime] = Counter()
    for d in days:
        xs.append(to_num(d) + (seen[d] - (days.count(d) - 1) / 2) * width)
        seen[d] += 1
    return xs, width


def _convert(value: float | None, unit: str | None, to: str | None) -> float:
    if value is None:
        return 0.0
    if unit == to or to is None or unit is None:
        return float(value)
    return value * LB_PER_KG if to == "lb" else value / LB_PER_KG


def _parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Show local wall-clock time as stored; drop the zone so mixed stamps sort and plot together.
    return t.replace(tzinfo=None)
