"""The neural recognizer on real synthesized speech: voices the model never trained on.

Speech comes from espeak-ng voices the benchmark holds out (never used for training), mixed
with noise, sentences and the coach's echo by the tests themselves.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from speech_helpers import RATE, add_noise, rms, say, sequence
from voicecoach.speech_in.embedding import StreamingEmbedder, embed_clip
from voicecoach.speech_in.neural_backend import (
    OPINION_BATCH, NeuralRecognizer, default_model_dir, load_head, make_neural_recognizer)
from voicecoach.speech_in.vocabulary import load_vocabulary


HELDOUT_VOICE = "en-us-nyc+f4"  # held out by scripts/make_command_corpus.py: never trained on
ONE_PHRASE = {"ready": "ready", "done": "done", "pause": "pause", "resume": "resume", "stop": "stop",
              "repeat": "repeat", "skip": "skip", "slower": "slow down", "faster": "faster",
              "help": "help", "status": "status", "pain": "that hurts"}


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.fixture(scope="module")
def head():
    return load_head()


def run(rec, x: np.ndarray, chunk: int = 1600, playback: np.ndarray | None = None):
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    dets = []
    for a in range(0, len(pcm), chunk):
        dets += rec.feed(pcm[a : a + chunk], None if playback is None else playback[a : a + chunk])
    return dets + rec.flush()


def commands_at(dets, spans):
    """For each (text, start, end) span: the commands committed before the next span starts."""
    out = []
    for k, (_, start, _) in enumerate(spans):
        nxt = spans[k + 1][1] if k + 1 < len(spans) else 1e9
        out.append([d.command for d in dets if start <= d.detected_at < nxt])
    return out


def test_shipped_model_loads_offline(head):
    prov = json.loads((default_model_dir() / "command_head.json").read_text())
    assert set(prov["thresholds"]) == set(load_vocabulary().commands)
    assert all(0.5 <= t < 1 for t in prov["thresholds"].values())
    assert prov["seed"] is not None and prov["data_recipe"]["heldout_excluded"]["voices"]
    size = sum(p.stat().st_size for p in default_model_dir().glob("command_head.*"))
    assert size < 3_000_000
    # Enrollment's bank of training activations is loaded only for enrolling.
    assert not any(k.startswith("bank_") for k in head.arrays)
    banked = load_head(bank=True).arrays
    assert banked["bank_hidden"].shape == (len(banked["bank_label"]), banked["l2_w"].shape[1])


def test_streaming_embeddings_match_whole_clip():
    x = add_noise(np.concatenate([np.zeros(8000, np.float32), say("pause please") * 0.1]), 20)
    whole = embed_clip(x)
    for chunk in (333, 1280, 5000):
        emb = StreamingEmbedder()
        got = [e for a in range(0, len(x), chunk) for _, e in emb.feed(x[a : a + chunk]) if e is not None]
        assert np.allclose(np.stack(got), whole[: len(got)], atol=1e-3)
    # A smaller batch per run (the moonshine engine's confirmations use OPINION_BATCH) gives the
    # same vectors.
    assert np.array_equal(embed_clip(x, batch=OPINION_BATCH), whole)


@pytest.fixture(scope="module")
def command_stream():
    return sequence(list(ONE_PHRASE.values()), gap=1.6, level=0.05, voice=HELDOUT_VOICE)


@pytest.mark.parametrize("voice", ["en-gb", "en-gb-scotland"])
def test_each_command_recognized_clean(vocab, voice):
    """en-gb: a training-side voice (its renders differ from the training ones); en-gb-scotland: held out."""
    x, spans = sequence(list(ONE_PHRASE.values()), gap=1.6, level=0.05, voice=voice)
    dets = run(NeuralRecognizer(vocab, enrollment=False), x)
    heard = commands_at(dets, spans)
    right = [h == [c] for h, c in zip(heard, ONE_PHRASE)]
    assert sum(right) >= len(ONE_PHRASE) - 1, list(zip(ONE_PHRASE, heard))
    for d in dets:
        assert 0 < d.confidence <= 1 and d.text in vocab.phrases


def test_commands_recognized_in_noise(vocab):
    x, spans = sequence(list(ONE_PHRASE.values()), gap=1.6, level=0.05, voice="en-gb")
    dets = run(NeuralRecognizer(vocab, enrollment=False), add_noise(x, 10, seed=3))
    heard = commands_at(dets, spans)
    right = sum(h == [c] for h, c in zip(heard, ONE_PHRASE))
    assert right >= len(ONE_PHRASE) - 2, list(zip(ONE_PHRASE, heard))


def test_commit_soon_after_phrase_end(vocab, command_stream):
    x, spans = command_stream
    dets = run(NeuralRecognizer(vocab, enrollment=False), x)
    lat = [d.detected_at - end for d in dets for (_, start, end) in spans if start <= d.detected_at < end + 1.5]
    assert lat and np.median(lat) <= 0.5


def test_chunk_size_does_not_change_results(vocab, command_stream):
    x, _ = command_stream
    x = add_noise(x[: 12 * RATE], 15, seed=1)
    ref = run(NeuralRecognizer(vocab, enrollment=False), x, chunk=1600)
    for chunk in (160, 1000, 4096, len(x)):
        assert run(NeuralRecognizer(vocab, enrollment=False), x, chunk=chunk) == ref


SENTENCES = [
    "Stop just before your glutes touch the ground.", "Pause at the top and squeeze.",
    "Get ready for the next set.", "Don't stop now, keep going.", "I'm done with work at five today.",
    "Can you help me move this bench?", "Slow down on the way down and drive through your heels.",
]


def test_command_words_inside_sentences_mostly_rejected(vocab):
    x, _ = sequence(SENTENCES, gap=1.2, level=0.05, voice=HELDOUT_VOICE)
    dets = run(NeuralRecognizer(vocab, enrollment=False), add_noise(x, 30))
    assert len(dets) <= 3, dets  # the issue wants 0: see BENCHMARKS.md


def test_noise_alone_rejected(vocab):
    rng = np.random.default_rng(5)
    x = add_noise(np.zeros(20 * RATE, np.float32) + 1e-4 * rng.standard_normal(20 * RATE).astype(np.float32), -30)
    assert run(NeuralRecognizer(vocab, enrollment=False), x * (0.02 / rms(x))) == []


def _echo(cue: np.ndarray, delay_ms: float = 40, level_db: float = -10) -> np.ndarray:
    """The coach's playback as the mic hears it: delayed, quieter, a little room."""
    d = int(delay_ms / 1000 * RATE)
    ir = np.zeros(d + 2400)
    ir[d] = 1.0
    ir[d + 1 :] = np.random.default_rng(0).standard_normal(2399) * np.exp(-np.arange(2399) / 600) * 0.05
    return (np.convolve(cue, ir)[: len(cue)] * 10 ** (level_db / 20)).astype(np.float32)


