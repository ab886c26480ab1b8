"""The composition root: builds a session from its parts and runs it live or on files.

The CLI parses options and calls these functions; the engine, scheduler, audio and speech modules
know nothing of each other beyond the small interfaces they share.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from .audio_io import Mixer, WavSink
from .clock import LiveClock, SimulatedClock
from .content import Content
from .engine import SessionEngine, TimelineEvent
from .inputs import AutoReady, CommandSource, ScriptedCommands
from .program import Plan
from .records import SetRecord
from .runner import MixerOutput, run_session
from .session_log import SessionLog
from .speech_out import PhraseCache, load_earcons

OUTPUT_RATE = 22050
"""Sample rate of everything the coach plays (hertz): espeak-ng's own rate."""


@dataclass(frozen=True)
class VoiceSettings:
    voice: str | None = None
    """espeak-ng voice id or name (None: the default English voice)."""
    rate_wpm: int = 165
    """Speaking rate (words per minute)."""
    volume: float = 1.0
    """Gain applied to everything the coach plays (0..1)."""


@dataclass
class SessionResult:
    records: list[SetRecord]
    summary: str
    interrupted: bool = False
    log_path: Path | None = None
    warnings: list[str] = field(default_factory=list)


class _EstimatedOutput:
    """A silent CoachOutput for dry runs: durations estimated from the text length."""

    lead = 0.0

    def duration(self, text: str) -> float:
        return 0.25 + 0.06 * len(text)

    def play(self, at: float, text: str | None = None, earcon: str | None = None) -> float:
        if text:
            self.texts.append(text)
        return self.duration(text or "")

    def cancel_from(self, t: float, cut: bool = False) -> None:
        pass

    def __init__(self) -> None:
        self.texts: list[str] = []


def anticipated_phrases(content: Content, plan: Plan) -> list[str]:
    """Everything a session of `plan` says when nobody interrupts it, found by a silent dry run,
    so the speech cache can render it all before the first word."""
    dry = _EstimatedOutput()
    engine = SessionEngine(content, plan, dry, idle_prompt=1e9, idle_end=1e9)
    run_session(engine, SimulatedClock(), [AutoReady(lambda: engine.waiting_since)])
    extra = [content.phrase(k) for k in ("paused", "resuming_plain", "resuming_rest", "stopping", "help")]
    return list(dict.fromkeys(dry.texts + extra + [content.safety["pain"]]))


def make_output(mixer: Mixer, voice: VoiceSettings, lead: float = 0.0,
                cache_dir: Path | None = None) -> MixerOutput:
    phrases = PhraseCache(voice.voice, voice.rate_wpm, mixer.rate, cache_dir=cache_dir)
    return MixerOutput(mixer, phrases, load_earcons(mixer.rate), volume=voice.volume, lead=lead)


def new_session_identity() -> tuple[str, str]:
    """A session id and its wall-clock start (ISO 8601), supplied to the engine from outside."""
    return uuid.uuid4().hex[:12], datetime.now().astimezone().isoformat(timespec="seconds")


def _build(content: Content, plan: Plan, output: MixerOutput, log: SessionLog | None,
           on_set: Callable[[SetRecord], None] | None, intro: tuple[str, ...],
           echo: Callable[[TimelineEvent], None] | None = None) -> SessionEngine:
    session_id, started_at = new_session_identity()

    def on_event(event: TimelineEvent) -> None:
        if log is not None:
            log.write(event)
        if echo is not None:
            echo(event)

    return SessionEngine(content, plan, output, session_id=session_id, started_at=started_at,
                         on_event=on_event, on_set=on_set, intro=intro)


