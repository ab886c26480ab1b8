"""Phrase cache with real espeak-ng speech, and the shipped earcons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voicecoach.speech_out import EARCONS, PhraseCache, SpeechError, list_voices, load_earcons

RATE = 22050
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path) -> PhraseCache:
    return PhraseCache(None, 170, RATE, cache_dir=tmp_path / "speech")


def test_renders_real_speech_trimmed(cache):
    clip = cache.clip("three")
    assert clip.dtype == np.float32 and clip.ndim == 1
    assert 0.15 < cache.duration("three") < 1.2
    assert np.sqrt(np.mean(clip**2)) > 0.02  # speech, not silence
    first_20ms = clip[: int(0.020 * RATE)]
    assert np.abs(first_20ms).max() > 0.05 * np.abs(clip).max()  # sounds as soon as placed
    assert np.abs(clip[-5:]).max() < 0.01  # ends quietly, no click
    assert cache.clip("three") is clip  # memoized
    assert cache.renders == 1


def test_second_cache_hits_disk_without_rendering(cache, tmp_path):
    first = cache.clip("hold at the top")
    path = cache.path_for("hold at the top")
    mtime = path.stat().st_mtime_ns
    again = PhraseCache(None, 170, RATE, cache_dir=tmp_path / "speech")
    assert np.array_equal(again.clip("hold at the top"), first)
    assert again.renders == 0 and path.stat().st_mtime_ns == mtime
    assert not list(path.parent.glob("*.tmp"))  # temp files never linger


def test_rate_voice_and_text_key_the_cache(cache, tmp_path):
    text = "drive through your heels and squeeze at the top"
    fast = PhraseCache(None, 260, RATE, cache_dir=tmp_path / "speech")
    assert fast.path_for(text) != cache.path_for(text)
    assert fast.duration(text) < 0.85 * cache.duration(text)
    us = PhraseCache("en-us", 170, RATE, cache_dir=tmp_path / "speech")
    assert us.path_for(text) != cache.path_for(text)
    us.clip(text)
    assert us.renders == 1 and len(list((tmp_path / "speech").glob("*.wav"))) == 3


def test_clips_come_at_the_requested_rate(tmp_path):
    at22 = PhraseCache(None, 170, 22050, cache_dir=tmp_path).duration("ready")
    at16 = PhraseCache(None, 170, 16000, cache_dir=tmp_path)
    assert at16.duration("ready") == pytest.approx(at22, abs=0.01)
    assert at16.renders == 0  # same source file, resampled


def test_prepare_renders_everything_once_with_clean_stdout(cache, capfd):
    texts = [str(n) for n in range(1, 13)] + ["up", "down", "up"]
    cache.prepare(texts)
    out, err = capfd.readouterr()
    assert out == ""  # pyttsx3's "Audio saved to ..." must not reach stdout
    assert "Preparing speech" in err  # more than 10 to render: progress on stderr
    assert cache.renders == 14
    for text in texts:  # every clip is real speech (espeak-ng once dropped short phrases)
        assert len(cache.clip(text)) > 0.1 * RATE
    cache.prepare(texts)
    assert cache.renders == 14


def test_damaged_cache_entry_is_rendered_again(cache):
    cache.path_for("pause").parent.mkdir(parents=True)
    cache.path_for("pause").write_bytes(b"RIFF garbage")
    assert len(cache.clip("pause")) > 0.1 * RATE
    assert cache.renders == 1


def test_unknown_voice_is_one_clear_line(tmp_path):
    with pytest.raises(SpeechError) as exc:
        PhraseCache("no-such-voice", 170, RATE, cache_dir=tmp_path).clip("hello")
    msg = str(exc.value)
    assert "no-such-voice" in msg and "voicecoach voices" in msg and "\n" not in msg


def test_list_voices_english_first():
    voices = list_voices()
    assert ("gmw/en", "English (Great Britain)") in voices
    first_other = next(i for i, (vid, _) in enumerate(voices) if not vid.split("/")[-1].startswith("en"))
    assert all(vid.split("/")[-1].startswith("en") for vid, _ in voices[:first_other])
    assert first_other > 0


def test_stdout_stays_clean_in_a_fresh_process(tmp_path):
    code = (
        "from voicecoach.speech_out import PhraseCache;"
        f"PhraseCache(None, 170, 16000, cache_dir={str(tmp_path)!r}).prepare(['one', 'two'])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout == ""


@pytest.mark.parametrize("rate", [16000, 48000])
def test_earcons_load_at_requested_rate(rate):
    earcons = load_earcons(rate)
    assert set(earcons) == set(EARCONS)
    for name, clip in earcons.items():
        assert clip.dtype == np.float32 and clip.ndim == 1 and len(clip) > 0, name
        assert 0.05 < np.abs(clip).max() < 0.9, name  # audible, never clipping
    assert abs(len(earcons["command_heard"]) - 0.08 * rate) < 0.005 * rate
    assert np.abs(earcons["command_heard"]).max() < np.abs(earcons["set_end"]).max()  # quiet


def test_shipped_earcons_match_the_script_and_do_not_click(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_earcons.py"), str(tmp_path)],
                   check=True, capture_output=True)
    for name in EARCONS:
        made = (tmp_path / f"{name}.wav").read_bytes()
        assert made == (ROOT / "audio_assets" / f"{name}.wav").read_bytes(), name
        data, rate = sf.read(str(tmp_path / f"{name}.wav"))
        assert rate == 22050 and data.ndim == 1
        assert abs(data[0]) < 0.01 and abs(data[-1]) < 0.01, name  # starts and ends at zero


def test_missing_or_corrupt_earcon_names_the_file(tmp_path):
    with pytest.raises(SpeechError) as exc:
        load_earcons(16000, assets_dir=tmp_path)
    assert "rep_start.wav" in str(exc.value) and "make_earcons.py" in str(exc.value)
    for name in EARCONS:
        (tmp_path / f"{name}.wav").write_bytes((ROOT / "audio_assets" / f"{name}.wav").read_bytes())
    (tmp_path / "rest_over.wav").write_text("not a wav")
    with pytest.raises(SpeechError) as exc:
        load_earcons(16000, assets_dir=tmp_path)
    assert "rest_over.wav" in str(exc.value)
