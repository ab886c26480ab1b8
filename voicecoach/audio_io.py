"""Audio in and out: files, the mixer, and sound devices."""

from __future__ import annotations

from pathlib import Path

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
