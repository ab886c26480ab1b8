"""Speech out: phrases rendered once with pyttsx3/espeak-ng into a disk cache, and earcons.

Nothing here plays audio. Clips come back as float32 mono arrays for the Mixer, which applies
volume and timing. pyttsx3 is not thread-safe and its run loop blocks, so one private thread
owns the engine and renders to files ahead of time.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
"""Bump when the cached file format or rendering changes: old cache entries are then ignored."""

EARCONS = ("rep_start", "set_end", "command_heard", "rest_over", "session_end")
"""Earcon names; each ships as audio_assets/<name>.wav."""

ESPEAK_MISSING = "espeak-ng is not installed: sudo apt install espeak-ng"
RENDER_TIMEOUT = 60.0
"""Longest wait for one phrase (seconds); pyttsx3 has been known to hang."""


class SpeechError(Exception):
    """A speech-output problem the user can fix; str() is the one line to show."""


def _stderr_print(*args: object, **kwargs: object) -> None:
    # pyttsx3 2.99 prints "Audio saved to ..." on stdout; stdout must stay clean JSON.
    msg = " ".join(map(str, args))
    if not msg.startswith("Audio saved to"):
        print(msg, file=sys.stderr)


class _TtsThread:
    """The one thread that owns the pyttsx3 engine; jobs run there in order."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[Any], Any], Future]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.default_voice: str | None = None
        self.finished = threading.Event()
        """Set by the engine when an utterance (and its file) is complete."""

    def call(self, job: Callable[[Any], Any]) -> Any:
        """Run `job(engine)` on the engine thread and return its result."""
        with self._start_lock:
            if self._thread is None:  # daemon: a hung espeak must not block interpreter exit
                self._thread = threading.Thread(target=self._run, name="tts", daemon=True)
                self._thread.start()
        fut: Future = Future()
        self._jobs.put((job, fut))
        try:
            return fut.result(timeout=RENDER_TIMEOUT)
        except FutureTimeout:
            raise SpeechError(f"espeak-ng did not answer within {RENDER_TIMEOUT:.0f} s") from None

    def _run(self) -> None:
        engine = None
        while True:
            job, fut = self._jobs.get()
            try:
                if engine is None:
                    engine = self._make_engine()
                fut.set_result(job(engine))
            except BaseException as exc:  # hand every failure to the caller's thread
                fut.set_exception(exc)

    def _make_engine(self) -> Any:
        try:
            import pyttsx3

            engine = pyttsx3.init()
            self.default_voice = engine.getProperty("voice")
            # espeak synthesizes on its own thread: runAndWait() can return before the WAV
            # exists. The driver notifies after writing it, so wait for that instead.
            engine.connect("finished-utterance", lambda name, completed: self.finished.set())
        except Exception:  # ImportError, OSError (no libespeak-ng), RuntimeError (init failed)
            raise SpeechError(ESPEAK_MISSING) from None
        for name, mod in list(sys.modules.items()):
            if name.startswith("pyttsx3.drivers.") and mod is not None:
                mod.print = _stderr_print  # type: ignore[attr-defined]
        _patch_espeak_driver(engine)
        return engine


_TTS = _TtsThread()


def _patch_espeak_driver(engine: Any) -> None:
    """Work around two races in pyttsx3 2.99's espeak driver (we only render files):
    - runAndWait() ends with driver.stop(), which calls espeak_Cancel() while espeak's thread
      may still count as playing; that cancel can swallow the *next* phrase (empty WAV).
    - on the end-of-message event it writes the WAV *before* appending the audio delivered
      with that event, so the last chunk can be lost."""
    driver = getattr(getattr(engine, "proxy", None), "_driver", None)
    if type(driver).__module__ != "pyttsx3.drivers.espeak" or not hasattr(driver, "_onSynth"):
        return
    from pyttsx3.drivers import _espeak

    driver.stop = lambda: None  # nothing to interrupt: every job waits for its own file
    original = driver._onSynth

    def on_synth(wav: Any, numsamples: int, events: Any) -> int:
        if numsamples > 0 and driver._speaking:
            driver._data_buffer += ctypes.string_at(wav, numsamples * ctypes.sizeof(ctypes.c_short))
        return original(wav, 0, events)

    _espeak.SetSynthCallback(on_synth)


def _voices(engine: Any) -> list[tuple[str, str]]:
    return [(v.id, v.name.strip()) for v in engine.getProperty("voices")]


def list_voices() -> list[tuple[str, str]]:
    """Installed voices as (id, name), English ones first."""
    voices = _TTS.call(_voices)
    english = [v for v in voices if v[0].rsplit("/", 1)[-1].split("-")[0] == "en"]
    return english + [v for v in voices if v not in english]


def _resolve_voice(voices: list[tuple[str, str]], voice: str) -> str:
    # espeak silently keeps the old voice on an unknown name, so check it ourselves.
    want = voice.casefold()
    for vid, name in voices:
        if want in (vid.casefold(), name.casefold(), vid.rsplit("/", 1)[-1].casefold()):
            return vid
    raise SpeechError(f"unknown voice {voice!r}: run `voicecoach voices` to list installed voices")


