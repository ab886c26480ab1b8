"""The live terminal view: set, rep, phase with a progress bar, rest left, last command heard.

It redraws one status line from its own thread, reading the engine's snapshot; it never touches
the audio path, so a slow terminal cannot disturb the timing of the counts.
"""

from __future__ import annotations

import shutil
import sys
import threading
from typing import Callable, TextIO

from .engine import Snapshot

BAR_WIDTH = 12


def render_line(s: Snapshot) -> str:
    """One line describing the snapshot, e.g. `Set 2/3  rep 4/10  down [#####-------]  tempo 2-1-3`."""
    parts = []
    if s.stage == "setup":
        parts.append("Setup")
    elif s.sets:
        side = f" {s.side}" if s.side else ""
        parts.append(f"Set {s.set_number}/{s.sets}{side}")
    if s.stage == "reps" and s.rep:
        filled = int(round(s.progress * BAR_WIDTH))
        parts.append(f"rep {s.rep}/{s.reps}  {s.phase:<6} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}]")
    elif s.stage == "rest":
        parts.append(f"rest {int(s.rest_left) // 60}:{int(s.rest_left) % 60:02d} left")
    elif s.stage not in ("setup",):
        parts.append(s.stage)
    if s.tempo and s.stage != "setup":
        parts.append(f"tempo {s.tempo}")
    if s.last_command:
        parts.append(f"heard: {s.last_command}")
    return "  ".join(parts)


class LiveView:
    """Redraws the status line a few times a second until stopped."""

    def __init__(self, snapshot: Callable[[], Snapshot], stream: TextIO = sys.stderr, interval: float = 0.2):
        self._snapshot, self._stream, self._interval = snapshot, stream, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-view", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join(timeout=1.0)
        self._stream.write("\n")
        self._stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self._stream.write("\r" + render_line(self._snapshot())[:width].ljust(width))
            self._stream.flush()
