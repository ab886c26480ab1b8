"""The pure parts of scripts/adapt_acoustic_model.py (the candidate acoustic model's builder):
the stock model read into SphinxTrain's format, and the data it adapts on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from script_helpers import script_module

from voicecoach.speech_in import pocketsphinx_backend as psb


@pytest.fixture(scope="module")
def adapt():
    return script_module("adapt_acoustic_model")


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
