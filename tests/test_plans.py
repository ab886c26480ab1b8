"""Plan files: every shipped plan loads; mistakes are reported with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecoach.plans import VARIATIONS, PlanError, apply_load, list_shipped_plans, load_plan
from voicecoach.program import Load

REQUIRED = {"beginner", "strength", "hypertrophy", "endurance", "paused", "tempo", "single-leg", "banded"}
SAMPLE = Path(__file__).resolve().parent.parent / "docs" / "sample-plan.toml"


def test_all_shipped_plans_load_with_a_description() -> None:
    plans = {p.name: p for p in list_shipped_plans()}
    assert REQUIRED <= set(plans)
    for plan in plans.values():
        assert plan.description and "\n" not in plan.description and len(plan.description) <= 100
        assert plan.blocks and all(b.variation in VARIATIONS for b in plan.blocks)


def working(name: str):
    return load_plan(name).blocks[-1]


def test_shipped_plans_follow_the_guide() -> None:
    assert working("strength").rep_range == (3, 6)
    low, high = working("hypertrophy").rep_range
    assert 8 <= low and high <= 15
    assert working("endurance").rep_range[0] >= 15
    assert 2 <= working("paused").tempo.hold <= 3
    assert 3 <= working("tempo").tempo.down <= 4
    assert working("single-leg").variation == "single-leg"
    assert working("banded").variation == "banded"
    assert all(b.variation == "bodyweight" and b.load is None for b in load_plan("beginner").blocks)
    for name in ("strength", "hypertrophy", "paused", "tempo"):
        warm = load_plan(name).blocks[0]
        assert warm.variation == "bodyweight" and warm.rep_range[0] >= 15  # warm up before heavy sets


def test_reps_range_targets_the_low_end() -> None:
    block = working("hypertrophy")
    assert block.reps == block.rep_range[0]


def test_sample_plan_loads() -> None:
    plan = load_plan(SAMPLE)
    assert plan.name == "sample-plan" and len(plan.blocks) == 3
    work = plan.blocks[1]
    assert str(work.load) == "60 kg" and work.tempo.hold == 2 and work.rest == 120


GOOD = """\
title = "Test"
description = "A test plan."

[[blocks]]
name = "warm-up"
variation = "bodyweight"
sets = 1
reps = 15

[[blocks]]
name = "working"
variation = "barbell"
sets = 3
reps = "8-12"
tempo = "2-1-3"
rest = 90
load = "60kg"
"""


def error_for(tmp_path: Path, text: str) -> str:
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    return str(info.value)


def test_good_plan(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    plan = load_plan(str(path))
    assert plan.name == "mine" and plan.title == "Test" and plan.setup is True
    assert plan.blocks[1].reps == 8 and plan.blocks[1].rep_range == (8, 12)
    assert plan.blocks[0].rest == 90 and str(plan.blocks[0].tempo) == "2-1-3"  # defaults


@pytest.mark.parametrize("old, new, line, field, words", [
    ('reps = "8-12"', 'reps = "ten"', 14, "blocks[2].reps", 'got "ten"'),
    ('reps = "8-12"', 'reps = "12-8"', 14, "blocks[2].reps", "low to high"),
    ("sets = 3", "sets = 0", 13, "blocks[2].sets", "from 1 to 20, got 0"),
    ("sets = 3", "sets = true", 13, "blocks[2].sets", "got true"),
    ("sets = 3", "sets = 2.5", 13, "blocks[2].sets", "whole number"),
    ('variation = "barbell"', 'variation = "kettlebell"', 12, "blocks[2].variation", "barbell, dumbbell"),
    ('tempo = "2-1-3"', 'tempo = "fast"', 15, "blocks[2].tempo", "UP-HOLD-DOWN"),
    ('load = "60kg"', 'load = "60"', 17, "blocks[2].load", "kg or lb"),
    ('load = "60kg"', "load = 60", 17, "blocks[2].load", "kg or lb"),
    ("rest = 90", "rest = -5", 16, "blocks[2].rest", "seconds"),
    ("rest = 90", "rets = 90", 16, "blocks[2].rets", "'rest'?"),
    ('name = "working"', 'name = "warm-up"', 11, "blocks[2].name", "already the name"),
    ('title = "Test"', "title = 3", 1, "title", "text"),
    ('description = "A test plan."', "setup = 1", 2, "setup", "true or false"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str, line: int, field: str, words: str) -> None:
    assert old in GOOD
    message = error_for(tmp_path, GOOD.replace(old, new))
    assert message.startswith(f"{tmp_path / 'x.toml'}:{line}: {field}: "), message
    assert words in message
    assert "\n" not in message


def test_missing_field_points_at_its_block(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("sets = 3\n", ""))
    assert message.startswith(f"{tmp_path / 'x.toml'}:10: blocks[2].sets: missing")
    message = error_for(tmp_path, GOOD.replace('variation = "bodyweight"\n', ""))
    assert ":4: blocks[1].variation: must be one of" in message and "got nothing" in message


def test_bodyweight_block_takes_no_load(tmp_path: Path) -> None:
    message = error_for(tmp_path, GOOD.replace("reps = 15\n", 'reps = 15\nload = "20kg"\n'))
    assert ":9: blocks[1].load: a bodyweight block takes no load" in message


def test_no_blocks_and_bad_toml(tmp_path: Path) -> None:
    assert "blocks: a plan needs at least one [[blocks]]" in error_for(tmp_path, 'title = "x"\n')
    message = error_for(tmp_path, 'title = "x"\n\n[[blocks]]\nsets = = 3\n')
    assert message.startswith(f"{tmp_path / 'x.toml'}:4: not valid TOML")


def test_unknown_names_and_files() -> None:
    with pytest.raises(PlanError, match=r"no such plan \(did you mean 'strength'\?"):
        load_plan("strenght")
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan("nowhere/plan.toml")
    assert load_plan("paused").name == "paused"


def test_load_from_the_command_line_goes_on_every_loaded_block() -> None:
    plan = apply_load(load_plan(SAMPLE), Load(100, "kg"))
    assert [str(b.load) if b.load else None for b in plan.blocks] == [None, "100 kg", "100 kg"]
    assert apply_load(load_plan("strength"), None) == load_plan("strength")
