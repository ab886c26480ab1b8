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
from .lessons import Lesson, session_lesson
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


def anticipated_phrases(content: Content, lesson: Lesson) -> list[str]:
    """Everything a session says when nobody interrupts it, found by a silent dry run, so the
    speech cache can render it all before the first word."""
    dry = _EstimatedOutput()
    engine = SessionEngine(content, lesson.plan, dry, idle_prompt=1e9, idle_end=1e9, intro=lesson.intro,
                           checkpoints=lesson.checkpoints, outro=lesson.outro)
    run_session(engine, SimulatedClock(), [AutoReady(lambda: engine.waiting_since)])
    extra = [content.phrase(k) for k in ("paused", "resuming_plain", "resuming_rest", "stopping", "help")]
    return list(dict.fromkeys(dry.texts + extra + [content.safety["pain"]]))


def make_output(mixer: Mixer, voice: VoiceSettings, lead: float = 0.0,
                cache_dir: Path | None = None) -> MixerOutput:
    phrases = PhraseCache(voice.voice, voice.rate_wpm, mixer.rate, cache_dir=cache_dir)
    return MixerOutput(mixer, phrases, load_earcons(mixer.rate), volume=voice.volume, lead=lead)


def with_progression(content: Content, plan: Plan, history, now: datetime | None = None) -> Lesson:
    """The session lesson for `plan`, opening with last time and today's target when `history`
    (a HistoryStore) has a session of the same plan. `now`: wall-clock time (default: now)."""
    from .progression import advise

    last = history.last_session_for_plan(plan.name) if history is not None else None
    now = now or datetime.now().astimezone()
    advice = advise(last.sets, now, plan, session_pain=bool(last.info and last.info.pain)) if last else None
    return session_lesson(content, plan, tuple(advice.lines()) if advice else ())


class _Recorder:
    """Sends what the engine produces to the timeline log, the history store and the terminal."""

    def __init__(self, log: SessionLog | None, history, echo: Callable[[TimelineEvent], None] | None,
                 warn: Callable[[str], None]):
        self.log, self.history, self.echo, self.warn = log, history, echo, warn
        self.warnings: list[str] = []

    def event(self, event: TimelineEvent) -> None:
        if self.log is not None:
            self.log.write(event)
        if self.echo is not None:
            self.echo(event)

    def set_done(self, record: SetRecord) -> None:
        if self.history is not None:
            warning = self.history.record_set(record)
            if warning:
                self.warnings.append(warning)
                self.warn(warning)


def _build(content: Content, lesson: Lesson, output: MixerOutput, recorder: _Recorder) -> SessionEngine:
    session_id = uuid.uuid4().hex[:12]
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    if recorder.history is not None:
        recorder.history.record_session_start(session_id, started_at, lesson.plan.name,
                                              sets_planned=lesson.plan.total_sets)
    return SessionEngine(content, lesson.plan, output, session_id=session_id, started_at=started_at,
                         on_event=recorder.event, on_set=recorder.set_done, intro=lesson.intro,
                         checkpoints=lesson.checkpoints, outro=lesson.outro)


def _finish(engine: SessionEngine, recorder: _Recorder, now: float, interrupted: bool,
            log_path: Path | None) -> SessionResult:
    if recorder.history is not None:
        recorder.history.record_session_end(engine.session_id, stopped_early=interrupted or any(
            r.stopped_early for r in engine.records), pain=engine.pain, ended_at=round(now, 3))
    if recorder.log is not None:
        recorder.log.close()
    return SessionResult(engine.records, engine.summary or engine.summary_text(now), interrupted, log_path,
                         recorder.warnings)


def _stderr(line: str) -> None:
    """A line on stderr; on a terminal it first clears the live view's status line."""
    sys.stderr.write(("\r\033[K" if sys.stderr.isatty() else "") + line + "\n")


