"""Sessions and history together: progression spoken at the start, sets that survive a kill,
the history command, and the beginner practice driven by commands in simulated time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta

from voicecoach.app import simulate, with_progression
from voicecoach.commands import Command
from voicecoach.lessons import practice_lesson
from voicecoach.plans import load_plan
from voicecoach.program import Load, plan_from_options
from voicecoach.plans import apply_load
from voicecoach.session_log import read_log
from voicecoach.storage import HistoryStore
from process_helpers import VOICECOACH



def test_second_session_of_a_plan_opens_with_last_time_and_target(tmp_path, content, speech_cache_dir):
    store = HistoryStore(tmp_path / "history.sqlite3")
    plan = plan_from_options(content.goals["strength"], "barbell", reps=6, load=Load(60, "kg"))
    simulate(content, with_progression(content, plan, store), tmp_path / "a.wav", history=store,
             cache_dir=speech_cache_dir, progress=False)
    assert len(store.recent_sessions()) == 1
    log = tmp_path / "b.jsonl"
    two_hours_later = datetime.fromisoformat(store.recent_sessions()[0].started_at) + timedelta(hours=2)
    simulate(content, with_progression(content, plan, store, two_hours_later), tmp_path / "b.wav", history=store, log_path=log,
             cache_dir=speech_cache_dir, progress=False)
    said = [e["text"] for e in read_log(log) if e["event"] == "cue"]
    assert said[1].startswith("Last time:") and "60 kg" in said[1]
    assert "62.5 kg" in said[2]  # every set reached the top of the range: add load
    assert any("a week" in s for s in said[:4])  # less than 24 h since last time, said once
    assert len(store.recent_sessions()) == 2


def test_pain_last_time_means_no_increase(tmp_path, content, speech_cache_dir):
    store = HistoryStore(tmp_path / "history.sqlite3")
    plan = plan_from_options(content.goals["strength"], "barbell", reps=6, load=Load(60, "kg"))
    simulate(content, with_progression(content, plan, store), tmp_path / "a.wav", history=store,
             script=[(0.5, Command.SKIP), (120, Command.PAIN)], cache_dir=speech_cache_dir, progress=False)
    last = store.recent_sessions()[0]
    assert last.info.pain  # said during the rest after set 1: the session carries it
    lesson = with_progression(content, plan, store)
    advice = " ".join(lesson.intro)
    assert "62.5" not in advice and "lighter" in advice.lower() and "52.5 kg" in advice
    assert "physiotherapist or doctor" in advice


def test_sets_survive_a_killed_session(tmp_path):
    db, log = tmp_path / "history.sqlite3", tmp_path / "timeline.jsonl"
    proc = subprocess.Popen(VOICECOACH + ["simulate", "--out", str(tmp_path / "x.wav"), "--log", str(log),
                                          "--history-db", str(db), "--no-setup", "--sets", "20", "--reps", "60",
                                          "--rest", "5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ended = log.read_text().count("set end") if log.exists() else 0
        if ended >= 2:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    ended = [json.loads(line) for line in log.read_text().splitlines() if "set end" in line]
    sets = HistoryStore(db).all_sets()
    assert len(sets) >= len(ended) >= 2
    assert all(s.reps_done == 60 for s in sets[:len(ended)])


def test_history_command_table_csv_and_plot(tmp_path, content, speech_cache_dir):
    db = tmp_path / "history.sqlite3"
    store = HistoryStore(db)
    for load in (60, 62.5):
        plan = apply_load(load_plan("hypertrophy"), Load(load, "kg"))
        simulate(content, plan, tmp_path / "x.wav", history=store, cache_dir=speech_cache_dir, progress=False)
    store.close()
    table = subprocess.run(VOICECOACH + ["history", "--history-db", str(db)], capture_output=True, text=True)
    assert table.returncode == 0 and "hypertrophy" in table.stdout and "62.5" in table.stdout
    csv = subprocess.run(VOICECOACH + ["history", "--history-db", str(db), "--csv", "-"], capture_output=True, text=True)
    rows = csv.stdout.strip().splitlines()
    assert len(rows) == 1 + len(HistoryStore(db).all_sets())
    png = tmp_path / "history.png"
    plot = subprocess.run(VOICECOACH + ["history", "--history-db", str(db), "--plot", str(png)], capture_output=True, text=True)
    assert plot.returncode == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_practice_explains_tries_and_ends_with_next_time(tmp_path, content, speech_cache_dir):
    lesson = practice_lesson(content)
    log = tmp_path / "practice.jsonl"
    # Ready after each step, a "repeat" at the second step and "help" at the third.
    script = [(40, Command.READY), (60, Command.REPEAT), (100, Command.READY), (130, Command.HELP)]
    script += [(160 + 30 * i, Command.READY) for i in range(len(lesson.checkpoints) - 2)]
    result = simulate(content, lesson, tmp_path / "p.wav", script=script, log_path=log,
                      cache_dir=speech_cache_dir, progress=False)
    events = read_log(log)
    said = [e["text"] for e in events if e["event"] == "cue"]
    for step in content.execution:
        assert f"{step.say} {content.practice.try_it}" in said
    bench = next(c for c in lesson.checkpoints if c.startswith("Bench position"))
    assert said.count(bench) == 2
    assert content.phrase("help") in said
    counts = [e["text"] for e in events if e["event"] == "count"]
    assert counts.count("knees out") == 3 and counts.count("chin tucked") == 3
    assert said[-3] == content.practice.next_time
    assert result.records[0].reps_done == 3 and result.records[0].variation == "bodyweight"
    # The coach waited: the first rep starts only after the last checkpoint's "ready".
    first_up = next(e["t"] for e in events if e["text"] == "up")
    assert first_up > 160 + 30 * (len(lesson.checkpoints) - 3)
