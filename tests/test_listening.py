"""listen_file / listen_live / check_mic on real files and a fake microphone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import soxr

from speech_helpers import ONE_WORD_VOCABULARY, RATE, say, sequence, to_int16
from voicecoach.audio_io import AudioError
from voicecoach.listening import LiveStats, assess, check_mic, detection_json, listen_file, listen_live
from voicecoach.speech_in.base import Detection



class FakeMic:
    """Stands in for audio_io.MicSource: yields canned 100 ms blocks, reports overflows."""

    def __init__(self, samples: np.ndarray, overflows: int = 0):
        self.samples, self.overflows, self.pos, self.started = samples, overflows, 0, False

    def start(self):
        self.started = True

    def read(self, timeout):
        if self.pos >= len(self.samples):
            return None
        block = self.samples[self.pos : self.pos + 1600]
        self.pos += 1600
        return block

    def stop(self):
        self.started = False


@pytest.mark.parametrize("engine", ["pocketsphinx", "hybrid"])
def test_listen_file_44k_stereo(tmp_path, engine):
    x, spans = sequence(["resume", "how many left"], level=0.05)
    stereo = soxr.resample(x, RATE, 44100)
    stereo = np.stack([stereo, stereo * 0.8], axis=1)
    p = tmp_path / "in.wav"
    sf.write(p, stereo, 44100)
    dets = list(listen_file(p, engine))
    assert [d.command for d in dets] == ["resume", "status"]
    for d, (_, _, end) in zip(dets, spans):
        assert end < d.detected_at < end + 0.8
    line = json.loads(detection_json(dets[0]))
    assert set(line) == {"command", "text", "detected_at", "confidence"} and line["command"] == "resume"


def test_detection_json_format():
    assert detection_json(Detection("pause", "pause please", 0.934, 2.4123)) == \
        '{"command": "pause", "text": "pause please", "detected_at": 2.41, "confidence": 0.93}'


@pytest.mark.parametrize("content", [b"", b"not audio at all"])
def test_listen_file_bad_input(tmp_path, content):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioError):
        list(listen_file(p))
    with pytest.raises(AudioError, match="no such file"):
        list(listen_file(tmp_path / "missing.wav"))


def test_listen_file_silent_and_tiny_files(tmp_path):
    for n in (0, 1, 700):
        p = tmp_path / f"s{n}.wav"
        sf.write(p, np.zeros(n, np.int16), 8000)
        assert list(listen_file(p)) == []


def test_listen_live_counts_overflows_and_finds_commands():
    x, _ = sequence(["pause please"], level=0.05)
    mic = FakeMic(to_int16(x), overflows=3)
    stats = LiveStats()
    dets = list(listen_live(stats=stats, mic_factory=lambda dev: mic, should_stop=lambda: mic.pos >= len(mic.samples)))
    assert [d.command for d in dets] == ["pause"]
    assert stats.overflows == 3 and stats.seconds > 2 and not mic.started


def test_check_mic_ok_when_ready_is_heard():
    x = np.concatenate([np.zeros(RATE, np.float32), say("okay ready") * 0.3, np.zeros(RATE * 2, np.float32)])
    x = x + np.random.default_rng(0).normal(0, 0.001, len(x)).astype(np.float32)
    report = check_mic(seconds=len(x) / RATE, mic_factory=lambda dev: FakeMic(to_int16(x)), prompt=lambda s: None)
    assert report.recognized == ["ready"] and report.problems == [], report.lines()
    assert "microphone OK" in report.lines()[-1]


def test_check_mic_asks_for_the_vocabularys_phrase():
    # The shipped ready phrases are "okay ready" and "let's go": the user is asked for "okay
    # ready"; a plain "ready" is no command, and the report names what was asked. With the
    # one-word file the user is asked for "ready".
    asked = []
    x = np.concatenate([np.zeros(RATE, np.float32), say("ready") * 0.3, np.zeros(RATE * 2, np.float32)])
    x = x + np.random.default_rng(0).normal(0, 0.001, len(x)).astype(np.float32)
    report = check_mic(seconds=len(x) / RATE, mic_factory=lambda dev: FakeMic(to_int16(x)), prompt=asked.append)
    assert asked[0].endswith('then say "okay ready".')
    assert report.recognized == [] and '"okay ready" was not recognized' in report.problems[-1], report.lines()
    report = check_mic(seconds=len(x) / RATE, vocabulary=ONE_WORD_VOCABULARY, mic_factory=lambda dev: FakeMic(to_int16(x)),
                       prompt=asked.append)
    assert asked[1].endswith('then say "ready".')
    assert report.recognized == ["ready"] and report.problems == [], report.lines()


def test_check_mic_silent_and_clipping():
    silent = assess(np.zeros(RATE * 3, np.int16), 0, [])
    assert any("silence" in p for p in silent.problems)
    loud = np.clip(np.sin(np.arange(RATE * 3) / 3) * 2, -1, 1)
    clip = assess(to_int16(loud), 2, [])
    assert any("clips" in p for p in clip.problems) and any("overflow" in p for p in clip.problems)
