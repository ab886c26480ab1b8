"""Short isolated utterances out of a mic stream, with the coach's echo cancelled and gated.

Every grammar-based backend needs the same front half: cut the stream into 30 ms frames whatever
the chunking (so results never depend on it), cancel the coach's echo when the playback
reference is known, find speech segments with PocketSphinx's endpointer, and drop the segments
that can't be a command: too short (a click, a plate), too long (a sentence: a command word
inside it must not fire), or mostly the coach's own voice. What is left is an `Utterance` for the
backend to decode. The PocketSphinx and Vosk backends both sit on this.

Time is the audio fed in (30 ms per frame), never a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE
from voicecoach.speech_in.echo import EchoCanceller, to_float

FRAME = 480
"""Samples per endpointer frame (30 ms); everything downstream works on these."""
FRAME_S = FRAME / SAMPLE_RATE


@dataclass(frozen=True)
class SegmentSettings:
    window: float = 0.3
    """Endpointer decision window (seconds): silence needed to end an utterance."""
    vad_mode: int = 3
    """Endpointer VAD aggressiveness 0..3; 3 keeps steady noise (fans) out of speech segments."""
    min_speech: float = 0.15
    """Shorter segments are clicks or plates, not words (seconds)."""
    max_speech: float = 1.6
    """Longer segments are sentences, not commands (seconds, endpointer padding included)."""
    echo_ratio_gate: float = 0.02
    """While the coach plays, an utterance's energy after cancellation must exceed this share
    of the echo energy the canceller removed, or it is taken for residual echo."""


@dataclass(frozen=True)
class Utterance:
    """A speech segment short enough to be a command, not taken for the coach's echo."""

    audio: np.ndarray
    """int16 samples at 16 kHz, echo-cancelled, endpointer padding included."""
    frames: int
    """Length in 30 ms frames."""
    echo: float
    """Mean share (0..1) of the frames' energy the coach's echo could explain: how much the
    coach talked over it. Backends ask for more evidence when it is high."""
    end: float
    """Audio time (seconds from the stream start) at which the endpointer closed it."""

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_S


