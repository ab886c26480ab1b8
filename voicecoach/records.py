"""What a session leaves behind: one record per completed set, and the session summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SetRecord:
    """One set as it ended (written to history the moment it ends)."""

    session_id: str
    started_at: str
    """Wall-clock start of the session, ISO 8601 (the runner supplies it; the engine reads no clock)."""
    plan: str
    block: str
    variation: str
    set_number: int
    """1-based within the block."""
    side: str | None
    """"left"/"right" for single-leg sets, else None."""
    reps_planned: int
    reps_done: int
    tempo: str
    hold: float
    load: float | None
    unit: str | None
    commands: tuple[str, ...] = field(default=())
    """Commands used during the set, in order."""
    pauses: int = 0
    pain: bool = False
    stopped_early: bool = False
    ended_at: float = 0.0
    """Session time at which the set ended (seconds)."""
