"""Short isolated utterances out of a mic stream, with the coach's echo cancelled and gated.

Every grammar-based backend needs the same front half: cut the stream into 30 ms frames whatever
the chunking (so results never depend on it), cancel the coach's echo when the playback
reference is known, find speech segments with a neural voice activity detector (`vad.py`), and
drop the segments that can't be a command: too short (a click, a plate), too long (a sentence: a
command word inside it must not fire), or mostly the coach's own voice. What is left is an
`Utterance` for the backend to decode. The PocketSphinx and Vosk backends both sit on this.

Time is the audio fed in (30 ms per frame), never a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE, Detection
from voicecoach.speech_in.echo import EchoCanceller, GateSettings, ResidualEchoGate, to_float
from voicecoach.speech_in.vad import NoiseSuppressor, SileroVad

FRAME = 480
"""Samples per frame (30 ms); everything downstream works on these."""
FRAME_S = FRAME / SAMPLE_RATE


@dataclass(frozen=True)
class SegmentSettings:
    onset: float = 0.5
    """VAD speech probability at which a frame counts as speech while no utterance is open."""
    offset: float = 0.35
    """Lower probability that keeps an open utterance going (hysteresis, as Silero advises)."""
    min_level: float = -55.0
    """Quieter frames (dBFS) are never speech: the coach's gated residual echo sits near -60."""
    onset_frames: int = 2
    """Consecutive speech frames that open an utterance (60 ms: one frame is a click)."""
    window: float = 0.24
    """Silence after the last speech frame that closes an utterance (seconds): the commit delay."""
    min_speech: float = 0.15
    """Shorter utterances are clicks or plates, not words (seconds of speech)."""
    max_speech: float = 1.4
    """Longer utterances are sentences, not commands (seconds of speech)."""
    min_gap: float = 0.8
    """Silence needed before an utterance (seconds since the previous one ended): a command is
    said on its own; a phrase between two short pauses of a sentence is not one. On the
    tuning split this removed a quarter of the false accepts on speech and no command."""
    preroll: float = 0.12
    """Audio kept from before the first speech frame (seconds), for decoding: the VAD reacts a
    frame or two late, and a soft onset (the "s" of "stop", the "f" of "faster") lies before
    it; without it the decoder hears "go on" for "done" and "pause" for "faster"."""
    tail: float = 0.09
    """Audio kept after the last speech frame (seconds), for decoding: the word's release."""
    context_preroll: float = 0.24
    context_tail: float = 0.24
    """The same for `Utterance.context` (the tail at most `window`): a transcriber trained on
    whole recordings (Moonshine) hears a soft onset or a clipped release better with more of
    the quiet around it. On the tuning split 0.24 s each side took Moonshine's fusion from 87 to
    95% clean and 53 to 56% at 10 dB; PocketSphinx's alignment gates are tuned to the shorter
    padding above."""
    echo_ratio_gate: float = 0.1
    """While the coach plays, an utterance's energy after cancellation must exceed this share
    of the echo energy the canceller removed (-10 dB), or it is taken for residual echo. On the
    tuning split's coach-echo negatives echo-only utterances reach 0.02-0.08; a lifter at
    -26 dBFS over -12 dB echo gives 0.6-1.1."""
    gate: GateSettings = GateSettings()
    """Residual-echo gating of each frame before the VAD sees it."""
    vad_suppression: int = 0
    """WebRTC noise suppression level (1-4; 0: off) of what the VAD hears, never of what the
    decoders get, and only while the background is loud and steady (`suppression_floor`)."""
    talk_share: float = 0.0
    """While the VAD heard speech in more than this share of the last `talk_window` seconds and
    that window's loudness was steady (`talk_spread`), the background is people talking (0:
    never): then a frame is the lifter's speech only if it is also `talk_margin` dB louder than
    the median frame of the window. Without this, a gym's chatter made one endless utterance and
    no command was heard."""
    talk_window: float = 3.0
    talk_margin: float = 6.0
    talk_spread: float = 3.5
    """Steady: the window's median frame energy at most this many dB above its 20th percentile.
    Many voices at once fill each other's pauses; one talker near the mic doesn't, and cut into
    pieces by the gate their sentences became command-sized utterances (session 18: on the
    tuning split chatter's spread is 2.5-4.2 dB, one talker's over steady noise 3.5-14)."""
    suppression_floor: float = -60.0
    """The VAD hears suppressed audio while the quietest frame of the last second is louder than
    this (dBFS): a steady background. Not in quiet or between plates, where suppression only
    dulled a word's soft onset (session 15: it cost a clean "skip")."""