def simulate(content: Content, plan: Plan, out_path: Path, *, voice: VoiceSettings = VoiceSettings(),
             script: list | None = None, mic_source_factory: Callable[[Mixer, SimulatedClock], CommandSource] | None = None,
             log_path: Path | None = None, on_set: Callable[[SetRecord], None] | None = None,
             intro: tuple[str, ...] = (), cache_dir: Path | None = None, progress: bool = True) -> SessionResult:
    """Run a whole session on a simulated clock, writing what the coach says to `out_path`.

    Commands come from `script` [(time, Command)], from a microphone WAV (`mic_source_factory`),
    or, when neither is given, from an autopilot that answers "ready" whenever the coach waits.
    """
    mixer = Mixer(OUTPUT_RATE)
    output = make_output(mixer, voice, cache_dir=cache_dir)
    output.phrases.prepare(anticipated_phrases(content, plan), progress=progress)
    sink = WavSink(out_path, mixer)
    log = SessionLog(log_path) if log_path else None
    clock = SimulatedClock()
    engine = _build(content, plan, output, log, on_set, intro)
    sources: list[CommandSource] = []
    if script is not None:
        sources.append(ScriptedCommands(script))
    if mic_source_factory is not None:
        sources.append(mic_source_factory(mixer, clock))
    if not sources:
        sources.append(AutoReady(lambda: engine.waiting_since))
    interrupted = False
    try:
        run_session(engine, clock, sources, on_tick=sink.advance_to)
    except KeyboardInterrupt:
        interrupted = True
        engine.interrupt(clock.now())
    finally:
        sink.close()
        if log is not None:
            log.close()
    return SessionResult(engine.records, engine.summary or engine.summary_text(clock.now()), interrupted, log_path)


def print_summary(result: SessionResult, file=sys.stdout) -> None:
    """The printed summary: what was said, then one line per set."""
    print(result.summary, file=file)
    for r in result.records:
        side = f" ({r.side})" if r.side else ""
        flags = ", ".join(f for f, on in (("pain", r.pain), ("stopped early", r.stopped_early),
                                           (f"{r.pauses} pause(s)", r.pauses)) if on)
        load = f" @ {r.load:g} {r.unit}" if r.load is not None else ""
        print(f"  {r.block} set {r.set_number}{side}: {r.reps_done}/{r.reps_planned} reps{load}, tempo {r.tempo}"
              + (f" [{flags}]" if flags else ""), file=file)



def default_log_path(session_id_hint: str = "") -> Path:
    """Where a live session's timeline goes: the user data dir, one file per session."""
    import platformdirs

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(platformdirs.user_data_dir("voicecoach")) / "sessions" / f"{stamp}{session_id_hint}.jsonl"


def run_live(content: Content, plan: Plan, *, voice: VoiceSettings = VoiceSettings(), keyboard: bool | None = None,
             mic_listener_factory: Callable | None = None, output_device: int | str | None = None,
             log_path: Path | None = None, on_set: Callable[[SetRecord], None] | None = None,
             intro: tuple[str, ...] = (), show: bool = True) -> SessionResult:
    """Coach a session on the speakers, taking commands from the keyboard and/or the microphone.

    `keyboard`: True requires a terminal, None uses one when stdin is a terminal.

    `mic_listener_factory(push, mixer, clock)` starts the listening pipeline, which calls
    push(command, source, text, confidence) for each command; it returns an object with stop().
    """
    from .audio_io import SpeakerSink
    from .display import LiveView
    from .inputs import KeyboardReader, QueuedCommands, key_help

    mixer = Mixer(OUTPUT_RATE)
    speaker = SpeakerSink(mixer, device=output_device)
    output = make_output(mixer, voice)
    output.phrases.prepare(anticipated_phrases(content, plan))
    log_path = log_path or default_log_path()
    log = SessionLog(log_path)
    clock = LiveClock()

    def subtitle(event: TimelineEvent) -> None:
        if show and event.event in ("cue", "command", "summary"):
            prefix = {"cue": "coach: ", "command": "> ", "summary": ""}[event.event]
            sys.stderr.write(f"\r\033[K{prefix}{event.text}\n")

    engine = _build(content, plan, output, log, on_set, intro, echo=subtitle)
    queued = QueuedCommands(clock.now, clock.wake)
    workers = []
    view = LiveView(lambda: engine.snapshot) if show else None
    interrupted = False
    try:
        speaker.start()
        clock.start()
        output.lead = speaker.lead
        if keyboard or (keyboard is None and sys.stdin.isatty()):
            reader = KeyboardReader(queued)
            reader.start()
            workers.append(reader)
            sys.stderr.write("Keys: " + key_help() + "\n")
        if mic_listener_factory is not None:
            workers.append(mic_listener_factory(queued.push, mixer, clock))
        if view:
            view.start()
        run_session(engine, clock, [queued])
    except KeyboardInterrupt:
        interrupted = True
        speaker.stop()
        engine.interrupt(clock.now())
    finally:
        speaker.stop()
        for worker in workers:
            worker.stop()
        if view:
            view.stop()
        log.close()
    return SessionResult(engine.records, engine.summary or engine.summary_text(clock.now()), interrupted, log_path)
