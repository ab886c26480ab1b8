"""The live terminal view's line, from engine snapshots of a real simulated session."""

from __future__ import annotations

from voicecoach.app import VoiceSettings, make_output
from voicecoach.audio_io import Mixer
from voicecoach.clock import SimulatedClock
from voicecoach.commands import Command, CommandEvent
from voicecoach.display import render_line
from voicecoach.engine import SessionEngine
from voicecoach.lessons import session_lesson
from voicecoach.program import plan_from_options


def test_line_follows_the_session(content, speech_cache_dir):
    plan = plan_from_options(content.goals["hypertrophy"], "barbell", sets=2, reps=3, rest=60, setup=False)
    lesson = session_lesson(content, plan)
    output = make_output(Mixer(22050), VoiceSettings(), cache_dir=speech_cache_dir)
    engine = SessionEngine(content, plan, output, intro=lesson.intro)
    clock = SimulatedClock()
    engine.start(0.0)
    lines = {}
    while not engine.finished and clock.now() < 400:
        clock.wait_until(clock.now() + 0.25)
        engine.advance(clock.now())
        line = render_line(engine.snapshot)
        lines.setdefault(engine.snapshot.stage + ":" + engine.snapshot.phase, line)
        if engine.snapshot.stage == "rest" and "status" not in lines:
            engine.handle(CommandEvent(Command.STATUS, at=clock.now(), source="keyboard"))
            lines["status"] = render_line(engine.snapshot)
    assert lines["reps:up"].startswith("Set 1/2  rep 1/3  up") and "[" in lines["reps:up"]
    assert "tempo 2-1-3" in lines["reps:down"]
    assert "rest 0:" in lines["rest:rest"] or "rest 1:00" in lines["rest:rest"]
    assert lines["status"].endswith("heard: status (keyboard)")
