"""The commands a lifter can give, from any source (voice, keyboard, script)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Command(str, Enum):
    READY = "ready"
    DONE = "done"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    REPEAT = "repeat"
    SKIP = "skip"
    SLOWER = "slower"
    FASTER = "faster"
    HELP = "help"
    STATUS = "status"
    PAIN = "pain"

    @classmethod
    def parse(cls, name: str) -> "Command":
        """The command called `name` (case-insensitive); ValueError naming the choices otherwise."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            choices = ", ".join(c.value for c in cls)
            raise ValueError(f"unknown command {name!r} (choose from {choices})") from None


@dataclass(frozen=True)
class CommandEvent:
    """A command as the session engine receives it."""

    command: Command
    at: float
    """Session time at which the command was committed (seconds since session start)."""
    source: str = "script"
    """Where it came from: "voice", "keyboard" or "script"."""
    text: str = ""
    """What was heard or pressed."""
    confidence: float = 1.0
