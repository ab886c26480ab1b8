"""What the coach says around the sets: the welcome and setup walk-through of a session, and the
beginner practice (explain, try, then slow reps with form checks)."""

from __future__ import annotations

from dataclasses import dataclass

from .content import Content
from .program import Block, Plan


@dataclass(frozen=True)
class Lesson:
    """Everything the engine needs besides the sets themselves."""

    plan: Plan
    intro: tuple[str, ...]
    checkpoints: tuple[str, ...]
    outro: tuple[str, ...] = ()


def session_lesson(content: Content, plan: Plan, notes: tuple[str, ...] = ()) -> Lesson:
    """A coached session: welcome, any `notes` (last time, today's target), then the setup steps
    of the first block's variation, each waiting for "ready"."""
    # Set up for the loaded work, not for a body-weight warm-up that comes first.
    variation = next((b.variation for b in plan.blocks if b.variation != "bodyweight"), plan.blocks[0].variation)
    checkpoints = []
    if plan.setup:
        for step in content.setup_steps(variation):
            text = step.text_for(variation)
            if step.id == "equipment" and plan.goal == "strength" and variation == "barbell":
                text += " " + content.safety["spotter"]
            checkpoints.append(text)
    welcome = content.welcome if checkpoints else content.welcome_quick
    intro = (welcome, *notes) + ((content.phrase("setup_intro"),) if checkpoints else ())
    return Lesson(plan, intro, tuple(checkpoints))


def practice_lesson(content: Content) -> Lesson:
    """The beginner practice: body weight; every setup and execution step explained then tried;
    then a few very slow reps with a long top hold and form checks; then what to try next time."""
    p = content.practice
    steps = [s.text_for("bodyweight") for s in content.setup_steps("bodyweight")] + [s.say for s in content.execution]
    block = Block(name="Practice reps", variation="bodyweight", sets=1, reps=p.reps, tempo=p.tempo, rest=0,
                  form_checks=p.form_checks)
    plan = Plan(name="practice", title="Beginner practice", blocks=(block,), goal=None, setup=True)
    return Lesson(plan, intro=(p.welcome, content.safety["consult"]),
                  checkpoints=tuple(f"{text} {p.try_it}" for text in steps) + (p.reps_intro,),
                  outro=(p.next_time,))
