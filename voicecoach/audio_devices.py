"""Sound devices: the live speaker and microphone (sounddevice / PortAudio).

The same mixer as file mode (`audio_io.Mixer`), drained in real time. sounddevice is imported
only when a device is opened, so file mode works on machines without PortAudio. The device
callbacks only copy samples (into a queue, out of a prepared block); mixing happens on a
feeder thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np

from voicecoach.audio_io import AudioError, Mixer


def _import_sounddevice() -> Any:
    try:
        import sounddevice
    except OSError:
        raise AudioError(
            "PortAudio is not installed: sudo apt install libportaudio2 "
            "(or run `voicecoach simulate` to coach into a WAV file)"
        ) from None
    return sounddevice


def _check_device(sd: Any, device: int | str | None, kind: str) -> dict:
    """The device's info dict, or AudioError saying what to do about a missing one."""
    try:
        return sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError):
        pass
    if device is not None:
        what = f"no {kind} device {device!r}"
    else:
        what = "no speaker found" if kind == "output" else "no microphone found"
    hint = "use --keyboard to give commands by keyboard, " if kind == "input" else ""
    raise AudioError(
        f"{what}: see `voicecoach devices`, {hint}or run `voicecoach simulate` to use WAV files"
    )


def check_speaker(device: int | str | None = None) -> None:
    """AudioError (one line) now if there is no such speaker: before anything slow is prepared."""
    _check_device(_import_sounddevice(), device, "output")


