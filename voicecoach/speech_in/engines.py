"""Choosing a recognizer by name: the one place an engine is registered.

Adding an engine is one class (implementing CommandRecognizer) and one line in ENGINES.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from voicecoach.speech_in.base import CommandRecognizer
from voicecoach.speech_in.vocabulary import Vocabulary


class EngineError(Exception):
    """An engine can't be made (unknown name, missing model); str() is the one line to show."""


def _pocketsphinx(vocabulary: Vocabulary, vosk_model: str | None) -> CommandRecognizer:
    from voicecoach.speech_in.pocketsphinx_backend import PocketSphinxRecognizer

    return PocketSphinxRecognizer(vocabulary)


def _pocketsphinx_baseline(vocabulary: Vocabulary, vosk_model: str | None) -> CommandRecognizer:
    from voicecoach.speech_in.pocketsphinx_backend import PlainGrammarBaseline

    return PlainGrammarBaseline(vocabulary)


def _vosk(vocabulary: Vocabulary, vosk_model: str | None) -> CommandRecognizer:
    try:
        from voicecoach.speech_in.vosk_backend import VoskRecognizer
    except ModuleNotFoundError as exc:  # a broken install; a missing `vosk` is reported by the backend itself
        raise EngineError(f"the vosk engine is not available ({exc.name} missing); use --engine pocketsphinx") from None
    return VoskRecognizer(vocabulary, vosk_model)


def _neural(vocabulary: Vocabulary, vosk_model: str | None) -> CommandRecognizer:
    from voicecoach.speech_in.neural_backend import make_neural_recognizer

    return make_neural_recognizer(vocabulary, vosk_model)


def _hybrid(vocabulary: Vocabulary, vosk_model: str | None) -> CommandRecognizer:
    from voicecoach.speech_in.hybrid_backend import HybridRecognizer

    return HybridRecognizer(vocabulary)


def _moonshine(vocabulary: Vocabulary, vosk_model: str | None) -> CommandRecognizer:
    from voicecoach.speech_in.moonshine_backend import MoonshineRecognizer
    from voicecoach.speech_in.moonshine_model import MoonshineUnavailable

    try:
        return MoonshineRecognizer(vocabulary)
    except MoonshineUnavailable as exc:
        raise EngineError(str(exc)) from None


ENGINES: dict[str, Callable[[Vocabulary, str | None], CommandRecognizer]] = {
    "pocketsphinx": _pocketsphinx,
    "vosk": _vosk,
    "neural": _neural,  # the issue-6 recognizer: better in noise, more false accepts (BENCHMARKS.md)
    "hybrid": _hybrid,  # PocketSphinx and the neural head fused (BENCHMARKS.md)
    "moonshine": _moonshine,  # PocketSphinx proposes, Moonshine's transcript names or vetoes (BENCHMARKS.md)
    "pocketsphinx-baseline": _pocketsphinx_baseline,  # untuned reference, for benchmarks
}
USER_ENGINES = ("pocketsphinx", "moonshine", "hybrid", "neural", "vosk")
"""The engines offered to users (`--engine`); the rest exist for measurement."""


def _default_engine() -> str:
    """moonshine where its model installs (x86-64 Linux, Apple-silicon macOS: pyproject's marker
    on moonshine-cpp), pocketsphinx elsewhere (a Raspberry Pi). Looked up, not imported."""
    return "moonshine" if importlib.util.find_spec("moonshine_cpp") is not None else "pocketsphinx"


DEFAULT_ENGINE = _default_engine()


def make_recognizer(engine: str, vocabulary: Vocabulary, vosk_model: str | None = None) -> CommandRecognizer:
    """A fresh recognizer for `engine`; EngineError (one clear line) if it can't be made."""
    factory = ENGINES.get(engine)
    if factory is None:
        raise EngineError(f"unknown engine {engine!r} (choose from {', '.join(USER_ENGINES)})")
    return factory(vocabulary, vosk_model)