def simulate(content: Content, lesson: Lesson | Plan, out_path: Path, *, voice: VoiceSettings = VoiceSettings(),
             script: list | None = None, mic_source_factory: Callable[[Mixer], CommandSource] | None = None,
             log_path: Path | None = None, history=None, cache_dir: Path | None = None,
             progress: bool = True) -> SessionResult:
    """Run a whole session on a simulated clock, writing what the coach says to `out_path`.

    Commands come from `script` [(time, Command)], from a microphone WAV (`mic_source_factory`),
    or, when neither is given, from an autopilot that answers "ready" whenever the coach waits.
    """
    if isinstance(lesson, Plan):
        lesson = session_lesson(content, lesson)
    mixer = Mixer(OUTPUT_RATE)
    output = make_output(mixer, voice, cache_dir=cache_dir)
    sources: list[CommandSource] = []
    if script is not None:
        sources.append(ScriptedCommands(script))
    if mic_source_factory is not None:
        sources.append(mic_source_factory(mixer))
    output.phrases.prepare(anticipated_phrases(content, lesson), progress=progress)
    sink = WavSink(out_path, mixer)
    recorder = _Recorder(SessionLog(log_path) if log_path else None, history, None, _stderr)
    clock = SimulatedClock()
    engine = _build(content, lesson, output, recorder)
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
        result = _finish(engine, recorder, clock.now(), interrupted, log_path)
    return result


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


def run_live(content: Content, lesson: Lesson, *, voice: VoiceSettings = VoiceSettings(), keyboard: bool | None = None,
             mic_listener_factory: Callable | None = None, output_device: int | str | None = None,
             log_path: Path | None = None, history=None, show: bool = True) -> SessionResult:
    """Coach a session on the speakers, taking commands from the keyboard and/or the microphone.

    `keyboard`: True requires a terminal, None uses one when stdin is a terminal.

    `mic_listener_factory(push, mixer, now)` starts the listening pipeline, which calls
    push(command, source, text, confidence) for each command; it returns an object with stop().
    """
    from .audio_devices import SpeakerSink
    from .display import LiveView
    from .inputs import KeyboardReader, QueuedCommands, key_help

    mixer = Mixer(OUTPUT_RATE)
    speaker = SpeakerSink(mixer, device=output_device)
    output = make_output(mixer, voice)
    output.phrases.prepare(anticipated_phrases(content, lesson))
    log_path = log_path or default_log_path()
    clock = LiveClock()

    def subtitle(event: TimelineEvent) -> None:
        if show and event.event in ("cue", "command"):
            _stderr(("coach: " if event.event == "cue" else "heard: ") + event.text)
        if show and event.event == "command" and event.text == "help":
            _stderr("Keys: " + key_help())

    recorder = _Recorder(SessionLog(log_path), history, subtitle, _stderr)
    engine = _build(content, lesson, output, recorder)
    queued = QueuedCommands(clock.now, clock.wake)
    workers = []
    view = LiveView(lambda: engine.snapshot) if show and sys.stderr.isatty() else None
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
            workers.append(mic_listener_factory(queued.push, mixer, clock.now))
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
        result = _finish(engine, recorder, clock.now(), interrupted, log_path)
    return result


def choose_plan(content: Content, plan_ref: str | None, goal: str, variation: str, *, load=None,
                setup: bool = True, **overrides) -> Plan:
    """The plan to coach: a plan file or shipped plan name (`plan_ref`), else one block built
    from the goal's defaults and the command-line `overrides` (sets, reps, tempo, hold, rest)."""
    from dataclasses import replace

    from .plans import apply_load, load_plan
    from .program import plan_from_options

    if plan_ref:
        plan = apply_load(load_plan(plan_ref), load)
        return plan if setup else replace(plan, setup=False)
    return plan_from_options(content.goals[goal], variation, load=load, setup=setup, **overrides)


def make_voice_recognizer(engine: str, vocabulary_path: Path | None = None, vosk_model: str | None = None):
    """The command recognizer for `engine`, built before the session so a missing model or a bad
    vocabulary file stops the program at once with one clear line."""
    from .speech_in.engines import make_recognizer
    from .speech_in.vocabulary import load_vocabulary

    return make_recognizer(engine, load_vocabulary(vocabulary_path), vosk_model)


def mic_file_commands(path: Path, recognizer, echo_db: float | None = None) -> Callable[[Mixer], CommandSource]:
    """For `simulate --mic`: the commands recognized in a microphone WAV, any rate or channels."""
    from .audio_io import read_wav
    from .mic_commands import MicFileCommands
    from .speech_in.base import SAMPLE_RATE

    samples = read_wav(path, SAMPLE_RATE)
    return lambda mixer: MicFileCommands(samples, recognizer, mixer, echo_db)


def live_mic_listener(recognizer, device: int | str | None = None) -> Callable:
    """For `session`: the listening pipeline on the microphone, started once the speaker runs."""
    from .audio_devices import MicSource
    from .mic_commands import MicListener

    def start(push, mixer: Mixer, now: Callable[[], float]) -> MicListener:
        return MicListener(MicSource(device=device), recognizer, mixer, now, push).start()

    return start
