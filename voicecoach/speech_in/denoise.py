"""Steady-noise suppression for 30 ms frames, with no look-ahead: a fan or a hum under the
lifter's voice makes every frame look like speech to a voice activity detector, which then
glues a command to the noise around it into a segment too long to be one.

Per frame: a spectrum over the previous and current frame (an asymmetric window: a half-Hann
rise over the previous frame, flat over the current one, so the current frame can be
returned at once), a per-bin noise estimate that follows the spectrum's floor (fast down,
slow up, frozen while the frame is much louder than it), a Wiener-like gain with a floor, and
the current frame's part of the inverse transform. Crude as audio, but what it takes out is
what made the endpointer hear speech everywhere. numpy only, ~1% of a core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DenoiseSettings:
    over: float = 2.0
    """Over-subtraction: gain = 1 - over * noise / power (per bin)."""
    floor: float = 0.1
    """Lowest per-bin gain (-20 dB): keeps some of the noise, so no musical-noise bursts."""
    rise: float = 0.01
    """Per-frame relative growth allowed to the noise estimate (~+1.4 dB/s at 30 ms frames):
    it climbs slowly, so a word doesn't become noise; it falls at once when the floor drops."""
    average: float = 0.7
    """Time smoothing of the per-bin power the noise floor tracks (a raw bin's minimum sits far
    below its mean)."""
    bias: float = 1.5
    """The tracked minimum of the smoothed power, times this, estimates the noise's mean."""
    smooth: float = 0.5
    """Time smoothing of the per-bin gains (0 = none), against frame-border clicks."""


class NoiseSuppressor:
    """Stateful: feed equal-length float frames in stream order, get them back denoised."""

    def __init__(self, frame: int, settings: DenoiseSettings = DenoiseSettings()) -> None:
        self.s = settings
        self.frame = frame
        rise = np.sin(np.linspace(0, np.pi / 2, frame, endpoint=False)) ** 2
        self._win = np.concatenate([rise, np.ones(frame)])
        self._prev = np.zeros(frame)
        self._noise: np.ndarray | None = None
        self._gain = np.ones(frame + 1)
        self.noise_level = 0.0
        """Estimated noise power per sample (float scale, full scale = 1): the noise floor."""

    def process(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        spec = np.fft.rfft(np.concatenate([self._prev, x]) * self._win)
        self._prev = x
        power = np.abs(spec) ** 2
        if self._noise is None:
            self._smoothed = power + 1e-12
            self._noise = self._smoothed.copy()
        else:
            a = self.s.average
            self._smoothed = a * self._smoothed + (1 - a) * power + 1e-12
            # Minimum tracking: down at once, up slowly (a word lasts too little to lift it).
            self._noise = np.minimum(self._smoothed, self._noise * (1.0 + self.s.rise))
        noise = self.s.bias * self._noise
        # Parseval: mean power per sample of what the window saw.
        self.noise_level = float(np.sum(noise) * 2 / len(self._win) / np.sum(self._win**2))
        gain = np.clip(1.0 - self.s.over * noise / (power + 1e-12), self.s.floor, 1.0)
        gain = self.s.smooth * self._gain + (1 - self.s.smooth) * gain
        self._gain = gain
        return np.fft.irfft(spec * gain, len(self._win))[self.frame :].astype(np.float32)
