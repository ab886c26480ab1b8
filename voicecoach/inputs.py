"""Where commands come from besides the voice: a script of timed commands, an autopilot for
simulations, and the keyboard (single keys, no Enter)."""

from __future__ import annotations

import os
import queue
import select
import sys
import threading
from typing import Callable, Protocol

from .commands import Command, CommandEvent

KEYS: dict[str, Command] = {
    " ": Command.READY, "\r": Command.READY, "\n": Command.READY, "d": Command.DONE,
    "p": Command.PAUSE, "c": Command.RESUME, "q": Command.STOP, "a": Command.REPEAT,
    "n": Command.SKIP, "-": Command.SLOWER, "+": Command.FASTER, "=": Command.FASTER,
    "h": Command.HELP, "?": Command.HELP, "s": Command.STATUS, "!": Command.PAIN, "x": Command.PAIN,
}


def key_help() -> str:
    """One line listing the keys, for the terminal."""
    names = {" ": "space"}
    by_command: dict[Command, list[str]] = {}
    for key, cmd in KEYS.items():
        if key not in "\r\n":
            by_command.setdefault(cmd, []).append(names.get(key, key))
    return "  ".join(f"[{'/'.join(keys)}] {cmd.value}" for cmd, keys in by_command.items())


class CommandSource(Protocol):
    def next_at(self, now: float) -> float | None:
        """The next time this source needs the runner's attention (None: whenever)."""
        ...

    def poll(self, now: float) -> list[CommandEvent]:
        """Commands committed up to `now`, oldest first."""
        ...


def parse_script(text: str) -> list[tuple[float, Command]]:
    """Parse "6.0:ready,40:pause,52:resume" into sorted (time, command) pairs."""
    items = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        t, sep, name = part.partition(":")
        try:
            if not sep:
                raise ValueError("expected TIME:COMMAND")
            at = float(t)
            if at < 0:
                raise ValueError("time must not be negative")
            items.append((at, Command.parse(name)))
        except ValueError as exc:
            raise ValueError(f"{part!r}: {exc}") from None
    return sorted(items, key=lambda x: x[0])


class ScriptedCommands:
    """Commands at given session times (`--commands`)."""

    def __init__(self, script: list[tuple[float, Command]]):
        self._pending = list(script)

    def next_at(self, now: float) -> float | None:
        return self._pending[0][0] if self._pending else None

    def poll(self, now: float) -> list[CommandEvent]:
        due = [(t, c) for t, c in self._pending if t <= now + 1e-9]
        self._pending = self._pending[len(due):]
        return [CommandEvent(c, at=t, source="script", text=c.value) for t, c in due]


class AutoReady:
    """Answers "ready" a moment after the coach starts waiting for it: a hands-off simulation."""

    delay = 1.0

    def __init__(self, waiting_since: Callable[[], float | None]):
        self._waiting_since = waiting_since

    def next_at(self, now: float) -> float | None:
        since = self._waiting_since()
        return None if since is None else max(now, since + self.delay)

    def poll(self, now: float) -> list[CommandEvent]:
        at = self.next_at(now)
        if at is None or at > now + 1e-9:
            return []
        return [CommandEvent(Command.READY, at=now, source="script", text="auto")]


class QueuedCommands:
    """Commands pushed from other threads (keyboard, microphone), stamped on arrival."""

    def __init__(self, now: Callable[[], float], wake: Callable[[], None]):
        self._now, self._wake = now, wake
        self._queue: queue.SimpleQueue[CommandEvent] = queue.SimpleQueue()

    def push(self, command: Command, source: str, text: str = "", confidence: float = 1.0) -> None:
        self._queue.put(CommandEvent(command, at=self._now(), source=source, text=text, confidence=confidence))
        self._wake()

    def next_at(self, now: float) -> float | None:
        return None

    def poll(self, now: float) -> list[CommandEvent]:
        events = []
        while True:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                return events


class KeyboardReader:
    """Reads single keys from the terminal in cbreak mode and pushes their commands."""

    def __init__(self, sink: QueuedCommands):
        if not sys.stdin.isatty():
            raise OSError("the keyboard needs a terminal (stdin is not a TTY); use voice commands or `voicecoach simulate`")
        self._sink = sink
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keyboard", daemon=True)
        self._saved = None

    def start(self) -> None:
        import termios
        import tty

        fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def _run(self) -> None:
        fd = sys.stdin.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            key = os.read(fd, 1).decode(errors="ignore").lower()
            command = KEYS.get(key)
            if command is not None:
                self._sink.push(command, "keyboard", text=repr(key))