class UtteranceSegmenter:
    """Feed mic chunks of any size (+ the playback reference); get candidate utterances."""

    def __init__(self, settings: SegmentSettings = SegmentSettings()) -> None:
        import pocketsphinx as ps

        self.s = settings
        self._ep = ps.Endpointer(window=settings.window, vad_mode=settings.vad_mode)
        assert self._ep.frame_bytes == FRAME * 2
        self._pending = np.zeros(0, np.int16)
        self._pending_ref = np.zeros(0, np.float32)
        self._frames = 0  # frames consumed: the audio clock
        self._aec: EchoCanceller | None = None
        self._reset_segment()

    @property
    def time(self) -> float:
        """Audio seconds consumed so far."""
        return self._frames * FRAME_S

    def feed(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[Utterance]:
        """`playback`, when given, may be int16 or float32 in [-1, 1]; it must be what the coach
        played over exactly the same span as `samples`, at 16 kHz."""
        samples = np.asarray(samples)
        if samples.dtype != np.int16:
            samples = (np.clip(to_float(samples), -1, 1) * 32767).astype(np.int16)
        if playback is not None:
            if len(playback) != len(samples):
                raise ValueError("playback must be as long as samples")
            ref = to_float(np.asarray(playback))
        else:
            ref = np.zeros(len(samples), np.float32)
        self._pending = np.concatenate([self._pending, samples])
        self._pending_ref = np.concatenate([self._pending_ref, ref])
        out: list[Utterance] = []
        n = len(self._pending) // FRAME
        for i in range(n):
            frame = self._pending[i * FRAME : (i + 1) * FRAME]
            ref_frame = self._pending_ref[i * FRAME : (i + 1) * FRAME]
            out.extend(self._frame(frame, ref_frame))
        self._pending = self._pending[n * FRAME :]
        self._pending_ref = self._pending_ref[n * FRAME :]
        return out

    def flush(self) -> list[Utterance]:
        """End of stream: pad the last partial frame with silence and close any utterance."""
        out: list[Utterance] = []
        if len(self._pending):
            pad = FRAME - len(self._pending)
            out.extend(self.feed(np.zeros(pad, np.int16), np.zeros(pad, np.float32)))
        # Enough silence for the endpointer to close an utterance still open at the end.
        silence = np.zeros(FRAME, np.int16)
        for _ in range(int(self.s.window / FRAME_S) + 2):
            if not self._ep.in_speech:
                break
            out.extend(self._frame(silence, np.zeros(FRAME, np.float32)))
        return out

    # -- internals ---------------------------------------------------------------------------
    def _reset_segment(self) -> None:
        self._seg_frames = 0
        self._seg_too_long = False
        self._seg_echo = 0.0  # sum over frames of the echo share
        self._seg_active = False
        self._seg_audio: list[np.ndarray] = []
        self._seg_unsure = False
        self._seg_clean_e = 0.0  # energy left after echo cancellation, while the coach played
        self._seg_echo_e = 0.0  # energy of the echo the canceller predicted (and removed)

    def _cancel(self, frame: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Echo-cancel one frame; returns (clean int16 frame, its energy, predicted echo energy)."""
        if self._aec is None:
            if not np.any(ref):
                return frame, 0.0, 0.0
            self._aec = EchoCanceller()  # from the first sound the coach plays, for good
        b = self._aec.s.block
        mic = frame.astype(np.float32) / 32768.0
        parts, echo_e = [], 0.0
        for k in range(0, FRAME, b):
            parts.append(self._aec.process_block(mic[k : k + b], ref[k : k + b]))
            echo_e += self._aec.echo_level / (FRAME // b)
        clean = np.concatenate(parts)
        clean_e = float(np.mean(clean.astype(np.float64) ** 2)) + 1e-12
        if not self._aec.converged and float(np.mean(ref.astype(np.float64) ** 2)) > 1e-6:
            # The canceller hasn't learned the room yet: echo can't be told from a lifter,
            # so speech overlapping the coach is ignored until it has (~2 s of playback).
            self._seg_unsure = True
        return (np.clip(clean, -1, 1) * 32767).astype(np.int16), clean_e, echo_e

    def _frame(self, frame: np.ndarray, ref: np.ndarray) -> list[Utterance]:
        self._frames += 1
        frame, clean_e, echo_e = self._cancel(frame, ref)
        # Share of this frame the coach's echo (predicted, before cancellation) could explain.
        echo_share = min(1.0, echo_e / clean_e) if clean_e > 0 else 0.0
        was_in_speech = self._ep.in_speech
        speech = self._ep.process(frame.tobytes())
        if speech is not None:
            if not was_in_speech and not self._seg_active:
                self._reset_segment()
                self._seg_active = True
            if self._seg_active and not self._seg_too_long:
                self._seg_frames += 1
                self._seg_echo += echo_share
                self._seg_clean_e += clean_e
                self._seg_echo_e += echo_e
                if self._seg_frames * FRAME_S > self.s.max_speech:
                    # A sentence, not a command: drop it (and save the CPU of decoding it).
                    self._seg_too_long = True
                    self._seg_audio = []
                else:
                    self._seg_audio.append(np.frombuffer(speech, np.int16))
        if self._seg_active and not self._ep.in_speech:
            return self._end_segment()
        return []

    def _end_segment(self) -> list[Utterance]:
        frames = self._seg_frames
        # Echo gate: with ~15-20 dB of cancellation, what's left of the coach's voice is a few
        # percent of the echo removed; a lifter speaking over it leaves far more.
        echo_gated = self._seg_unsure or self._seg_clean_e < self.s.echo_ratio_gate * self._seg_echo_e
        keep = not (self._seg_too_long or echo_gated or frames * FRAME_S < self.s.min_speech)
        utterance = Utterance(
            audio=np.concatenate(self._seg_audio) if self._seg_audio else np.zeros(0, np.int16),
            frames=frames,
            echo=self._seg_echo / max(frames, 1),
            end=self.time,
        )
        self._reset_segment()
        return [utterance] if keep else []
