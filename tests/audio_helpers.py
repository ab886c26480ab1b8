"""Helpers shared by the audio I/O tests (files and devices)."""

from __future__ import annotations

import numpy as np
import pytest

RATE = 16000


def tone(seconds: float, freq: float = 440.0, rate: int = RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg
