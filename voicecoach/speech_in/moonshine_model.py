"""Moonshine base (English) as a short-utterance transcriber: audio in, words and confidence out.

The model's files come from the `moonshine-cpp` wheel, pinned by SHA-256 below; on first use
they are rebuilt into fast ONNX models in the user cache directory (`moonshine_convert.py`,
~15 s, with progress), then loaded from there. Decoding is greedy, one token at a time with the
decoder's key/value caches, capped by the utterance's length (a command is a few tokens; a
model that starts repeating itself stops there).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from voicecoach.speech_in import moonshine_convert as mc

PACKAGE = "moonshine_cpp"
SOURCE_FILES = {
    "encoder_model.ort": "9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c",
    "decoder_model_merged.ort": "370e0c1f161d68dc1c2264c1a82024fb123380da3b73f47f05531d1e8d3308c3",
    "tokenizer.bin": "04670d78994d030185c3dd843c60591788fed0a56cc6750747bd326825f13ca9",
}
"""Moonshine base-en as moonshine-cpp 0.1.4 ships it (models/base-en/)."""
CONVERSION = 4
"""Bump when moonshine_convert changes what it writes: old caches are then rebuilt."""
BOS, EOS = 1, 2
TOKENS_PER_SECOND = 8
"""Most tokens decoded per second of audio (plus 4): commands need far fewer."""



class MoonshineUnavailable(Exception):
    """The model can't be found or rebuilt; str() is the one line to show."""


@dataclass(frozen=True)
class Transcript:
    text: str
    """What Moonshine heard, as it wrote it ("Pause, please.")."""
    logprob: float
    """Log-probability of that text (and of its end) under the model: near 0 when sure."""
    ended: bool = True
    """False when the decoder ran out of tokens before choosing its end (a loop in noise: "not
    birds not birds..."). Then `logprob` has no end to count, unlike `score`'s: counting the end
    there was measured (session 16) to add false accepts, since a looping transcript then
    leaves PocketSphinx's phrase more room against it."""


@dataclass(frozen=True)
class Encoded:
    """An utterance as Moonshine's decoder reads it."""

    cross: dict[str, np.ndarray]
    """The cross-attention cache: every layer's keys and values of the encoder's output."""
    seconds: float


def source_dir() -> Path:
    """Where the installed moonshine-cpp keeps Moonshine base-en (without importing it: its own
    native library may not load on this CPU, and voicecoach only needs its files)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MoonshineUnavailable("the Moonshine model is not installed (pip install moonshine-cpp==0.1.4); "
                                   "use --engine pocketsphinx")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "base-en"


def cache_dir() -> Path:
    """The rebuilt models' folder in the user cache directory, named after what made them."""
    import platformdirs

    key = hashlib.sha256(json.dumps([SOURCE_FILES, CONVERSION]).encode()).hexdigest()[:12]
    return Path(platformdirs.user_cache_dir("voicecoach")) / f"moonshine-base-en-{key}"


def _check_sources(src: Path) -> None:
    for name, digest in SOURCE_FILES.items():
        path = src / name
        if not path.is_file():
            raise MoonshineUnavailable(f"the Moonshine model is incomplete: {path} is missing; reinstall moonshine-cpp==0.1.4")
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise MoonshineUnavailable(f"{path} is not the Moonshine model voicecoach was measured with "
                                       "(install moonshine-cpp==0.1.4)")


def _stderr_progress(step: str) -> None:
    print(f"  preparing the speech model (once): {step}...", file=sys.stderr, flush=True)