def _trim(audio: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading silence (so a clip sounds the moment it is placed) and trailing silence,
    keeping ~20 ms of tail that fades to zero."""
    level = np.abs(audio)
    peak = float(level.max(initial=0.0))
    if peak == 0.0:
        return audio[:0]
    loud = np.flatnonzero(level > peak * 0.01)  # -40 dB below the peak counts as silence
    start = max(0, int(loud[0]) - rate // 1000)  # 1 ms before the onset: no chopped attack
    end = min(len(audio), int(loud[-1]) + 1 + rate // 50)
    out = audio[start:end].copy()
    fade = min(len(out), rate // 200)  # 5 ms: a click-free end
    out[len(out) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


class PhraseCache:
    """Spoken phrases as float32 mono clips at `sample_rate`, each rendered once to disk."""

    def __init__(
        self, voice: str | None, rate_wpm: int, sample_rate: int, cache_dir: Path | None = None
    ) -> None:
        """`voice`: an id or name from list_voices() (None = espeak default); `rate_wpm`: words
        per minute; `sample_rate`: hertz of the returned clips; `cache_dir`: where WAVs live."""
        if cache_dir is None:
            import platformdirs

            cache_dir = Path(platformdirs.user_cache_dir("voicecoach")) / "speech"
        self.voice = voice
        self.rate_wpm = rate_wpm
        self.sample_rate = sample_rate
        self.cache_dir = Path(cache_dir)
        self.renders = 0
        """Phrases this cache synthesized (cache misses)."""
        self._clips: dict[str, np.ndarray] = {}
        self._voice_id: str | None = None
        self._lock = threading.Lock()

    def path_for(self, text: str) -> Path:
        """The cache file for `text` with this voice and rate."""
        key = json.dumps([FORMAT_VERSION, text, self.voice, self.rate_wpm])
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.wav"

    def clip(self, text: str) -> np.ndarray:
        """`text` spoken, float32 mono at sample_rate, silence trimmed. Renders on a cache miss."""
        got = self._clips.get(text)
        if got is None:
            with self._lock:
                got = self._clips.get(text)
                if got is None:
                    got = self._clips[text] = self._load(text)
        return got

    def duration(self, text: str) -> float:
        """How long `text` sounds (seconds, after trimming)."""
        return len(self.clip(text)) / self.sample_rate

    def prepare(self, texts: Iterable[str], progress: bool = True) -> None:
        """Render every missing phrase now and load all into memory (before the session starts,
        so no phrase is synthesized mid-set). A progress bar goes to stderr for many phrases."""
        import click

        todo = list(dict.fromkeys(t for t in texts if t not in self._clips))
        missing = [t for t in todo if not self.path_for(t).is_file()]
        if progress and len(missing) > 10:
            with click.progressbar(missing, label="Preparing speech", file=sys.stderr) as bar:
                for text in bar:
                    self.clip(text)
        for text in todo:
            self.clip(text)

    def _load(self, text: str) -> np.ndarray:
        import soundfile as sf
        import soxr

        path = self.path_for(text)
        if not path.is_file():
            self._render(text, path)
        try:
            audio, rate = sf.read(str(path), dtype="float32")
        except (sf.LibsndfileError, RuntimeError):  # damaged cache entry: render it again
            self._render(text, path)
            audio, rate = sf.read(str(path), dtype="float32")
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if rate != self.sample_rate and len(audio):
            audio = soxr.resample(audio, rate, self.sample_rate).astype(np.float32)
        return _trim(audio, self.sample_rate)

    def _render(self, text: str, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpeechError(f"cannot create the speech cache {path.parent}: {exc.strerror}") from None
        # Render to a temp name, then rename: a Ctrl-C never leaves a half file that looks cached.
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        voice, rate = self.voice, self.rate_wpm

        def job(engine: Any) -> None:
            if self._voice_id is None:
                self._voice_id = _resolve_voice(_voices(engine), voice) if voice else _TTS.default_voice
            engine.setProperty("voice", self._voice_id)  # the engine is shared: set every time
            engine.setProperty("rate", rate)
            _TTS.finished.clear()
            engine.save_to_file(text, str(tmp))
            engine.runAndWait()  # one phrase per run: batched save_to_file calls keep only the last
            if not _TTS.finished.wait(RENDER_TIMEOUT / 2):
                raise SpeechError(f"espeak-ng did not finish speaking {text!r}")

        try:
            _TTS.call(job)
            if not tmp.is_file() or tmp.stat().st_size <= 44:  # 44 bytes = a WAV header, no audio
                raise SpeechError(f"espeak-ng produced no audio for {text!r}")
            os.replace(tmp, path)
            self.renders += 1
        finally:
            tmp.unlink(missing_ok=True)


def load_earcons(rate: int, assets_dir: Path | None = None) -> dict[str, np.ndarray]:
    """The shipped earcons as float32 mono clips at `rate` (hertz), by name (see EARCONS).
    `assets_dir` overrides the packaged voicecoach.audio_assets folder."""
    import soundfile as sf
    import soxr

    out = {}
    for name in EARCONS:
        fname = f"{name}.wav"
        try:
            if assets_dir is not None:
                audio, file_rate = sf.read(str(Path(assets_dir) / fname), dtype="float32")
            else:
                with resources.as_file(resources.files("voicecoach.audio_assets") / fname) as p:
                    audio, file_rate = sf.read(str(p), dtype="float32")
            if audio.ndim != 1 or not len(audio):
                raise ValueError("not a mono clip")
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
            raise SpeechError(
                f"earcon {fname} is missing or unreadable: run `python scripts/make_earcons.py`"
            ) from None
        if file_rate != rate:
            audio = soxr.resample(audio, file_rate, rate).astype(np.float32)
        out[name] = audio
    return out
