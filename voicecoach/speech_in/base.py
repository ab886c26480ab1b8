"""The one interface every command recognizer backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16000
"""Rate of the audio every recognizer is fed (hertz, mono int16)."""

NEVER_DROPPED = frozenset({"pain"})
"""Commands no filter second-guesses once a recognizer heard them (the coach's echo, an enrolled
template's veto): a set stopped by a false "that hurts" costs less than a missed one."""


@dataclass(frozen=True)
class Detection:
    """A command recognized in the audio stream."""

    command: str
    """Canonical command name (see voicecoach.commands.Command)."""
    text: str
    """The phrase heard, e.g. "pause please"."""
    confidence: float
    """0..1."""
    detected_at: float
    """Audio time (seconds from the start of the stream) at which the command was committed."""


class CommandRecognizer(Protocol):
    """Feed 16 kHz mono int16 chunks of any size; get the commands committed so far.

    Results must not depend on how the audio is chunked.
    """

    def feed(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[Detection]:
        """Push mic samples; `playback` is what the coach played over the same span (same length,
        16 kHz), or None when unknown. Returns detections committed within this chunk."""
        ...

    def flush(self) -> list[Detection]:
        """End of stream: commit anything still pending."""
        ...
