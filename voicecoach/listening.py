"""What `voicecoach listen` and `voicecoach check-mic` do: feed audio to a recognizer, yield commands.

The CLI prints each Detection with `detection_json()`, one per line, and nothing else on stdout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicecoach.audio_io import AudioError, read_wav  # AudioError: one line for the user
from voicecoach.speech_in.base import SAMPLE_RATE, CommandRecognizer, Detection
from voicecoach.speech_in.engines import DEFAULT_ENGINE, make_recognizer
from voicecoach.speech_in.vocabulary import Vocabulary, load_vocabulary

CHUNK = 1600
"""Samples fed per step when reading a file (100 ms, as a live microphone delivers them)."""


def detection_json(d: Detection) -> str:
    """The one-line JSON `voicecoach listen` prints for a detection."""
    return json.dumps({"command": d.command, "text": d.text, "detected_at": round(d.detected_at, 2),
                       "confidence": round(d.confidence, 2)})


def _recognizer(engine: str, vocabulary: Vocabulary | str | Path | None, vosk_model: str | None) -> CommandRecognizer:
    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else load_vocabulary(vocabulary)
    return make_recognizer(engine, vocab, vosk_model)


def listen_file(
    path: str | Path,
    engine: str = DEFAULT_ENGINE,
    vocabulary: Vocabulary | str | Path | None = None,
    vosk_model: str | None = None,
    playback: str | Path | None = None,
) -> Iterator[Detection]:
    """Stream an audio file (any rate, any channel count) through a recognizer, chunk by chunk.

    `playback`, optional, is a file with what the coach played over the same span (echo reference).
    Raises AudioError for unreadable files, EngineError / VocabularyError for setup problems.
    """
    samples = read_wav(path, SAMPLE_RATE)
    ref = read_wav(playback, SAMPLE_RATE) if playback is not None else None
    if ref is not None:
        ref = np.pad(ref[: len(samples)], (0, max(0, len(samples) - len(ref))))
    rec = _recognizer(engine, vocabulary, vosk_model)
    for a in range(0, len(samples), CHUNK):
        yield from rec.feed(samples[a : a + CHUNK], None if ref is None else ref[a : a + CHUNK])
    yield from rec.flush()


@dataclass
class LiveStats:
    """Counters of a live listening run, for the final report."""

    seconds: float = 0.0
    """Audio seconds received."""
    overflows: int = 0
    """Input overflows the device reported (audio lost because we fell behind)."""
    gaps: int = 0
    """Reads that timed out (the device stopped delivering for a while)."""


def _default_mic(device: int | str | None):
    from voicecoach.audio_devices import MicSource

    return MicSource(device=device, rate=SAMPLE_RATE)


def listen_live(
    engine: str = DEFAULT_ENGINE,
    vocabulary: Vocabulary | str | Path | None = None,
    vosk_model: str | None = None,
    device: int | str | None = None,
    stats: LiveStats | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    max_seconds: float | None = None,
    mic_factory: Callable[[int | str | None], object] = _default_mic,
) -> Iterator[Detection]:
    """Yield detections from the microphone until `should_stop()`, `max_seconds` or Ctrl-C
    (KeyboardInterrupt propagates after the mic is closed). Overflows are counted in `stats`,
    never raised. `mic_factory` is the seam tests use to pass a fake microphone."""
    stats = stats if stats is not None else LiveStats()
    rec = _recognizer(engine, vocabulary, vosk_model)
    mic = mic_factory(device)
    mic.start()
    try:
        while not should_stop() and (max_seconds is None or stats.seconds < max_seconds):
            block = mic.read(timeout=0.5)
            stats.overflows = int(getattr(mic, "overflows", 0))
            if block is None:
                stats.gaps += 1
                continue
            stats.seconds += len(block) / SAMPLE_RATE
            yield from rec.feed(block)
        yield from rec.flush()
    finally:
        mic.stop()
        stats.overflows = int(getattr(mic, "overflows", 0))


# -- check-mic -------------------------------------------------------------------------------
@dataclass
class MicReport:
    """What `check-mic` found; `problems` empty means the microphone is usable."""

    seconds: float
    level_dbfs: float
    """Loudness of the loudest 10% of 100 ms blocks (dBFS): speech level."""
    noise_floor_dbfs: float
    """Loudness of the quietest 10% of blocks (dBFS): background noise."""
    clipped_fraction: float
    """Share of samples at or within 1% of full scale."""
    overflows: int
    recognized: list[str] = field(default_factory=list)
    """Commands recognized while the user was asked to say the phrase for ready."""
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"recorded {self.seconds:.1f} s: level {self.level_dbfs:.0f} dBFS, "
               f"noise floor {self.noise_floor_dbfs:.0f} dBFS, clipping {100 * self.clipped_fraction:.2f}% "
               f"of samples, {self.overflows} input overflow(s)"]
        if self.recognized:
            out.append(f"heard: {', '.join(self.recognized)}")
        out += [f"problem: {p}" for p in self.problems]
        out.append("microphone OK" if not self.problems else "microphone NOT OK")
        return out


def measure_levels(samples: np.ndarray) -> tuple[float, float, float]:
    """(speech level dBFS, noise floor dBFS, clipped fraction) of int16 audio."""
    x = samples.astype(np.float64) / 32768.0
    n = len(x) // CHUNK
    if n == 0:
        return -120.0, -120.0, 0.0
    blocks = np.sqrt(np.mean(x[: n * CHUNK].reshape(n, CHUNK) ** 2, axis=1)) + 1e-9
    db = 20 * np.log10(blocks)
    clipped = float(np.mean(np.abs(x) >= 0.99))
    return float(np.percentile(db, 90)), float(np.percentile(db, 10)), clipped


def assess(samples: np.ndarray, overflows: int, recognized: list[str], asked: str = "ready") -> MicReport:
    """Turn a recording into a report with clear problems (pure: tests call it directly).
    `asked`: the phrase the user was asked to say for the ready command."""
    level, floor, clipped = measure_levels(samples)
    r = MicReport(len(samples) / SAMPLE_RATE, level, floor, clipped, overflows, recognized)
    if level < -70 or np.max(np.abs(samples), initial=0) < 4:
        r.problems.append("the microphone gives silence: check it is plugged in, unmuted and "
                          "selected (see `voicecoach devices`, --device)")
    elif level < -50:
        r.problems.append("the microphone is very quiet: raise its input gain or move closer")
    if clipped > 0.001:
        r.problems.append("the microphone clips (too loud): lower its input gain or move back")
    if level - floor < 10 and level >= -70:
        r.problems.append("no speech stood out from the background noise")
    if overflows:
        r.problems.append(f"{overflows} input overflow(s): audio was lost; close other programs")
    if "ready" not in recognized and not any("silence" in p for p in r.problems):
        r.problems.append(f'"{asked}" was not recognized: speak up, closer to the microphone, and retry')
    return r


def check_mic(
    seconds: float = 4.0,
    engine: str = DEFAULT_ENGINE,
    vocabulary: Vocabulary | str | Path | None = None,
    vosk_model: str | None = None,
    device: int | str | None = None,
    prompt: Callable[[str], None] = print,
    mic_factory: Callable[[int | str | None], object] = _default_mic,
) -> MicReport:
    """Record `seconds`, asking the user to say the vocabulary's phrase for ready; report level,
    noise floor, clipping, overflows and whether ready was recognized. `prompt` shows
    instructions (stderr in the CLI)."""
    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else load_vocabulary(vocabulary)
    rec = _recognizer(engine, vocab, vosk_model)
    asked = vocab.spoken("ready")
    mic = mic_factory(device)
    prompt(f'Recording {seconds:.0f} s: stay quiet for a second, then say "{asked}".')
    recorded: list[np.ndarray] = []
    heard: list[str] = []
    got = 0.0
    mic.start()
    deadline = time.monotonic() + seconds + 2.0  # a dead device must not hang check-mic
    try:
        while got < seconds and time.monotonic() < deadline:
            block = mic.read(timeout=0.5)
            if block is None:
                continue
            recorded.append(block)
            got += len(block) / SAMPLE_RATE
            heard += [d.command for d in rec.feed(block)]
        heard += [d.command for d in rec.flush()]
    finally:
        mic.stop()
    samples = np.concatenate(recorded) if recorded else np.zeros(0, np.int16)
    if not recorded:
        return MicReport(0.0, -120.0, -120.0, 0.0, int(getattr(mic, "overflows", 0)), [],
                         ["the microphone delivered no audio: check the device (`voicecoach devices`)"])
    return assess(samples, int(getattr(mic, "overflows", 0)), heard, asked)


# -- enroll ----------------------------------------------------------------------------------
def enrollment_phrases(vocabulary: Vocabulary | str | Path | None = None) -> list[str]:
    """The phrase the lifter records for each command: the first of its phrases the neural model knows."""
    from voicecoach.speech_in.neural_backend import load_head

    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else load_vocabulary(vocabulary)
    known = set(load_head().classes)
    first: dict[str, str] = {}
    for phrase, command in vocab.phrases.items():
        if phrase in known:
            first.setdefault(command, phrase)
    return list(first.values())


def enroll_lifter(takes: dict[str, list[np.ndarray]], vocabulary: Vocabulary | str | Path | None = None) -> list[Path]:
    """Adapt to the lifter's takes ({phrase: [audio, ...]}): the neural head (engines neural and
    hybrid) and the command templates (engines pocketsphinx and hybrid). Returns the files written."""
    from voicecoach.speech_in.enrollment import enroll
    from voicecoach.speech_in.templates import build_templates

    vocab = vocabulary if isinstance(vocabulary, Vocabulary) else load_vocabulary(vocabulary)
    templates = build_templates(takes, vocab.phrases)  # first: bad takes must leave nothing half-written
    return [enroll(takes), templates.save()]


def forget_enrollment() -> bool:
    """Delete every stored adaptation; True if there was any."""
    from voicecoach.speech_in.enrollment import remove_enrollment
    from voicecoach.speech_in.templates import templates_path

    removed = [remove_enrollment(), remove_enrollment(templates_path())]
    return any(removed)


def take_file_name(phrase: str, n: int) -> str:
    """`--from-dir` layout: "slow down", take 2 -> "slow-down-2.wav"."""
    return f"{phrase.replace(' ', '-')}-{n}.wav"


def takes_from_dir(directory: Path, phrases: list[str], takes: int) -> dict[str, list[np.ndarray]]:
    """Recorded takes from WAV files named by take_file_name(); AudioError names a missing file."""
    return {p: [read_wav(Path(directory) / take_file_name(p, n), SAMPLE_RATE) for n in range(1, takes + 1)]
            for p in phrases}


def record_takes(phrases: list[str], takes: int, seconds: float, device: int | str | None = None,
                 prompt: Callable[[str], None] = print,
                 mic_factory: Callable[[int | str | None], object] = _default_mic) -> dict[str, list[np.ndarray]]:
    """Ask for each phrase `takes` times and record `seconds` of audio for each."""
    mic = mic_factory(device)
    recorded: dict[str, list[np.ndarray]] = {p: [] for p in phrases}
    mic.start()
    try:
        for phrase in phrases:
            for n in range(1, takes + 1):
                prompt(f'Say "{phrase}" ({n}/{takes})')
                blocks, got = [], 0.0
                while got < seconds:
                    block = mic.read(timeout=1.0)
                    if block is None:
                        raise AudioError("the microphone delivered no audio: check the device (`voicecoach devices`)")
                    blocks.append(block)
                    got += len(block) / SAMPLE_RATE
                recorded[phrase].append(np.concatenate(blocks))
    finally:
        mic.stop()
    return recorded
