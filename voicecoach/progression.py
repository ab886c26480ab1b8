"""What last time was, and what to aim for this time: pure functions, no clock, no I/O.

The rules follow the guide ("Integrating into Your Program", "Safety and Precautions"):
- Add load only when every set of the main block reached the top of its rep range; then start
  again at the bottom of the range. Increments: +2.5 kg or +5 lb.
- If a set fell short (or the block was cut short), keep the load and aim for more reps.
- Body weight, or a load nobody recorded: progress with reps (and, once the top is easy,
  a harder variation), never by asking for a number the coach cannot hear.
- Never increase after a pain event: suggest a lighter load, checking form, stopping at sharp
  pain, and seeing a professional if the pain repeats. Form over weight.
- Frequency is 1-3 times a week: a session less than 24 h after the last one gets a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from voicecoach.program import Load, Plan, Tempo
from voicecoach.records import SetRecord

INCREMENT = {"kg": 2.5, "lb": 5.0}
"""Smallest sensible load step per unit (plates of 1.25 kg / 2.5 lb on each side of a bar)."""
LIGHTER_FRACTION = 0.9
"""After pain, suggest about 10% less (at least one increment less)."""
RECOVERY = timedelta(hours=24)


@dataclass(frozen=True)
class Advice:
    """What to say at the start of a session for a plan done before."""

    last_time: str
    """E.g. "Last time: 3 sets of 10 at 60 kg, tempo 2-1-3." """
    target: str
    """This time's suggestion, one or two sentences."""
    frequency_note: str | None
    """Said once, when the last session ended less than 24 h ago; else None."""
    block: str
    """The block the advice is about (the main working block of last session)."""
    target_reps: int
    """Suggested reps per set (per side for single-leg) for that block."""
    target_load: Load | None
    """Suggested load, or None when the load is unknown or body weight."""
    pain: bool
    """Pain was reported last time (no increase suggested)."""

    def lines(self) -> list[str]:
        """The sentences to speak, in order."""
        return [self.last_time, self.target] + ([self.frequency_note] if self.frequency_note else [])


def advise(last_sets: Sequence[SetRecord], now: datetime, plan: Plan | None = None,
           session_pain: bool = False) -> Advice | None:
    """Advice from the last session's sets (all from one session) at wall-clock time `now`.

    `plan` supplies rep ranges and set counts; without it each set's planned reps are taken as
    the top of the range. `session_pain`: pain was reported in that session outside any set
    (e.g. during a rest). Returns None when there are no sets (nothing to compare with).
    """
    if not last_sets:
        return None
    sets = _main_block(last_sets)
    first = sets[0]
    block_plan = next((b for b in plan.blocks if b.name == first.block), None) if plan else None
    planned = max(s.reps_planned for s in sets)
    low, top = block_plan.rep_range if block_plan and block_plan.rep_range else (planned, planned)
    load = _load_of(sets)
    pain = session_pain or any(s.pain for s in last_sets)  # pain anywhere counts, not just the main block
    n_sets = len({s.set_number for s in sets})
    cut_short = any(s.stopped_early for s in sets) or (block_plan is not None and n_sets < block_plan.sets)
    min_done = min(s.reps_done for s in sets)
    every_set_topped = not cut_short and min_done >= top
    bodyweight = first.variation == "bodyweight" or (load is None and first.variation in ("banded", "single-leg"))

    if pain:
        lighter = _lighter(load)
        if load is None and bodyweight:
            what = "Keep it easy today: fewer, slower reps"
        elif load is None:
            what = "Use less weight than last time"
        elif lighter is None:
            what = "Go lighter today: body weight only"
        else:
            what = f"Go lighter today: try {lighter}"
        target = (f"You reported pain last time, so no increase. {what}, check your form first, and stop at any "
                  f"sharp pain. If the pain comes back, see a physiotherapist or doctor before training on.")
        reps, target_load = max(low, min(top, min_done)), lighter
    elif every_set_topped and load is not None:
        heavier = Load(load.value + INCREMENT.get(load.unit, 2.5), load.unit)
        target = (f"Every set reached {top}: add a small step, {heavier}, and aim for {low} reps a set. "
                  f"Only keep it if your form holds.")
        reps, target_load = low, heavier
    elif every_set_topped:
        reps = top + 2
        harder = "a band, a dumbbell or the single-leg version" if bodyweight else "a small step of extra weight"
        target = (f"Every set reached {top}: aim for {reps} a set, or move on to {harder} "
                  f"and start again at {low}, as long as your form holds.")
        target_load = None
    else:
        # Fell short: same load, more reps. Aim for the planned reps if missed, else one more.
        reps = min(top, planned if min_done < planned else min_done + 1)
        at = f"at {load}" if load else ("with body weight" if bodyweight else "at the same weight")
        target = f"Stay {at} and aim for {reps} reps on every set. Form over weight."
        target_load = load

    return Advice(last_time=describe_last_time(sets, load), target=target,
                  frequency_note=frequency_note(last_sets, now), block=first.block,
                  target_reps=reps, target_load=target_load, pain=pain)


