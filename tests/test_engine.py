"""The coached session end to end on a simulated clock: real speech, real mixer, real timeline."""

from __future__ import annotations

import pytest

from voicecoach.app import simulate
from voicecoach.commands import Command
from voicecoach.program import Tempo, plan_from_options
from voicecoach.session_log import read_log
from voicecoach.speech_out import PhraseCache


def run(tmp_path, content, cache_dir, script=None, variation="barbell", **options):
    plan = plan_from_options(content.goals[options.pop("goal", "hypertrophy")], variation, **options)
    log = tmp_path / "timeline.jsonl"
    result = simulate(content, plan, tmp_path / "coach.wav", script=script, log_path=log,
                      cache_dir=cache_dir, progress=False)
    return result, read_log(log)


def texts(events, kind=None):
    return [e["text"] for e in events if kind is None or e["event"] == kind]


def reps_of(events):
    """Group count events into reps: each rep starts with "up"."""
    reps, current = [], None
    for e in events:
        if e["event"] != "count":
            continue
        if e["text"] == "up":
            current = []
            reps.append(current)
        current.append((e["t"], e["text"]))
    return reps


def first(events, text):
    return next(e["t"] for e in events if e["text"] == text)


def test_default_session_coaches_setup_three_sets_of_ten_and_summary(tmp_path, content, speech_cache_dir):
    result, events = run(tmp_path, content, speech_cache_dir)
    said = texts(events, "cue")
    for step in content.setup_steps("barbell"):
        assert step.say in said
    assert [r.reps_done for r in result.records] == [10, 10, 10]
    assert "Set 1 of 3. 10 reps." in said and "Set 3 of 3. 10 reps." in said
    assert len(reps_of(events)) == 30
    assert result.summary.startswith("Session over. 3 sets, 30 reps")
    assert texts(events, "summary") == [result.summary]
    assert (tmp_path / "coach.wav").stat().st_size > 100_000


def test_counts_fall_exactly_on_their_beats(tmp_path, content, speech_cache_dir):
    _, events = run(tmp_path, content, speech_cache_dir, sets=1, reps=4, tempo=Tempo.parse("2-1-3"))
    for rep_number, rep in enumerate(reps_of(events), start=1):
        t0 = rep[0][0]
        offsets = [(round(t - t0, 3), text) for t, text in rep]
        assert offsets == [(0, "up"), (1, "2"), (2, "squeeze"), (3, "down"), (4, "2"), (5, "3"),
                           (6, f"rep {rep_number}")]


def test_paused_reps_count_the_hold(tmp_path, content, speech_cache_dir):
    _, events = run(tmp_path, content, speech_cache_dir, sets=1, reps=2, tempo=Tempo.parse("1-1-3"), hold=3)
    rep = reps_of(events)[0]
    t0 = rep[0][0]
    assert [(round(t - t0, 3), x) for t, x in rep][:5] == [(0, "up"), (1, "squeeze"), (2, "2"), (3, "3"), (4, "down")]


def test_nothing_is_spoken_over_a_count(tmp_path, content, speech_cache_dir):
    _, events = run(tmp_path, content, speech_cache_dir, sets=2, reps=3, rest=40,
                    script=[(0.5, Command.SKIP), (60, Command.STATUS), (75, Command.HELP)])
    cache = PhraseCache(None, 165, 22050, cache_dir=speech_cache_dir)
    spoken = sorted((e["t"], e["t"] + cache.duration(e["text"]), e["event"], e["text"])
                    for e in events if e["event"] in ("cue", "count"))
    for (a0, a1, _, a_text), (b0, _, b_kind, b_text) in zip(spoken, spoken[1:]):
        assert a1 <= b0 + 1e-6, f"{a_text!r} runs into {b_text!r}"


