"""Vosk (Kaldi) as a streaming command recognizer, restricted to the vocabulary plus "[unk]".

The front half is the shared one (`segmenter.py`): 30 ms frames whatever the chunking, echo
cancellation and gating, and only short isolated utterances get this far: a command inside a
sentence makes a segment too long to decode. Each utterance is decoded whole by a Vosk recognizer
whose grammar is the vocabulary's phrases plus the model's unknown-word symbol, and the final
result is accepted only when (see `interpret_result`):
1. it is exactly one phrase of the vocabulary (the grammar is compiled to a bigram model that
   happily strings phrases together, "stop stop");
2. no word is "[unk]": with a small grammar Vosk maps unrelated speech onto grammar words, and
   [unk] gives that speech somewhere else to go (alphacep/vosk-api#1339);
3. every word's confidence (lattice posterior) reaches `min_confidence`, raised while the coach
   is talking over the utterance;
4. the words span at most `max_phrase` seconds.
`detected_at` is the audio time the segmenter closed the utterance.

The model directory is the user's (`--vosk-model DIR` or $VOICECOACH_VOSK_MODEL); each problem
with it is one EngineError line. Loaded models are cached per process: loading takes seconds,
and a benchmark or a test makes many recognizers.

The thresholds here are untuned: no English Vosk model can be downloaded on the machines this
was written on. Measure with `scripts/bench_commands.py --vosk-model DIR` before trusting them.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voicecoach.speech_in.base import SAMPLE_RATE, Detection
from voicecoach.speech_in.engines import EngineError
from voicecoach.speech_in.segmenter import SegmentedRecognizer, SegmentSettings, Utterance, UtteranceSegmenter
from voicecoach.speech_in.vocabulary import Vocabulary

ENV_VAR = "VOICECOACH_VOSK_MODEL"
"""Environment variable naming the Vosk model directory (when none is passed)."""

NO_MODEL = (
    "--engine vosk needs a model: download vosk-model-small-en-us-0.15 from the Vosk models page, "
    "unzip it, and pass --vosk-model DIR or set VOICECOACH_VOSK_MODEL"
)
NOT_INSTALLED = "the vosk engine needs the vosk package: pip install 'voicecoach[vosk]'"

UNK_SYMBOLS = ("[unk]", "<unk>", "<UNK>")
"""How models spell the unknown word (Vosk's English models use [unk], Kaldi recipes <UNK>)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoskSettings:
    segments: SegmentSettings = SegmentSettings()
    """Segmentation, the length gates and the echo gate (shared with the other backends)."""
    min_confidence: float = 0.8
    """Lowest per-word confidence (0..1, Vosk's lattice posterior) accepted."""
    echo_confidence: float = 0.15
    """Added to `min_confidence`, per unit of echo share, while the coach talks over the
    utterance (capped just below 1: a confident barge-in must still get through)."""
    max_phrase: float = 1.3
    """Longest span (seconds) from the first word's start to the last word's end."""


# -- the model directory ---------------------------------------------------------------------------
def _is_model_dir(path: Path) -> bool:
    """A Kaldi/Vosk model: an acoustic model and a decoding graph (static HCLG, or the
    lookahead HCLr + Gr of the small models, which is what lets a grammar be set at run time)."""
    graph = path / "graph"
    has_graph = (graph / "HCLG.fst").is_file() or (graph / "HCLr.fst").is_file() or (path / "HCLG.fst").is_file()
    return (path / "am" / "final.mdl").is_file() and has_graph


def grammar_ignored(path: Path) -> str | None:
    """One warning line when the model at `path` can't be restricted to a grammar, else None.

    Only models with a lookahead graph (graph/HCLr.fst + graph/Gr.fst: the "small" ones) can
    be given a grammar at run time; Vosk loads a static HCLG.fst instead when there is one. A
    large model (HCLG.fst, no Gr.fst) ignores the grammar with at most a log line (silenced
    here) and decodes free English: the rejection then rests on the exact-phrase and length
    tests alone.
    """
    static = (path / "graph" / "HCLG.fst").is_file() or (path / "HCLG.fst").is_file()
    if not static and (path / "graph" / "Gr.fst").is_file():
        return None
    return (
        f"the Vosk model {path} has no graph/Gr.fst (a large model with a static HCLG graph): it "
        "ignores the command grammar and decodes free speech, so expect more misses and false "
        "commands; use a small model such as vosk-model-small-en-us-0.15"
    )


@functools.lru_cache(maxsize=None)
def _warn_grammar_ignored(path: str) -> None:
    """Log `grammar_ignored` once per model directory per process (benchmarks make many recognizers)."""
    warning = grammar_ignored(Path(path))
    if warning:
        log.warning(warning)


def resolve_model_dir(model_dir: str | os.PathLike[str] | None) -> Path:
    """The model directory to use, or EngineError saying (in one line) what is wrong with it."""
    if model_dir is None or str(model_dir) == "":
        model_dir = os.environ.get(ENV_VAR) or None
    if model_dir is None:
        raise EngineError(NO_MODEL)
    path = Path(model_dir).expanduser()
    if not path.exists():
        raise EngineError(f"Vosk model directory {path} does not exist")
    if not path.is_dir():
        raise EngineError(f"Vosk model {path} is a file, not a directory: unzip it and pass the folder")
    if not _is_model_dir(path):
        # The usual slip: pointing at the folder the zip was unpacked into.
        inner = sorted(p for p in path.iterdir() if p.is_dir() and _is_model_dir(p))
        hint = f"; did you mean {inner[0]}?" if len(inner) == 1 else ""
        raise EngineError(f"{path} is not a Vosk model (no am/final.mdl and graph/ inside){hint}")
    return path


def _import_vosk() -> Any:
    try:
        import vosk
    except ImportError:
        raise EngineError(NOT_INSTALLED) from None
    # Kaldi logs every loading step to stderr; `voicecoach listen` output must stay clean.
    vosk.SetLogLevel(-1)
    return vosk


def _libc_srand() -> Callable[[int], None] | None:
    """libc's srand, or None where it can't be reached (then results vary a little run to run).

    Kaldi dithers its features (adds ~1 LSB of Gaussian noise) drawing from libc's rand(); Vosk
    models leave dither on and Vosk has no option for it, so the same audio decodes to different
    confidences (0.89 vs 0.95 seen) from run to run. Reseeding before each utterance makes a
    result depend on that utterance's audio alone: reproducible tests and benchmarks.
    """
    try:
        return ctypes.CDLL(None).srand
    except (OSError, AttributeError, TypeError):  # TypeError: no CDLL(None) on Windows
        return None


_SRAND = _libc_srand()


@functools.lru_cache(maxsize=2)
def _load_model(path: str) -> Any:
    vosk = _import_vosk()
    try:
        return vosk.Model(path)
    except Exception as exc:  # vosk raises a bare Exception("Failed to create a model")
        raise EngineError(f"{path}: Vosk could not load this model ({exc})") from None


# -- the grammar -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lexicon:
    """The vocabulary as the model can hear it."""

    grammar: dict[str, str]
    """Vocabulary phrase -> the phrase spelled as the model's lexicon spells it."""
    missing: dict[str, list[str]]
    """Vocabulary phrase -> its words the model doesn't know (those phrases are left out)."""
    unk: str | None
    """The model's unknown-word symbol, or None if it has none."""


def match_lexicon(vocabulary: Vocabulary, knows: Any) -> Lexicon:
    """Spell each phrase the model's way; `knows(word) -> bool` asks the model's lexicon.

    Vosk silently drops grammar phrases with unknown words (a log line at most), so this is
    checked here, where it can be reported. Our phrases are lowercase; Kaldi lexicons built from
    uppercase transcripts (LibriSpeech recipes) spell words in capitals, so both are tried.
    """
    grammar: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for phrase in vocabulary.phrases:
        spelled, lacking = [], []
        for word in phrase.split():
            form = next((f for f in (word, word.upper()) if knows(f)), None)
            if form is None:
                lacking.append(word)
            else:
                spelled.append(form)
        if lacking:
            missing[phrase] = lacking
        else:
            grammar[phrase] = " ".join(spelled)
    unk = next((u for u in UNK_SYMBOLS if knows(u)), None)
    return Lexicon(grammar, missing, unk)


def lexicon_problems(vocabulary: Vocabulary, lexicon: Lexicon, where: str) -> tuple[str | None, str | None]:
    """(error, warning) about phrases the model can't hear, each one line or None.

    A command with no phrase left is an error: silently losing "stop" or "pain" is not an
    option. Losing some of a command's phrases is a warning naming them.
    """
    if not lexicon.missing:
        return None, None
    words = sorted({w for ws in lexicon.missing.values() for w in ws})
    left = {vocabulary.phrases[p] for p in lexicon.grammar}
    deaf = [c for c in vocabulary.commands if c not in left]
    if deaf:
        return (
            f"the Vosk model {where} can't recognize command(s) {', '.join(deaf)}: "
            f"word(s) missing from its lexicon: {', '.join(words)} "
            "(use an English model, or rephrase in the vocabulary file)"
        ), None
    return None, (
        f"the Vosk model {where} lacks word(s) {', '.join(words)}; "
        f"phrase(s) not recognized: {', '.join(sorted(lexicon.missing))}"
    )


# -- results ---------------------------------------------------------------------------------------
def interpret_result(
    result: str | dict,
    vocabulary: Vocabulary,
    at: float,
    echo: float = 0.0,
    settings: VoskSettings = VoskSettings(),
) -> Detection | None:
    """A Vosk final result (JSON with SetWords(True) word entries) -> a Detection, or None when
    rejected. `at` is the commit time in stream audio seconds, `echo` the utterance's echo share."""
    if isinstance(result, str):
        result = json.loads(result)
    words = result.get("result") or []
    if not words:
        return None
    if any(w["word"] in UNK_SYMBOLS for w in words):
        return None  # part of the utterance was something else: not a command said alone
    text = " ".join(w["word"] for w in words).lower()
    command = vocabulary.phrases.get(text)
    if command is None:
        return None  # several phrases strung together
    if words[-1]["end"] - words[0]["start"] > settings.max_phrase:
        return None
    floor = min(settings.min_confidence + settings.echo_confidence * echo, 0.99)
    confidence = min(float(w["conf"]) for w in words)
    if confidence < floor:
        return None
    return Detection(command, text, round(confidence, 3), round(at, 3))


class VoskRecognizer(SegmentedRecognizer):
    """Streaming CommandRecognizer over a Vosk model directory (see the module docstring).

    `playback`, when given, may be int16 or float32 in [-1, 1]; it must be the samples the coach
    played over exactly the same span as `samples`, at 16 kHz.
    """

    name = "vosk"

    def __init__(
        self,
        vocabulary: Vocabulary,
        model_dir: str | os.PathLike[str] | None,
        settings: VoskSettings = VoskSettings(),
    ) -> None:
        path = resolve_model_dir(model_dir)
        vosk = _import_vosk()
        model = _load_model(str(path.resolve()))
        _warn_grammar_ignored(str(path.resolve()))
        self.vocabulary = vocabulary
        self.s = settings
        self.lexicon = match_lexicon(vocabulary, lambda w: model.vosk_model_find_word(w) >= 0)
        error, self.warning = lexicon_problems(vocabulary, self.lexicon, str(path))
        """One line about vocabulary phrases this model can't hear (None if it hears them all)."""
        if error:
            raise EngineError(error)
        if self.warning:
            log.warning(self.warning)
        phrases = list(self.lexicon.grammar.values()) + ([self.lexicon.unk] if self.lexicon.unk else [])
        # ensure_ascii=False: Vosk reads the JSON's bytes, not its \u escapes.
        self._rec = vosk.KaldiRecognizer(model, SAMPLE_RATE, json.dumps(phrases, ensure_ascii=False))
        self._rec.SetWords(True)
        self._segmenter = UtteranceSegmenter(settings.segments)
        self.trace: list[tuple[float, dict]] | None = None
        """Set to [] to record (time, Vosk's final result) per decoded utterance (tuning, tests)."""


    def _recognize(self, utterance: Utterance) -> list[Detection]:
        # The whole utterance in one call, then FinalResult (which also resets the recognizer
        # for the next one): Vosk never sees the caller's chunking.
        if _SRAND is not None:
            _SRAND(0)
        self._rec.AcceptWaveform(utterance.audio.tobytes())
        result = json.loads(self._rec.FinalResult())
        if self.trace is not None:
            self.trace.append((utterance.end, result))
        detection = interpret_result(result, self.vocabulary, utterance.end, utterance.echo, self.s)
        return [detection] if detection else []
