"""What a session consists of: tempo, load, blocks of sets, and the plan that holds them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tempo:
    """Seconds per phase of one rep."""

    up: float
    """Concentric: driving the hips up (seconds)."""
    hold: float
    """Squeeze at the top (seconds)."""
    down: float
    """Eccentric: controlled lowering (seconds)."""
    bottom: float = 0.0
    """Pause at the bottom before the next rep (seconds)."""

    @classmethod
    def parse(cls, text: str) -> "Tempo":
        """Parse "UP-HOLD-DOWN[-BOTTOM]" in seconds, e.g. "2-1-3" or "2-3-4-1"."""
        parts = text.strip().split("-")
        if len(parts) not in (3, 4):
            raise ValueError(f"tempo {text!r} must be UP-HOLD-DOWN or UP-HOLD-DOWN-BOTTOM in seconds, e.g. 2-1-3")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"tempo {text!r} must be numbers in seconds, e.g. 2-1-3") from None
        if any(v < 0 or v > 30 for v in values):
            raise ValueError(f"tempo {text!r}: each phase must be between 0 and 30 seconds")
        if values[0] < 0.5 or values[2] < 0.5:
            raise ValueError(f"tempo {text!r}: the way up and the way down need at least 0.5 s each")
        return cls(*values)

    def with_hold(self, hold: float) -> "Tempo":
        return Tempo(self.up, hold, self.down, self.bottom)

    def with_down(self, down: float) -> "Tempo":
        return Tempo(self.up, self.hold, down, self.bottom)

    @property
    def rep_seconds(self) -> float:
        return self.up + self.hold + self.down + self.bottom

    def __str__(self) -> str:
        values = [self.up, self.hold, self.down] + ([self.bottom] if self.bottom else [])
        return "-".join(f"{v:g}" for v in values)


@dataclass(frozen=True)
class Load:
    """External load on the hips."""

    value: float
    unit: str
    """"kg" or "lb"."""

    @classmethod
    def parse(cls, text: str) -> "Load":
        """Parse "60kg", "135 lb", "62.5kg"."""
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(kg|kgs|lb|lbs)\s*", text.lower())
        if not m:
            raise ValueError(f"load {text!r} must be a number with kg or lb, e.g. 60kg or 135lb")
        unit = "kg" if m.group(2).startswith("kg") else "lb"
        return cls(float(m.group(1)), unit)

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


@dataclass(frozen=True)
class Block:
    """A run of identical sets: a warm-up, the working sets, a finisher."""

    name: str
    variation: str
    """Variation id from the content file (barbell, dumbbell, bodyweight, single-leg, banded)."""
    sets: int
    reps: int
    """Target reps per set (per side for single-leg)."""
    tempo: Tempo
    rest: float
    """Rest after each set (seconds)."""
    rep_range: tuple[int, int] | None = None
    """The rep range this block trains in, for progression (e.g. (8, 15))."""
    load: Load | None = None
    form_checks: tuple[tuple[str, str], ...] = ()
    """(phase, text) cues said within a rep instead of counts, e.g. ("hold", "knees out")."""


@dataclass(frozen=True)
class Plan:
    """A whole session."""

    name: str
    """Short id, e.g. "hypertrophy" or a plan file's stem."""
    title: str
    blocks: tuple[Block, ...]
    goal: str | None = None
    description: str = ""
    setup: bool = True
    """Whether to walk through the setup steps first."""
    tags: tuple[str, ...] = field(default=())

    @property
    def total_sets(self) -> int:
        return sum(b.sets for b in self.blocks)


def plan_from_options(goal, variation: str, *, sets: int | None = None, reps: int | None = None,
                      tempo: Tempo | None = None, hold: float | None = None, rest: float | None = None,
                      load: Load | None = None, setup: bool = True) -> Plan:
    """A one-block plan from the command line: the goal's defaults, overridden by what was given.

    `goal` is a content Goal (rep range, sets, reps, rest, tempo from the guide).
    """
    tempo = tempo or goal.tempo
    if hold is not None:
        tempo = tempo.with_hold(hold)
    block = Block(name="Working sets", variation=variation, sets=sets or goal.sets, reps=reps or goal.reps,
                  tempo=tempo, rest=goal.rest if rest is None else rest, rep_range=goal.rep_range, load=load)
    # Named apart from the shipped plans, so history and progression don't mix them up.
    return Plan(name=f"{goal.id}-{variation}", title=f"{goal.name} hip thrust", blocks=(block,), goal=goal.id,
                setup=setup)
