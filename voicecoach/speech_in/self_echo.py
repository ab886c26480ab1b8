"""The coach's own words heard back: a command whose phrase the coach was saying at that moment
is taken for its echo, not for the lifter.

Echo cancellation (`echo.py`) removes most of the coach's voice from the microphone, but what
it leaves can still be recognized, and the coach's lines are full of command words ("Say ready
when you're set"; the help line names every command). The coach knows what it said and when,
so a detection is dropped when its phrase sounds the same as words of a line that was sounding
just before it was committed: the same phones in a row, so "weight" echoes "wait" and "Ready?
Go." echoes "ready", while "Hold the bar" does not echo "hold on".

The cost: a lifter who says the very command the coach is saying, at the same moment, has to
say it again. "That hurts" (the pain command) is never dropped: a set stopped by the coach's
own "say that hurts" is cheaper than a missed one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .base import NEVER_DROPPED, Detection
from .pronouncing import Pronunciations, default_pronunciations

HEARD_WITHIN = 1.0
"""Seconds before a detection is committed in which its phrase was said: the recognizer commits
a phrase at most about this long after it ends (the benchmark's latency p95 is 0.4 s)."""
ECHO_TAIL = 0.3
"""Seconds a line goes on sounding in the room after the coach stops playing it: speaker and
device delay plus reverberation."""

SpokenLine = tuple[float, float, str]
"""(start, end, text): a line the coach played, in session seconds."""


class SelfEchoFilter:
    """Drops detections that are the coach's own line coming back through the microphone."""

    def __init__(self, pronunciations: Pronunciations | None = None) -> None:
        self.pron = pronunciations or default_pronunciations()

    def heard(self, detections: Iterable[Detection], lines: Iterable[SpokenLine]) -> list[Detection]:
        """`detections` (their `detected_at` in session seconds) less those the coach's `lines`
        explain."""
        lines = list(lines)
        return [d for d in detections if not self.is_echo(d, d.detected_at, lines)]

    def is_echo(self, detection: Detection, at: float, lines: Iterable[SpokenLine]) -> bool:
        """Whether `detection`, committed at session time `at`, is the phrase of a line sounding
        within HEARD_WITHIN seconds before then."""
        if detection.command in NEVER_DROPPED:
            return False
        phrase = self._phones(detection.text)
        return bool(phrase) and any(
            start <= at and end + ECHO_TAIL >= at - HEARD_WITHIN and _contains(self._phones(text), phrase)
            for start, end, text in lines)

    def _phones(self, text: str) -> list[str]:
        """The phones of `text`'s words, stress marks dropped; a word the dictionary lacks breaks
        the run (None), so no phrase matches across it."""
        out: list = []
        for word in re.findall(r"[a-z']+", text.lower()):
            phones = self.pron.phones(word.strip("'"))
            out += [p.rstrip("012") for p in phones] if phones else [None]
        return out


def _contains(line: list, phrase: list) -> bool:
    n = len(phrase)
    return any(line[i:i + n] == phrase for i in range(len(line) - n + 1))
