"""Echo cancellation: remove the coach's own voice from the microphone signal.

The coach knows exactly what it played (the `playback` reference), so an adaptive filter can
learn the speaker -> room -> microphone path and subtract its estimate of the echo. This is a
partitioned-block frequency-domain NLMS filter (the textbook PBFDAF, as in SpeexDSP and WebRTC
AEC), in numpy: 15 ms blocks, 200 ms of echo tail, costs ~1-2% of a core.

What cancellation leaves (residual echo, nonlinear speaker distortion) is handled three ways:
a mild per-bin residual-echo suppressor in the canceller; `ResidualEchoGate`, which silences
frames the echo estimate explains (the "non-linear processing" stage of WebRTC's AEC), so the
residual doesn't glue itself to a lifter's command and make it look like a sentence; and the
recognizer's raised acceptance threshold while the coach is talking (see
`EchoCanceller.echo_level`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EchoSettings:
    block: int = 240
    """Samples per adaptation block (15 ms at 16 kHz)."""
    tail_ms: float = 200.0
    """Longest echo path the filter can model (ms): speaker delay + room reverberation."""
    step: float = 0.5
    """NLMS step size (0..1); scaled down automatically during double talk."""
    suppress: float = 1.0
    """Residual-echo suppression strength (0 disables)."""
    floor: float = 0.1
    """Lowest per-bin gain the suppressor applies (keeps near-end speech intelligible)."""


def to_float(samples: np.ndarray) -> np.ndarray:
    """int16 or float audio -> float32 in [-1, 1] (playback may come in either form)."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    return np.asarray(samples, dtype=np.float32)


