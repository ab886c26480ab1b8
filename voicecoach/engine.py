"""SessionEngine: a coached session as a state machine driven by commands and an injected clock.

The engine never reads a clock and never sleeps: every call carries `now` (session seconds), and
`next_deadline()` tells the runner when to call `advance()` next. Beat-locked speech (the counts of
a set) is scheduled ahead on the output at exact times; all other speech flows one phrase after
another (`_say`) and is never placed over a count.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Callable, Protocol

from .commands import Command, CommandEvent
from .content import Content, count_of
from .program import Block, Plan, Tempo
from .records import SetRecord
from .scheduler import RepPlan, TempoScheduler

LEAD_IN_GAP = 1.0
"""Silence between the last lead-in word and the first count (seconds)."""
SIDE_SWITCH_SECONDS = 8.0
"""Time to change legs in single-leg sets (seconds)."""
REST_CALLOUTS = (60, 30, 10, 3, 2, 1)
"""Rest time left at which the coach says how long is left (seconds)."""
DOWN_LIMITS = (1.0, 8.0)
"""slower/faster move the lowering phase one second at a time within these bounds."""


class Stage(str, Enum):
    SETUP = "setup"
    LEAD_IN = "lead-in"
    REPS = "reps"
    SWITCH = "switch"
    REST = "rest"
    PAUSED = "paused"
    FINISHED = "finished"


class CoachOutput(Protocol):
    """Where the engine's sound goes (a mixer feeding a speaker or a WAV file)."""

    lead: float
    """How far ahead of now a clip must be placed to play whole (seconds)."""

    def duration(self, text: str) -> float: ...
    def play(self, at: float, text: str | None = None, earcon: str | None = None) -> float: ...
    def cancel_from(self, t: float, cut: bool = False) -> None: ...


@dataclass(frozen=True)
class TimelineEvent:
    t: float
    event: str
    """"cue", "count", "earcon", "command", "state" or "summary"."""
    text: str = ""


@dataclass(frozen=True)
class SetSlot:
    """One stretch of reps: a set, or one side of a single-leg set."""

    block: Block
    block_index: int
    set_number: int
    side: str | None
    last_side: bool


@dataclass
class Snapshot:
    """What the terminal view shows."""

    stage: str = "setup"
    set_number: int = 0
    sets: int = 0
    side: str | None = None
    rep: int = 0
    reps: int = 0
    phase: str = ""
    progress: float = 0.0
    rest_left: float = 0.0
    tempo: str = ""
    last_command: str = ""


@dataclass
class _SetProgress:
    slot: SetSlot
    plans: list[RepPlan] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    pauses: int = 0

    def reps_done(self, now: float) -> int:
        return sum(1 for p in self.plans if p.done_at <= now + 1e-9)

    def current(self, now: float) -> RepPlan | None:
        return next((p for p in self.plans if p.end > now + 1e-9), None)


def build_slots(plan: Plan, content: Content) -> list[SetSlot]:
    slots = []
    for bi, block in enumerate(plan.blocks):
        sides = content.variations[block.variation].sides or (None,)
        for s in range(1, block.sets + 1):
            for i, side in enumerate(sides):
                slots.append(SetSlot(block, bi, s, side, i == len(sides) - 1))
    return slots


def spoken_seconds(seconds: float) -> str:
    """90 -> "1 minute 30", 45 -> "45 seconds"."""
    seconds = int(round(seconds))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} seconds" if rest != 1 else "1 second"
    text = f"{minutes} minute" + ("s" if minutes > 1 else "")
    return text + (f" {rest}" if rest else "")


