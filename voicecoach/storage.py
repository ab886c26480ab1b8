"""Training history: every completed set, in SQLite, written the moment the set ends.

Durability: each write is its own committed transaction with `synchronous=FULL` and the default
rollback journal, so once `record_set` returns the set survives a killed process or a power
cut. (A rollback journal rather than WAL: one file to back up or move, it works on network
drives, and one write a minute needs no WAL speed.)

Never in the way of a session: if the database is locked, damaged or unwritable, the record is
appended as one JSON line to `<db>.fallback.jsonl` next to it (fsynced), a one-line warning is
kept for the caller to show, and the fallback is merged into the database the next time it
opens (or accepts a write). Sets are keyed by (session_id, block, set_number, side), so an
interrupted merge that runs again adds no duplicates.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import platformdirs

from voicecoach.records import SetRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS sets (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL, started_at TEXT NOT NULL, plan TEXT NOT NULL,
    block TEXT NOT NULL, variation TEXT NOT NULL, set_number INTEGER NOT NULL,
    side TEXT NOT NULL DEFAULT '',          -- '' not NULL: NULLs never collide in UNIQUE
    reps_planned INTEGER NOT NULL, reps_done INTEGER NOT NULL, tempo TEXT NOT NULL,
    hold REAL NOT NULL, load REAL, unit TEXT, commands TEXT NOT NULL DEFAULT '[]',
    pauses INTEGER NOT NULL DEFAULT 0, pain INTEGER NOT NULL DEFAULT 0,
    stopped_early INTEGER NOT NULL DEFAULT 0, ended_at REAL NOT NULL DEFAULT 0,
    UNIQUE (session_id, block, set_number, side)
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, plan TEXT NOT NULL,
    sets_planned INTEGER, load REAL, unit TEXT,
    ended INTEGER NOT NULL DEFAULT 0, stopped_early INTEGER NOT NULL DEFAULT 0,
    pain INTEGER NOT NULL DEFAULT 0, ended_at REAL
);
CREATE INDEX IF NOT EXISTS sets_by_session ON sets (session_id);
"""
SET_COLUMNS = [f.name for f in fields(SetRecord)]


def default_history_path() -> Path:
    """<user data dir>/voicecoach/history.sqlite3 (platformdirs decides the folder per OS)."""
    return platformdirs.user_data_path("voicecoach") / "history.sqlite3"


@dataclass(frozen=True)
class SessionInfo:
    """What was known about a session when it started and ended (from record_session_start/end)."""

    session_id: str
    started_at: str
    plan: str
    sets_planned: int | None = None
    load: float | None = None
    unit: str | None = None
    ended: bool = False
    stopped_early: bool = False
    pain: bool = False
    ended_at: float | None = None
    """Session time at the end (seconds since start)."""


@dataclass(frozen=True)
class SessionHistory:
    """One past session: its start/end info (if recorded) and its sets in the order done."""

    session_id: str
    started_at: str
    """Wall-clock start, ISO 8601, as the runner supplied it."""
    plan: str
    sets: tuple[SetRecord, ...]
    info: SessionInfo | None = None


