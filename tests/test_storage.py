"""History storage on a real SQLite file: durability, locks, damage, fallback merging."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from voicecoach.records import SetRecord
from voicecoach.storage import HistoryStore, default_history_path


def make_set(n: int, session: str = "s1", **kw) -> SetRecord:
    base = dict(session_id=session, started_at="2026-03-02T18:00:00", plan="hypertrophy", block="working sets",
                variation="barbell", set_number=n, side=None, reps_planned=10, reps_done=10, tempo="2-1-3",
                hold=1.0, load=60.0, unit="kg", commands=("ready", "pause", "resume"), pauses=1,
                pain=False, stopped_early=False, ended_at=60.0 * n)
    base.update(kw)
    return SetRecord(**base)


def test_round_trip_and_queries(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        assert store.warning is None
        assert store.record_session_start("s1", "2026-03-02T18:00:00", "hypertrophy", sets_planned=3, load=60, unit="kg") is None
        for n in (1, 2):
            assert store.record_set(make_set(n)) is None
        store.record_set(make_set(1, side="left", block="single", variation="single-leg", load=None, unit=None))
        store.record_session_end("s1", stopped_early=True, pain=False, ended_at=300.0)
        store.record_set(make_set(1, session="s0", started_at="2026-02-27T18:00:00"))
        store.record_set(make_set(1, session="s9", plan="strength", started_at="2026-03-01T18:00:00"))

    store = HistoryStore(tmp_path / "h.sqlite3")
    sets = store.sets_for_session("s1")
    assert [s.set_number for s in sets] == [1, 1, 2]
    assert sets[0] == make_set(1)  # everything round-trips, commands tuple and None side included
    assert sets[1].side == "left" and sets[1].load is None
    recent = store.recent_sessions(limit=10)
    assert [s.session_id for s in recent] == ["s1", "s9", "s0"]
    assert recent[0].info is not None and recent[0].info.stopped_early and recent[0].info.sets_planned == 3
    assert [s.session_id for s in store.recent_sessions(limit=1)] == ["s1"]
    last = store.last_session_for_plan("hypertrophy", exclude="s1")
    assert last is not None and last.session_id == "s0"
    assert store.last_session_for_plan("banded") is None
    assert len(store.all_sets()) == 5


def test_rerecorded_set_replaces_not_duplicates(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    store.record_set(make_set(1, reps_done=7))
    store.record_set(make_set(1, reps_done=9))
    assert [s.reps_done for s in store.sets_for_session("s1")] == [9]


WRITER = textwrap.dedent("""
    import sys, time
    from voicecoach.records import SetRecord
    from voicecoach.storage import HistoryStore
    store = HistoryStore(__import__("pathlib").Path(sys.argv[1]))
    n = 0
    while True:
        n += 1
        store.record_set(SetRecord("killed", "2026-03-02T18:00:00", "strength", "working sets", "barbell",
                                   n, None, 5, 5, "1-1-3", 1.0, 100.0, "kg", ended_at=float(n)))
        print(n, flush=True)   # reported only after record_set returned
""")


def test_sets_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    reported = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        reported = int(line)
        if reported >= 25:
            break
    proc.send_signal(signal.SIGKILL)  # mid-way: the writer is inside its next record_set
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    store = HistoryStore(db)
    assert store.warning is None
    numbers = [s.set_number for s in store.sets_for_session("killed")]
    assert numbers[:reported] == list(range(1, reported + 1))
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_locked_database_falls_back_then_merges_once(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    HistoryStore(db).record_set(make_set(1))
    store = HistoryStore(db, timeout=0.1)  # opened fine; the lock comes mid-session

    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    warning = store.record_set(make_set(2))
    assert warning is not None and "in use by another program" in warning
    assert store.warning == warning
    assert store.record_set(make_set(3)) is None  # the same warning is handed back only once
    fallback = db.with_name(db.name + ".fallback.jsonl")
    lines = fallback.read_text().splitlines()
    assert [json.loads(l)["set_number"] for l in lines] == [2, 3]
    locker.execute("ROLLBACK")
    locker.close()

    reopened = HistoryStore(db)
    assert reopened.warning is None
    assert [s.set_number for s in reopened.sets_for_session("s1")] == [1, 2, 3]
    assert not fallback.exists()


def test_interrupted_merge_adds_no_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    HistoryStore(db).close()
    entries = [json.dumps({"kind": "set", **make_set(n).__dict__}) for n in (1, 2)]
    fallback = db.with_name(db.name + ".fallback.jsonl")
    fallback.write_text("\n".join(entries) + "\n")
    HistoryStore(db).close()
    # As if the merge committed but died before deleting its file: the same lines come back.
    db.with_name(fallback.name + ".merging").write_text("\n".join(entries) + "\n{\"kind\": \"se")
    fallback.write_text(entries[1] + "\n" + json.dumps({"kind": "set", **make_set(3).__dict__}) + "\n")
    store = HistoryStore(db)
    assert [s.set_number for s in store.sets_for_session("s1")] == [1, 2, 3]
    assert not fallback.exists() and not db.with_name(fallback.name + ".merging").exists()


def test_lock_released_mid_session_merges_on_next_write(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    store = HistoryStore(db, timeout=0.1)
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    assert store.record_set(make_set(1)) is not None
    locker.execute("ROLLBACK")
    assert store.record_set(make_set(2)) is None
    assert store.warning is None
    assert [s.set_number for s in store.sets_for_session("s1")] == [1, 2]


def test_corrupt_database_falls_back_with_clear_warning(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    garbage = bytes(range(256)) * 20
    db.write_bytes(garbage)
    store = HistoryStore(db)
    assert store.warning is not None and "damaged" in store.warning and str(db) in store.warning
    warning = store.record_set(make_set(1))
    assert warning == store.warning
    assert store.recent_sessions() == []  # reads say nothing rather than raise
    assert db.read_bytes() == garbage  # the damaged file is left for the person to inspect
    fallback = db.with_name(db.name + ".fallback.jsonl")
    assert json.loads(fallback.read_text())["set_number"] == 1

    db.rename(tmp_path / "damaged.sqlite3")  # what the warning tells the person to do
    fresh = HistoryStore(db)
    assert fresh.warning is None
    assert [s.set_number for s in fresh.sets_for_session("s1")] == [1]


def test_unwritable_location_keeps_session_running(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    store = HistoryStore(blocker / "h.sqlite3")
    warning = store.record_set(make_set(1))
    assert warning is not None and "cannot be saved" in warning
    assert store.sets_for_session("s1") == []


def test_default_path_is_in_user_data_dir() -> None:
    path = default_history_path()
    assert path.name == "history.sqlite3" and "voicecoach" in str(path)


def test_writes_from_another_thread(tmp_path: Path) -> None:
    import threading

    store = HistoryStore(tmp_path / "h.sqlite3")
    results: list[str | None] = []
    worker = threading.Thread(target=lambda: results.append(store.record_set(make_set(1))))
    worker.start()
    worker.join()
    assert results == [None] and len(store.sets_for_session("s1")) == 1
