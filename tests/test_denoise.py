"""Steady-noise suppression in front of the endpointer, and the two-VAD segmenter."""

from __future__ import annotations

import numpy as np

from speech_helpers import RATE, pink, say, sequence, to_int16
from voicecoach.speech_in.denoise import NoiseSuppressor
from voicecoach.speech_in.segmenter import FRAME, AdaptiveSegmenter, SegmentSettings


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20)


def test_steady_noise_is_suppressed_and_speech_kept():
    x, spans = sequence(["stop", "pause please", "that hurts"], level=0.05)
    noise = pink(len(x), 1) * 0.05 / 10 ** (5 / 20)  # 5 dB SNR
    ns = NoiseSuppressor(FRAME)
    n = len(x) // FRAME * FRAME
    out = np.concatenate([ns.process((x + noise)[k : k + FRAME]) for k in range(0, n, FRAME)])
    speech = np.zeros(n, bool)
    for _, start, end in spans:
        speech[int(start * RATE) : int(end * RATE)] = True
    speech[: RATE] = True  # the estimate's first second is still learning
    quiet = ~speech
    assert db((x + noise)[:n][quiet]) - db(out[quiet]) > 6  # the noise: down by more than 6 dB
    assert abs(db((x + noise)[:n][speech[:n]]) - db(out[speech[:n]])) < 3  # the words: kept
    assert abs(10 * np.log10(ns.noise_level) - db(noise)) < 4  # a usable noise-floor estimate


def test_babble_swamps_the_lenient_vad_and_the_aggressive_one_takes_over():
    # Unbroken talk across the room, then silence: the lenient endpointer hears one long
    # utterance and the segmenter switches to the aggressive one; silence switches it back.
    babble = np.concatenate([say("Is anyone using this bench right now? I think the music is too loud "
                                 "today, and the coffee machine is broken again.", voice=v) for v in ("en-us", "en-gb")])
    babble = babble * (0.02 / np.sqrt(np.mean(babble**2)))
    x = to_int16(np.concatenate([np.zeros(RATE // 2, np.float32), babble, np.zeros(2 * RATE, np.float32)]))
    seg = AdaptiveSegmenter(SegmentSettings(vad_mode=1, noisy_vad_mode=3, window=0.18, ratio=0.8))
    states = []
    for k in range(0, len(x), FRAME):
        seg.feed(x[k : k + FRAME])
        states.append(seg.swamped)
    assert any(states), "the lenient VAD should have been swamped by unbroken speech"
    assert not states[-1], "two seconds of silence should hand back to the lenient VAD"


def test_the_coach_playing_selects_the_aggressive_vad():
    seg = AdaptiveSegmenter(SegmentSettings(vad_mode=1, noisy_vad_mode=3))
    seg.feed(np.zeros(FRAME, np.int16), np.full(FRAME, 0.1, np.float32))
    assert seg.swamped
    for _ in range(int(1.2 * RATE / FRAME)):
        seg.feed(np.zeros(FRAME, np.int16), np.zeros(FRAME, np.float32))
    assert not seg.swamped
