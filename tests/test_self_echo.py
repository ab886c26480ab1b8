"""The coach's own words heard back are not the lifter's commands; the lifter's are."""

from __future__ import annotations

import numpy as np
import pytest

from speech_helpers import ONE_WORD_VOCABULARY, RATE, rms, say, to_int16
from voicecoach.audio_io import Mixer
from voicecoach.mic_commands import MicFileCommands
from voicecoach.speech_in.base import Detection
from voicecoach.speech_in.engines import make_recognizer
from voicecoach.speech_in.self_echo import ECHO_TAIL, HEARD_WITHIN, SelfEchoFilter
from voicecoach.speech_in.vocabulary import load_vocabulary


@pytest.fixture(scope="module")
def self_echo():
    return SelfEchoFilter()


@pytest.mark.parametrize("command, phrase, line, echo", [
    ("ready", "ready", "Ready? Go.", True),
    ("pause", "wait", "Form over weight.", True),  # the same sounds, another spelling
    ("stop", "stop", "Say stop to end the session.", True),
    ("pause", "hold on", "Hold the dumbbell firmly at both ends.", False),  # only half the phrase
    ("pain", "that hurts", "If anything hurts, say that hurts.", False),  # never dropped
    ("ready", "ready", "Drive through your heels.", False),
])
def test_a_phrase_the_coach_was_saying_is_its_echo(self_echo, command, phrase, line, echo):
    d = Detection(command, phrase, 0.8, detected_at=10.0)
    assert self_echo.is_echo(d, 10.0, [(8.0, 9.5, line)]) is echo


def test_only_a_line_sounding_just_before_the_detection_counts(self_echo):
    d = Detection("ready", "ready", 0.8, detected_at=10.0)
    end = 10.0 - HEARD_WITHIN - ECHO_TAIL
    assert self_echo.is_echo(d, 10.0, [(end - 1.0, end + 0.05, "Ready? Go.")])
    assert not self_echo.is_echo(d, 10.0, [(end - 1.0, end - 0.05, "Ready? Go.")])  # long over
    assert not self_echo.is_echo(d, 10.0, [(10.2, 11.0, "Ready? Go.")])  # not yet said
    assert self_echo.heard([d], [(9.0, 9.8, "Get ready.")]) == []


def test_mixer_keeps_what_was_said_and_when():
    mixer = Mixer(RATE)
    mixer.add(np.full(RATE, 0.1, np.float32), at=1.0, text="Ready? Go.")
    mixer.add(np.full(RATE // 2, 0.1, np.float32), at=2.5)  # an earcon: no words
    mixer.add(np.full(RATE, 0.1, np.float32), at=4.0, text="Rest ninety seconds.")
    assert mixer.lines(since=0.0) == [(1.0, 2.0, "Ready? Go."), (4.0, 5.0, "Rest ninety seconds.")]
    assert mixer.lines(since=3.0) == [(4.0, 5.0, "Rest ninety seconds.")]
    mixer.cancel_from(4.5, cut_playing=True)  # barge-in: the line stops half-way
    assert mixer.lines(since=3.0) == [(4.0, 4.5, "Rest ninety seconds.")]
    mixer.cancel_from(3.0)
    assert mixer.lines(since=0.0) == [(1.0, 2.0, "Ready? Go.")]


def _commands_heard(coach_says: str | None) -> list[tuple[str, float]]:
    """The coach's line (with its words, or as a wordless clip when None) plays from 1.0 s; the
    lifter says "ready" as it ends, and again at 5 s."""
    coach = say("Ready? Go.")
    mic = np.zeros(8 * RATE, np.float32)
    lifter = say("ready") * (0.05 / rms(say("ready")))
    for at in (1.0 + len(coach) / RATE, 5.0):
        mic[int(at * RATE):int(at * RATE) + len(lifter)] += lifter
    mixer = Mixer(RATE)
    mixer.add(coach * (0.25 / rms(coach)), at=1.0, text=coach_says)
    source = MicFileCommands(to_int16(mic), make_recognizer("pocketsphinx", load_vocabulary(ONE_WORD_VOCABULARY)), mixer)
    events, now = [], 0.0
    while (t := source.next_at(now)) is not None:
        now = t
        events += source.poll(now)
    return [(e.command.value, e.at) for e in events]


def test_the_session_drops_the_command_the_coach_was_saying():
    # Real audio through the session's microphone path: the recognizer hears both "ready"s...
    assert [c for c, _ in _commands_heard(coach_says=None)] == ["ready", "ready"]
    # ...and when the coach's clip is the line "Ready? Go.", the one said as it ends is dropped.
    heard = _commands_heard(coach_says="Ready? Go.")
    assert [c for c, _ in heard] == ["ready"] and heard[0][1] > 5.0
