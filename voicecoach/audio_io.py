"""Audio in and out: files, the mixer, and sound devices.

The coach schedules everything on one session timeline (seconds). `Mixer` holds that timeline;
a sink drains it: `WavSink` on a simulated clock, `SpeakerSink` in real time. `MicSource` is the
live microphone. sounddevice is imported only inside the live classes, so file mode works on
machines without PortAudio.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np


class AudioError(Exception):
    """An audio problem the user can fix; str() is the one line to show."""


def read_wav(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Read an audio file as mono int16 at `rate`, whatever its own rate and channel count."""
    import soundfile as sf
    import soxr

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: not a readable audio file ({exc}); give a WAV file") from None
    mono = data.mean(axis=1)
    if file_rate != rate and len(mono):
        mono = soxr.resample(mono, file_rate, rate)
    return (np.clip(mono, -1.0, 1.0) * 32767).astype(np.int16)


class Mixer:
    """One mono float32 output timeline; clips are placed at session times (seconds).

    Thread-safe: the engine adds/cancels while a feeder thread renders. Clips are immutable
    once added (cancel replaces them), so render mixes a snapshot outside the lock.
    """

    FADE_S = 0.010
    """Fade-out applied when cancel_from cuts a sounding clip (seconds)."""

    def __init__(self, rate: int, history: float = 30.0) -> None:
        """`rate`: samples per second. `history`: how long (seconds) a finished clip stays
        renderable behind the newest render, e.g. for an echo reference of the mic span."""
        self.rate = rate
        self._history = int(history * rate)
        self._clips: list[tuple[int, np.ndarray]] = []  # (start sample, float32 data)
        self._lock = threading.Lock()
        self._played_end = 0  # end sample of the latest clip dropped as finished

    def add(self, clip: np.ndarray, at: float, gain: float = 1.0) -> None:
        """Place `clip` (mono; float in [-1, 1] or int16) to start at session time `at` seconds."""
        clip = np.asarray(clip)
        if clip.ndim != 1:
            raise ValueError("Mixer.add takes a mono (1-D) clip")
        scale = gain / 32768.0 if clip.dtype.kind in "iu" else gain
        data = clip.astype(np.float32) * np.float32(scale)
        if len(data):
            with self._lock:
                self._clips.append((round(at * self.rate), data))

    def cancel_from(self, t: float, cut_playing: bool = False) -> None:
        """Drop clips starting at or after `t` seconds; with `cut_playing`, cut the clips still
        sounding at `t` there, with a short fade-out so the cut does not click."""
        cut = round(t * self.rate)
        fade = max(1, int(self.FADE_S * self.rate))
        with self._lock:
            kept = []
            for start, data in self._clips:
                if start >= cut:
                    continue
                if cut_playing and start + len(data) > cut:
                    keep = min(len(data), cut - start + fade)
                    data = data[:keep].copy()  # a new array: renders in flight keep the old one
                    tail = data[cut - start:]
                    tail *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[: len(tail)]
                kept.append((start, data))
            self._clips = kept

    def render(self, start_sample: int, n: int) -> np.ndarray:
        """Mix samples [start_sample, start_sample + n) into float32 clipped to [-1, 1]."""
        with self._lock:
            # Forget clips that ended long before this render: a 3-hour session stays small.
            horizon = start_sample - self._history
            done = [s + len(d) for s, d in self._clips if s + len(d) <= horizon]
            if done:
                self._played_end = max(self._played_end, *done)
                self._clips = [(s, d) for s, d in self._clips if s + len(d) > horizon]
            clips = list(self._clips)
        out = np.zeros(n, dtype=np.float32)
        end = start_sample + n
        for s, d in clips:
            lo, hi = max(s, start_sample), min(s + len(d), end)
            if lo < hi:
                out[lo - start_sample : hi - start_sample] += d[lo - s : hi - s]
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def busy_until(self) -> float:
        """Session time (seconds) at which the last scheduled clip ends (0.0 if none ever)."""
        with self._lock:
            ends = [s + len(d) for s, d in self._clips]
        return max([self._played_end, *ends]) / self.rate


class WavSink:
    """Writes the mixer's output into a 16-bit mono WAV as a simulated clock advances."""

    CHUNK_S = 10.0
    """Largest span rendered at once (seconds), so a long simulated rest stays small in memory."""

    def __init__(self, path: str | Path, mixer: Mixer) -> None:
        import soundfile as sf

        self.path = Path(path)
        self.mixer = mixer
        self._pos = 0  # next sample to write
        if not self.path.parent.is_dir():
            raise AudioError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        try:
            self._file: Any = sf.SoundFile(
                str(self.path), "w", mixer.rate, 1, "PCM_16", format="WAV"
            )
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            reason = str(exc).replace("\n", " ")
            raise AudioError(f"cannot write {self.path}: {reason}") from None
        try:
            # libsndfile SFC_SET_UPDATE_HEADER_AUTO: rewrite the header on every write, so a
            # killed simulation still leaves a valid WAV of everything written so far.
            from soundfile import _ffi, _snd

            _snd.sf_command(self._file._file, 0x1061, _ffi.NULL, 1)
        except Exception:  # private API moved: the WAV is still valid after close()
            pass

    @property
    def written(self) -> float:
        """Seconds of audio written so far."""
        return self._pos / self.mixer.rate

    def advance_to(self, t: float) -> None:
        """Render the mixer from where the file ends up to session time `t` (seconds)."""
        if self._file.closed:
            raise RuntimeError("WavSink is closed")
        target = round(t * self.mixer.rate)
        step = int(self.CHUNK_S * self.mixer.rate)
        while self._pos < target:
            n = min(step, target - self._pos)
            self._file.write(self.mixer.render(self._pos, n))
            self._pos += n

    def close(self) -> None:
        """Write what is still scheduled, then close the file. Safe to call twice."""
        if self._file.closed:
            return
        try:
            self.advance_to(self.mixer.busy_until())
        finally:
            self._file.close()


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