@dataclass(frozen=True)
class Utterance:
    """A speech segment short enough to be a command, not taken for the coach's echo."""

    audio: np.ndarray
    """int16 samples at 16 kHz, echo-cancelled, with `padding` seconds of pre-roll and tail."""
    context: np.ndarray
    """The same speech with the settings' `context_preroll` and `context_tail` around it."""
    frames: int
    """Length of the speech itself in 30 ms frames (first to last speech frame)."""
    echo: float
    """Mean share (0..1) of the frames' energy the coach's echo could explain: how much the
    coach talked over it. Backends ask for more evidence when it is high."""
    end: float
    """Audio time (seconds from the stream start) at which the utterance was closed."""
    padding: float = 0.0
    """Seconds of `audio` outside the speech (pre-roll and tail): mostly silence, which
    decoders may align as such."""
    gap: float = 0.0
    """Seconds without speech before it, since the end of the previous utterance (kept or too
    long; the coach's echo, clicks and plates don't count): a command is said on its own, a
    sentence pauses only briefly."""

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_S


@dataclass(frozen=True)
class _FrameInfo:
    ungated: np.ndarray
    """The frame echo-cancelled but not gated, int16: what decoders get (a gated frame inside
    a word would punch a hole in it)."""
    speech: bool
    """The VAD's verdict on the gated frame (with the threshold in force when it came)."""
    clean_e: float
    """Its energy after cancellation and gating (float scale)."""
    echo_e: float
    """Energy of the echo the canceller predicted (and removed) in it."""
    unsure: bool
    """The coach was playing and the canceller hadn't converged yet."""


