"""The `voicecoach` command: parses options and wires the parts together (no logic of its own)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from . import app
from .audio_devices import check_speaker
from .audio_io import AudioError
from .content import ContentError, load_content
from .history_report import HistoryReportError
from .inputs import parse_script
from .lessons import practice_lesson
from .plans import PlanError
from .program import Load, Tempo
from .speech_in.engines import DEFAULT_ENGINE, USER_ENGINES, EngineError
from .speech_in.vocabulary import load_vocabulary
from .speech_out import SpeechError

VARIATIONS = ["barbell", "dumbbell", "bodyweight", "single-leg", "banded"]
GOALS = ["strength", "hypertrophy", "endurance"]
USER_ERRORS = (AudioError, SpeechError, ContentError, PlanError, HistoryReportError, EngineError, OSError, ValueError)
"""Faults a user can cause or fix: shown as one line, never as a traceback."""


def _parse_with(parser):
    def callback(ctx: click.Context, param: click.Parameter, value):
        if value is None:
            return None
        try:
            return parser(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return callback


def user_errors(fn):
    """Turn user-fixable faults into one clear line and exit 1; Ctrl-C into exit 130."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            # The reader went away (`voicecoach listen FILE | head`): stop quietly, like any
            # Unix filter; stdout goes to /dev/null so the interpreter's final flush can't fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
    return wrapper


