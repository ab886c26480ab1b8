"""The `voicecoach` command: parses options and wires the parts together (no logic of its own)."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from . import app
from .audio_io import AudioError
from .content import ContentError, load_content
from .inputs import parse_script
from .program import Load, Tempo, plan_from_options
from .speech_out import SpeechError

VARIATIONS = ["barbell", "dumbbell", "bodyweight", "single-leg", "banded"]
GOALS = ["strength", "hypertrophy", "endurance"]
USER_ERRORS = (AudioError, SpeechError, ContentError, OSError, ValueError)
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
        click.option("--content", "content_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="A coach's edited copy of the content file (default: the shipped one)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _plan_and_content(goal, sets, reps, tempo, hold, rest, variation, load, no_setup, content_path):
    content = load_content(content_path)
    plan = plan_from_options(content.goals[goal], variation, sets=sets, reps=reps, tempo=tempo, hold=hold,
                             rest=rest, load=load, setup=not no_setup)
    return content, plan


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="voicecoach")
def main() -> None:
    """voicecoach: an offline, hands-free audio coach for the hip thrust."""


@main.command()
@session_options
@click.option("--keyboard", is_flag=True, help="Take commands from the keyboard only (no microphone).")
@click.option("--device", help="Output device (see `voicecoach devices`).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Timeline file (default: the user data directory).")
@user_errors
def session(goal, sets, reps, tempo, hold, rest, variation, load, no_setup, voice, rate, volume, content_path,
            keyboard, device, log_path):
    """Coach a session on the speakers: setup, sets with tempo counts, rest, summary."""
    content, plan = _plan_and_content(goal, sets, reps, tempo, hold, rest, variation, load, no_setup, content_path)
    result = app.run_live(content, plan, voice=app.VoiceSettings(voice, rate, volume), keyboard=True,
                          output_device=device, log_path=log_path)
    app.print_summary(result)
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
@user_errors
def simulate(goal, sets, reps, tempo, hold, rest, variation, load, no_setup, voice, rate, volume, content_path,
             out_path, script, log_path):
    """Run a whole session on a simulated clock, into a WAV file, as fast as the CPU allows.

    Without --commands (or --mic), an autopilot answers "ready" whenever the coach waits.
    """
    content, plan = _plan_and_content(goal, sets, reps, tempo, hold, rest, variation, load, no_setup, content_path)
    result = app.simulate(content, plan, out_path, voice=app.VoiceSettings(voice, rate, volume), script=script,
                          log_path=log_path)
    app.print_summary(result)
    if result.interrupted:
        sys.exit(130)


@main.command()
@user_errors
def devices():
    """List the sound devices."""
    from .audio_io import describe_devices

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
