"""History table, CSV export and plot, from a real database file."""

from __future__ import annotations

import csv
import io
import struct
from pathlib import Path

import pytest

from voicecoach.history_report import (EMPTY_MESSAGE, HistoryReportError, csv_text, format_table, plot_history,
                                       summarize, write_csv)
from voicecoach.records import SetRecord
from voicecoach.storage import HistoryStore


def fill(store: HistoryStore) -> None:
    """Two hypertrophy sessions (kg) and one bodyweight beginner session with pain and an early stop."""
    for sid, day, load in (("a", "2026-03-02", 60.0), ("b", "2026-03-05", 62.5)):
        started = f"{day}T18:00:00"
        store.record_session_start(sid, started, "hypertrophy", sets_planned=4, load=load, unit="kg")
        store.record_set(SetRecord(sid, started, "hypertrophy", "warm-up", "bodyweight", 1, None, 15, 15, "2-1-2",
                                   1.0, None, None, ended_at=60.0))
        for n in (1, 2, 3):
            store.record_set(SetRecord(sid, started, "hypertrophy", "working sets", "barbell", n, None, 10, 10 - (n == 3),
                                       "2-1-3", 1.0, load, "kg", commands=("ready",), ended_at=60.0 + 120 * n))
        store.record_session_end(sid)
    started = "2026-03-07T09:30:00"
    store.record_session_start("c", started, "beginner", sets_planned=4)
    store.record_set(SetRecord("c", started, "beginner", "practice", "bodyweight", 1, None, 10, 6, "2-2-3", 2.0,
                               None, None, commands=("ready", "pain", "stop"), pauses=1, pain=True,
                               stopped_early=True, ended_at=90.0))
    store.record_session_end("c", stopped_early=True, pain=True)


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    s = HistoryStore(tmp_path / "history.sqlite3")
    fill(s)
    return s


def test_summary_counts_volume_from_loaded_sets(store: HistoryStore) -> None:
    b = summarize(store.recent_sessions()[1])
    assert (b.plan, b.variation, b.sets_done, b.sets_planned) == ("hypertrophy", "barbell", 4, 4)
    assert (b.reps_done, b.reps_planned) == (15 + 29, 15 + 30)
    assert b.load == 62.5 and b.unit == "kg"
    assert b.volume == pytest.approx(29 * 62.5)  # the bodyweight warm-up adds no load volume
    assert not b.pain and not b.stopped_early


def test_table(store: HistoryStore) -> None:
    lines = format_table(store.recent_sessions()).splitlines()
    assert lines[0].split() == ["Date", "Plan", "Variation", "Sets", "Reps", "Load", "Volume", "Notes"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["2026-03-07", "09:30", "beginner", "bodyweight", "1/4", "6/10", "body", "-",
                                "pain,", "stopped", "early"]
    assert lines[3].split() == ["2026-03-05", "18:00", "hypertrophy", "barbell", "4/4", "44/45", "62.5", "kg",
                                "1,812", "kg"]
    assert lines[4].split()[:2] == ["2026-03-02", "18:00"] and len(lines) == 5


def test_unknown_load_is_shown_as_unknown(tmp_path: Path) -> None:
    s = HistoryStore(tmp_path / "h.sqlite3")
    s.record_set(SetRecord("x", "2026-03-02T18:00:00", "strength", "working sets", "barbell", 1, None, 5, 5, "1-1-3",
                           1.0, None, None))
    row = format_table(s.recent_sessions()).splitlines()[2].split()
    assert row[-2:] == ["unknown", "-"]


def test_empty_history_says_so(tmp_path: Path) -> None:
    s = HistoryStore(tmp_path / "h.sqlite3")
    assert format_table(s.recent_sessions()) == EMPTY_MESSAGE
    with pytest.raises(HistoryReportError, match="No sessions recorded yet"):
        plot_history(tmp_path / "p.png", s.recent_sessions(limit=None))
    assert not (tmp_path / "p.png").exists()
    assert csv_text(s.all_sets()).splitlines() == [",".join(f for f in csv_text([]).strip().split(","))]


def test_csv_one_row_per_set(store: HistoryStore, tmp_path: Path) -> None:
    out = tmp_path / "sets.csv"
    assert write_csv(out, store.all_sets()) == 9
    rows = list(csv.DictReader(out.open(newline="")))
    assert len(rows) == 9
    assert [r["session_id"] for r in rows] == ["a"] * 4 + ["b"] * 4 + ["c"]
    pain = rows[-1]
    assert pain["commands"] == "ready pain stop" and pain["pain"] == "1" and pain["stopped_early"] == "1"
    assert pain["load"] == "" and pain["unit"] == "" and pain["side"] == ""
    work = rows[1]
    assert (work["block"], work["load"], work["unit"], work["reps_done"], work["tempo"]) == \
        ("working sets", "60.0", "kg", "10", "2-1-3")
    buf = io.StringIO()
    write_csv(buf, store.sets_for_session("c"))
    assert buf.getvalue() == csv_text(store.sets_for_session("c"))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_is_a_real_png(store: HistoryStore, tmp_path: Path) -> None:
    out = plot_history(tmp_path / "history.png", store.recent_sessions(limit=None))
    width, height = png_size(out)
    assert 800 <= width <= 2000 and 400 <= height <= 1500
    assert out.stat().st_size > 20_000  # text, axes and bars, not a blank canvas


def test_plot_without_any_load_draws_reps(tmp_path: Path) -> None:
    s = HistoryStore(tmp_path / "h.sqlite3")
    s.record_set(SetRecord("x", "2026-03-02T18:00:00", "beginner", "practice", "bodyweight", 1, None, 10, 10,
                           "2-2-3", 2.0, None, None))
    width, height = png_size(plot_history(tmp_path / "bw.png", s.recent_sessions(limit=None)))
    assert width > 800 and height > 300


def test_single_leg_set_counts_once(tmp_path: Path) -> None:
    s = HistoryStore(tmp_path / "h.sqlite3")
    for side in ("left", "right"):
        s.record_set(SetRecord("x", "2026-03-02T18:00:00", "single-leg", "single-leg sets", "single-leg", 1, side,
                               8, 8, "2-1-3", 1.0, 10.0, "kg"))
    summary = summarize(s.recent_sessions()[0])
    assert summary.sets_done == 1 and summary.reps_done == 16 and summary.volume == 160
