"""The coaching content: cues, mistakes, variations, goals and phrases, loaded from a data file.

The file is data a coach can edit (voicecoach/data/guide.toml); it is checked on load and every
problem is reported as one line naming the file and the field. Where the coach names a command
("Say <ready> when you're set"), the text says <command> and the phrase the vocabulary teaches
for it is put in on load, so a lifter with their own vocabulary is told their own words.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .commands import Command
from .program import Tempo


class ContentError(Exception):
    """The content file is unusable; str() is the one line to show."""


@dataclass(frozen=True)
class Cue:
    """One thing the coach explains: a setup step, an execution step or a common mistake."""

    id: str
    title: str
    say: str
    variations: tuple[str, ...] | None = None
    """Only for these variations (None: all)."""
    instead: tuple[tuple[str, str], ...] = ()
    """(variation, text) pairs that replace `say` for that variation."""

    def applies_to(self, variation: str) -> bool:
        return self.variations is None or variation in self.variations

    def text_for(self, variation: str) -> str:
        return dict(self.instead).get(variation, self.say)


@dataclass(frozen=True)
class Variation:
    id: str
    name: str
    summary: str
    lead_in: str
    """Said before every set of this variation (e.g. the band cue); may be empty."""
    sides: tuple[str, ...] = ()
    """("left", "right") for single-leg: each set is done once per side."""


@dataclass(frozen=True)
class Goal:
    id: str
    name: str
    rep_range: tuple[int, int]
    sets: int
    reps: int
    rest: float
    tempo: Tempo
    note: str


@dataclass(frozen=True)
class Practice:
    """The beginner practice: explained-then-tried steps and slow reps with form checks."""

    welcome: str
    try_it: str
    reps_intro: str
    tempo: Tempo
    reps: int
    form_checks: tuple[tuple[str, str], ...]
    next_time: str


@dataclass(frozen=True)
class Content:
    title: str
    welcome: str
    welcome_quick: str
    setup: tuple[Cue, ...]
    execution: tuple[Cue, ...]
    mistakes: tuple[Cue, ...]
    variations: dict[str, Variation]
    goals: dict[str, Goal]
    safety: dict[str, str]
    programming: dict[str, str]
    phrases: dict[str, str]
    practice: Practice

    def setup_steps(self, variation: str) -> list[Cue]:
        return [c for c in self.setup if c.applies_to(variation)]

    def cue(self, section: str, cue_id: str) -> Cue:
        for c in getattr(self, section):
            if c.id == cue_id:
                return c
        raise KeyError(f"{section}.{cue_id}")

    def phrase(self, key: str, **values: Any) -> str:
        """The phrase `key` filled in with `values`."""
        return self.phrases[key].format(**values)


def count_of(n: int, noun: str) -> str:
    """3, "rep" -> "3 reps"; 1 -> "1 rep"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


REQUIRED_PHRASES = {
    "setup_intro": set(), "setup_skipped": set(), "setup_prompt": set(),
    "set_intro": {"set", "sets", "rep_count"}, "set_intro_side": {"set", "sets", "side", "rep_count"},
    "side_switch": {"side"}, "block_intro": {"block", "variation", "set_count", "reps", "tempo"},
    "set_go": set(), "up": set(), "squeeze": set(), "hold": set(), "down": set(), "rep": {"rep"},
    "set_done": {"set", "rep_count", "rest"}, "last_set_done": {"rep_count"}, "rest_left": {"time"},
    "rest_over": set(), "paused": set(), "resuming": {"rep"}, "resuming_rest": set(),
    "resuming_plain": set(), "tempo_changed": {"tempo"}, "tempo_limit": {"tempo"},
    "status_set": {"set", "sets", "left"}, "status_rest": {"time", "set", "sets"},
    "status_setup": {"step", "steps"}, "nothing_to_skip": set(), "stopping": set(),
    "idle_prompt": set(), "idle_end": set(), "summary": {"set_count", "rep_count", "minutes"},
    "summary_detail": {"tempo"}, "goodbye": set(), "help": set(),
}
REQUIRED_SAFETY = ("pain", "consult", "spotter", "form_over_weight")
REQUIRED_VARIATIONS = ("barbell", "dumbbell", "bodyweight", "single-leg", "banded")
REQUIRED_GOALS = ("strength", "hypertrophy", "endurance")


