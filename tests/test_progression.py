"""Progression rules: load only after every set topped the range, never after pain, the 24 h note."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from voicecoach.plans import load_plan
from voicecoach.program import Load
from voicecoach.progression import advise, describe_last_time, frequency_note, session_end_time
from voicecoach.records import SetRecord

START = "2026-03-02T18:00:00"
LATER = datetime(2026, 3, 5, 18, 0)  # three days on: no frequency note
HYPERTROPHY = load_plan("hypertrophy")  # working sets: 4 x 8-12


def session(reps: list[int], load: float | None = 60.0, unit: str | None = "kg", block: str = "working sets",
            variation: str = "barbell", pain_on: int | None = None, warmup: bool = True, **kw) -> list[SetRecord]:
    sets = []
    if warmup:
        sets.append(SetRecord("s", START, "hypertrophy", "warm-up", "bodyweight", 1, None, 15, 15, "2-1-2", 1.0,
                              None, None, ended_at=60.0))
    for n, r in enumerate(reps, start=1):
        sets.append(SetRecord("s", START, "hypertrophy", block, variation, n, kw.get("side"), 8, r,
                              kw.get("tempo", "2-1-3"), kw.get("hold", 1.0), load, unit if load is not None else None,
                              pain=(n == pain_on), stopped_early=False, ended_at=60.0 + 120 * n))
    return sets


def test_describes_the_working_block_not_the_warm_up() -> None:
    advice = advise(session([10, 10, 10, 10]), LATER, HYPERTROPHY)
    assert advice is not None
    assert advice.last_time == "Last time: 4 sets of 10 at 60 kg, tempo 2-1-3."
    assert advice.block == "working sets"


def test_uneven_sets_are_listed() -> None:
    text = describe_last_time(session([12, 10, 9], warmup=False), Load(135, "lb"))
    assert text == "Last time: 3 sets: 12, 10 and 9 reps at 135 lb, tempo 2-1-3."


def test_load_goes_up_only_when_every_set_reached_the_top() -> None:
    advice = advise(session([12, 12, 12, 12]), LATER, HYPERTROPHY)
    assert advice is not None and advice.target_load == Load(62.5, "kg") and advice.target_reps == 8
    assert "62.5 kg" in advice.target and not advice.pain

    lb = advise(session([12, 12, 12, 12], load=135, unit="lb"), LATER, HYPERTROPHY)
    assert lb is not None and lb.target_load == Load(140, "lb")


def test_a_short_set_keeps_the_load_and_aims_for_more_reps() -> None:
    advice = advise(session([12, 12, 12, 11]), LATER, HYPERTROPHY)
    assert advice is not None and advice.target_load == Load(60, "kg") and advice.target_reps == 12
    assert "Stay at 60 kg" in advice.target

    mid = advise(session([10, 10, 9, 9]), LATER, HYPERTROPHY)
    assert mid is not None and mid.target_reps == 10 and mid.target_load == Load(60, "kg")


def test_fewer_sets_than_planned_is_not_a_reason_to_add_load() -> None:
    advice = advise(session([12, 12]), LATER, HYPERTROPHY)  # plan has 4 working sets
    assert advice is not None and advice.target_load == Load(60, "kg")


def test_pain_means_lighter_never_heavier() -> None:
    advice = advise(session([12, 12, 12, 12], pain_on=4), LATER, HYPERTROPHY)
    assert advice is not None and advice.pain
    assert advice.target_load is not None and advice.target_load.value < 60
    assert advice.target_load == Load(52.5, "kg")  # about 10% less, on the 2.5 kg grid
    assert "form" in advice.target and "physiotherapist or doctor" in advice.target
    assert "pain comes back" in advice.target


def test_pain_in_the_warm_up_also_blocks_an_increase() -> None:
    sets = session([12, 12, 12, 12])
    sets[0] = SetRecord(**{**sets[0].__dict__, "pain": True})
    advice = advise(sets, LATER, HYPERTROPHY)
    assert advice is not None and advice.pain and advice.target_load == Load(52.5, "kg")


def test_pain_with_a_light_load_suggests_body_weight() -> None:
    advice = advise(session([8], load=2.5, pain_on=1), LATER, HYPERTROPHY)
    assert advice is not None and advice.target_load is None and "body weight" in advice.target


def test_unknown_load_is_never_asked_for() -> None:
    advice = advise(session([12, 12, 12, 12], load=None), LATER, HYPERTROPHY)
    assert advice is not None and advice.target_load is None
    assert "load not recorded" in advice.last_time
    assert "?" not in advice.target and advice.target_reps == 14


def test_bodyweight_progresses_with_reps() -> None:
    sets = session([15, 15], load=None, block="practice", variation="bodyweight", warmup=False)
    advice = advise(sets, LATER, load_plan("beginner"))  # practice: 10-15
    assert advice is not None and advice.target_load is None and advice.target_reps == 17
    assert "with body weight" in advice.last_time and "band" in advice.target


def test_single_leg_counts_per_side() -> None:
    sets = []
    for n in (1, 2, 3):
        for side in ("left", "right"):
            sets.append(SetRecord("s", START, "single-leg", "single-leg sets", "single-leg", n, side, 8, 10,
                                  "2-1-3", 1.0, None, None, ended_at=100.0 * n))
    advice = advise(sets, LATER, load_plan("single-leg"))
    assert advice is not None
    assert advice.last_time == "Last time: 3 sets of 10 per side with body weight, tempo 2-1-3."
    assert advice.target_reps == 11


def test_paused_hold_is_mentioned() -> None:
    text = describe_last_time(session([8], tempo="2-1-3", hold=3.0, warmup=False), Load(60, "kg"))
    assert text.endswith("tempo 2-1-3, 3 s hold.")


def test_without_a_plan_planned_reps_are_the_top() -> None:
    advice = advise(session([8, 8, 8]), LATER)
    assert advice is not None and advice.target_load == Load(62.5, "kg")


def test_frequency_note_under_24_hours_only() -> None:
    sets = session([10, 10, 10, 10])  # last set ends 18:00 + 540 s
    end = session_end_time(sets)
    assert end == datetime(2026, 3, 2, 18, 9)
    soon = advise(sets, end + timedelta(hours=20), HYPERTROPHY)
    assert soon is not None and soon.frequency_note is not None
    assert "20 hours" in soon.frequency_note and "1 to 3 sessions a week" in soon.frequency_note
    assert soon.lines()[-1] == soon.frequency_note
    assert frequency_note(sets, end + timedelta(hours=24)) is None
    assert frequency_note(sets, end - timedelta(hours=1)) is None  # clock skew: say nothing


def test_frequency_note_with_timezones() -> None:
    sets = session([10], warmup=False)
    sets = [SetRecord(**{**s.__dict__, "started_at": "2026-03-02T18:00:00+01:00"}) for s in sets]
    now_utc = datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc)  # 17 h after the 17:03 UTC end
    note = frequency_note(sets, now_utc)
    assert note is not None and "17 hours" in note


def test_no_sets_no_advice() -> None:
    assert advise([], LATER) is None
