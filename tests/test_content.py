"""The content file: everything the guide teaches is in it, and a bad edit is reported by field."""

from __future__ import annotations

import pytest

from speech_helpers import ONE_WORD_VOCABULARY
from voicecoach.content import ContentError, load_content, parse_content
from voicecoach.speech_in.vocabulary import default_vocabulary_path, load_vocabulary


def shipped_text():
    from importlib import resources

    return resources.files("voicecoach.data").joinpath("guide.toml").read_text()


def test_rep_ranges_follow_the_guide(content):
    assert content.goals["strength"].rep_range == (3, 6)
    assert content.goals["hypertrophy"].rep_range == (8, 15)
    assert content.goals["endurance"].rep_range == (15, 20)
    for goal in content.goals.values():
        assert goal.rep_range[0] <= goal.reps <= goal.rep_range[1]


def test_every_mistake_and_safety_rule_of_the_guide_is_there(content):
    assert [m.id for m in content.mistakes] == ["hyperextension", "range", "foot-drive", "knees", "head",
                                                "rushing", "too-heavy"]
    assert {"pain", "consult", "spotter", "form_over_weight"} <= set(content.safety)
    assert "sharp pain" in content.safety["pain"]
    assert [s.id for s in content.setup_steps("barbell")] == ["equipment", "bench", "bar", "feet", "grip"]
    assert "band" in content.variations["banded"].lead_in
    assert content.variations["single-leg"].sides == ("left", "right")


@pytest.mark.parametrize("old,new,field", [
    ('rep_range = [8, 15]', 'rep_range = "eight"', "goals.hypertrophy.rep_range"),
    ('tempo = "2-1-3"', 'tempo = "2-x"', "goals.hypertrophy.tempo"),
    ('set_intro = "Set {set} of {sets}. {rep_count}."', 'set_intro = "Set {sett}."', "phrases.set_intro"),
    ('variations = ["dumbbell"]', 'variations = ["kettlebell"]', "setup[3].variations"),
    ('id = "grip"', 'id = "feet"', "setup[5].id"),
])
def test_a_bad_edit_names_the_field(old, new, field):
    text = shipped_text()
    assert old in text
    with pytest.raises(ContentError) as err:
        parse_content(text.replace(old, new, 1), "guide.toml")
    assert f"guide.toml: {field}:" in str(err.value)


def test_unreadable_or_invalid_files(tmp_path):
    with pytest.raises(ContentError, match="cannot read"):
        load_content(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("title = [")
    with pytest.raises(ContentError, match="not valid TOML"):
        load_content(bad)


def test_the_coach_names_each_command_by_the_vocabularys_phrase():
    shipped = load_content(spoken=load_vocabulary(default_vocabulary_path()).spoken)
    assert shipped.phrases["setup_prompt"] == "Say okay ready when you're set."
    assert shipped.practice.try_it == "Try it now. Say okay ready when you've got it."
    assert "say again to hear a step again" in shipped.welcome and "or what can I say at any time" in shipped.welcome
    assert shipped.phrases["help"].endswith("how many left, what can I say, or that hurts.")
    one = load_content(spoken=load_vocabulary(ONE_WORD_VOCABULARY).spoken)
    assert one.phrases["help"] == ("You can say: ready, done, pause, resume, stop, repeat, skip, slower, faster, "
                                   "status, help, or that hurts.")  # pain's `say`, not its first phrase
    assert one.phrases["setup_prompt"] == "Say ready when you're set."
    assert one.mistakes == shipped.mistakes and one.safety == shipped.safety  # only the commands' names differ
    # A coach's own content names commands the same way; a name that is no command is reported.
    assert parse_content(shipped_text().replace('"Say <ready> when', '"Now <stop> or <ready> when', 1),
                         spoken=str.upper).phrases["setup_prompt"] == "Now STOP or READY when you're set."
    with pytest.raises(ContentError, match=r"guide.toml: phrases.setup_prompt: unknown command <redy>"):
        parse_content(shipped_text().replace("Say <ready> when you're set.", "Say <redy> when you're set.", 1),
                      "guide.toml")
