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

from collections import deque
from dataclasses import dataclass

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE, Detection
from voicecoach.speech_in.echo import EchoCanceller, GateSettings, ResidualEchoGate, to_float

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
    echo_ratio_gate: float = 0.1
    """While the coach plays, an utterance's energy after cancellation must exceed this share
    of the echo energy the canceller removed (-10 dB), or it is taken for residual echo. On the
    tuning split's coach-echo negatives echo-only utterances reach 0.02-0.08; a lifter at
    -26 dBFS over -12 dB echo gives 0.6-1.1."""
    preroll: float = 0.0
    """Audio kept from before the endpointer's start of speech (seconds), for decoding only.
    The endpointer declares speech once most of its window is speech, so a soft onset (the "s"
    of a lone "stop") falls before the utterance; 0.15 s recovers it and measured +9 points
    clean on the tuning split, but also turned "that hurts" into "start" in noise: off until
    a confusion analysis says it is safe."""
    gate: GateSettings = GateSettings()
    """Residual-echo gating of each frame before the endpointer sees it."""


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
    preroll: float = 0.0
    """Seconds of audio from before the endpointer's start of speech at the head of `audio`
    (not counted in `frames`): mostly silence, which decoders may align as such."""

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_S


@dataclass(frozen=True)
class _FrameInfo:
    audio: bytes
    """The frame as the endpointer gets it: echo-cancelled and gated, int16."""
    ungated: bytes
    """The frame echo-cancelled but not gated: what decoders get (a gated frame inside a
    word would punch a hole in it)."""
    clean_e: float
    """Its energy (float scale)."""
    echo_e: float
    """Energy of the echo the canceller predicted (and removed) in it."""
    unsure: bool
    """The coach was playing and the canceller hadn't converged yet."""


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
        self._gate = ResidualEchoGate(settings.gate)
        # Frames fed but not yet handed back by the endpointer (it lags a window behind).
        self._recent: deque[_FrameInfo] = deque(maxlen=int(settings.window / FRAME_S) + 3)
        # The frames just before the one the endpointer hands back: the next utterance's pre-roll.
        self._before: deque[_FrameInfo] = deque(maxlen=round(settings.preroll / FRAME_S))
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
        self._seg_preroll: list[np.ndarray] = []
        self._seg_unsure = False
        self._seg_clean_e = 0.0  # energy left after echo cancellation, while the coach played
        self._seg_echo_e = 0.0  # energy of the echo the canceller predicted (and removed)

    def _cancel(self, frame: np.ndarray, ref: np.ndarray) -> _FrameInfo:
        """Echo-cancel and gate one frame; returns it with what the echo gates need to know."""
        if self._aec is None:
            if not np.any(ref):
                return _FrameInfo(frame.tobytes(), frame.tobytes(), 0.0, 0.0, False)
            self._aec = EchoCanceller()  # from the first sound the coach plays, for good
        b = self._aec.s.block
        mic = frame.astype(np.float32) / 32768.0
        parts, echo_e = [], 0.0
        for k in range(0, FRAME, b):
            parts.append(self._aec.process_block(mic[k : k + b], ref[k : k + b]))
            echo_e += self._aec.echo_level / (FRAME // b)
        clean = np.concatenate(parts)
        clean_e = float(np.mean(clean.astype(np.float64) ** 2)) + 1e-12
        # Residual echo left alone would reach the endpointer as speech, stretch a lifter's
        # "pause please" into a sentence-long segment and delay its commit: gate it first.
        ungated = (np.clip(clean, -1, 1) * 32767).astype(np.int16)
        clean, clean_e = self._gate.process(clean, clean_e, echo_e)
        # Until the canceller has learned the room, echo can't be told from a lifter, so speech
        # overlapping the coach is ignored (~2 s of playback).
        unsure = not self._aec.converged and float(np.mean(ref.astype(np.float64) ** 2)) > 1e-6
        audio = (np.clip(clean, -1, 1) * 32767).astype(np.int16)
        return _FrameInfo(audio.tobytes(), ungated.tobytes(), clean_e, echo_e, unsure)

    def _delayed(self, speech: bytes) -> _FrameInfo:
        """The info of the frame the endpointer hands back now. It returns frames a window
        late (it must see what follows before calling something speech), so the echo figures
        must be those of that frame, not of the one just fed: matched on the audio itself."""
        while self._recent:
            info = self._recent.popleft()
            if info.audio == speech:
                return info
            self._before.append(info)
        return _FrameInfo(speech, speech, 0.0, 0.0, False)  # not seen (can't happen): no echo evidence

    def _frame(self, frame: np.ndarray, ref: np.ndarray) -> list[Utterance]:
        self._frames += 1
        info = self._cancel(frame, ref)
        self._recent.append(info)
        was_in_speech = self._ep.in_speech
        speech = self._ep.process(info.audio)
        if speech is not None:
            info = self._delayed(bytes(speech))
            if not was_in_speech and not self._seg_active:
                self._reset_segment()
                self._seg_active = True
                self._seg_preroll = [np.frombuffer(f.ungated, np.int16) for f in self._before]
            self._before.append(info)
            if self._seg_active and not self._seg_too_long:
                self._seg_frames += 1
                # Share of this frame the coach's echo (predicted, before cancellation) explains.
                self._seg_echo += min(1.0, info.echo_e / info.clean_e) if info.clean_e > 0 else 0.0
                self._seg_clean_e += info.clean_e
                self._seg_echo_e += info.echo_e
                self._seg_unsure |= info.unsure
                if self._seg_frames * FRAME_S > self.s.max_speech:
                    # A sentence, not a command: drop it (and save the CPU of decoding it).
                    self._seg_too_long = True
                    self._seg_audio = []
                else:
                    self._seg_audio.append(np.frombuffer(info.ungated, np.int16))
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
            audio=np.concatenate(self._seg_preroll + self._seg_audio) if self._seg_audio else np.zeros(0, np.int16),
            frames=frames,
            echo=self._seg_echo / max(frames, 1),
            end=self.time,
            preroll=len(self._seg_preroll) * FRAME_S,
        )
        self._reset_segment()
        return [utterance] if keep else []


class SegmentedRecognizer:
    """The streaming half shared by backends that decode whole utterances: audio goes through an
    UtteranceSegmenter, and each utterance it closes goes to the backend's `_recognize`."""

    _segmenter: UtteranceSegmenter

    def _recognize(self, utterance: Utterance) -> list[Detection]:
        raise NotImplementedError

    def feed(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[Detection]:
        return [d for u in self._segmenter.feed(samples, playback) for d in self._recognize(u)]

    def flush(self) -> list[Detection]:
        """End of stream: close any utterance still open."""
        return [d for u in self._segmenter.flush() for d in self._recognize(u)]

    @property
    def time(self) -> float:
        """Audio seconds consumed so far."""
        return self._segmenter.time
