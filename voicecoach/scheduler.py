"""TempoScheduler: where every spoken count of a rep falls, computed from the rep's start time.

All times are absolute session seconds computed from one origin, never by adding up sleeps, so a
40-minute session has no drift. The scheduler guarantees that no two beat clips overlap: a count
that would run into the next one is dropped (the phase-start words and the rep number win).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .program import Tempo

BEAT_GAP = 0.05
"""Minimum silence between two beat clips (seconds)."""
BOTTOM_GAP = 0.2
"""Silence after the rep number before the next rep's first count (seconds)."""

# Priorities when two beats would overlap: the higher one is kept.
_PRIORITY = {"count": 0, "phase": 1, "rep": 2}


@dataclass(frozen=True)
class Beat:
    at: float
    """Session time the clip starts (seconds)."""
    text: str
    phase: str
    """"up", "hold", "down" or "bottom"."""
    kind: str
    """"phase" (first word of a phase), "count" (a number within it) or "rep" (the rep number)."""


@dataclass(frozen=True)
class RepPlan:
    number: int
    start: float
    tempo: Tempo
    bottom: float
    """Actual bottom time: the tempo's, or longer when the rep number needs the room (seconds)."""
    beats: tuple[Beat, ...]

    @property
    def done_at(self) -> float:
        """When the rep counts as done: the start of the bottom phase, where its number is said."""
        return self.start + self.tempo.up + self.tempo.hold + self.tempo.down

    @property
    def end(self) -> float:
        return self.done_at + self.bottom

    def phase_at(self, t: float) -> tuple[str, float]:
        """The phase at time t and how far into it (0..1)."""
        edges = [("up", self.tempo.up), ("hold", self.tempo.hold), ("down", self.tempo.down), ("bottom", self.bottom)]
        offset = t - self.start
        for name, length in edges:
            if offset < length:
                return name, max(0.0, offset / length) if length else 1.0
            offset -= length
        return "bottom", 1.0


class TempoScheduler:
    """Lays out the spoken beats of reps.

    `words` gives the phase words ("up", "squeeze", "down") and the rep-number template ("rep"); `duration(text)` the length of
    a rendered clip in seconds, so the scheduler can keep clips from overlapping.
    """

    def __init__(self, words: dict[str, str], duration: Callable[[str], float]):
        self.words = words
        self.duration = duration

    def _phase_beats(self, start: float, length: float, first: Beat, checks: tuple[str, ...]) -> list[Beat]:
        """The phase's first word, then each second a form check if one is given, else a count."""
        beats = [first]
        for i in range(1, math.ceil(length - 1e-9)):
            # A count on the last fraction of a phase would be cut off by the next phase's word.
            if length - i < 0.5:
                break
            text = checks[i - 1] if i - 1 < len(checks) else str(i + 1)
            beats.append(Beat(start + i, text, first.phase, "count"))
        return beats

    def rep(self, number: int, start: float, tempo: Tempo,
            form_checks: tuple[tuple[str, str], ...] = ()) -> RepPlan:
        """One rep from `start`. `form_checks` are (phase, text) pairs said within a phase on the
        seconds after its first word, in place of the counts (e.g. ("hold", "knees out"))."""
        checks = {phase: tuple(t for p, t in form_checks if p == phase) for phase in ("up", "hold", "down", "bottom")}
        rep_word = self.words["rep"].format(rep=number)
        bottom = max(tempo.bottom, self.duration(rep_word) + BOTTOM_GAP)
        t_hold = start + tempo.up
        t_down = t_hold + tempo.hold
        t_bottom = t_down + tempo.down
        beats = self._phase_beats(start, tempo.up, Beat(start, self.words["up"], "up", "phase"), checks["up"])
        if tempo.hold > 0:
            beats += self._phase_beats(t_hold, tempo.hold, Beat(t_hold, self.words["squeeze"], "hold", "phase"),
                                       checks["hold"])
        beats += self._phase_beats(t_down, tempo.down, Beat(t_down, self.words["down"], "down", "phase"), checks["down"])
        bottom_beats = self._phase_beats(t_bottom, bottom, Beat(t_bottom, rep_word, "bottom", "rep"), checks["bottom"])
        beats += bottom_beats[:1] + [b for b in bottom_beats[1:] if not b.text.isdigit()]
        return RepPlan(number, start, tempo, bottom, tuple(self._without_overlaps(beats, t_bottom + bottom)))

    def _without_overlaps(self, beats: list[Beat], rep_end: float) -> list[Beat]:
        kept = list(beats)
        changed = True
        while changed:
            changed = False
            for i, beat in enumerate(kept):
                next_at = kept[i + 1].at if i + 1 < len(kept) else rep_end
                if beat.at + self.duration(beat.text) + BEAT_GAP > next_at and i + 1 < len(kept):
                    loser = i if _PRIORITY[beat.kind] < _PRIORITY[kept[i + 1].kind] else i + 1
                    del kept[loser]
                    changed = True
                    break
        return kept

    def reps(self, first: int, last: int, start: float, tempo: Tempo,
             form_checks: tuple[tuple[str, str], ...] = ()) -> list[RepPlan]:
        """Reps first..last back to back from `start`."""
        plans = []
        t = start
        for n in range(first, last + 1):
            plan = self.rep(n, t, tempo, form_checks)
            plans.append(plan)
            t = plan.end
        return plans
