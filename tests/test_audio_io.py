"""Mixer, WAV sink, file reading and the device classes (without a device) on real audio."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from audio_helpers import RATE, one_line, tone
from voicecoach.audio_io import AudioError, Mixer, WavSink, read_wav



# --- Mixer -----------------------------------------------------------------------------------

def test_clip_lands_on_exact_sample():
    mixer = Mixer(RATE)
    at = 0.123456
    mixer.add(np.array([1.0, 0.5], dtype=np.float32), at)
    out = mixer.render(0, RATE)
    start = round(at * RATE)
    assert np.flatnonzero(out).tolist() == [start, start + 1]
    assert out[start] == 1.0 and out[start + 1] == 0.5


def test_overlapping_clips_sum_and_output_is_clipped():
    mixer = Mixer(RATE)
    mixer.add(np.full(RATE, 0.25, np.float32), 0.0)
    mixer.add(np.full(RATE, 0.25, np.float32), 0.5)
    out = mixer.render(0, 2 * RATE)
    assert np.allclose(out[: RATE // 2], 0.25)
    assert np.allclose(out[RATE // 2 : RATE], 0.5)
    assert np.allclose(out[RATE : 3 * RATE // 2], 0.25)
    assert not out[3 * RATE // 2 :].any()
    mixer.add(np.full(100, 0.9, np.float32), 0.0, gain=2.0)
    assert mixer.render(0, 100).max() == 1.0


def test_gain_and_int16_clips():
    mixer = Mixer(RATE)
    mixer.add(np.full(10, 16384, np.int16), 0.0, gain=0.5)
    assert np.allclose(mixer.render(0, 10), 0.25)


def test_render_of_silence_is_zeros_and_chunking_does_not_matter():
    mixer = Mixer(RATE)
    assert not mixer.render(5 * RATE, 1000).any()
    assert mixer.render(0, 0).shape == (0,)
    mixer.add(tone(0.3), 0.1)
    mixer.add(tone(0.2, 660), 0.25, gain=0.7)
    whole = mixer.render(0, RATE)
    pieces = np.concatenate([mixer.render(i, 333) for i in range(0, RATE, 333)])[:RATE]
    assert np.array_equal(whole, pieces)
    assert whole.dtype == np.float32


def test_cancel_from_drops_later_clips_only():
    mixer = Mixer(RATE)
    mixer.add(np.full(RATE, 0.1, np.float32), 0.0)  # sounding at t = 0.5
    mixer.add(np.full(100, 0.2, np.float32), 0.5)  # starts exactly at t: dropped
    mixer.add(np.full(100, 0.3, np.float32), 0.8)
    mixer.cancel_from(0.5)
    out = mixer.render(0, 2 * RATE)
    assert np.allclose(out[:RATE], 0.1)  # the sounding clip plays on
    assert not out[RATE:].any()
    assert mixer.busy_until() == pytest.approx(1.0)


def test_cancel_cut_playing_fades_the_sounding_clip():
    mixer = Mixer(RATE)
    mixer.add(np.ones(RATE, np.float32), 0.0)
    mixer.cancel_from(0.5, cut_playing=True)
    out = mixer.render(0, RATE)
    cut, fade = RATE // 2, int(0.010 * RATE)
    assert np.all(out[:cut] == 1.0)
    ramp = out[cut : cut + fade]
    assert np.all(np.diff(ramp) < 0) and ramp[-1] == 0.0  # a smooth fade, no click
    assert not out[cut + fade :].any()
    assert mixer.busy_until() == pytest.approx(0.5 + fade / RATE)


def test_busy_until_and_finished_clips_are_dropped():
    mixer = Mixer(RATE, history=1.0)
    assert mixer.busy_until() == 0.0
    for i in range(100):
        mixer.add(tone(0.1), i * 1.0)
    assert mixer.busy_until() == pytest.approx(99.1)
    mixer.render(RATE * 3 * 3600, 1024)  # three hours later
    assert len(mixer._clips) == 0  # memory does not grow with session length
    assert mixer.busy_until() == pytest.approx(99.1)  # ...but the end time is remembered


def test_recent_history_stays_renderable():
    mixer = Mixer(RATE)  # e.g. the mic pipeline asks for what played a few seconds ago
    mixer.add(tone(0.5), 1.0)
    mixer.render(10 * RATE, 1024)
    assert mixer.render(RATE, RATE // 2).any()


def test_concurrent_add_cancel_and_render():
    mixer = Mixer(RATE)
    errors: list[BaseException] = []

    def engine() -> None:
        try:
            for i in range(300):
                mixer.add(tone(0.05), i * 0.01)
                if i % 7 == 0:
                    mixer.cancel_from(i * 0.01 - 0.02, cut_playing=bool(i % 2))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=engine)
    thread.start()
    pos = 0
    while thread.is_alive() or pos < 4 * RATE:
        block = mixer.render(pos, 512)
        assert block.shape == (512,) and np.abs(block).max() <= 1.0
        pos += 512
    thread.join()
    assert not errors


# --- WavSink ---------------------------------------------------------------------------------

def schedule(mixer: Mixer) -> None:
    mixer.add(tone(0.4), 0.1)
    mixer.add(tone(0.3, 880), 0.3, gain=0.5)
    mixer.add(tone(0.5, 300), 1.5)


def test_wav_sink_writes_what_the_mixer_renders(tmp_path):
    mixer, reference = Mixer(RATE), Mixer(RATE)
    schedule(mixer)
    schedule(reference)
    sink = WavSink(tmp_path / "out.wav", mixer)
    for t in (0.05, 0.5, 0.5, 1.7):
        sink.advance_to(t)
    assert sink.written == pytest.approx(1.7)
    sink.close()
    sink.close()  # idempotent
    data, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert rate == RATE and len(data) == round(2.0 * RATE)  # close() plays out what's scheduled
    assert np.allclose(data, reference.render(0, len(data)), atol=1.5 / 32768)


def test_killed_simulation_leaves_a_valid_wav(tmp_path):
    path = tmp_path / "killed.wav"
    code = f"""
