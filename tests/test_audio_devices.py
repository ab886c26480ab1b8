"""Sound-device I/O: clear errors without a device, and the callbacks' sample moving."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from audio_helpers import RATE, one_line, tone
from voicecoach.audio_devices import MicSource, SpeakerSink, describe_devices
from voicecoach.audio_io import AudioError, Mixer


def no_devices() -> bool:
    try:
        import sounddevice as sd

        return len(sd.query_devices()) == 0
    except OSError:
        return True


needs_no_device = pytest.mark.skipif(not no_devices(), reason="a sound device is present")


@needs_no_device
def test_speaker_without_device_is_one_clear_line():
    sink = SpeakerSink(Mixer(22050))
    with pytest.raises(AudioError) as exc:
        sink.start()
    msg = one_line(exc)
    assert "voicecoach devices" in msg and "voicecoach simulate" in msg
    sink.stop()  # safe after a failed start


@needs_no_device
def test_mic_without_device_is_one_clear_line():
    with pytest.raises(AudioError) as exc:
        MicSource().start()
    msg = one_line(exc)
    assert "--keyboard" in msg and "voicecoach devices" in msg


@needs_no_device
def test_invalid_device_index_names_it():
    with pytest.raises(AudioError) as exc:
        SpeakerSink(Mixer(22050), device=42).start()
    assert "42" in one_line(exc)


@needs_no_device
def test_describe_devices_without_devices():
    text = describe_devices()
    assert "No sound devices" in text and "voicecoach simulate" in text


def test_speaker_callback_copies_blocks_and_keeps_time_after_underflow():
    mixer = Mixer(RATE)
    mixer.add(tone(1.0), 0.0)
    sink = SpeakerSink(mixer, blocksize=256)
    ok = SimpleNamespace(output_underflow=False)
    out = np.empty((256, 1), np.float32)
    sink.fill()
    for i in range(SpeakerSink.QUEUE_BLOCKS):
        sink.callback(out, 256, None, ok)
        assert np.array_equal(out[:, 0], mixer.render(i * 256, 256))
    sink.callback(out, 256, None, ok)  # nothing ready: silence, counted
    assert not out.any() and sink.underflows == 1
    sink.fill()  # the feeder catches up: it skips the lost block rather than play it late
    sink.callback(out, 256, None, ok)
    assert np.array_equal(out[:, 0], mixer.render(5 * 256, 256))
    sink.callback(out, 256, None, SimpleNamespace(output_underflow=True))
    assert sink.underflows == 2
    assert sink.lead >= SpeakerSink.QUEUE_BLOCKS * 256 / RATE


def test_mic_callback_copies_and_counts_overflows():
    mic = MicSource()
    indata = (np.arange(160, dtype=np.int16) * 10).reshape(-1, 1)
    mic.callback(indata, 160, None, SimpleNamespace(input_overflow=True))
    expected = indata[:, 0].copy()
    indata[:] = 0  # PortAudio reuses its buffer: the queued block must be a copy
    block = mic.read(timeout=0.0)
    assert block is not None and block.dtype == np.int16 and np.array_equal(block, expected)
    assert mic.overflows == 1
    assert mic.read(timeout=0.0) is None


def test_mic_resamples_in_read_when_device_rate_differs():
    import soxr

    mic = MicSource(rate=16000)
    mic._resampler = soxr.ResampleStream(48000, 16000, 1, dtype="int16")  # as start() would
    total = 0
    for _ in range(10):
        mic.callback((tone(0.1, 500, rate=48000) * 32767).astype(np.int16).reshape(-1, 1), 4800,
                     None, SimpleNamespace(input_overflow=False))
        total += len(mic.read(timeout=0.0))
    assert 15400 < total <= 16000  # 1 s at 16 kHz, less the resampler's few ms of delay