def test_forty_minute_session_has_no_drift(tmp_path, content, speech_cache_dir):
    tempo = Tempo.parse("3-2-4")
    result, events = run(tmp_path, content, speech_cache_dir, sets=11, reps=12, tempo=tempo, rest=120,
                         setup=False)
    assert sum(r.reps_done for r in result.records) == 132
    assert events[-1]["t"] > 40 * 60
    for rep in reps_of(events):
        t0 = rep[0][0]
        assert [round(t - t0, 6) for t, _ in rep] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_pause_freezes_and_resume_restarts_the_rep_in_progress(tmp_path, content, speech_cache_dir):
    _, plain = run(tmp_path, content, speech_cache_dir, sets=1, reps=5, setup=False)
    third = reps_of(plain)[2][0][0]
    pause_at = third + 2.5  # in the squeeze of rep 3
    result, events = run(tmp_path, content, speech_cache_dir, sets=1, reps=5, setup=False,
                         script=[(pause_at, Command.PAUSE), (pause_at + 30, Command.RESUME)])
    counts = [e for e in events if e["event"] == "count"]
    assert not [e for e in counts if pause_at < e["t"] < pause_at + 30], "counts continued while paused"
    assert "Resuming. From the start of rep 3." in texts(events, "cue")
    rep_numbers = [x for x in texts(events, "count") if x.startswith("rep ")]
    assert rep_numbers == ["rep 1", "rep 2", "rep 3", "rep 4", "rep 5"]
    assert result.records[0].reps_done == 5 and result.records[0].pauses == 1


def test_slower_and_faster_change_the_tempo_for_the_rest_of_the_session(tmp_path, content, speech_cache_dir):
    _, plain = run(tmp_path, content, speech_cache_dir, sets=2, reps=4, rest=20, setup=False)
    second = reps_of(plain)[1][0][0]
    result, events = run(tmp_path, content, speech_cache_dir, sets=2, reps=4, rest=20, setup=False,
                         script=[(second + 0.5, Command.SLOWER)])
    assert "Tempo 2-1-4." in texts(events, "cue")
    reps = reps_of(events)
    down_counts = [[x for _, x in rep].count("4") for rep in reps]
    assert down_counts[:2] == [0, 0] and all(n == 1 for n in down_counts[2:])
    assert result.records[-1].tempo == "2-1-4"
    _, events = run(tmp_path, content, speech_cache_dir, sets=1, reps=3, setup=False,
                    script=[(1.0, Command.FASTER)])
    assert "Tempo 2-1-2." in texts(events, "cue")


def test_status_says_set_and_reps_left(tmp_path, content, speech_cache_dir):
    _, plain = run(tmp_path, content, speech_cache_dir, sets=2, reps=6, setup=False)
    fourth = reps_of(plain)[3][0][0]
    _, events = run(tmp_path, content, speech_cache_dir, sets=2, reps=6, setup=False,
                    script=[(fourth + 0.5, Command.STATUS)])
    assert "Set 1 of 2. 3 reps left." in texts(events, "cue")


def test_stop_ends_cleanly_with_summary(tmp_path, content, speech_cache_dir):
    _, plain = run(tmp_path, content, speech_cache_dir, sets=3, reps=5, setup=False)
    at = reps_of(plain)[2][0][0] + 1
    result, events = run(tmp_path, content, speech_cache_dir, sets=3, reps=5, setup=False,
                         script=[(at, Command.STOP)])
    assert [(r.reps_done, r.stopped_early) for r in result.records] == [(2, True)]
    assert "Stopping the session." in texts(events, "cue")
    assert not [e for e in events if e["event"] == "count" and e["t"] > at]
    assert texts(events, "summary")[0].startswith("Session over. 1 set, 2 reps")


def test_pain_stops_at_once_with_the_safety_advice(tmp_path, content, speech_cache_dir):
    _, plain = run(tmp_path, content, speech_cache_dir, sets=2, reps=5, setup=False)
    at = reps_of(plain)[1][0][0] + 0.3
    result, events = run(tmp_path, content, speech_cache_dir, sets=2, reps=5, setup=False,
                         script=[(at, Command.PAIN)])
    after = [e for e in events if e["t"] >= at]
    assert after[0]["event"] == "command" and after[0]["text"] == "pain"
    first_cue = next(e for e in after if e["event"] == "cue")
    assert first_cue["text"] == content.safety["pain"] and first_cue["t"] == pytest.approx(at)
    assert "Never push through sharp pain" in first_cue["text"]
    assert result.records[0].pain and result.records[0].reps_done == 1
    assert not [e for e in after if e["event"] == "count"]


