"""The benchmark corpus's split rules (scripts/make_command_corpus.py), without synthesizing."""

import numpy as np
import pytest
from script_helpers import script_module


@pytest.fixture(scope="module")
def corpus():
    return script_module("make_command_corpus")


def test_the_neural_split_reads_only_held_out_text(corpus):
    items = list(range(30))
    assert corpus.deal(items, "heldout-neural") == corpus.deal(items, "heldout-other")
    assert not set(corpus.deal(items, "heldout-neural")) & set(corpus.deal(items, "tuning"))
    # the three original splits still partition the text among themselves
    shares = [set(corpus.deal(items, s)) for s in ("tuning", "heldout", "heldout-other")]
    assert set.union(*shares) == set(items) and sum(map(len, shares)) == len(items)


def test_no_split_trains_on_a_held_out_synthesizer(corpus):
    held = {syn for s in ("heldout-other", "heldout-neural") for syn, _ in corpus.SPLIT[s]["synths"]}
    assert held == {"flite", "festival", "hibari"}
    # the chatter split: the held-out neural voice, over talkers in the held-out synthesizers
    chatter = corpus.SPLIT["heldout-chatter"]
    assert chatter["synths"] == corpus.SPLIT["heldout-neural"]["synths"] and chatter["talkers"] == "heldout-other"
    assert corpus.deal(list(range(30)), "heldout-chatter") == corpus.deal(list(range(30)), "heldout-other")
    assert "synths" not in corpus.SPLIT["tuning"]  # tuning is espeak-ng only
    assert corpus.SPLIT["tuning-neural"]["synths"] == [["piper", "joe"]]  # the neural head's training voice


def test_the_neural_tuning_split_reads_tuning_text_and_leaves_the_others_alone(corpus):
    items = list(range(30))
    assert corpus.deal(items, "tuning-neural") == corpus.deal(items, "tuning")
    assert corpus.FORTUNES.get("tuning-neural") is None  # it reads tuning's fortune files too
    # each split's random stream is seeded by its index: a new split goes last
    assert corpus.SPLITS[:5] == ["tuning", "heldout", "heldout-other", "heldout-neural", "tuning-neural"]


def test_adding_a_split_keeps_the_other_splits_files(corpus):
    before = {"files": [{"split": "tuning", "path": "tuning/a.wav"}, {"split": "heldout-neural", "path": "old.wav"}],
              "sizes": {"tuning": [3, 40], "heldout-neural": [1, 2]}}
    new = {"files": [{"split": "heldout-neural", "path": "new.wav"}], "sizes": {"heldout-neural": [6, 120]}, "seed": 7}
    m = corpus.merged(before, new, ["heldout-neural"])
    assert [f["path"] for f in m["files"]] == ["tuning/a.wav", "new.wav"]
    assert m["sizes"] == {"tuning": [3, 40], "heldout-neural": [6, 120]} and m["seed"] == 7


def test_the_partner_words_are_tuning_text_no_held_out_split_says(corpus):
    from voicecoach.speech_in.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    partner = set(corpus.PARTNER_WORDS)
    assert len(partner) == len(corpus.PARTNER_WORDS)
    # not a word the held-out splits say alone, nor one the vocabulary decides by itself
    assert not partner & set(corpus.ISOLATED_WORDS)
    assert not partner & (set(vocab.phrases) | set(vocab.not_commands))


def test_chatter_is_talkers_saying_the_pool_s_sentences(corpus):
    # Three "sentences": a tone each, so the mix shows which were said.
    rate = corpus.RATE
    pool = [np.sin(2 * np.pi * f * np.arange(rate // 2) / rate).astype(np.float32) for f in (300, 700, 1100)]
    x = corpus.make_noise("chatter", np.random.default_rng(1), 8 * rate, [], [], pool)
    assert len(x) == 8 * rate and np.isclose(corpus.rms(x), 1.0)
    spectrum = np.abs(np.fft.rfft(x))
    bins = {f: spectrum[f * 8] for f in (300, 700, 1100, 500)}  # 8 s: 1/8 Hz per bin
    assert min(bins[300], bins[700], bins[1100]) > 100 * bins[500]
    # the same random stream gives the same chatter (the corpus is rebuilt byte for byte)
    assert np.array_equal(x, corpus.make_noise("chatter", np.random.default_rng(1), 8 * rate, [], [], pool))