def _coach_session():
    cues = ["Get ready. Set one of three, ten reps.", "Pause at the top and squeeze.",
            "Slow down on the way down.", "Last rep. Done. Rack the bar.", "Say stop to end the session."]
    play = np.concatenate([np.concatenate([say(c) * 0.2, np.zeros(int(0.5 * RATE), np.float32)]) for c in cues])
    play = np.concatenate([np.zeros(RATE, np.float32), play, np.zeros(RATE, np.float32)])
    mic = _echo(play) + 1e-3 * np.random.default_rng(1).standard_normal(len(play)).astype(np.float32)
    return mic, (play * 32767).astype(np.int16)


def test_coach_echo_rejected(vocab):
    mic, ref = _coach_session()
    assert run(NeuralRecognizer(vocab, enrollment=False), mic, playback=ref) == []
    # Chunking doesn't matter in echo mode either (the canceller works on fixed blocks).
    assert run(NeuralRecognizer(vocab, enrollment=False), mic, chunk=777, playback=ref) == []


def test_stop_after_the_coach_heard(vocab):
    mic, ref = _coach_session()
    stop = say("stop", HELDOUT_VOICE)
    at = len(mic) - int(0.3 * RATE)  # after the last cue and the echo hold time
    mic = np.concatenate([mic, np.zeros(2 * RATE, np.float32)])
    ref = np.concatenate([ref, np.zeros(2 * RATE, np.int16)])
    mic[at + RATE : at + RATE + len(stop)] += stop * 0.05 / rms(stop)
    dets = run(NeuralRecognizer(vocab, enrollment=False), mic, playback=ref)
    assert [d.command for d in dets] == ["stop"], dets


