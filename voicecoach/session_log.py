"""SessionLog: the timeline of a session as JSON lines, written as it happens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from .engine import TimelineEvent


class SessionLog:
    """One JSON object per line: {"t": seconds, "event": ..., "text": ...}.

    Each line is flushed as it is written, so a crash or Ctrl-C keeps everything logged so far.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            raise OSError(f"cannot write the session log {self.path}: {exc.strerror}") from None

    def write(self, event: TimelineEvent) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps({"t": event.t, "event": event.event, "text": event.text}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_log(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
