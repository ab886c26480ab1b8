"""CMUdict read without a decoder: the moonshine engine's phrase matching and PocketSphinx's
grammar-only dictionary both come from it."""

from __future__ import annotations

from voicecoach.speech_in.pocketsphinx_backend import grammar_words
from voicecoach.speech_in.pronouncing import Pronunciations, default_pronunciations
from voicecoach.speech_in.vocabulary import load_vocabulary


def test_first_pronunciation_and_unknown_words():
    p = default_pronunciations()
    assert p.phones("pause") == ["P", "AO", "Z"]
    assert p.phones("i'm") == ["AY", "M"]  # the first of its two
    assert p.phones("skep") is None and "skep" not in p and "okay" in p


def test_entries_keep_every_alternative_and_only_the_words_asked(tmp_path):
    f = tmp_path / "tiny.dict"
    f.write_text("either IY DH ER\neither(2) AY DH ER\neithers IY DH ER Z\nzebra Z IY B R AH")  # no final newline
    p = Pronunciations(f)
    assert p.entries({"either", "zebra"}) == "either IY DH ER\neither(2) AY DH ER\nzebra Z IY B R AH\n"
    assert p.phones("zebra") == ["Z", "IY", "B", "R", "AH"]  # the last line, without a newline after it


def test_the_grammar_dictionary_covers_every_word_the_grammars_use():
    vocab = load_vocabulary()
    text = default_pronunciations().entries(grammar_words(vocab))
    heads = {line.split(" ", 1)[0].split("(", 1)[0] for line in text.splitlines()}
    assert heads == grammar_words(vocab) and {"pause", "squeeze", "coffee"} <= heads
    assert "i'm(2) AH M" in text.splitlines()