def prepared_model(folder: Path | None = None, progress: Callable[[str], None] = _stderr_progress) -> Path:
    """The folder of rebuilt models (default: `cache_dir()`), building it first if needed
    (atomically: an interrupted build leaves nothing that looks finished)."""
    out = folder or cache_dir()
    if (out / "provenance.json").is_file():
        return out
    src = source_dir()
    _check_sources(src)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        mc.convert(src / "encoder_model.ort", src / "decoder_model_merged.ort", tmp, progress)
        shutil.copyfile(src / "tokenizer.bin", tmp / "tokenizer.bin")
        (tmp / "provenance.json").write_text(json.dumps(
            {"source": f"{PACKAGE} 0.1.4 models/base-en", "sha256": SOURCE_FILES, "conversion": CONVERSION}, indent=1))
        if (out / "provenance.json").is_file():  # another process finished first: use theirs
            return out
        if out.exists():  # a half-built folder from an older crash
            shutil.rmtree(out)
        tmp.rename(out)
    except OSError as exc:
        if (out / "provenance.json").is_file():  # another process renamed theirs in between
            return out
        raise MoonshineUnavailable(f"cannot prepare the speech model in {out.parent}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_tokenizer(path: Path) -> list[bytes]:
    """Moonshine's token pieces, in id order (moonshine.cpp's format: a length byte, or two for
    lengths over 127, then the piece's bytes; "\u2581" marks a word start)."""
    data, i, pieces = path.read_bytes(), 0, []
    while i < len(data):
        n = data[i]
        i += 1
        if n >= 128:
            n = (n & 0x7F) | (data[i] << 7)
            i += 1
        pieces.append(data[i:i + n])
        i += n
    return pieces


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities from logits over the last axis."""
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def written_forms(phrase: str) -> list[str]:
    """A vocabulary phrase as Moonshine may write a short utterance: capitalized ("I" too),
    perhaps with a comma after the first word ("Pause, please."), ended by a full stop, an
    exclamation or a question mark ("What can I say?")."""
    words = [w[0].upper() + w[1:] if w == "i" or w.startswith("i'") else w for w in phrase.split()]
    words[0] = words[0][0].upper() + words[0][1:]
    texts = [" ".join(words)] + ([words[0] + ", " + " ".join(words[1:])] if len(words) > 1 else [])
    return [text + end for text in texts for end in ".!?"]


class TokenEmbeddings:
    """The step decoder's token-embedding rows (`moonshine_convert.EMBEDDINGS`), read from disk
    as they are needed: a session's transcripts use a few hundred of the 32k rows (13 MB).
    Memory-mapped, the table soon became all resident: the kernel maps 64 KB around each row read."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            if np.lib.format.read_magic(f) != (1, 0):
                raise ValueError(f"{path.name}: not a version 1.0 .npy file")
            (self._count, width), _, self._dtype = np.lib.format.read_array_header_1_0(f)
            self._offset = f.tell()
        self._path = path
        self._size = width * self._dtype.itemsize
        if path.stat().st_size != self._offset + self._count * self._size:
            raise ValueError(f"{path.name} is truncated")
        self._row = lru_cache(maxsize=4096)(self._read_row)  # per instance; ~1.7 MB at most

    def _read_row(self, token: int) -> np.ndarray:
        if not 0 <= token < self._count:
            raise IndexError(f"token {token} out of range")
        with open(self._path, "rb") as f:
            f.seek(self._offset + token * self._size)
            return np.frombuffer(f.read(self._size), self._dtype)

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        """The rows of `ids` (any shape): shape ids.shape + (width,)."""
        return np.stack([self._row(int(i)) for i in ids.ravel()]).reshape(*ids.shape, -1)


class MoonshineTranscriber:
    """Transcribes short utterances (16 kHz float audio) with Moonshine base, on one thread, and
    scores given texts against them."""

    def __init__(self, model_dir: Path | None = None) -> None:
        import onnxruntime as ort

        folder = model_dir or prepared_model()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # the coach's audio threads need the other core
        options.inter_op_num_threads = 1
        # Without onnxruntime's arena, a batch of phrases scored leaves no grown pool behind:
        # 24 MB less peak memory, no slower (measured on a 2 s utterance). Nor a block planned
        # from the last run's sizes: utterances differ in length (1 MB less, same transcripts).
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False

        def session(name: str):
            return ort.InferenceSession(str(folder / name), options, providers=["CPUExecutionProvider"])

        try:
            self._encoder, self._cross, self._step = session(mc.ENCODER), session(mc.CROSS), session(mc.STEP)
            self._pieces = read_tokenizer(folder / "tokenizer.bin")
            # Mapped, not read: a transcript touches a few hundred of the 32k rows (13 MB).
            self._embeddings = TokenEmbeddings(folder / mc.EMBEDDINGS)
        except Exception as exc:  # onnxruntime's load errors share no base class but Exception
            raise MoonshineUnavailable(f"the prepared speech model in {folder} is damaged "
                                       f"({type(exc).__name__}); delete that folder and it is rebuilt") from None
        self._cross_names = [o.name.replace("present", "past_key_values") for o in self._cross.get_outputs()]
        self._self_names = [i.name for i in self._step.get_inputs() if ".decoder." in i.name]
        self._step_outputs = [o.name.replace("present", "past_key_values") for o in self._step.get_outputs()]
        # A self-attention cache is (batch, heads, tokens, head size): an empty one has 0 tokens.
        self._self_shape = next(i.shape for i in self._step.get_inputs() if ".decoder." in i.name)[1::2]
        # Pieces repeat (the byte fallbacks come first): the model writes the later ones.
        self._ids = {piece: i for i, piece in enumerate(self._pieces)}
        self._tokens: dict[str, list[int]] = {}

    def text(self, ids: list[int]) -> str:
        return b"".join(self._pieces[i] for i in ids).decode("utf-8", "replace").replace("\u2581", " ").strip()

    def tokens(self, text: str) -> list[int]:
        """`text` as the model writes it in token ids: byte-pair merges from single characters,
        the earliest piece first (SentencePiece's order; it reproduces the model's own
        transcripts' tokens), memoized."""
        if text not in self._tokens:
            parts = [c.encode("utf-8") for c in "\u2581" + text.replace(" ", "\u2581")]
            while True:
                merges = [(self._ids[a + b], k) for k, (a, b) in enumerate(zip(parts, parts[1:])) if a + b in self._ids]
                if not merges:
                    break
                _, k = min(merges)
                parts[k : k + 2] = [parts[k] + parts[k + 1]]
            missing = [p for p in parts if p not in self._ids]
            if missing:
                raise ValueError(f"Moonshine's tokenizer cannot write {missing[0]!r} of {text!r}")
            self._tokens[text] = [self._ids[p] for p in parts]
        return self._tokens[text]

    def encode(self, audio: np.ndarray) -> Encoded:
        """The decoder's view of `audio` (float32 in -1..1, 16 kHz, at least 0.1 s), for
        `decode` and `score`."""
        hidden = self._encoder.run(None, {"input_values": audio[None].astype(np.float32)})[0]
        cross = self._cross.run(None, {"encoder_hidden_states": hidden})
        return Encoded(dict(zip(self._cross_names, cross)), len(audio) / 16000)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Greedy transcript of `audio` (float32 in -1..1, 16 kHz, at least 0.1 s)."""
        return self.decode(self.encode(audio))

    def _run(self, encoded: Encoded, ids: np.ndarray, past: dict[str, np.ndarray] | None) -> list[np.ndarray]:
        """One decoder pass over `ids` (batch x tokens) after the tokens cached in `past`
        (None: none yet, so `ids` start with BOS): logits, then the new self-attention cache."""
        # The cross-attention cache stays at batch 1: its attention MatMuls broadcast it over
        # the batch (identical scores; 3 MB per second of audio not copied per row).
        feeds = dict(encoded.cross)
        feeds.update(past or {n: np.zeros((len(ids), self._self_shape[0], 0, self._self_shape[1]), np.float32)
                              for n in self._self_names})
        feeds[mc.EMBEDDED] = self._embeddings[ids]
        return self._step.run(None, feeds)

    def decode(self, encoded: Encoded) -> Transcript:
        """Greedy transcript of encoded audio, with the decoder's self-attention cache."""
        outs = self._run(encoded, np.array([[BOS]], np.int64), None)
        ids: list[int] = []
        logprob = 0.0
        for _ in range(int(encoded.seconds * TOKENS_PER_SECOND) + 4):
            logits = log_softmax(outs[0][0, -1].astype(np.float64))
            top = int(np.argmax(logits))
            logprob += logits[top]
            if top == EOS:
                return Transcript(self.text(ids), round(float(logprob), 4))
            ids.append(top)
            past = {n: o for n, o in zip(self._step_outputs, outs) if ".decoder." in n}
            outs = self._run(encoded, np.array([[top]], np.int64), past)
        return Transcript(self.text(ids), round(float(logprob), 4), ended=False)

    def score(self, encoded: Encoded, texts: list[str]) -> list[float]:
        """Log-probability of each text (and of its end) for encoded audio, all in one batched
        pass of the decoder: comparable with a `Transcript`'s."""
        seqs = [self.tokens(t) + [EOS] for t in texts]
        longest = max(map(len, seqs))
        # Causal attention: what pads a shorter text's end can't change its own positions.
        ids = np.array([[BOS] + s[:-1] + [EOS] * (longest - len(s)) for s in seqs], np.int64)
        logits = self._run(encoded, ids, None)[0]
        # A position at a time: a text's whole float64 log-softmax is 2.6 MB per 10 tokens,
        # several times over in temporaries, for the one entry per position read from it.
        return [round(float(sum(log_softmax(row[t].astype(np.float64))[tok] for t, tok in enumerate(seq))), 4)
                for row, seq in zip(logits, seqs)]