class HistoryStore:
    """The history database. Methods never raise on database trouble; see `warning`."""

    def __init__(self, path: Path | None = None, timeout: float = 2.0) -> None:
        """Open (creating if needed) the database at `path`; `timeout` is how long to wait
        for a lock held by another process (seconds) before falling back."""
        self.path = Path(path) if path is not None else default_history_path()
        self.fallback_path = self.path.with_name(self.path.name + ".fallback.jsonl")
        self.timeout = timeout
        self.warning: str | None = None
        """The current problem as one line to show, or None when history is being saved normally."""
        self._conn: sqlite3.Connection | None = None
        self._unsaved: list[dict[str, Any]] = []  # kept in memory when even the fallback fails
        self._announced: str | None = None  # the last warning handed back by a write
        self._lock = threading.RLock()
        with self._lock:
            self._open()

    # -- opening and merging -----------------------------------------------------------------

    def _open(self) -> bool:
        """Connect, create tables and merge any fallback; on failure set `warning` and return False."""
        if self._conn is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Any thread may write (the runner's callback thread, say); self._lock keeps them in turn.
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            self._fail(exc)
            return False
        try:
            conn.execute("PRAGMA synchronous=FULL")  # fsync on every commit: power-cut safe
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            conn.close()
            self._fail(exc)
            return False
        self._conn = conn
        self._merge_fallback()
        return self._conn is not None

    def _fail(self, exc: BaseException) -> None:
        """Remember why the database failed as a one-line warning, and drop the connection
        (the next write reopens it: a lock may have been released, the file replaced)."""
        text = str(exc)
        if "locked" in text or "busy" in text:
            why = "is in use by another program"
        elif "not a database" in text or "malformed" in text or "corrupt" in text:
            why = f"is damaged ({text}); move it away to start a fresh history"
        else:
            why = f"cannot be written ({text})"
        self.warning = f"History database {self.path} {why}. Sets are saved to {self.fallback_path} and merged later."
        self.close()

    def _merge_fallback(self) -> None:
        """Move fallback records into the database, then delete the fallback file."""
        merging = self.fallback_path.with_name(self.fallback_path.name + ".merging")
        try:
            # Twice: first a `.merging` file left by an interrupted merge, then the current fallback.
            for _ in range(2):
                if not merging.exists():
                    if not self.fallback_path.exists():
                        break
                    # Rename first: a session still appending starts a new fallback file, not this one.
                    os.replace(self.fallback_path, merging)
                entries = []
                for line in merging.read_text(encoding="utf-8").splitlines():
                    try:
                        entries.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue  # a line torn by a crash mid-append: that set never finished saving
                with self._transaction() as conn:
                    for entry in entries:
                        try:
                            _apply(conn, entry, merge=True)
                        except sqlite3.IntegrityError:
                            continue  # a malformed entry must not keep every other set out forever
                merging.unlink()  # if we die before this, the rerun's INSERT OR IGNORE adds nothing twice
            if self._unsaved:
                with self._transaction() as conn:
                    for entry in self._unsaved:
                        _apply(conn, entry, merge=True)
                self._unsaved.clear()
            if not self.fallback_path.exists():
                self.warning = self._announced = None
        except (OSError, sqlite3.Error, ValueError, TypeError, KeyError) as exc:
            self._fail(exc)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK if the body raises."""
        assert self._conn is not None
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")  # take the write lock up front: fail fast, not mid-write
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- writing -----------------------------------------------------------------------------

    def _write(self, entry: dict[str, Any]) -> str | None:
        """Commit `entry` or divert it to the fallback; return a warning the first time things go wrong."""
        with self._lock:
            return self._write_locked(entry)

    def _write_locked(self, entry: dict[str, Any]) -> str | None:
        if self._open():
            try:
                with self._transaction() as conn:
                    _apply(conn, entry)
                if self.fallback_path.exists() or self._unsaved:
                    self._merge_fallback()  # the database is back: bring diverted sets home now
                return None
            except sqlite3.Error as exc:
                self._fail(exc)
        self._append_fallback(entry)
        if self.warning == self._announced:
            return None
        self._announced = self.warning
        return self.warning

    def _append_fallback(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        try:
            self.fallback_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.fallback_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))  # one write call: appends are not interleaved
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self._unsaved.append(entry)
            self.warning = f"History cannot be saved ({exc}); this session's sets are kept only until it ends."

    def record_set(self, rec: SetRecord) -> str | None:
        """Save one completed set (committed before returning). Never raises.

        Returns None when saved to the database. When the set went to the fallback file instead,
        returns the one-line warning to show, once: the same warning is not returned twice."""
        return self._write({"kind": "set", **asdict(rec)})

    def record_session_start(self, session_id: str, started_at: str, plan: str, sets_planned: int | None = None,
                             load: float | None = None, unit: str | None = None) -> str | None:
        """Note a session's start: plan name, number of sets planned, load given (None = unknown)."""
        return self._write({"kind": "session_start", "session_id": session_id, "started_at": started_at,
                            "plan": plan, "sets_planned": sets_planned, "load": load, "unit": unit})

    def record_session_end(self, session_id: str, stopped_early: bool = False, pain: bool = False,
                           ended_at: float | None = None) -> str | None:
        """Note a session's end; `ended_at` is session time in seconds."""
        return self._write({"kind": "session_end", "session_id": session_id, "stopped_early": bool(stopped_early),
                            "pain": bool(pain), "ended_at": ended_at})

    # -- reading (empty results when the database is unavailable; `warning` says why) ------

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._query_locked(sql, args)

    def _query_locked(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        if not self._open():
            return []
        assert self._conn is not None
        try:
            self._conn.row_factory = sqlite3.Row
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            self._fail(exc)
            return []

    def sets_for_session(self, session_id: str) -> list[SetRecord]:
        """Every set of one session, in the order they ended."""
        rows = self._query("SELECT * FROM sets WHERE session_id = ? ORDER BY ended_at, id", (session_id,))
        return [_set_from_row(r) for r in rows]

    def recent_sessions(self, limit: int | None = 10, plan: str | None = None) -> list[SessionHistory]:
        """The latest `limit` sessions (all when None), newest first, optionally for one plan."""
        where = "WHERE plan = ?" if plan else ""
        rows = self._query(
            f"SELECT session_id, MIN(started_at) AS started_at, MIN(plan) AS plan FROM ("
            f"SELECT session_id, started_at, plan FROM sets UNION ALL "
            f"SELECT session_id, started_at, plan FROM sessions) {where} "
            f"GROUP BY session_id ORDER BY started_at DESC, session_id DESC LIMIT ?",
            ((plan,) if plan else ()) + (-1 if limit is None else limit,))
        return [self._session(r["session_id"], r["started_at"], r["plan"]) for r in rows]

    def last_session_for_plan(self, plan: str, exclude: str | None = None) -> SessionHistory | None:
        """The most recent session of `plan` with at least one set done (skipping session `exclude`,
        e.g. the one just started), or None if there is none."""
        for s in self.recent_sessions(limit=None, plan=plan):
            if s.session_id != exclude and s.sets:
                return s
        return None

    def all_sets(self) -> list[SetRecord]:
        """Every set ever recorded, oldest session first (for CSV export)."""
        rows = self._query("SELECT * FROM sets ORDER BY started_at, session_id, ended_at, id")
        return [_set_from_row(r) for r in rows]

    def _session(self, session_id: str, started_at: str, plan: str) -> SessionHistory:
        info_rows = self._query("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        info = None
        if info_rows:
            r = dict(info_rows[0])
            info = SessionInfo(**{**r, "ended": bool(r["ended"]), "stopped_early": bool(r["stopped_early"]),
                                  "pain": bool(r["pain"])})
        return SessionHistory(session_id, started_at, plan, tuple(self.sets_for_session(session_id)), info)

    def close(self) -> None:
        """Close the connection (everything is already committed)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def __enter__(self) -> "HistoryStore":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def _set_from_row(row: sqlite3.Row) -> SetRecord:
    d = {c: row[c] for c in SET_COLUMNS}
    d["side"] = d["side"] or None
    d["commands"] = tuple(json.loads(d["commands"] or "[]"))
    for flag in ("pain", "stopped_early"):
        d[flag] = bool(d[flag])
    return SetRecord(**d)


def _apply(conn: sqlite3.Connection, entry: dict[str, Any], merge: bool = False) -> None:
    """Write one fallback-style entry ({"kind": "set"|"session_start"|"session_end", ...})."""
    kind = entry.get("kind")
    row = {k: v for k, v in entry.items() if k != "kind"}
    if kind == "set":
        row["side"] = row.get("side") or ""
        row["commands"] = json.dumps(list(row.get("commands") or []))
        cols = ", ".join(SET_COLUMNS)
        # A re-recorded set replaces the old row; a merge never overwrites what is already there.
        verb = "INSERT OR IGNORE" if merge else "INSERT OR REPLACE"
        conn.execute(f"{verb} INTO sets ({cols}) VALUES ({', '.join(':' + c for c in SET_COLUMNS)})",
                     {c: row.get(c) for c in SET_COLUMNS})
    elif kind == "session_start":
        conn.execute(
            "INSERT OR IGNORE INTO sessions (session_id, started_at, plan, sets_planned, load, unit) "
            "VALUES (:session_id, :started_at, :plan, :sets_planned, :load, :unit)", row)
    elif kind == "session_end":
        conn.execute(
            "UPDATE sessions SET ended = 1, stopped_early = :stopped_early, pain = :pain, ended_at = :ended_at "
            "WHERE session_id = :session_id", row)