import os, numpy as np
from voicecoach.audio_io import Mixer, WavSink
m = Mixer(16000); m.add(np.full(32000, 0.25, np.float32), 0.0)
s = WavSink({str(path)!r}, m); s.advance_to(0.75); s.advance_to(1.25)
os._exit(1)  # no close(), no cleanup: like SIGKILL
"""
    subprocess.run([sys.executable, "-c", code], check=False)
    data, rate = sf.read(str(path), dtype="float32")
    assert len(data) == 20000 and np.allclose(data, 0.25, atol=1e-4)


def test_wav_sink_bad_paths(tmp_path):
    with pytest.raises(AudioError) as exc:
        WavSink(tmp_path / "missing" / "out.wav", Mixer(RATE))
    assert "missing" in one_line(exc)
    with pytest.raises(AudioError) as exc:
        WavSink(tmp_path, Mixer(RATE))  # a directory
    assert str(tmp_path) in one_line(exc)


# --- read_wav --------------------------------------------------------------------------------

def test_read_wav_stereo_44k_resamples_to_16k(tmp_path):
    path = tmp_path / "stereo.wav"
    left = tone(1.0, 1000, rate=44100, amp=0.4)
    sf.write(str(path), np.stack([left, left], axis=1), 44100, subtype="PCM_16")
    samples = read_wav(path)
    assert samples.dtype == np.int16 and abs(len(samples) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(samples[2000:14000].astype(float)))
    peak_hz = np.argmax(spectrum) * 16000 / 12000
    assert peak_hz == pytest.approx(1000, abs=2)
    assert np.abs(samples[2000:14000]).max() == pytest.approx(0.4 * 32767, rel=0.02)


def test_read_wav_errors(tmp_path):
    text = tmp_path / "x.wav"
    text.write_text("this is not audio\n")
    with pytest.raises(AudioError) as exc:
        read_wav(text)
    assert "x.wav" in one_line(exc)
    with pytest.raises(AudioError) as exc:
        read_wav(tmp_path / "nope.wav")
    assert "no such file" in one_line(exc)


# --- devices (there is no sound device on this machine) --------------------------------------