class _Reader:
    """Typed access to the parsed TOML that reports problems by field path."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> ContentError:
        return ContentError(f"{self.source}: {where}: {problem}")

    def text(self, table: dict, key: str, where: str, required: bool = True) -> str:
        value = table.get(key, None if required else "")
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{where}.{key}", "must be a non-empty text" if required else "must be a text")
        return value

    def number(self, table: dict, key: str, where: str, lo: float, hi: float) -> float:
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise self.fail(f"{where}.{key}", f"must be a number from {lo:g} to {hi:g}, got {value!r}")
        return value

    def table(self, data: dict, key: str, where: str = "") -> dict:
        value = data.get(key)
        if not isinstance(value, dict):
            raise self.fail(f"{where}{key}", "missing table")
        return value

    def cues(self, data: dict, key: str, variations: set[str]) -> tuple[Cue, ...]:
        items = data.get(key)
        if not isinstance(items, list) or not items:
            raise self.fail(key, "needs at least one [[" + key + "]] entry")
        cues, seen = [], set()
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            cue_id = self.text(item, "id", where)
            if cue_id in seen:
                raise self.fail(where + ".id", f"duplicate id {cue_id!r}")
            seen.add(cue_id)
            only = item.get("variations")
            if only is not None:
                if not isinstance(only, list) or not only or any(v not in variations for v in only):
                    raise self.fail(where + ".variations", f"must list variations from {sorted(variations)}")
                only = tuple(only)
            instead = item.get("instead", {})
            if not isinstance(instead, dict) or any(v not in variations or not isinstance(t, str) or not t.strip()
                                                    for v, t in instead.items()):
                raise self.fail(where + ".instead", f"keys must be variations from {sorted(variations)}, values texts")
            cues.append(Cue(cue_id, self.text(item, "title", where), self.text(item, "say", where),
                            only, tuple(sorted(instead.items()))))
        return tuple(cues)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _practice(r: _Reader, table: dict) -> Practice:
    checks = table.get("form_checks", [])
    if not isinstance(checks, list) or any(
            not (isinstance(c, list) and len(c) == 2 and c[0] in ("up", "hold", "down", "bottom")
                 and isinstance(c[1], str) and c[1].strip()) for c in checks):
        raise r.fail("practice.form_checks", 'must be a list of [phase, words] with phase up, hold, down or bottom')
    try:
        tempo = Tempo.parse(r.text(table, "tempo", "practice"))
    except ValueError as exc:
        raise r.fail("practice.tempo", str(exc)) from None
    return Practice(r.text(table, "welcome", "practice"), r.text(table, "try_it", "practice"),
                    r.text(table, "reps_intro", "practice"), tempo, int(r.number(table, "reps", "practice", 1, 20)),
                    tuple((c[0], c[1]) for c in checks), r.text(table, "next_time", "practice"))


COMMAND_NAME = re.compile(r"<([a-z_]+)>")
"""How content text names a command: <ready>, <pain>."""
COMMANDS = {c.value for c in Command}


def _name_commands(value: Any, spoken: Callable[[str], str], r: _Reader, where: str) -> Any:
    """`value` (parsed TOML) with every <command> in its texts replaced by `spoken(command)`."""
    if isinstance(value, dict):
        return {k: _name_commands(v, spoken, r, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_name_commands(v, spoken, r, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def name(match: re.Match) -> str:
        if match.group(1) not in COMMANDS:
            raise r.fail(where, f"unknown command <{match.group(1)}> (choose from {', '.join(sorted(COMMANDS))})")
        return spoken(match.group(1))
    return COMMAND_NAME.sub(name, value)


def parse_content(text: str, source: str = "guide.toml", spoken: Callable[[str], str] = str) -> Content:
    """Parse and validate content from TOML text; ContentError names the field on any problem.
    `spoken(command)`: the phrase to put in for <command> (default: the command's own name)."""
    r = _Reader(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{source}: not valid TOML: {exc}") from None
    data = _name_commands(data, spoken, r, "")

    raw_variations = r.table(data, "variations")
    variations = {}
    for vid in REQUIRED_VARIATIONS:
        item = r.table(raw_variations, vid, "variations.")
        where = f"variations.{vid}"
        sides = item.get("sides", [])
        if not isinstance(sides, list) or any(not isinstance(s, str) for s in sides):
            raise r.fail(where + ".sides", "must be a list of texts")
        variations[vid] = Variation(vid, r.text(item, "name", where), r.text(item, "summary", where),
                                    r.text(item, "lead_in", where, required=False), tuple(sides))
    names = set(variations)

    raw_goals = r.table(data, "goals")
    goals = {}
    for gid in REQUIRED_GOALS:
        item = r.table(raw_goals, gid, "goals.")
        where = f"goals.{gid}"
        rng = item.get("rep_range")
        if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, int) for v in rng) and 1 <= rng[0] <= rng[1]):
            raise r.fail(where + ".rep_range", "must be [low, high] whole numbers")
        try:
            tempo = Tempo.parse(r.text(item, "tempo", where))
        except ValueError as exc:
            raise r.fail(where + ".tempo", str(exc)) from None
        goals[gid] = Goal(gid, r.text(item, "name", where), (rng[0], rng[1]),
                          int(r.number(item, "sets", where, 1, 20)), int(r.number(item, "reps", where, 1, 100)),
                          r.number(item, "rest", where, 0, 900), tempo, r.text(item, "note", where))

    safety = r.table(data, "safety")
    for key in REQUIRED_SAFETY:
        r.text(safety, key, "safety")
    programming = r.table(data, "programming")
    phrases = r.table(data, "phrases")
    for key, needed in REQUIRED_PHRASES.items():
        template = r.text(phrases, key, "phrases")
        unknown = _placeholders(template) - needed
        if unknown:
            raise r.fail(f"phrases.{key}", f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {sorted(needed) or 'none'})")

    return Content(
        title=r.text(data, "title", "top level"), welcome=r.text(data, "welcome", "top level"),
        welcome_quick=r.text(data, "welcome_quick", "top level"), practice=_practice(r, r.table(data, "practice")),
        setup=r.cues(data, "setup", names), execution=r.cues(data, "execution", names),
        mistakes=r.cues(data, "mistakes", names), variations=variations, goals=goals,
        safety={k: str(v) for k, v in safety.items()}, programming={k: str(v) for k, v in programming.items()},
        phrases={k: str(v) for k, v in phrases.items()},
    )


def load_content(path: str | Path | None = None, spoken: Callable[[str], str] | None = None) -> Content:
    """Load the shipped content, or a coach's edited copy at `path`, naming each command by
    `spoken(command)` (default: the phrase the default vocabulary teaches for it)."""
    if spoken is None:
        from .speech_in.vocabulary import load_vocabulary

        spoken = load_vocabulary().spoken
    if path is None:
        text = resources.files("voicecoach.data").joinpath("guide.toml").read_text(encoding="utf-8")
        return parse_content(text, "voicecoach/data/guide.toml", spoken)
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContentError(f"{path}: cannot read content file ({exc.strerror})") from None
    return parse_content(text, str(path), spoken)
