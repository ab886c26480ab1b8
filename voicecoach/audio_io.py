"""Audio in and out without a sound card: reading files, the mixer, and the WAV sink.

The coach schedules everything on one session timeline (seconds). `Mixer` holds that timeline;
a sink drains it: `WavSink` here on a simulated clock, `audio_devices.SpeakerSink` in real time
(the same mixer, a different sink), and `audio_devices.MicSource` is the live microphone.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np


class AudioError(Exception):
    """An audio problem the user can fix; str() is the one line to show."""


def read_wav(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Read an audio file as mono int16 at `rate`, whatever its own rate and channel count."""
    import soundfile as sf
    import soxr

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc}); give a WAV file") from None
    mono = data.mean(axis=1)
    if file_rate != rate and len(mono):
        mono = soxr.resample(mono, file_rate, rate)
    return (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)


class Mixer:
    """One mono float32 output timeline; clips are placed at session times (seconds).

    Thread-safe: the engine adds/cancels while a feeder thread renders. Clips are immutable
    once added (cancel replaces them), so render mixes a snapshot outside the lock.
    """

    FADE_S = 0.010
    """Fade-out applied when cancel_from cuts a sounding clip (seconds)."""

    def __init__(self, rate: int, history: float = 30.0) -> None:
        """`rate`: samples per second. `history`: how long (seconds) a finished clip stays
        renderable behind the newest render, e.g. for an echo reference of the mic span."""
        self.rate = rate
        self._history = int(history * rate)
        self._clips: list[tuple[int, np.ndarray]] = []  # (start sample, float32 data)
        self._lines: list[tuple[int, int, str]] = []  # (start, end sample, text) of spoken clips
        self._lock = threading.Lock()
        self._played_end = 0  # end sample of the latest clip dropped as finished

    def add(self, clip: np.ndarray, at: float, gain: float = 1.0, text: str | None = None) -> None:
        """Place `clip` (mono; float in [-1, 1] or int16) to start at session time `at` seconds;
        `text`: the words it says, if it is speech (see `lines`)."""
        clip = np.asarray(clip)
        if clip.ndim != 1:
            raise ValueError("Mixer.add takes a mono (1-D) clip")
        scale = gain / 32768.0 if clip.dtype.kind in "iu" else gain
        data = clip.astype(np.float32) * np.float32(scale)
        if len(data):
            with self._lock:
                start = round(at * self.rate)
                self._clips.append((start, data))
                if text:
                    self._lines.append((start, start + len(data), text))

    def cancel_from(self, t: float, cut_playing: bool = False) -> None:
        """Drop clips starting at or after `t` seconds; with `cut_playing`, cut the clips still
        sounding at `t` there, with a short fade-out so the cut does not click."""
        cut = round(t * self.rate)
        fade = max(1, int(self.FADE_S * self.rate))
        with self._lock:
            kept = []
            for start, data in self._clips:
                if start >= cut:
                    continue
                if cut_playing and start + len(data) > cut:
                    keep = min(len(data), cut - start + fade)
                    data = data[:keep].copy()  # a new array: renders in flight keep the old one
                    tail = data[cut - start:]
                    tail *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[: len(tail)]
                kept.append((start, data))
            self._clips = kept
            self._lines = [(s, min(e, cut) if cut_playing else e, text) for s, e, text in self._lines if s < cut]

    def render(self, start_sample: int, n: int) -> np.ndarray:
        """Mix samples [start_sample, start_sample + n) into float32 clipped to [-1, 1]."""
        with self._lock:
            # Forget clips that ended long before this render: a 3-hour session stays small.
            horizon = start_sample - self._history
            done = [s + len(d) for s, d in self._clips if s + len(d) <= horizon]
            if done:
                self._played_end = max(self._played_end, *done)
                self._clips = [(s, d) for s, d in self._clips if s + len(d) > horizon]
                self._lines = [line for line in self._lines if line[1] > horizon]
            clips = list(self._clips)
        out = np.zeros(n, dtype=np.float32)
        end = start_sample + n
        for s, d in clips:
            lo, hi = max(s, start_sample), min(s + len(d), end)
            if lo < hi:
                out[lo - start_sample : hi - start_sample] += d[lo - s : hi - s]
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def lines(self, since: float) -> list[tuple[float, float, str]]:
        """(start, end, text) in session seconds of the speech clips sounding at or after `since`
        (within the render history): what the coach said, for telling its echo from the lifter."""
        first = since * self.rate
        with self._lock:
            return [(s / self.rate, e / self.rate, text) for s, e, text in self._lines if e >= first]

    def busy_until(self) -> float:
        """Session time (seconds) at which the last scheduled clip ends (0.0 if none ever)."""
        with self._lock:
            ends = [s + len(d) for s, d in self._clips]
        return max([self._played_end, *ends]) / self.rate


class WavSink:
    """Writes the mixer's output into a 16-bit mono WAV as a simulated clock advances."""

    CHUNK_S = 10.0
    """Largest span rendered at once (seconds), so a long simulated rest stays small in memory."""

    def __init__(self, path: str | Path, mixer: Mixer) -> None:
        import soundfile as sf

        self.path = Path(path)
        self.mixer = mixer
        self._pos = 0  # next sample to write
        if not self.path.parent.is_dir():
            raise AudioError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        try:
            self._file: Any = sf.SoundFile(
                str(self.path), "w", mixer.rate, 1, "PCM_16", format="WAV"
            )
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            reason = str(exc).replace("\n", " ")
            raise AudioError(f"cannot write {self.path}: {reason}") from None
        try:
            # libsndfile SFC_SET_UPDATE_HEADER_AUTO: rewrite the header on every write, so a
            # killed simulation still leaves a valid WAV of everything written so far.
            from soundfile import _ffi, _snd

            _snd.sf_command(self._file._file, 0x1061, _ffi.NULL, 1)
        except Exception:  # private API moved: the WAV is still valid after close()
            pass

    @property
    def written(self) -> float:
        """Seconds of audio written so far."""
        return self._pos / self.mixer.rate

    def advance_to(self, t: float) -> None:
        """Render the mixer from where the file ends up to session time `t` (seconds)."""
        if self._file.closed:
            raise RuntimeError("WavSink is closed")
        target = round(t * self.mixer.rate)
        step = int(self.CHUNK_S * self.mixer.rate)
        while self._pos < target:
            n = min(step, target - self._pos)
            self._file.write(self.mixer.render(self._pos, n))
            self._pos += n

    def close(self) -> None:
        """Write what is still scheduled, then close the file. Safe to call twice."""
        if self._file.closed:
            return
        try:
            self.advance_to(self.mixer.busy_until())
        finally:
            self._file.close()