class SessionEngine:
    def __init__(self, content: Content, plan: Plan, output: CoachOutput, *, session_id: str = "",
                 started_at: str = "", on_event: Callable[[TimelineEvent], None] | None = None,
                 on_set: Callable[[SetRecord], None] | None = None, idle_prompt: float = 45.0,
                 idle_end: float = 600.0, intro: tuple[str, ...] = (), checkpoints: tuple[str, ...] = (),
                 outro: tuple[str, ...] = ()):
        self.content, self.plan, self.out = content, plan, output
        self.session_id, self.started_at = session_id, started_at
        self.on_event = on_event or (lambda e: None)
        self.on_set = on_set or (lambda r: None)
        self.idle_prompt, self.idle_end = idle_prompt, idle_end
        self.intro = intro
        """Said first: the welcome, last session and today's target."""
        self.checkpoints = checkpoints
        """Said one at a time before the sets, each waiting for "ready" (the setup steps)."""
        self.outro = outro
        """Said after the last set, before the summary (e.g. what to try next time)."""
        self.slots = build_slots(plan, content)
        self.scheduler = TempoScheduler({k: content.phrases[k] for k in ("up", "squeeze", "down", "rep")}, output.duration)
        self.records: list[SetRecord] = []
        self.commands_used: list[str] = []
        self.pain = False
        self.finished = False
        self.summary = ""
        """The closing summary, fixed when the session ends."""
        self.stage = Stage.SETUP
        self._down_delta = 0.0
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._plays: list[tuple[float, int, str, str]] = []
        self._spoken: list[tuple[float, float]] = []
        self._speech_free = 0.0
        self._slot_index = 0
        self._set: _SetProgress | None = None
        self._step = 0
        self._rest_end = 0.0
        self._deferred: list[str] = []
        self._resume: Callable[[float], None] | None = None
        self._paused_stage = Stage.SETUP
        self._last_said = ""
        self._mistake_turn = 0
        self._waiting_since = 0.0
        self._start = 0.0
        self.snapshot = Snapshot(sets=len(self.slots))

    # ------------------------------------------------------------------ runner interface

    def start(self, now: float) -> None:
        self._start = now
        self._emit(now, "state", "session start")
        for line in self.intro:
            self._say(now, line)
        if self.checkpoints:
            self._setup_step(now)
        else:
            self._begin_slot(now)

    @property
    def waiting_since(self) -> float | None:
        """When the coach finished asking for "ready" in the setup (None when not waiting)."""
        return self._waiting_since if self.stage == Stage.SETUP and not self.finished else None

    def next_deadline(self) -> float | None:
        times = [t for t, *_ in self._timers[:1]] + [t for t, *_ in self._plays[:1]]
        return min(times) if times else None

    def advance(self, now: float) -> None:
        while self._plays and self._plays[0][0] <= now + 1e-9:
            t, _, kind, text = heapq.heappop(self._plays)
            self._emit(t, kind, text)
        while self._timers and self._timers[0][0] <= now + 1e-9 and not self.finished:
            t, _, fn = heapq.heappop(self._timers)
            fn(t)
        self._update_snapshot(now)

    def handle(self, ev: CommandEvent) -> None:
        if self.finished:
            return
        now = ev.at
        self.advance(now)
        self._emit(now, "command", ev.command.value)
        self.commands_used.append(ev.command.value)
        self.snapshot.last_command = f"{ev.command.value} ({ev.source})"
        if self._set is not None and self.stage in (Stage.LEAD_IN, Stage.REPS):
            self._set.commands.append(ev.command.value)
        if self.stage != Stage.FINISHED:
            getattr(self, f"_on_{ev.command.value}")(now)
        # After the handler, so that the handler's cancellation doesn't drop the acknowledgement.
        self._play(now + self.out.lead, "earcon", "command_heard", earcon="command_heard")
        self._update_snapshot(now)

    def interrupt(self, now: float) -> None:
        """Ctrl-C or a device failure: close the set in progress as stopped early, then finish silently."""
        if self.finished:
            return
        self.advance(now)
        self.out.cancel_from(now, cut=True)
        self._close_set(now, stopped_early=True)
        self.summary = self.summary_text(now)
        self._emit(now, "summary", self.summary)
        self.finished = True

    # ------------------------------------------------------------------ scheduling primitives

    def _emit(self, t: float, event: str, text: str = "") -> None:
        self.on_event(TimelineEvent(round(t, 4), event, text))

    def _timer(self, at: float, fn: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, (at, next(self._seq), fn))

    def _play(self, at: float, kind: str, text: str, earcon: str | None = None) -> float:
        duration = self.out.play(at, text=None if earcon else text, earcon=earcon)
        heapq.heappush(self._plays, (at, next(self._seq), kind, text))
        if not earcon:
            self._spoken = [(a, e) for a, e in self._spoken if e > at - 60] + [(at, at + duration)]
        return duration

    def _say(self, now: float, text: str) -> float:
        """Queue flowing speech after whatever is being said; returns when it ends."""
        at = max(now + self.out.lead, self._speech_free)
        self._speech_free = at + self._play(at, "cue", text) + 0.35
        self._last_said = text
        return self._speech_free

    def _cancel_from(self, t: float, cut: bool = False) -> None:
        """Drop everything scheduled from t on: sound, timers and their log lines."""
        self.out.cancel_from(t, cut=cut)
        self._plays = [p for p in self._plays if p[0] < t]
        self._timers = [x for x in self._timers if x[0] < t]
        heapq.heapify(self._plays)
        heapq.heapify(self._timers)
        self._spoken = [(a, min(e, t) if cut else e) for a, e in self._spoken if a < t]
        sounding_until = max((e for _, e in self._spoken), default=t)
        self._speech_free = max(t, sounding_until + 0.35) if sounding_until > t else t

    # ------------------------------------------------------------------ setup

    def _setup_step(self, now: float) -> None:
        self.stage = Stage.SETUP
        end = self._say(now, self.checkpoints[self._step])
        if self._step == 0:
            end = self._say(now, self.content.phrase("setup_prompt"))
        self._waiting_since = end
        self._wait_idle(end)

    def _wait_idle(self, since: float) -> None:
        t = since + self.idle_prompt
        while t < since + self.idle_end:
            self._timer(t, lambda now: self._say(now, self.content.phrase("idle_prompt")))
            t += self.idle_prompt
        self._timer(since + self.idle_end, self._on_idle_end)

    def _on_idle_end(self, now: float) -> None:
        self._say(now, self.content.phrase("idle_end"))
        self._finish(now, stopped_early=True)

    def _next_setup_step(self, now: float) -> None:
        self._cancel_from(now)
        self._step += 1
        if self._step < len(self.checkpoints):
            self._setup_step(now)
        else:
            self._begin_slot(now)

    # ------------------------------------------------------------------ sets

    @property
    def _slot(self) -> SetSlot:
        return self.slots[self._slot_index]

    def tempo_for(self, block: Block) -> Tempo:
        lo, hi = DOWN_LIMITS
        return block.tempo.with_down(min(hi, max(lo, block.tempo.down + self._down_delta)))

    def _begin_slot(self, now: float) -> None:
        slot = self._slot
        self.stage = Stage.LEAD_IN
        if self._set is None or self._set.slot is not slot:
            self._set = _SetProgress(slot)
        c = self.content
        sets = slot.block.sets
        if slot.set_number == 1 and slot.side == (c.variations[slot.block.variation].sides or (None,))[0]:
            if len(self.plan.blocks) > 1 or slot.block_index == 0:
                self._say(now, c.phrase("block_intro", block=slot.block.name, variation=c.variations[slot.block.variation].name,
                                        set_count=count_of(sets, "set"), reps=slot.block.reps, tempo=self.tempo_for(slot.block)))
        if slot.side:
            self._say(now, c.phrase("set_intro_side", set=slot.set_number, sets=sets, side=slot.side, rep_count=count_of(slot.block.reps, "rep")))
        else:
            self._say(now, c.phrase("set_intro", set=slot.set_number, sets=sets, rep_count=count_of(slot.block.reps, "rep")))
        lead_in = c.variations[slot.block.variation].lead_in
        if lead_in:
            self._say(now, lead_in)
        if slot.side in (None, (c.variations[slot.block.variation].sides or (None,))[0]):
            if self._slot_index == 0:
                self._say(now, c.cue("execution", "breathing").say)
            self._say(now, c.mistakes[self._mistake_turn % len(c.mistakes)].say)
            self._mistake_turn += 1
        end = self._say(now, c.phrase("set_go"))
        self._schedule_reps(end + LEAD_IN_GAP, self._set.reps_done(now) + 1, earcon_at=end)

    def _schedule_reps(self, start: float, first: int, earcon_at: float) -> None:
        assert self._set is not None
        block = self._set.slot.block
        if earcon_at is not None:
            self._play(max(earcon_at, start - 0.6), "earcon", "rep_start", earcon="rep_start")
        if first > block.reps:
            self._timer(start, self._end_slot)
            return
        plans = self.scheduler.reps(first, block.reps, start, self.tempo_for(block), block.form_checks)
        self._set.plans = [p for p in self._set.plans if p.number < first] + plans
        for rep in plans:
            for beat in rep.beats:
                self._play(beat.at, "count", beat.text)
        self._timer(start, lambda now: setattr(self, "stage", Stage.REPS))
        self._timer(plans[-1].end, lambda now: self._end_slot(now))
        self._speech_free = plans[-1].end

    def _end_slot(self, now: float) -> None:
        self._close_set(now, stopped_early=False)
        slot = self._slot
        if self._slot_index + 1 >= len(self.slots):
            self._play(now, "earcon", "set_end", earcon="set_end")
            self._say(now, self.content.phrase("last_set_done", rep_count=count_of(self.records[-1].reps_done, "rep")))
            for text in self._deferred + list(self.outro):
                self._say(now, text)
            self._finish(now, stopped_early=False)
            return
        self._slot_index += 1
        if not slot.last_side:
            self.stage = Stage.SWITCH
            end = self._say(now, self.content.phrase("side_switch", side=self._slot.side))
            self._timer(max(end, now + SIDE_SWITCH_SECONDS), self._begin_slot)
            return
        reps = self.records[-1].reps_done
        self._play(now, "earcon", "set_end", earcon="set_end")
        self._start_rest(now, slot.block.rest, announce=self.content.phrase(
            "set_done", set=slot.set_number, rep_count=count_of(reps, "rep"), rest=spoken_seconds(slot.block.rest)))

    def _close_set(self, now: float, stopped_early: bool) -> None:
        """Write the record of the set in progress (if any) and hand it to history."""
        progress, self._set = self._set, None
        if progress is None or (stopped_early and progress.reps_done(now) == 0 and not self.pain):
            return  # a set stopped before its first rep was never done (pain is still worth a record)
        slot, block = progress.slot, progress.slot.block
        tempo = self.tempo_for(block)
        record = SetRecord(
            session_id=self.session_id, started_at=self.started_at, plan=self.plan.name, block=block.name,
            variation=block.variation, set_number=slot.set_number, side=slot.side, reps_planned=block.reps,
            reps_done=progress.reps_done(now), tempo=str(tempo), hold=tempo.hold,
            load=block.load.value if block.load else None, unit=block.load.unit if block.load else None,
            commands=tuple(progress.commands), pauses=progress.pauses, pain=self.pain,
            stopped_early=stopped_early or progress.reps_done(now) < block.reps, ended_at=round(now, 3))
        self.records.append(record)
        self.on_set(record)  # saved first: a timeline that shows a set's end implies it is in history
        self._emit(now, "state", f"set end: {record.reps_done}/{record.reps_planned} reps")

    # ------------------------------------------------------------------ rest

    def _start_rest(self, now: float, seconds: float, announce: str) -> None:
        self.stage = Stage.REST
        self._rest_end = now + seconds
        end = self._say(now, announce)
        for text in self._deferred:
            end = self._say(now, text)
        self._deferred.clear()
        for left in REST_CALLOUTS:
            at = self._rest_end - left
            if at >= end:
                text = str(left) if left <= 3 else self.content.phrase("rest_left", time=spoken_seconds(left))
                self._timer(at, lambda t, text=text: self._say(t, text))
        self._timer(self._rest_end, self._end_rest)

    def _end_rest(self, now: float) -> None:
        self._play(max(now, self._speech_free), "earcon", "rest_over", earcon="rest_over")
        self._begin_slot(now)

    # ------------------------------------------------------------------ end

    def _finish(self, now: float, stopped_early: bool) -> None:
        self._close_set(now, stopped_early)
        self.stage = Stage.FINISHED
        self.summary = self.summary_text(now)
        self._say(now, self.summary)
        end = self._say(now, self.content.phrase("goodbye"))
        self._play(end, "earcon", "session_end", earcon="session_end")
        self._emit(now, "summary", self.summary)
        self._timer(end + 0.8, self._mark_finished)

    def _mark_finished(self, now: float) -> None:
        self.finished = True

    def summary_text(self, now: float) -> str:
        sets = len({(r.block, r.set_number) for r in self.records if r.reps_done})
        reps = sum(r.reps_done for r in self.records)
        minutes = max(0.0, now - self._start) / 60
        text = self.content.phrase("summary", set_count=count_of(sets, "set"), rep_count=count_of(reps, "rep"),
                                   minutes=spoken_seconds(round(minutes) * 60) if minutes >= 1 else "under a minute")
        if self.records:
            text += " " + self.content.phrase("summary_detail", tempo=self.records[-1].tempo)
        return text

    # ------------------------------------------------------------------ commands

    def _on_ready(self, now: float) -> None:
        if self.stage == Stage.SETUP:
            self._next_setup_step(now)
        elif self.stage == Stage.PAUSED:
            self._on_resume(now)
        elif self.stage in (Stage.REST, Stage.SWITCH):
            self._on_skip(now)

    def _on_done(self, now: float) -> None:
        if self.stage in (Stage.LEAD_IN, Stage.REPS) and self._set is not None:
            self._cancel_from(now)
            self._end_slot(now)
        else:
            self._on_ready(now)

    def _on_skip(self, now: float) -> None:
        if self.stage == Stage.SETUP:
            self._cancel_from(now)
            self._say(now, self.content.phrase("setup_skipped"))
            self._step = len(self.checkpoints)
            self._begin_slot(now)
        elif self.stage in (Stage.REST, Stage.SWITCH):
            self._cancel_from(now)
            self._begin_slot(now)
        else:
            self._say_or_defer(now, self.content.phrase("nothing_to_skip"))

    def _on_pause(self, now: float) -> None:
        if self.stage in (Stage.PAUSED, Stage.FINISHED):
            return
        self._paused_stage = self.stage
        if self.stage in (Stage.LEAD_IN, Stage.REPS) and self._set is not None:
            self._set.pauses += 1
            current = self._set.current(now)
            if current is None:
                first = self._set.slot.block.reps + 1
            else:
                first = current.number if current.done_at > now else current.number + 1
            # Reps not done yet are dropped, so nothing counts them while the schedule is frozen.
            self._set.plans = [p for p in self._set.plans if p.number < first]
            if self.stage == Stage.LEAD_IN:
                self._resume = lambda t: self._begin_slot_again(t)
            else:
                self._resume = lambda t, first=first: self._resume_reps(t, first)
        elif self.stage == Stage.REST:
            left = max(0.0, self._rest_end - now)
            self._resume = lambda t: self._start_rest(t, left, self.content.phrase("resuming_rest"))
        elif self.stage == Stage.SWITCH:
            self._resume = self._begin_slot
        else:
            self._resume = lambda t: self._setup_step(t)
        self._cancel_from(now, cut=True)
        self.stage = Stage.PAUSED
        self._say(now, self.content.phrase("paused"))
        self._timer(now + self.idle_end, self._on_idle_end)

    def _begin_slot_again(self, now: float) -> None:
        self._say(now, self.content.phrase("resuming_plain"))
        self._begin_slot(now)

    def _resume_reps(self, now: float, first: int) -> None:
        assert self._set is not None
        if first > self._set.slot.block.reps:
            self._end_slot(now)
            return
        self.stage = Stage.LEAD_IN
        end = self._say(now, self.content.phrase("resuming", rep=first))
        self._schedule_reps(end + LEAD_IN_GAP, first, earcon_at=end)

    def _on_resume(self, now: float) -> None:
        if self.stage != Stage.PAUSED or self._resume is None:
            return
        self._cancel_from(now)
        resume, self._resume = self._resume, None
        self.stage = self._paused_stage
        resume(now)

    def _on_stop(self, now: float) -> None:
        self._cancel_from(now, cut=True)
        self._say(now, self.content.phrase("stopping"))
        self._finish(now, stopped_early=True)

    def _on_pain(self, now: float) -> None:
        self.pain = True
        self._cancel_from(now, cut=True)
        self._say(now, self.content.safety["pain"])
        self._finish(now, stopped_early=True)

    def _on_repeat(self, now: float) -> None:
        if self.stage == Stage.SETUP:
            self._cancel_from(now)
            self._setup_step(now)
        elif self._last_said:
            self._say_or_defer(now, self._last_said)

    def _on_help(self, now: float) -> None:
        self._say_or_defer(now, self.content.phrase("help"))

    def _on_status(self, now: float) -> None:
        c = self.content
        if self.stage == Stage.SETUP:
            text = c.phrase("status_setup", step=self._step + 1, steps=len(self.checkpoints))
        elif self.stage == Stage.REST:
            nxt = self._slot
            text = c.phrase("status_rest", time=spoken_seconds(self._rest_end - now), set=nxt.set_number, sets=nxt.block.sets)
        elif self._set is not None:
            slot = self._set.slot
            text = c.phrase("status_set", set=slot.set_number, sets=slot.block.sets,
                            left=count_of(slot.block.reps - self._set.reps_done(now), "rep"))
        else:
            return
        self._say_or_defer(now, text)

    def _on_slower(self, now: float) -> None:
        self._change_tempo(now, +1.0)

    def _on_faster(self, now: float) -> None:
        self._change_tempo(now, -1.0)

    def _change_tempo(self, now: float, step: float) -> None:
        block = (self._set.slot if self._set else self._slot).block
        before = self.tempo_for(block)
        self._down_delta += step
        after = self.tempo_for(block)
        if after == before:
            self._down_delta -= step
            self._say_or_defer(now, self.content.phrase("tempo_limit", tempo=before))
            return
        self._say_or_defer(now, self.content.phrase("tempo_changed", tempo=after))

    def _say_or_defer(self, now: float, text: str) -> None:
        """Say `text` without talking over a count. During a set it goes in before the next rep
        (which, with the reps after it, moves back by its length); in the last rep, after the set."""
        current = self._set.current(now) if self._set and self.stage in (Stage.LEAD_IN, Stage.REPS) else None
        if current is None:
            self._say(now, text)
            return
        earliest = now + self.out.lead  # live audio already queued for the device can't be changed
        if current.start > earliest:  # nothing counting yet: the lead-in
            cut, next_rep = max(earliest, current.start - LEAD_IN_GAP), current.number
        else:
            rep = next((p for p in self._set.plans if p.end >= earliest - 1e-9), self._set.plans[-1])
            cut, next_rep = rep.end, rep.number + 1
        if next_rep > self._set.slot.block.reps:
            self._deferred.append(text)
            return
        self._cancel_from(cut)
        self._set.plans = [p for p in self._set.plans if p.number < next_rep]
        end = self._say(cut, text)
        self._schedule_reps(end + LEAD_IN_GAP, next_rep, earcon_at=end)

    # ------------------------------------------------------------------ display

    def _update_snapshot(self, now: float) -> None:
        s = self.snapshot
        s.stage = self.stage.value
        slot = self._set.slot if self._set else (self._slot if self._slot_index < len(self.slots) else None)
        if slot:
            s.set_number, s.sets, s.side, s.reps = slot.set_number, slot.block.sets, slot.side, slot.block.reps
            s.tempo = str(self.tempo_for(slot.block))
        s.rep, s.phase, s.progress, s.rest_left = 0, "", 0.0, 0.0
        if self._set and self.stage == Stage.REPS:
            rep = self._set.current(now)
            if rep:
                s.rep = rep.number
                s.phase, s.progress = rep.phase_at(now)
        elif self.stage == Stage.REST:
            s.phase, s.rest_left = "rest", max(0.0, self._rest_end - now)