def describe_last_time(sets: Sequence[SetRecord], load: Load | None = None) -> str:
    """E.g. "Last time: 3 sets of 10 at 60 kg, tempo 2-1-3." for one block's sets."""
    first = sets[0]
    numbers = sorted({s.set_number for s in sets})
    per_side = " per side" if any(s.side for s in sets) else ""
    reps = [s.reps_done for s in sorted(sets, key=lambda s: (s.set_number, s.side or ""))]
    count = f"{len(numbers)} set{'s' if len(numbers) != 1 else ''}"
    if len(set(reps)) == 1:
        done = f"{count} of {reps[0]}{per_side}"
    elif per_side:
        done = f"{count} of {min(reps)} to {max(reps)} reps per side"
    else:
        done = f"{count}: " + ", ".join(str(r) for r in reps[:-1]) + f" and {reps[-1]} reps"
    if load is not None:
        weight = f" at {load}"
    elif first.variation in ("bodyweight", "single-leg", "banded"):
        weight = " with body weight" if first.variation != "banded" else " with the band"
    else:
        weight = ", load not recorded"
    hold = f", {first.hold:g} s hold" if first.hold != _tempo_hold(first.tempo) else ""
    return f"Last time: {done}{weight}, tempo {first.tempo}{hold}."


def frequency_note(last_sets: Sequence[SetRecord], now: datetime) -> str | None:
    """A note when the last session ended less than 24 h before `now`, else None."""
    ended = session_end_time(last_sets)
    if ended is None:
        return None
    gap = now - _same_kind(ended, now)
    if gap < timedelta(0) or gap >= RECOVERY:
        return None  # a negative gap means a clock was off: better say nothing than something wrong
    hours = max(1, round(gap.total_seconds() / 3600))
    return (f"Your last session was only about {hours} hour{'s' if hours != 1 else ''} ago. The guide suggests "
            f"1 to 3 sessions a week with recovery in between, so keep today easy or take a rest day.")


def session_end_time(sets: Sequence[SetRecord]) -> datetime | None:
    """Wall-clock end of a session: its ISO start plus the session time of its last set."""
    try:
        start = datetime.fromisoformat(sets[0].started_at)
    except (IndexError, ValueError):
        return None
    return start + timedelta(seconds=max(s.ended_at for s in sets))


def _same_kind(t: datetime, like: datetime) -> datetime:
    """`t` made comparable with `like`: both naive or both timezone-aware."""
    if (t.tzinfo is None) == (like.tzinfo is None):
        return t
    if t.tzinfo is None:
        return t.replace(tzinfo=like.tzinfo)  # a naive stamp is taken to be in `now`'s zone
    return t.astimezone(like.tzinfo).replace(tzinfo=None) if like.tzinfo else t.replace(tzinfo=None)


def _main_block(sets: Sequence[SetRecord]) -> list[SetRecord]:
    """The working block's sets: the heaviest loaded block, else the block with the most sets,
    later blocks winning ties (warm-ups come first)."""
    blocks: dict[str, list[SetRecord]] = {}
    for s in sets:
        blocks.setdefault(s.block, []).append(s)
    order = list(blocks)

    def weight(name: str) -> tuple[float, int, int]:
        group = blocks[name]
        heaviest = max((_kg(s.load, s.unit) for s in group if s.load is not None), default=0.0)
        return heaviest, len({s.set_number for s in group}), order.index(name)

    return blocks[max(order, key=weight)]


def _load_of(sets: Sequence[SetRecord]) -> Load | None:
    """The block's working load (the heaviest recorded), or None when unknown or zero."""
    loaded = [s for s in sets if s.load is not None and s.load > 0 and s.unit]
    if not loaded:
        return None
    top = max(loaded, key=lambda s: _kg(s.load, s.unit))
    return Load(float(top.load), str(top.unit))  # type: ignore[arg-type]


def _lighter(load: Load | None) -> Load | None:
    """About 10% lighter, on the increment grid, at least one increment lighter; None = body weight."""
    if load is None:
        return None
    step = INCREMENT.get(load.unit, 2.5)
    value = min(load.value - step, (load.value * LIGHTER_FRACTION) // step * step)
    return Load(value, load.unit) if value > 0 else None


def _tempo_hold(tempo: str) -> float | None:
    """The top-hold seconds written in a tempo string, or None if it does not parse."""
    try:
        return Tempo.parse(tempo).hold
    except ValueError:
        return None


def _kg(value: float | None, unit: str | None) -> float:
    return (value or 0.0) * (0.45359237 if unit == "lb" else 1.0)
