"""The shipped voice activity detector: real speech vs noise, and a damaged model file."""

from __future__ import annotations

import numpy as np
import pytest

from speech_helpers import RATE, pink, say
from voicecoach.speech_in.engines import EngineError
from voicecoach.speech_in.vad import MODEL_PATH, SileroVad


def probabilities(x: np.ndarray, chunk: int) -> list[float]:
    vad, out = SileroVad(), []
    for a in range(0, len(x), chunk):
        vad.feed(x[a : a + chunk])
        out.append(vad.prob)
    return out


def test_speech_in_noise_is_speech_and_noise_is_not():
    word = say("stop")
    noise = pink(RATE * 3, 2) * 0.01  # -40 dBFS
    x = noise.copy()
    x[RATE : RATE + len(word)] += word * (0.05 / np.sqrt(np.mean(word**2)))  # 14 dB above the noise
    p = np.array(probabilities(x, 512))
    t = np.arange(len(p)) * 512 / RATE
    assert p[(t > 1.05) & (t < 1.0 + len(word) / RATE)].max() > 0.8
    assert p[t < 0.9].max() < 0.3 and p[t > 2.2].max() < 0.3


def test_chunking_does_not_change_the_probabilities():
    x = say("pause please") * 0.3
    a = probabilities(np.concatenate([x, np.zeros(1024, np.float32)]), 512)
    vad = SileroVad()
    for start in range(0, len(x) + 1024, 333):  # odd chunks: same windows, same outputs
        vad.feed(np.concatenate([x, np.zeros(1024, np.float32)])[start : start + 333])
    assert vad.prob == pytest.approx(a[-1], abs=1e-6)


def test_a_damaged_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "silero_vad.onnx"
    bad.write_bytes(MODEL_PATH.read_bytes()[:-10])
    with pytest.raises(EngineError, match="not the shipped Silero VAD"):
        SileroVad(bad)
    with pytest.raises(EngineError, match="can't be read"):
        SileroVad(tmp_path / "missing.onnx")
