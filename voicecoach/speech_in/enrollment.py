"""Enrollment: adapt the neural recognizer to one lifter's voice from a few recordings.

The lifter says each command a few times (`voicecoach enroll` prompts and records). Each take
is embedded exactly as the live stream would be, the head's last hidden layer is read at the
moments the command should fire, and only the final linear layer is re-fitted: on those takes,
plus a bank of hidden activations from the training data (shipped with the model) so the other
commands and the "speech"/"silence" classes don't drift, with a pull towards the shipped
weights. A few seconds of numpy; no torch at run time.

Stored as one small .npz in the user data directory (platformdirs); `remove_enrollment()`
deletes it and the shipped model is used again.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE
from voicecoach.speech_in.embedding import STEP, embed_clip, first_step
from voicecoach.speech_in.neural_backend import CONTEXT, HeadWeights, head_hidden, load_head, softmax

FILE = "neural_enrollment.npz"
LEAD = 2.1  # seconds of quiet before a take: the head needs ~2 s of history
FIRE = (0.08, 0.64)  # the windows after a phrase's end that must fire (as in training)


def enrollment_path() -> Path:
    """Where a lifter's adaptation lives (user data dir; removable)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("voicecoach")) / FILE


def _to_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)


def _speech_bounds(x: np.ndarray) -> tuple[int, int]:
    """First and last sample of the take louder than 10% of its peak 10 ms energy."""
    env = np.convolve(np.abs(x), np.ones(160) / 160, mode="same")
    idx = np.nonzero(env > 0.1 * env.max())[0]
    return (int(idx[0]), int(idx[-1])) if len(idx) else (0, len(x))


def take_features(head: HeadWeights, take: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One recorded take -> (hidden activations at firing moments, before the phrase)."""
    x = _to_float(take)
    a, b = _speech_bounds(x)
    x = x[max(0, a - 800) : b + 800]
    rng = np.random.default_rng(seed)
    floor = max(1e-4, float(np.sqrt(np.mean(x**2))) * 0.01)
    pre = rng.standard_normal(int(LEAD * SAMPLE_RATE)).astype(np.float32) * floor
    post = rng.standard_normal(int(0.9 * SAMPLE_RATE)).astype(np.float32) * floor
    clip = np.concatenate([pre, x, post])
    emb = embed_clip(clip)
    end = (len(pre) + len(x) - 800) / SAMPLE_RATE
    start = (len(pre) + 800) / SAMPLE_RATE
    rows = np.arange(CONTEXT - 1, len(emb))
    t = (first_step() + rows + 1) * STEP / SAMPLE_RATE
    win = emb[rows[:, None] + np.arange(-CONTEXT + 1, 1)[None, :]].astype(np.float32)
    hid = head_hidden(head, win)
    fire = (t >= end + FIRE[0]) & (t <= end + FIRE[1])
    quiet = t < start
    return hid[fire], hid[quiet]


def adapt(head: HeadWeights, takes: dict[str, list[np.ndarray]], steps: int = 300,
          lr: float = 0.05, pull: float = 0.02) -> dict[str, np.ndarray]:
    """Re-fit the final layer on `takes` (phrase -> recordings); returns {l2_w, l2_b}."""
    bank = head.arrays.get("bank_hidden")
    bank_y = head.arrays.get("bank_label")
    feats, ys, weights = [], [], []
    silence = head.classes.index("silence")
    for phrase, recs in takes.items():
        k = head.classes.index(phrase)
        for i, r in enumerate(recs):
            fire, quiet = take_features(head, r, seed=i)
            feats += [fire, quiet]
            ys += [np.full(len(fire), k), np.full(len(quiet), silence)]
            weights += [np.full(len(fire), 3.0), np.full(len(quiet), 1.0)]
    if bank is not None:
        feats.append(bank.astype(np.float32))
        ys.append(bank_y.astype(np.int64))
        weights.append(np.ones(len(bank)))
    X, y, w = np.concatenate(feats), np.concatenate(ys).astype(np.int64), np.concatenate(weights)
    w = w / w.sum()
    W0, b0 = head.arrays["l2_w"].astype(np.float64), head.arrays["l2_b"].astype(np.float64)
    W, b = W0.copy(), b0.copy()
    onehot = np.eye(len(head.classes))[y]
    for _ in range(steps):  # full-batch gradient descent on weighted cross-entropy
        p = softmax(X @ W.T + b)
        g = (p - onehot) * w[:, None]
        W -= lr * (g.T @ X + pull * (W - W0))
        b -= lr * (g.sum(0) + pull * (b - b0))
    return {"l2_w": W.astype(np.float32), "l2_b": b.astype(np.float32)}


def enroll(takes: dict[str, list[np.ndarray]], head: HeadWeights | None = None,
           path: Path | None = None) -> Path:
    """Adapt to the lifter's takes and save; returns the file written."""
    head = head if head is not None else load_head(bank=True)
    unknown = sorted(set(takes) - set(head.classes))
    if unknown:
        raise ValueError(f"not phrases of the neural model: {', '.join(unknown)}")
    layer = adapt(head, takes)
    path = path or enrollment_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **layer, phrases=np.array(sorted(takes)), created=np.array(time.strftime("%Y-%m-%d %H:%M")),
             classes=np.array(head.classes))
    return path


def load_enrollment(head: HeadWeights, path: Path | None = None) -> HeadWeights:
    """`head` with the stored adaptation applied (unchanged if there is none or it doesn't fit)."""
    path = path or enrollment_path()
    if not path.exists():
        return head
    with np.load(path) as z:
        if list(z["classes"]) != head.classes:
            return head  # made for another model version: ignore rather than misfire
        arrays = dict(head.arrays, l2_w=z["l2_w"], l2_b=z["l2_b"])
    return HeadWeights(arrays=arrays, classes=head.classes, phrase_command=head.phrase_command,
                       thresholds=head.thresholds, smooth=head.smooth,
                       provenance=dict(head.provenance, enrollment=str(path)))


def remove_enrollment(path: Path | None = None) -> bool:
    """Delete the stored adaptation; True if there was one."""
    path = path or enrollment_path()
    if path.exists():
        path.unlink()
        return True
    return False