def session_options(fn):
    """The options shared by `session` and `simulate`: what to coach and how it sounds."""
    options = [
        click.option("--goal", type=click.Choice(GOALS), default="hypertrophy", show_default=True,
                     help="Rep range from the guide: strength 3-6, hypertrophy 8-15, endurance 15-20+."),
        click.option("--sets", type=click.IntRange(1, 20), help="Sets (default: the goal's)."),
        click.option("--reps", type=click.IntRange(1, 100), help="Reps per set (default: the goal's)."),
        click.option("--tempo", callback=_parse_with(Tempo.parse), metavar="UP-HOLD-DOWN[-BOTTOM]",
                     help="Seconds per phase, e.g. 2-1-3 (default: the goal's)."),
        click.option("--hold", type=click.FloatRange(0, 10), is_flag=False, flag_value=2.0, metavar="[SECONDS]",
                     help="Paused reps: hold the top this long with a spoken count (2 s if no value)."),
        click.option("--rest", type=click.FloatRange(0, 900), help="Rest between sets in seconds (default: the goal's)."),
        click.option("--variation", type=click.Choice(VARIATIONS), default="barbell", show_default=True),
        click.option("--load", callback=_parse_with(Load.parse), help="Load on the hips, e.g. 60kg or 135lb (recorded)."),
        click.option("--no-setup", is_flag=True, help="Skip the setup walk-through."),
        click.option("--voice", help="espeak-ng voice (see `voicecoach voices`)."),
        click.option("--rate", type=click.IntRange(80, 400), default=165, show_default=True, help="Words per minute."),
        click.option("--volume", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True),
        click.option("--plan", "plan_ref", metavar="NAME|FILE",
                     help="A shipped plan (see `voicecoach plans`) or a plan file; replaces the options above."),
        click.option("--content", "content_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="A coach's edited copy of the content file (default: the shipped one)."),
        click.option("--history-db", type=click.Path(dir_okay=False, path_type=Path),
                     help="History database (default for `session`: the user data directory)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def listening_options(fn):
    """How commands are heard: the recognizer engine, its model and the vocabulary."""
    options = [
        click.option("--engine", type=click.Choice(USER_ENGINES), default=DEFAULT_ENGINE, show_default=True,
                     help="Command recognizer."),
        click.option("--vosk-model", envvar="VOICECOACH_VOSK_MODEL", type=click.Path(path_type=Path),
                     help="Vosk model directory, for --engine vosk (or VOICECOACH_VOSK_MODEL)."),
        click.option("--vocabulary", type=click.Path(dir_okay=False, path_type=Path), envvar="VOICECOACH_VOCABULARY",
                     help="An edited copy of the command phrases (default: the shipped commands.toml)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _recognizer(opts: dict):
    vosk_model = opts.pop("vosk_model")
    return app.make_voice_recognizer(opts.pop("engine"), opts["vocabulary"],
                                     str(vosk_model) if vosk_model else None)


def _plan_and_content(opts: dict):
    """Content and plan from the shared session options (removed from `opts`)."""
    content = load_content(opts.pop("content_path"), spoken=load_vocabulary(opts.pop("vocabulary", None)).spoken)
    overrides = {k: opts.pop(k) for k in ("sets", "reps", "tempo", "hold", "rest")}
    plan_ref = opts.pop("plan_ref")
    if plan_ref and any(v is not None for v in overrides.values()):
        given = ", ".join(f"--{k}" for k, v in overrides.items() if v is not None)
        raise click.UsageError(f"--plan sets sets, reps, tempo, hold and rest itself; drop {given} or the plan")
    plan = app.choose_plan(content, plan_ref, opts.pop("goal"), opts.pop("variation"), load=opts.pop("load"),
                           setup=not opts.pop("no_setup"), **overrides)
    return content, plan


def _history(path: Path | None, default: bool):
    from .storage import HistoryStore

    if path is None and not default:
        return None
    store = HistoryStore(path)
    if store.warning:
        click.echo(f"Warning: {store.warning}", err=True)
    return store


def _voice(opts: dict) -> app.VoiceSettings:
    return app.VoiceSettings(opts.pop("voice"), opts.pop("rate"), opts.pop("volume"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voicecoach")
def main() -> None:
    """voicecoach: an offline, hands-free audio coach for the hip thrust."""


@main.command()
@session_options
@listening_options
@click.option("--keyboard", is_flag=True, help="Take commands from the keyboard only (no microphone).")
@click.option("--device", help="Output device (see `voicecoach devices`).")
@click.option("--mic-device", help="Input device (see `voicecoach devices`).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Timeline file (default: the user data directory).")
@user_errors
def session(keyboard, device, mic_device, log_path, **opts):
    """Coach a session on the speakers: setup, sets with tempo counts, rest, summary.

    Listens for voice commands (the keyboard works too); every set is saved to your history as it
    ends; a plan done before starts with last time's result and today's target.
    """
    check_speaker(device)  # no speaker: say so before the speech model is prepared
    recognizer = _recognizer(opts)
    content, plan = _plan_and_content(opts)
    history = _history(opts.pop("history_db"), default=True)
    lesson = app.with_progression(content, plan, history)
    listener = None if keyboard else app.live_mic_listener(recognizer, mic_device)
    result = app.run_live(content, lesson, voice=_voice(opts), keyboard=True if keyboard else None,
                          mic_listener_factory=listener, output_device=device, log_path=log_path, history=history)
    _report(result)


@main.command()
@click.option("--keyboard", is_flag=True, help="Take commands from the keyboard only (no microphone).")
@click.option("--device", help="Output device (see `voicecoach devices`).")
@click.option("--voice", help="espeak-ng voice (see `voicecoach voices`).")
@click.option("--rate", type=click.IntRange(80, 400), default=150, show_default=True, help="Words per minute.")
@click.option("--volume", type=click.FloatRange(0.0, 1.0), default=1.0, show_default=True)
@user_errors
def practice(keyboard, device, **opts):
    """Learn the movement with body weight: each step explained, then tried, then slow reps."""
    content = load_content()
    result = app.run_live(content, practice_lesson(content), voice=_voice(opts),
                          keyboard=True if keyboard else None, output_device=device)
    _report(result)


def _report(result: app.SessionResult) -> None:
    app.print_summary(result)
    if result.log_path:
        click.echo(f"Timeline: {result.log_path}", err=True)
    if result.interrupted:
        sys.exit(130)


@main.command()
@session_options
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="WAV file for everything the coach says.")
@click.option("--commands", "script", callback=_parse_with(parse_script), metavar="T:CMD,...",
              help='Commands at session times, e.g. "6.0:ready,40:pause,52:resume".')
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Timeline as JSON lines.")
@click.option("--mic", "mic_path", type=click.Path(dir_okay=False, path_type=Path),
              help="A recording of the lifter (any WAV): the commands recognized in it drive the session.")
@click.option("--echo", "echo_db", type=click.FloatRange(-60, 0), metavar="DB",
              help="With --mic: mix the coach's own voice into the microphone at this level (e.g. -12).")
@listening_options
@click.option("--practice", "practice_mode", is_flag=True, help="Simulate the beginner practice instead.")
@user_errors
def simulate(out_path, script, log_path, mic_path, echo_db, practice_mode, **opts):
    """Run a whole session on a simulated clock, into a WAV file, as fast as the CPU allows.

    Without --commands or --mic, an autopilot answers "ready" whenever the coach waits.
    History is written only with --history-db.
    """
    if echo_db is not None and mic_path is None:
        raise click.UsageError("--echo needs --mic")
    mic = app.mic_file_commands(mic_path, _recognizer(opts), echo_db) if mic_path else None
    content, plan = _plan_and_content(opts)
    history = _history(opts.pop("history_db"), default=False)
    lesson = practice_lesson(content) if practice_mode else app.with_progression(content, plan, history)
    result = app.simulate(content, lesson, out_path, voice=_voice(opts), script=script, log_path=log_path,
                          history=history, mic_source_factory=mic)
    _report(result)


@main.command()
@click.argument("wav", required=False, type=click.Path(dir_okay=False, path_type=Path))
@listening_options
@click.option("--playback", type=click.Path(dir_okay=False, path_type=Path),
              help="What the coach played over the same span, as an echo reference.")
@click.option("--device", help="Input device when listening live (see `voicecoach devices`).")
@user_errors
def listen(wav, playback, device, **opts):
    """Print each command recognized in WAV (or live from the microphone) as one JSON line.

    detected_at is the audio time, in seconds from the start, at which the command was committed.
    """
    from . import listening

    vosk_model = str(opts["vosk_model"]) if opts["vosk_model"] else None
    if wav is not None:
        found = listening.listen_file(wav, opts["engine"], opts["vocabulary"], vosk_model, playback)
    else:
        click.echo("Listening (Ctrl-C to stop)...", err=True)
        stats = listening.LiveStats()
        found = listening.listen_live(opts["engine"], opts["vocabulary"], vosk_model, device, stats=stats)
    for detection in found:
        click.echo(listening.detection_json(detection))
    if wav is None and stats.overflows:
        click.echo(f"{stats.overflows} input overflow(s): audio was lost", err=True)


@main.command()
@click.option("--takes", type=click.IntRange(2, 10), default=3, show_default=True, help="Recordings per command.")
@click.option("--seconds", type=click.FloatRange(1, 10), default=2.5, show_default=True, help="Length of each.")
@click.option("--device", help="Input device (see `voicecoach devices`).")
@click.option("--from-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help='Use recordings instead of the microphone: PHRASE-N.wav, e.g. "slow-down-2.wav".')
@click.option("--remove", is_flag=True, help="Forget the enrollment: back to the shipped model.")
@user_errors
def enroll(takes, seconds, device, from_dir, remove):
    """Adapt the recognizers to your voice: say each command a few times."""
    from . import listening

    if remove:
        click.echo("Enrollment removed." if listening.forget_enrollment() else "There was no enrollment.")
        return
    phrases = listening.enrollment_phrases()
    if from_dir:
        recorded = listening.takes_from_dir(from_dir, phrases, takes)
    else:
        recorded = listening.record_takes(phrases, takes, seconds, device, prompt=lambda t: click.echo(t, err=True))
    paths = listening.enroll_lifter(recorded)
    click.echo(f"Enrolled {len(phrases)} commands x {takes} takes: {', '.join(map(str, paths))} "
               f"(remove with `voicecoach enroll --remove`)")


@main.command("check-mic")
@click.option("--seconds", type=click.FloatRange(2, 30), default=4.0, show_default=True)
@listening_options
@click.option("--device", help="Input device (see `voicecoach devices`).")
@user_errors
def check_mic(seconds, device, **opts):
    """Record a few seconds: level, noise floor, clipping; then check that the ready phrase is recognized."""
    from . import listening

    vosk_model = str(opts["vosk_model"]) if opts["vosk_model"] else None
    report = listening.check_mic(seconds, opts["engine"], opts["vocabulary"], vosk_model, device,
                                 prompt=lambda text: click.echo(text, err=True))
    for line in report.lines():
        click.echo(line)
    if report.problems:
        sys.exit(1)


@main.command()
@user_errors
def plans():
    """List the shipped plans."""
    from .plans import list_shipped_plans

    for plan in list_shipped_plans():
        click.echo(f"{plan.name:<14} {plan.description or plan.title}")


@main.command()
@click.option("--limit", type=click.IntRange(1, 10000), default=15, show_default=True, help="Sessions in the table.")
@click.option("--csv", "csv_path", metavar="FILE|-", help="Export every set as CSV (- for stdout).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw load and volume over time into a PNG.")
@click.option("--history-db", type=click.Path(dir_okay=False, path_type=Path), help="History database.")
@user_errors
def history(limit, csv_path, plot_path, history_db):
    """Recent sessions as a table; export them as CSV or a picture."""
    from . import history_report

    store = _history(history_db, default=True)
    if csv_path == "-":
        click.echo(history_report.csv_text(store.all_sets()), nl=False)
    elif csv_path:
        n = history_report.write_csv(csv_path, store.all_sets())
        click.echo(f"Wrote {n} sets to {csv_path}", err=True)
    if plot_path:
        history_report.plot_history(plot_path, store.recent_sessions(limit=None))
        click.echo(f"Wrote {plot_path}", err=True)
    if not csv_path and not plot_path:
        click.echo(history_report.format_table(store.recent_sessions(limit=limit)))


@main.command()
@user_errors
def devices():
    """List the sound devices."""
    from .audio_devices import describe_devices

    click.echo(describe_devices())


@main.command()
@user_errors
def voices():
    """List the speech voices (English first)."""
    from .speech_out import list_voices

    for voice_id, name in list_voices():
        click.echo(f"{voice_id:<28} {name}")


if __name__ == "__main__":
    main()
