"""The coach's own voice, echoed into the mic, never triggers a command; barge-in still works."""

from __future__ import annotations

import numpy as np
import pytest

from speech_helpers import RATE, room_echo, run, say, to_int16
from voicecoach.speech_in.echo import EchoCanceller
from voicecoach.speech_in.engines import make_recognizer
from voicecoach.speech_in.vocabulary import load_vocabulary


# Cues full of command words, as the coach speaks them (espeak-ng en-us, like pyttsx3 does).
CUES = ["Get ready. Set one of three, ten reps.", "Pause at the top and squeeze.", "Stop.",
        "Ready? Go.", "That hurts? Say stop.", "Slow down on the way down.", "Next set. Done."]


def coach_track(gap: float = 0.6) -> np.ndarray:
    parts = [np.zeros(int(0.5 * RATE), np.float32)]
    for cue in CUES:
        c = say(cue)
        parts += [c * (0.25 / np.sqrt(np.mean(c**2))), np.zeros(int(gap * RATE), np.float32)]
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


@pytest.mark.parametrize("delay_ms, level_db", [(10, -6), (40, -12), (80, -20)])
def test_coach_echo_alone_gives_nothing(vocab, delay_ms, level_db):
    playback = coach_track()
    mic = room_echo(playback, delay_ms, level_db, seed=delay_ms)
    mic = mic + np.random.default_rng(1).normal(0, 3e-4, len(mic)).astype(np.float32)
    assert run(make_recognizer("pocketsphinx", vocab), mic, playback=playback) == []


@pytest.mark.parametrize("phrase, command", [
    ("stop", "stop"),
    ("pause please", "pause"),
    ("that hurts", "pain"),
])
def test_barge_in_over_the_coach_is_heard(vocab, phrase, command):
    # The coach talks on (one long cue) while the lifter says the command at -26 dBFS.
    playback = np.concatenate([say("Drive through your heels, squeeze your glutes at the top, and lower slowly, "
                                   "two, three, four. Keep your chin tucked and your ribs down.")] * 2)
    playback = (playback * (0.25 / np.sqrt(np.mean(playback**2)))).astype(np.float32)
    playback = np.concatenate([np.zeros(RATE, np.float32), playback, np.zeros(RATE, np.float32)])
    mic = room_echo(playback, 40, -12, seed=2)
    user = say(phrase)
    user = user * (0.05 / np.sqrt(np.mean(user**2)))
    at = int(4.0 * RATE)
    mic[at : at + len(user)] += user
    dets = run(make_recognizer("pocketsphinx", vocab), mic, playback=playback)
    assert [d.command for d in dets] == [command], dets
    assert 4.0 + len(user) / RATE < dets[0].detected_at < 4.0 + len(user) / RATE + 1.0


def test_canceller_reduces_echo_by_a_lot():
    playback = coach_track()
    mic = room_echo(playback, 40, -6, seed=4)
    aec = EchoCanceller()
    b = aec.s.block
    out = np.concatenate([aec.process_block(mic[k : k + b], playback[k : k + b])
                          for k in range(0, len(mic) - b + 1, b)])
    tail = slice(len(out) // 2, len(out))  # after convergence
    erle = 10 * np.log10(np.mean(mic[tail] ** 2) / np.mean(out[tail] ** 2))
    assert erle > 15, erle


def test_playback_as_int16_equals_float(vocab):
    playback = coach_track()[: RATE * 6]
    mic = to_int16(room_echo(playback, 20, -10))
    a = run(make_recognizer("pocketsphinx", vocab), mic, playback=playback)
    b = run(make_recognizer("pocketsphinx", vocab), mic, playback=to_int16(playback))
    assert a == b


def moved_laptop(playback: np.ndarray, at: int) -> np.ndarray:
    """The echo path changes at sample `at`: the laptop moved closer (longer delay, +8 dB)."""
    before, after = room_echo(playback, 20, -16, seed=5), room_echo(playback, 70, -8, seed=6)
    return np.concatenate([before[:at], after[at:]]).astype(np.float32)


def test_canceller_relearns_a_moved_echo_path():
    playback = np.concatenate([coach_track(gap=0.3)] * 2)
    at = len(playback) // 2
    mic = moved_laptop(playback, at)
    aec = EchoCanceller()
    b = aec.s.block
    out = np.concatenate([aec.process_block(mic[k : k + b], playback[k : k + b])
                          for k in range(0, len(mic) - b + 1, b)])
    settled = slice(at + 2 * RATE, len(out))  # 2 s after the move
    erle = 10 * np.log10(np.mean(mic[settled] ** 2) / np.mean(out[settled] ** 2))
    assert erle > 15, erle


def test_coach_echo_with_a_moved_laptop_gives_nothing(vocab):
    playback = np.concatenate([coach_track(gap=0.3)] * 2)
    mic = moved_laptop(playback, len(playback) // 2)
    mic = mic + np.random.default_rng(1).normal(0, 3e-4, len(mic)).astype(np.float32)
    assert run(make_recognizer("pocketsphinx", vocab), mic, playback=playback) == []
