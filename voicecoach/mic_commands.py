"""Voice commands for the session: a recognizer fed from a microphone (live) or a WAV (simulated),
with what the coach is playing at the same moment as the echo reference."""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import soxr

from .audio_io import Mixer
from .commands import Command, CommandEvent
from .speech_in.base import SAMPLE_RATE, CommandRecognizer, Detection
from .speech_in.self_echo import ECHO_TAIL, HEARD_WITHIN, SelfEchoFilter

STEP = 0.08
"""Audio fed to the recognizer per step (seconds): 80 ms, as openWakeWord streams."""


class PlaybackReference:
    """What the coach played over a span of session time, at the recognizer's rate."""

    def __init__(self, mixer: Mixer):
        self.mixer = mixer
        self._resampler = soxr.ResampleStream(mixer.rate, SAMPLE_RATE, 1, dtype="float32")
        self._next = 0  # next mixer sample to resample

    def take(self, n: int, until: float) -> np.ndarray:
        """The `n` reference samples at 16 kHz that end at session time `until`.

        Always aligned to `until` (never to a running count), so a late or early read cannot
        shift the reference against the microphone for good."""
        end = int(round(until * self.mixer.rate))
        start = max(self._next, end - int(n * self.mixer.rate / SAMPLE_RATE) - 64)
        out = np.zeros(0, dtype=np.float32)
        if end > start:
            out = self._resampler.resample_chunk(self.mixer.render(start, end - start))
            self._next = end
        return np.pad(out[-n:], (max(0, n - len(out)), 0))

    def lines_before(self, at: float) -> list[tuple[float, float, str]]:
        """The coach's lines a detection committed at session time `at` may have heard."""
        return self.mixer.lines(since=at - HEARD_WITHIN - ECHO_TAIL)


def to_event(d: Detection, at: float) -> CommandEvent:
    return CommandEvent(Command.parse(d.command), at=at, source="voice", text=d.text, confidence=d.confidence)


ECHO_DELAY = 0.03
"""Speaker-to-microphone delay of the simulated echo (seconds): about 10 m of sound path plus
device latency."""


class MicFileCommands:
    """A CommandSource for simulations: the commands a recognizer finds in a microphone WAV,
    fed in step with the simulated clock (the WAV starts at session time 0).

    With `echo_db`, the coach's own output is mixed into the microphone at that level (dB,
    relative to full scale playback) and ECHO_DELAY late, as a speaker in the same room would.
    """

    def __init__(self, samples: np.ndarray, recognizer: CommandRecognizer, mixer: Mixer,
                 echo_db: float | None = None):
        self.samples, self.recognizer = samples, recognizer
        self.reference = PlaybackReference(mixer)
        self.self_echo = SelfEchoFilter()
        self.echo_gain = None if echo_db is None else 10 ** (echo_db / 20)
        self._delay = int(ECHO_DELAY * SAMPLE_RATE)
        self._echo_tail = np.zeros(self._delay, dtype=np.float32)
        self.step = int(STEP * SAMPLE_RATE)
        self._pos = 0
        self._flushed = False

    def next_at(self, now: float) -> float | None:
        if self._pos >= len(self.samples):
            return None if self._flushed else now
        return (self._pos + self.step) / SAMPLE_RATE

    def poll(self, now: float) -> list[CommandEvent]:
        found: list[Detection] = []
        end = min(len(self.samples), int(round(now * SAMPLE_RATE)))
        while self._pos + self.step <= end or (end == len(self.samples) and self._pos < end):
            chunk = self.samples[self._pos:self._pos + self.step]
            self._pos += len(chunk)
            ref = self.reference.take(len(chunk), self._pos / SAMPLE_RATE)
            if self.echo_gain is not None:
                chunk = self._with_echo(chunk, ref)
            found += self.recognizer.feed(chunk, ref)
        if self._pos >= len(self.samples) and not self._flushed:
            self._flushed = True
            found += self.recognizer.flush()
        if found:
            found = self.self_echo.heard(found, self.reference.lines_before(min(d.detected_at for d in found)))
        return [to_event(d, min(d.detected_at, now)) for d in found]

    def _with_echo(self, chunk: np.ndarray, ref: np.ndarray) -> np.ndarray:
        delayed = np.concatenate([self._echo_tail, ref])
        self._echo_tail = delayed[len(ref):]
        mixed = chunk.astype(np.float32) + self.echo_gain * delayed[:len(ref)] * 32767
        return np.clip(mixed, -32768, 32767).astype(np.int16)


class MicListener:
    """Live: a thread reading the microphone into the recognizer; commands go to `push`."""

    def __init__(self, mic, recognizer: CommandRecognizer, mixer: Mixer, now: Callable[[], float],
                 push: Callable[..., None]):
        self.mic, self.recognizer, self.now, self.push = mic, recognizer, now, push
        self.reference = PlaybackReference(mixer)
        self.self_echo = SelfEchoFilter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)

    def start(self) -> "MicListener":
        self.mic.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self.mic.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            chunk = self.mic.read(timeout=0.1)
            if chunk is None:
                continue
            # The chunk ends about now: its echo is what the mixer played over the same span.
            now = self.now()
            for d in self.recognizer.feed(chunk, self.reference.take(len(chunk), now)):
                if not self.self_echo.is_echo(d, now, self.reference.lines_before(now)):
                    self.push(Command.parse(d.command), "voice", d.text, d.confidence)
