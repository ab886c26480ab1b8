"""Wiring a session together: the engine's sound into a mixer, commands into the engine, on a clock.

The same loop runs live (LiveClock, speaker, keyboard and microphone threads) and simulated
(SimulatedClock, WAV sink, scripted commands or a microphone WAV).
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from .engine import SessionEngine
from .inputs import CommandSource


class Clock(Protocol):
    def now(self) -> float: ...
    def wait_until(self, t: float) -> None: ...


class MixerOutput:
    """The engine's CoachOutput: phrases from the speech cache and earcons, placed on a mixer."""

    def __init__(self, mixer, phrases, earcons: dict[str, np.ndarray], volume: float = 1.0, lead: float = 0.0):
        self.mixer, self.phrases, self.earcons = mixer, phrases, earcons
        self.volume = volume
        self.lead = lead

    def duration(self, text: str) -> float:
        return self.phrases.duration(text)

    def play(self, at: float, text: str | None = None, earcon: str | None = None) -> float:
        clip = self.earcons[earcon] if earcon else self.phrases.clip(text)
        self.mixer.add(clip, at, gain=self.volume, text=None if earcon else text)
        return len(clip) / self.mixer.rate

    def cancel_from(self, t: float, cut: bool = False) -> None:
        self.mixer.cancel_from(t, cut_playing=cut)


def run_session(engine: SessionEngine, clock: Clock, sources: list[CommandSource],
                on_tick: Callable[[float], None] = lambda now: None) -> None:
    """Drive `engine` until it finishes. KeyboardInterrupt propagates to the caller."""
    engine.start(clock.now())
    while not engine.finished:
        now = clock.now()
        times = [engine.next_deadline()] + [s.next_at(now) for s in sources]
        pending = [t for t in times if t is not None]
        if not pending:
            break  # nothing can ever happen again; the engine always keeps a timer while it waits
        clock.wait_until(min(pending))
        now = clock.now()
        events = sorted((ev for s in sources for ev in s.poll(now)), key=lambda ev: ev.at)
        for ev in events:
            engine.handle(ev)
        engine.advance(now)
        on_tick(now)
