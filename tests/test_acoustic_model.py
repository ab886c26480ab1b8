"""The adapted acoustic model the default engine ships (voicecoach/models/pocketsphinx-gym/) and the
pure parts of the script that makes it (scripts/adapt_acoustic_model.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from script_helpers import script_module

from speech_helpers import add_noise, run, sequence
from test_recognizer import heard_on_accented_voices
from voicecoach.speech_in import pocketsphinx_backend as psb
from voicecoach.speech_in.engines import EngineError, make_recognizer
from voicecoach.speech_in.vocabulary import load_vocabulary


@pytest.fixture(scope="module")
def adapt():
    return script_module("adapt_acoustic_model")


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


def test_the_shipped_model_is_the_one_its_provenance_describes():
    prov = json.loads((psb.GYM_MODEL / "provenance.json").read_text())
    for name in psb.GYM_FILES.values():
        data = (psb.GYM_MODEL / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == prov["sha256"][name], name
        # adapted, not a copy of the stock file it replaces
        assert prov["sha256"][name] != prov["stock_sha256"][name], name
    assert prov["seed"] == int(prov["rebuild"].split("--seed ")[1])
    assert prov["data"]["kinds"]["pos"] > 1000 and prov["data"]["kinds"]["neg"] > 1000
    assert set(prov["data"]["noises"]).isdisjoint(prov["heldout_excluded"]["noises"])


def test_default_engine_decodes_with_the_adapted_model(vocab):
    rec = make_recognizer("pocketsphinx", vocab)
    assert rec.s.acoustic_model == "gym"
    stock = make_recognizer("pocketsphinx-stock", vocab)
    assert stock.s.acoustic_model == "stock"
    # The same command, decoded by both: the two models score it differently.
    audio, spans = sequence(["pause please", "status"], level=0.05)
    noisy = add_noise(audio, 10.0, seed=3)
    found = {name: run(r, noisy) for name, r in (("gym", rec), ("stock", stock))}
    assert [d.command for d in found["gym"]] == ["pause", "status"], found
    assert [d.confidence for d in found["gym"]] != [d.confidence for d in found["stock"]]


def test_held_out_voices_heard_better_than_on_the_stock_model(vocab):
    # Accented espeak-ng voices the adaptation never heard (the benchmark's held-out ones).
    (gym, gym_wrong), (stock, stock_wrong) = (heard_on_accented_voices(vocab, "pocketsphinx"),
                                              heard_on_accented_voices(vocab, "pocketsphinx-stock"))
    assert gym >= 29 and gym >= stock + 5, (gym, stock)  # measured: 32 vs 23 of 36
    assert gym_wrong < stock_wrong, (gym_wrong, stock_wrong)  # measured: 0 vs 6


def test_a_missing_model_file_is_one_clear_line(vocab, tmp_path, monkeypatch):
    for name in ("means", "variances", "transition_matrices"):
        (tmp_path / name).write_bytes((psb.GYM_MODEL / name).read_bytes())
    monkeypatch.setattr(psb, "GYM_MODEL", tmp_path)
    with pytest.raises(EngineError, match=r"acoustic model is incomplete \(.*sendump missing\): reinstall"):
        make_recognizer("pocketsphinx", vocab)


def test_stock_mixture_weights_read_back_as_probabilities(adapt, tmp_path):
    hmm = psb._model_paths()[0]
    w = adapt.read_sendump(Path(hmm) / "sendump")
    assert w.shape == (5126, 3, 128)  # senones, feature streams, codewords of the en-us PTM model
    assert np.allclose(w.sum(axis=2), 1.0, atol=1e-5) and (w > 0).all()
    out = tmp_path / "mixture_weights"
    adapt.write_mixw(out, w)
    raw = out.read_bytes()
    end = raw.index(b"endhdr\n") + len(b"endhdr\n")
    assert end % 4 == 0 and int.from_bytes(raw[end : end + 4], "little") == 0x11223344
    dims = np.frombuffer(raw, np.uint32, 4, end + 4)
    assert list(dims) == [5126, 3, 128, w.size]
    assert np.array_equal(np.frombuffer(raw, np.float32, w.size, end + 20).reshape(w.shape), w)


def test_adaptation_data_never_uses_held_out_voices(adapt):
    known = psb.dictionary_words()
    specs = adapt.clip_specs(400, 6, known)
    assert len(specs) == 400 and sum(s["kind"] == "pos" for s in specs) == 200
    held = adapt.data.HELDOUT
    for s in specs:
        assert s["split"] == "train" and s["lead_talk"] is None
        assert s["voice"] not in held["voices"] and s.get("variant", "") not in held["variants"]
        assert adapt.transcript_words(s["text"], known)
    assert adapt.transcript_words("Drive through your heels!", known) == ["drive", "through", "your", "heels"]
    assert adapt.transcript_words("xqzt now", known) is None