class EchoCanceller:
    """Stateful canceller: feed equal-length mic and reference blocks in stream order.

    Two filters model the echo path (the "two-path" structure of SpeexDSP's canceller): the
    foreground one, whose output is used, adapts only as much as double-talk detection allows,
    so a lifter talking over the coach doesn't make it unlearn the room; the background one
    always adapts at the full step, so it re-learns a changed path (the laptop moved, the
    volume changed) within a second. When the background filter cancels clearly better for a
    while it is copied into the foreground; when it diverges (double talk) it is reset from it.
    Without this a path change leaves loud residual echo that the double-talk detector takes
    for a lifter, and adaptation stays slowed: on the corpus's coach-echo negatives, whose
    echo path changes every 20 s, that residual made most of the coach's false commands.
    """

    SWAP_BLOCKS = 8
    """Blocks (120 ms) the background filter must win by 3 dB before it is copied."""

    def __init__(self, settings: EchoSettings = EchoSettings()) -> None:
        self.s = settings
        b = settings.block
        self.parts = max(1, int(np.ceil(settings.tail_ms / 1000 * 16000 / b)))
        self.bins = b + 1
        self.W = np.zeros((self.parts, self.bins), np.complex128)
        """Foreground filter (partitioned, frequency domain): its echo estimate is subtracted."""
        self.W_bg = np.zeros_like(self.W)
        """Background filter: always adapting at the full step."""
        self.X = np.zeros((self.parts, self.bins), np.complex128)
        self.prev_ref = np.zeros(b, np.float64)
        self.power = np.full(self.bins, 1e-6)
        self._adapted = 0  # blocks adapted with the far end active
        self._err_fg = self._err_bg = 0.0  # smoothed error powers of the two filters
        self._bg_wins = 0  # consecutive blocks the background filter has won
        self.echo_level = 0.0
        """Estimated echo power in the last block, before cancellation (linear, float scale)."""
        self.residual_level = 0.0
        """Estimated echo power left after cancellation and suppression."""

    @property
    def converged(self) -> bool:
        """Has the filter adapted on ~2 s of playback (enough to trust its echo estimate)?"""
        return self._adapted >= 2 * 16000 // self.s.block

    @property
    def relearning(self) -> bool:
        """Is the background filter cancelling clearly better than the foreground one? Then
        the echo path has just changed, and the foreground's echo estimate is stale."""
        return self._err_bg < 0.5 * self._err_fg

    def _estimate(self, W: np.ndarray) -> np.ndarray:
        """The echo `W` predicts for the current block (time domain)."""
        b = self.s.block
        return np.fft.irfft((W * self.X).sum(axis=0), 2 * b)[b:]

    def _adapt(self, W: np.ndarray, err: np.ndarray, mu: float) -> np.ndarray:
        """One constrained NLMS step of `W` on the block's error."""
        b = self.s.block
        E = np.fft.rfft(np.concatenate([np.zeros(b), err]))
        grad = (mu * E / (self.power * self.parts + 1e-6))[None, :] * np.conj(self.X)
        w = np.fft.irfft(W + grad, 2 * b, axis=1)
        w[:, b:] = 0.0  # gradient constraint: keep the filter causal and linear-convolution
        return np.fft.rfft(w, axis=1)

    def process_block(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """One block of `settings.block` float samples in, the echo-cancelled block out."""
        b = self.s.block
        ref = ref.astype(np.float64)
        mic = mic.astype(np.float64)
        # Newest reference spectrum (overlap-save: previous + current block) goes in front.
        self.X = np.roll(self.X, 1, axis=0)
        self.X[0] = np.fft.rfft(np.concatenate([self.prev_ref, ref]))
        self.prev_ref = ref
        y_hat = self._estimate(self.W)
        err = mic - y_hat
        err_bg = mic - self._estimate(self.W_bg)

        far = float(np.mean(ref**2))
        echo_pow = float(np.mean(y_hat**2))
        err_pow = float(np.mean(err**2)) + 1e-12
        self.power = 0.9 * self.power + 0.1 * np.abs(self.X[0]) ** 2
        if far > 1e-7:
            # Double talk: when the error is much larger than the echo estimate, near-end speech
            # (the lifter) is present, and adapting on it would unlearn the echo path.
            # During the first ~2 s of playback the filter knows nothing yet (its echo estimate is
            # ~0), so this test would freeze it: adapt at the full step until it has learned.
            self._adapted += 1
            if self._adapted < 2 * 16000 // b:
                mu = self.s.step
            else:
                mu = self.s.step * min(1.0, 2.0 * echo_pow / err_pow + 0.05)
            self.W = self._adapt(self.W, err, mu)
            self.W_bg = self._adapt(self.W_bg, err_bg, self.s.step)
            self._compare(err_pow, float(np.mean(err_bg**2)) + 1e-12)

        self.echo_level = echo_pow
        out = err
        if self.s.suppress > 0 and echo_pow > 1e-9:
            # Residual echo suppression: attenuate bins where the echo estimate dominates.
            win = np.hanning(b)
            Y = np.fft.rfft(y_hat * win)
            Eb = np.fft.rfft(err * win)
            gain = 1.0 - self.s.suppress * 0.25 * np.abs(Y) ** 2 / (np.abs(Eb) ** 2 + 1e-12)
            gain = np.clip(gain, self.s.floor, 1.0)
            # Apply a smoothed broadband version (per-bin gains on 15 ms blocks without overlap
            # would click); the recognizer only needs the level right, not perfect audio.
            g = float(np.sqrt(np.mean(gain**2)))
            out = err * g
        self.residual_level = 0.1 * echo_pow
        return out.astype(np.float32)

    def _compare(self, err_fg: float, err_bg: float) -> None:
        """Copy the background filter over the foreground one when it has cancelled clearly
        better for a while, or reset it from the foreground one when it has diverged."""
        self._err_fg = 0.8 * self._err_fg + 0.2 * err_fg
        self._err_bg = 0.8 * self._err_bg + 0.2 * err_bg
        if self.relearning:
            self._bg_wins += 1
            if self._bg_wins >= self.SWAP_BLOCKS:
                self.W = self.W_bg.copy()
                self._err_fg, self._bg_wins = self._err_bg, 0
        else:
            self._bg_wins = 0
            if self._err_bg > 4.0 * self._err_fg:
                self.W_bg = self.W.copy()
                self._err_bg = self._err_fg


@dataclass(frozen=True)
class GateSettings:
    near_end_ratio: float = 0.16
    """A frame whose energy after cancellation is at least this share of the echo energy the
    canceller predicted (-8 dB) has someone else in it: double talk, kept. Quieter frames are
    residual echo. (Measured on espeak-ng barge-ins over -6..-20 dB echo: -8 dB keeps ~3/4 of
    the lifter's frames before hangover and ~1% of echo frames louder than -45 dBFS.)"""
    hangover: int = 5
    """Frames kept after the last double-talk frame (150 ms at 30 ms frames): the weak parts
    of a word (stops, fricatives) dip under the ratio and must not be cut out of it."""
    tail_frames: int = 7
    """Residual echo in a frame can come from any echo of the last ~200 ms (the room's tail, which
    the filter models only in part): a frame is compared with the loudest echo predicted over
    this many frames, not just its own."""
    residual_gain: float = 0.03
    """Gain on residual-echo frames (-30 dB): enough that no voice activity detector takes the
    coach's leftover voice for speech, not digital silence (which upsets cepstral means)."""


class ResidualEchoGate:
    """Per-frame residual-echo suppression after the canceller, with double-talk detection."""

    def __init__(self, settings: GateSettings = GateSettings()) -> None:
        self.s = settings
        self._hold = 0
        self._recent_echo: deque[float] = deque(maxlen=settings.tail_frames)

    def process(self, clean: np.ndarray, clean_e: float, echo_e: float) -> tuple[np.ndarray, float]:
        """One echo-cancelled frame (float), its energy and the echo energy predicted for it ->
        the frame to use and its energy. Frames with no echo predicted pass untouched."""
        self._recent_echo.append(echo_e)
        if clean_e >= self.s.near_end_ratio * max(self._recent_echo):
            self._hold = self.s.hangover
            return clean, clean_e
        if self._hold > 0:
            self._hold -= 1
            return clean, clean_e
        g = self.s.residual_gain
        return clean * g, clean_e * g * g