def test_setup_waits_for_ready_and_repeat_and_skip_work(tmp_path, content, speech_cache_dir):
    result, events = run(tmp_path, content, speech_cache_dir, sets=1, reps=2,
                         script=[(30, Command.REPEAT), (50, Command.READY), (70, Command.SKIP)])
    said = texts(events, "cue")
    equipment = content.cue("setup", "equipment").say
    assert said.count(equipment) == 2
    assert content.cue("setup", "bench").say in said
    assert content.cue("setup", "bar").say not in said
    assert "Skipping the setup." in said
    assert first(events, "Skipping the setup.") < first(events, "Set 1 of 1. 2 reps.")
    # Before any "ready", no set starts: the coach waits.
    assert first(events, "Set 1 of 1. 2 reps.") > 70


def test_idle_setup_prompts_then_ends(tmp_path, content, speech_cache_dir):
    result, events = run(tmp_path, content, speech_cache_dir, script=[])
    said = texts(events, "cue")
    assert "Still there? Say okay ready when you're set." in said
    assert "No answer for a while. Ending the session." in said
    assert result.records == []


def test_rest_counts_down_and_skip_ends_it(tmp_path, content, speech_cache_dir):
    result, events = run(tmp_path, content, speech_cache_dir, sets=2, reps=2, rest=90, setup=False)
    said = texts(events, "cue")
    assert "Set 1 done. 2 reps. Rest 1 minute 30." in said
    for text in ("1 minute left.", "30 seconds left.", "10 seconds left.", "3", "2", "1"):
        assert text in said
    set_end = first(events, "Set 1 done. 2 reps. Rest 1 minute 30.")
    assert first(events, "Set 2 of 2. 2 reps.") == pytest.approx(set_end + 90, abs=0.5)
    result, events = run(tmp_path, content, speech_cache_dir, sets=2, reps=2, rest=90, setup=False,
                         script=[(set_end + 5, Command.SKIP)])
    assert first(events, "Set 2 of 2. 2 reps.") < set_end + 15


def test_one_reminder_per_set_rotated_and_breathing_in_first_set(tmp_path, content, speech_cache_dir):
    _, events = run(tmp_path, content, speech_cache_dir, sets=4, reps=1, rest=10, setup=False)
    said = texts(events, "cue")
    reminders = [m.say for m in content.mistakes]
    heard = [s for s in said if s in reminders]
    assert heard == reminders[:4]
    breathing = content.cue("execution", "breathing").say
    assert said.count(breathing) == 1 and said.index(breathing) < said.index("Set 2 of 4. 1 rep.")


def test_single_leg_does_both_sides_each_set(tmp_path, content, speech_cache_dir):
    result, events = run(tmp_path, content, speech_cache_dir, variation="single-leg", sets=2, reps=3,
                         rest=30, setup=False)
    said = texts(events, "cue")
    assert "Set 1 of 2, left leg. 3 reps." in said and "Set 1 of 2, right leg. 3 reps." in said
    assert "Switch to your right leg." in said
    assert [(r.set_number, r.side) for r in result.records] == [(1, "left"), (1, "right"), (2, "left"), (2, "right")]


def test_banded_variation_cues_knees_out_every_set(tmp_path, content, speech_cache_dir):
    _, events = run(tmp_path, content, speech_cache_dir, variation="banded", sets=2, reps=1, rest=10)
    assert texts(events, "cue").count("Push your knees out against the band.") == 2
    assert content.cue("setup", "feet").text_for("banded") in texts(events, "cue")


def test_done_ends_a_set_early(tmp_path, content, speech_cache_dir):
    _, plain = run(tmp_path, content, speech_cache_dir, sets=2, reps=8, setup=False)
    at = reps_of(plain)[5][0][0] + 1  # during rep 6
    result, events = run(tmp_path, content, speech_cache_dir, sets=2, reps=8, setup=False,
                         script=[(at, Command.DONE)])
    assert [r.reps_done for r in result.records] == [5, 8]
    assert result.records[0].stopped_early and "done" in result.records[0].commands