class UtteranceSegmenter:
    """Feed mic chunks of any size (+ the playback reference); get candidate utterances."""

    def __init__(self, settings: SegmentSettings = SegmentSettings()) -> None:
        self.s = settings
        self._vad = SileroVad()
        self._suppressor = NoiseSuppressor(settings.vad_suppression) if settings.vad_suppression else None
        self._floor_frames: deque[float] = deque(maxlen=34)  # the last 1.02 s of frames' energies
        self._floor_energy = 10 ** (settings.suppression_floor / 10)
        talk_frames = max(1, round(settings.talk_window / FRAME_S))
        self._talk_heard: deque[bool] = deque(maxlen=talk_frames)  # the VAD's own verdicts
        self._talk_energy: deque[float] = deque(maxlen=talk_frames)
        self._talk_margin = 10 ** (settings.talk_margin / 10)
        self._talk_spread = 10 ** (settings.talk_spread / 10)
        self._pending = np.zeros(0, np.int16)
        self._pending_ref = np.zeros(0, np.float32)
        self._frames = 0  # frames consumed: the audio clock
        self._aec: EchoCanceller | None = None
        self._gate = ResidualEchoGate(settings.gate)
        self._preroll_frames = round(settings.preroll / FRAME_S)
        self._tail_frames = round(settings.tail / FRAME_S)
        self._window_frames = max(1, round(settings.window / FRAME_S))
        self._context_preroll_frames = round(settings.context_preroll / FRAME_S)
        self._context_tail_frames = min(round(settings.context_tail / FRAME_S), self._window_frames)
        self._min_energy = 10 ** (settings.min_level / 10)
        # The frames before an utterance opens: its onset run and (the longer) pre-roll.
        longest = max(self._preroll_frames, self._context_preroll_frames)
        self._history: deque[_FrameInfo] = deque(maxlen=longest + settings.onset_frames)
        self._run = 0  # consecutive speech frames while no utterance is open
        self._segment: list[_FrameInfo] | None = None  # the open utterance's frames, onset run first
        self._preroll: list[_FrameInfo] = []
        self._last_speech_end = -1e9  # audio time of the last speech frame of the last utterance
        self._gap = 0.0  # the open utterance's silence before it

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
        """End of stream: close any open utterance where the audio ends."""
        if self._segment is None:
            return []
        return self._end_segment()

    # -- internals ---------------------------------------------------------------------------
    def _cancel(self, frame: np.ndarray, ref: np.ndarray) -> _FrameInfo:
        """Echo-cancel and gate one frame, and ask the VAD about it."""
        mic = frame.astype(np.float32) / 32768.0
        if self._aec is None:
            if not np.any(ref):
                return self._info(frame, mic, float(np.mean(mic.astype(np.float64) ** 2)) + 1e-12, 0.0, False)
            self._aec = EchoCanceller()  # from the first sound the coach plays, for good
        b = self._aec.s.block
        parts, echo_e = [], 0.0
        for k in range(0, FRAME, b):
            parts.append(self._aec.process_block(mic[k : k + b], ref[k : k + b]))
            echo_e += self._aec.echo_level / (FRAME // b)
        clean = np.concatenate(parts)
        clean_e = float(np.mean(clean.astype(np.float64) ** 2)) + 1e-12
        # Residual echo left alone would reach the VAD as speech, stretch a lifter's "pause
        # please" into a sentence-long segment and delay its commit: gate it first.
        ungated = (np.clip(clean, -1, 1) * 32767).astype(np.int16)
        gated, gated_e = self._gate.process(clean, clean_e, echo_e)
        # Until the canceller has learned the room (~2 s of playback), or while it re-learns a
        # changed one, echo can't be told from a lifter, so speech overlapping the coach is ignored.
        learning = not self._aec.converged or self._aec.relearning
        unsure = learning and float(np.mean(ref.astype(np.float64) ** 2)) > 1e-6
        return self._info(ungated, gated, gated_e, echo_e, unsure)

    def _info(self, ungated: np.ndarray, gated: np.ndarray, energy: float, echo_e: float, unsure: bool) -> _FrameInfo:
        """Run the VAD on the gated frame (of `energy`) and package what the gates need to know."""
        if self._suppressor is not None:
            # Always run, so its noise estimate is current when the background turns steady.
            suppressed = self._suppressor.process(gated)
            self._floor_frames.append(energy)
            if min(self._floor_frames) > self._floor_energy:
                gated = suppressed
        self._vad.feed(gated)
        threshold = self.s.onset if self._segment is None else self.s.offset
        speech = self._vad.prob >= threshold and energy >= self._min_energy
        if self.s.talk_share:
            speech = self._above_talk(speech, energy)
        return _FrameInfo(ungated, speech, energy, echo_e, unsure)

    def _above_talk(self, speech: bool, energy: float) -> bool:
        """`speech` (the VAD's verdict on a frame of `energy`), unless the background is talk
        and the frame isn't louder than it (`SegmentSettings.talk_share`)."""
        self._talk_heard.append(speech)
        self._talk_energy.append(energy)
        if not speech or sum(self._talk_heard) <= self.s.talk_share * self._talk_heard.maxlen:
            return speech
        low, median = np.percentile(self._talk_energy, (20, 50))
        return median > self._talk_spread * low or energy >= self._talk_margin * median

    def _frame(self, frame: np.ndarray, ref: np.ndarray) -> list[Utterance]:
        self._frames += 1
        info = self._cancel(frame, ref)
        if self._segment is None:
            self._history.append(info)
            self._run = self._run + 1 if info.speech else 0
            if self._run >= self.s.onset_frames:
                frames = list(self._history)
                self._segment = frames[-self._run :]
                self._preroll = frames[: -self._run]
                self._last_speech = len(self._segment)
                self._gap = self.time - len(self._segment) * FRAME_S - self._last_speech_end
                self._run = 0
                self._history.clear()
            return []
        self._segment.append(info)
        if info.speech:
            self._last_speech = len(self._segment)
        if len(self._segment) - self._last_speech >= self._window_frames:
            return self._end_segment()
        return []

    def _end_segment(self) -> list[Utterance]:
        segment, preroll = self._segment or [], self._preroll
        self._segment, self._preroll = None, []
        speech = segment[: self._last_speech]
        clean_e = sum(f.clean_e for f in segment)
        echo_e = sum(f.echo_e for f in segment)
        # Echo gate: with ~15-20 dB of cancellation, what's left of the coach's voice is a few
        # percent of the echo removed; a lifter speaking over it leaves far more.
        echo_gated = any(f.unsure for f in segment) or clean_e < self.s.echo_ratio_gate * echo_e
        seconds = len(speech) * FRAME_S
        if echo_gated or seconds < self.s.min_speech:
            return []  # the coach, a click or a plate: no one spoke, so the silence goes on
        self._last_speech_end = self.time - (len(segment) - len(speech)) * FRAME_S
        if seconds > self.s.max_speech or self._gap < self.s.min_gap:
            return []
        kept = self._around(preroll, segment, self._preroll_frames, self._tail_frames)
        echo_share = sum(min(1.0, f.echo_e / f.clean_e) for f in speech) / len(speech)
        return [
            Utterance(
                audio=np.concatenate([f.ungated for f in kept]),
                context=np.concatenate([f.ungated for f in self._around(
                    preroll, segment, self._context_preroll_frames, self._context_tail_frames)]),
                frames=len(speech),
                echo=echo_share,
                end=self.time,
                padding=(len(kept) - len(speech)) * FRAME_S,
                gap=self._gap,
            )
        ]


    def _around(self, preroll: list[_FrameInfo], segment: list[_FrameInfo], before: int,
                after: int) -> list[_FrameInfo]:
        """The utterance's speech frames with up to `before` frames of pre-roll and `after`
        frames of tail."""
        return (preroll[-before:] if before else []) + segment[: self._last_speech + after]


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

    @property
    def segmenter(self) -> UtteranceSegmenter:
        """The segmenter in front: a fusion recognizer shares its engine's."""
        return self._segmenter
