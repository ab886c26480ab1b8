"""Real audio for the speech tests: espeak-ng synthesis at test time, noise and echo mixing."""

from __future__ import annotations

import functools
import io
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 16000

# The shipped vocabulary until session 29, now docs/one-word-commands.toml: the engines' rules
# were measured on its single words ("ready", "help", "slower"), the hard case for every rule.
ONE_WORD_VOCABULARY = Path(__file__).resolve().parent.parent / "docs" / "one-word-commands.toml"


@functools.lru_cache(maxsize=None)
def say(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> np.ndarray:
    """`espeak-ng -v VOICE -s SPEED -p PITCH` as float32 at 16 kHz, leading/trailing silence trimmed."""
    raw = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True).stdout
    x, sr = sf.read(io.BytesIO(raw), dtype="float32")
    x = soxr.resample(x, sr, RATE).astype(np.float32)
    idx = np.nonzero(np.abs(x) > 0.01 * np.abs(x).max())[0]
    return x[idx[0] : idx[-1] + 1]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-12)


def pink(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    f[0] = 1
    x = np.fft.irfft(spec / np.sqrt(f), n)
    return (x / rms(x)).astype(np.float32)


def sequence(texts: list[str], gap: float = 1.5, level: float = 0.05, voice: str = "en-us",
             speed: int = 160, pitch: int = 50, lead: float = 0.8, speak=say):
    """Phrases separated by `gap` s of silence, after `lead` s of it; returns (float audio,
    [(text, start, end)]). `speak(text, voice, speed, pitch)` synthesizes (default: espeak-ng)."""
    parts, spans, pos = [np.zeros(int(lead * RATE), np.float32)], [], int(lead * RATE)
    for t in texts:
        u = speak(t, voice, speed, pitch)
        u = u * (level / rms(u))
        parts += [u, np.zeros(int(gap * RATE), np.float32)]
        spans.append((t, pos / RATE, (pos + len(u)) / RATE))
        pos += len(u) + int(gap * RATE)
    return np.concatenate(parts).astype(np.float32), spans


def add_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    speech = x[np.abs(x) > 1e-4]
    return (x + pink(len(x), seed) * rms(speech) / 10 ** (snr_db / 20)).astype(np.float32)


BABBLE_TEXT = [
    "Did you see the game last night", "I think I left my water bottle in the car",
    "This place gets really busy after six", "We should go hiking when the weather is nice",
    "My knees have been feeling a lot better lately", "What time does the gym close on Sunday",
]


def babble(n: int, talkers: int = 5, seed: int = 0) -> np.ndarray:
    """Other people talking across the room: `talkers` overlapping streams of sentences in
    different espeak-ng voices, unit RMS, `n` samples."""
    rng = np.random.default_rng(seed)
    voices = ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp+m3", "en-us+f2", "en-gb+m7"]
    out = np.zeros(n)
    for k in range(talkers):
        track, pos = np.zeros(n), -int(rng.uniform(0, 2) * RATE)
        while pos < n:
            u = say(BABBLE_TEXT[rng.integers(len(BABBLE_TEXT))], voices[k % len(voices)])
            a, b = max(pos, 0), min(pos + len(u), n)
            if b > a:
                track[a:b] += u[a - pos : b - pos]
            pos += len(u) + int(rng.uniform(0.05, 0.4) * RATE)
        out += track / rms(track)
    return (out / rms(out)).astype(np.float32)


def room_echo(playback: np.ndarray, delay_ms: float, level_db: float, seed: int = 0) -> np.ndarray:
    """What a laptop mic hears of the coach's speaker: delay, a small room's tail, a level."""
    rng = np.random.default_rng(seed)
    L = int((delay_ms / 1000 + 0.2) * RATE)
    t = np.arange(L) / RATE
    ir = rng.standard_normal(L) * np.exp(-6.9 * t / 0.2) * 0.3
    d = int(delay_ms / 1000 * RATE)
    ir[:d] = 0
    ir[d] = 1
    ir /= np.sqrt(np.sum(ir**2))
    y = np.convolve(playback, ir)[: len(playback)]
    return (y * 10 ** (level_db / 20)).astype(np.float32)


def to_int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1, 1) * 32767).astype(np.int16)


def run(rec, x: np.ndarray, chunk: int = 1600, playback: np.ndarray | None = None):
    """Feed int16 audio in `chunk`-sample pieces (+ the playback reference) and flush."""
    x = to_int16(x) if x.dtype != np.int16 else x
    out = []
    for a in range(0, len(x), chunk):
        out += rec.feed(x[a : a + chunk], None if playback is None else playback[a : a + chunk])
    return out + rec.flush()