def test_commands_follow_the_vocabulary(vocab):
    from voicecoach.speech_in.vocabulary import vocabulary_from_phrases

    custom = vocabulary_from_phrases({"stop": ["stop", "quit"], "pause": ["wait"], "help": ["assist me"]})
    rec = make_neural_recognizer(custom)
    assert rec.commands == ["pause", "stop"] and rec.unsupported == ["assist me"]
    x, _ = sequence(["stop", "help", "wait"], gap=1.6, level=0.05, voice="en-gb")
    assert [d.command for d in run(rec, x)] == ["stop", "pause"]  # "help" isn't in this vocabulary


# ---- enrollment -------------------------------------------------------------------------------
ENROLL_VOICE = "en-gb-scotland+klatt3"  # held out by the benchmark; hard for the shipped head


def _score_stream(rec, voice: str, speeds: tuple[int, ...]) -> int:
    """How many of the commands said at `speeds` are recognized right."""
    texts = list(ONE_PHRASE.values())
    right = 0
    for sp in speeds:
        parts, spans, pos = [np.zeros(RATE, np.float32)], [], RATE
        for t in texts:
            u = say(t, voice, sp)
            u = u * (0.05 / rms(u))
            parts += [u, np.zeros(int(1.6 * RATE), np.float32)]
            spans.append((t, pos / RATE, (pos + len(u)) / RATE))
            pos += len(u) + int(1.6 * RATE)
        x = add_noise(np.concatenate(parts), 10, seed=sp)
        rec_ = rec()
        heard = commands_at(run(rec_, x), spans)
        right += sum(h == [c] for h, c in zip(heard, ONE_PHRASE))
    return right


def test_enrollment_round_trip_raises_accuracy(vocab, head, tmp_path):
    from voicecoach.speech_in.enrollment import enroll, load_enrollment, remove_enrollment

    test_speeds = (150, 185)
    before = _score_stream(lambda: NeuralRecognizer(vocab, head=head, enrollment=False), ENROLL_VOICE, test_speeds)
    # The lifter says each command three times (other speeds than the test's).
    takes = {p: [add_noise(np.concatenate([np.zeros(4000, np.float32), say(p, ENROLL_VOICE, s) * 0.05,
                                           np.zeros(4000, np.float32)]), 25, seed=s) for s in (130, 165, 200)]
             for p in ONE_PHRASE.values()}
    path = enroll(takes, path=tmp_path / "enroll.npz")  # the shipped head, with its bank
    adapted = load_enrollment(head, path)
    assert adapted is not head and adapted.arrays["l2_w"].shape == head.arrays["l2_w"].shape
    after = _score_stream(lambda: NeuralRecognizer(vocab, head=adapted, enrollment=False), ENROLL_VOICE, test_speeds)
    assert after > before, (before, after)
    # Loading through the recognizer, then removing, gives the shipped head back.
    assert NeuralRecognizer(vocab, head=head, enrollment=path).head.provenance.get("enrollment") == str(path)
    assert remove_enrollment(path) and not path.exists()
    assert load_enrollment(head, path) is head