class SpeakerSink:
    """Plays the mixer live. Sample 0 of the mixer plays when start() returns (plus latency).

    A feeder thread renders blocks into a small queue; the stream callback only copies one out.
    """

    QUEUE_BLOCKS = 4

    def __init__(
        self, mixer: Mixer, device: int | str | None = None, blocksize: int = 1024
    ) -> None:
        self.mixer = mixer
        self.device = device
        self.blocksize = blocksize
        self._q: queue.Queue[tuple[int, np.ndarray]] = queue.Queue(maxsize=self.QUEUE_BLOCKS)
        self._next = 0  # next sample the feeder renders
        self._played = 0  # next sample the callback must play (advances even on underflow)
        self._underflows = 0
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    @property
    def underflows(self) -> int:
        """Blocks played as silence because no rendered block was ready."""
        return self._underflows

    @property
    def lead(self) -> float:
        """Seconds ahead of now a clip must be added so already-rendered audio does not cut it."""
        latency = float(self._stream.latency) if self._stream is not None else 0.0
        return (self.QUEUE_BLOCKS + 1) * self.blocksize / self.mixer.rate + latency

    def render_next(self) -> tuple[int, np.ndarray]:
        """Render the next block for the queue (feeder side). Skips ahead after an underflow so
        the mixer timeline stays locked to the clock."""
        self._next = max(self._next, self._played)
        item = (self._next, self.mixer.render(self._next, self.blocksize))
        self._next += self.blocksize
        return item

    def fill(self) -> None:
        """Render blocks until the queue is full, without blocking (pre-fill before start)."""
        while not self._q.full():
            self._q.put_nowait(self.render_next())

    def callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio callback: copy one ready block out, else silence. Nothing else."""
        start = self._played
        self._played += frames
        if status.output_underflow:
            self._underflows += 1
        while True:
            try:
                pos, block = self._q.get_nowait()
            except queue.Empty:
                outdata.fill(0)
                self._underflows += 1
                return
            if pos >= start:  # older blocks are stale (an underflow already passed them)
                break
        if pos == start and len(block) == frames:
            outdata[:, 0] = block
        else:
            outdata.fill(0)
            self._underflows += 1

    def _feed(self) -> None:
        item = self.render_next()
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)  # blocks while the queue is full: paces the feeder
            except queue.Full:
                continue
            item = self.render_next()

    def start(self) -> None:
        """Open the output stream and start playing the mixer from sample 0."""
        sd = _import_sounddevice()
        _check_device(sd, self.device, "output")
        try:
            sd.check_output_settings(
                self.device, channels=1, dtype="float32", samplerate=self.mixer.rate
            )
        except (ValueError, sd.PortAudioError):
            raise AudioError(
                f"the speaker does not support {self.mixer.rate} Hz: pick another with --device "
                "(see `voicecoach devices`)"
            ) from None
        self.fill()  # so the very first callback already has sample 0
        try:
            self._stream = sd.OutputStream(
                samplerate=self.mixer.rate, blocksize=self.blocksize, device=self.device,
                channels=1, dtype="float32", callback=self.callback, latency="low",
            )
            self._thread = threading.Thread(target=self._feed, name="speaker-feed", daemon=True)
            self._thread.start()
            self._stream.start()
        except sd.PortAudioError as exc:
            self.stop()
            raise AudioError(f"cannot open the speaker ({exc}): see `voicecoach devices`") from None

    def stop(self) -> None:
        """Abort playback at once (audio stops within a block or two) and end the feeder."""
        self._stop.set()
        if self._stream is not None:
            self._stream.abort()
            self._stream.close()
            self._stream = None
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None


class MicSource:
    """The live microphone as int16 mono blocks at `rate` (hertz)."""

    def __init__(
        self, device: int | str | None = None, rate: int = 16000, blocksize: int = 1600
    ) -> None:
        self.device = device
        self.rate = rate
        self.blocksize = blocksize
        self._q: queue.Queue[np.ndarray] = queue.Queue()
        self._overflows = 0
        self._stream: Any = None
        self._resampler: Any = None  # soxr stream when the device cannot record at `rate`

    @property
    def overflows(self) -> int:
        """Callbacks that reported lost input (the consumer fell behind)."""
        return self._overflows

    def callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """PortAudio callback: copy and enqueue, count overflows; nothing else."""
        if status.input_overflow:
            self._overflows += 1
        self._q.put(indata.copy())

    def read(self, timeout: float) -> np.ndarray | None:
        """Next block of int16 mono samples at `rate`, or None if none came within `timeout` s."""
        try:
            block = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        mono = np.ascontiguousarray(block[:, 0] if block.ndim == 2 else block)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono)
        return mono.astype(np.int16, copy=False)

    def start(self) -> None:
        """Open the microphone and start recording."""
        sd = _import_sounddevice()
        info = _check_device(sd, self.device, "input")
        dev_rate, blocksize = self.rate, self.blocksize
        try:
            sd.check_input_settings(self.device, channels=1, dtype="int16", samplerate=self.rate)
        except (ValueError, sd.PortAudioError):
            import soxr

            # Record at the device's own rate; read() resamples (never the callback).
            dev_rate = int(info["default_samplerate"])
            blocksize = round(self.blocksize * dev_rate / self.rate)
            self._resampler = soxr.ResampleStream(dev_rate, self.rate, 1, dtype="int16")
        try:
            self._stream = sd.InputStream(
                samplerate=dev_rate, blocksize=blocksize, device=self.device,
                channels=1, dtype="int16", callback=self.callback,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            self.stop()
            raise AudioError(f"cannot open the microphone ({exc}): see `voicecoach devices`, "
                             "or use --keyboard") from None

    def stop(self) -> None:
        """Stop recording; blocks already captured can still be read."""
        if self._stream is not None:
            self._stream.abort()
            self._stream.close()
            self._stream = None


def describe_devices() -> str:
    """Text listing the sound devices for `voicecoach devices`, defaults marked."""
    sd = _import_sounddevice()
    try:
        devices = list(sd.query_devices())
    except sd.PortAudioError as exc:
        raise AudioError(f"cannot list sound devices: {exc}") from None
    if not devices:
        return ("No sound devices found. Use `voicecoach simulate` to coach into a WAV file, "
                "and --keyboard to give commands without a microphone.")
    default_in, default_out = (int(i) for i in sd.default.device)
    lines = []
    for i, d in enumerate(devices):
        marks = [m for m, on in (("default input", i == default_in),
                                 ("default output", i == default_out)) if on]
        lines.append(
            f"{i:3d}  {d['name']}  (in {d['max_input_channels']}, out {d['max_output_channels']}, "
            f"{int(d['default_samplerate'])} Hz)" + (f"  [{', '.join(marks)}]" if marks else "")
        )
    return "\n".join(lines)
