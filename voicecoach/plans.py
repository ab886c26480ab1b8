"""Plan files: TOML descriptions of a session, loaded into `Plan` with errors a person can act on.

A plan file has a few plan-level keys and one `[[blocks]]` table per block (warm-up, working
sets, finisher). See docs/sample-plan.toml for every field, explained.

Rep ranges: `reps = "8-12"` sets the block's `rep_range` to (8, 12) and its target `reps` to the
LOW end (8). The first session in a range is then achievable with good form, and progression
(voicecoach.progression) moves the target up a rep at a time until every set reaches the top,
and only then suggests more load. `reps = 10` is a fixed target (range 10-10).

Every validation error is a `PlanError` whose str() is one line naming file, line and field:
    plans/x.toml:12: blocks[2].reps: must be a whole number from 1 to 100, got "ten"
Blocks are numbered from 1, in the order they appear in the file.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from voicecoach.program import Block, Load, Plan, Tempo

VARIATIONS = ("barbell", "dumbbell", "bodyweight", "single-leg", "banded")
"""Variation ids from the guide's "Variations and Progression" section."""

DEFAULT_TEMPO = "2-1-3"
"""Up 2 s, squeeze 1 s ("a full second" in the guide), lower slowly over 3 s."""
DEFAULT_REST = 90.0
"""Seconds between sets when a block gives no `rest`."""

PLAN_KEYS = ("title", "description", "goal", "setup", "tags", "blocks")
BLOCK_KEYS = ("name", "variation", "sets", "reps", "tempo", "hold", "rest", "load")


class PlanError(Exception):
    """A plan that cannot be used; str() is the one line to show, e.g. "x.toml:12: blocks[1].reps: ..."."""


def shipped_plans_dir() -> Path:
    """The folder holding the plans that come with voicecoach."""
    return Path(str(resources.files("voicecoach.data") / "plans"))


def list_shipped_plans() -> list[Plan]:
    """Every shipped plan, sorted by name (a broken shipped plan raises PlanError: it is a bug)."""
    return [load_plan_file(p) for p in sorted(shipped_plans_dir().glob("*.toml"))]


def load_plan(path_or_name: str | Path) -> Plan:
    """Load a shipped plan by name ("hypertrophy") or any plan file by path ("my-plan.toml")."""
    text = str(path_or_name)
    path = Path(text)
    # A name has no folder and no .toml suffix; anything else is meant as a path.
    if path.suffix == ".toml" or path.parent != Path(".") or path.is_file():
        return load_plan_file(path)
    shipped = shipped_plans_dir() / f"{text}.toml"
    if shipped.is_file():
        return load_plan_file(shipped)
    names = sorted(p.stem for p in shipped_plans_dir().glob("*.toml"))
    hint = difflib.get_close_matches(text, names, n=1)
    maybe = f"did you mean {hint[0]!r}? " if hint else ""
    raise PlanError(f"{text}: no such plan ({maybe}shipped plans: {', '.join(names)}; or give a .toml file path)")


def apply_load(plan: Plan, load: Load | None) -> Plan:
    """`plan` with `load` (from `--load`) on every block except bodyweight ones.

    The command line wins over a `load` in the file: it is what is on the bar today. None
    leaves the plan as it is: a load nobody gave is recorded as unknown, not asked for.
    """
    if load is None:
        return plan
    blocks = tuple(b if b.variation == "bodyweight" else replace(b, load=load) for b in plan.blocks)
    return replace(plan, blocks=blocks)


def load_plan_file(path: str | Path) -> Plan:
    """Read and validate one plan file; the plan's name is the file's stem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read plan file ({exc})") from None
    return parse_plan(text, name=path.stem, source=str(path))


def parse_plan(text: str, name: str, source: str = "<plan>") -> Plan:
    """Validate TOML `text` into a Plan called `name`; `source` is the file name used in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib reports "... (at line 3, column 7)": move the line to the front like other errors.
        msg = str(exc)
        m = re.search(r"\s*\(at line (\d+), column \d+\)", msg)
        line = m.group(1) if m else "1"
        raise PlanError(f"{source}:{line}: not valid TOML: {msg[: m.start()] if m else msg}") from None
    return _Validator(text, source).plan(data, name)


class _Validator:
    """Turns parsed TOML into a Plan, pointing errors at the line of the offending key."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    # -- locating keys in the text (tomllib keeps no positions) --------------------------------

    def _block_header_lines(self) -> list[int]:
        """1-based line numbers of each `[[blocks]]` header, in order."""
        return [i + 1 for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*blocks\s*\]\]", line)]

    def _key_line(self, key: str, start: int, end: int) -> int | None:
        """First line in [start, end) (1-based) that assigns `key` (bare or quoted)."""
        pattern = re.compile(rf"""\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
        for n in range(start, min(end, len(self.lines) + 1)):
            if pattern.match(self.lines[n - 1]):
                return n
        return None

    def line_of(self, key: str | None, block: int | None = None) -> int:
        """Line of `key` at plan level (block None) or inside block number `block` (1-based)."""
        headers = self._block_header_lines()
        first_table = next(
            (i + 1 for i, line in enumerate(self.lines) if re.match(r"\s*\[", line)), len(self.lines) + 1
        )
        if block is None:
            found = self._key_line(key, 1, first_table) if key else None
            return found or 1
        if block - 1 < len(headers):
            start = headers[block - 1]
            nxt = next((i + 1 for i in range(start, len(self.lines)) if re.match(r"\s*\[", self.lines[i])), None)
            found = self._key_line(key, start + 1, nxt or len(self.lines) + 1) if key else None
            return found or start
        # Blocks written another way (e.g. an inline array): point at the `blocks` key.
        return self._key_line("blocks", 1, len(self.lines) + 1) or 1

    def error(self, field: str, message: str, key: str | None, block: int | None = None) -> PlanError:
        return PlanError(f"{self.source}:{self.line_of(key, block)}: {field}: {message}")

    # -- validation ---------------------------------------------------------------------------

    def plan(self, data: dict[str, Any], name: str) -> Plan:
        self._no_unknown_keys(data, PLAN_KEYS, None)
        title = self._text(data, "title", None, default=name.replace("-", " ").capitalize())
        description = self._text(data, "description", None, default="")
        goal = self._text(data, "goal", None, default="") or None
        setup = data.get("setup", True)
        if not isinstance(setup, bool):
            raise self.error("setup", f"must be true or false, got {_shown(setup)}", "setup")
        tags = data.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise self.error("tags", f"must be a list of words, e.g. [\"glutes\"], got {_shown(tags)}", "tags")
        raw_blocks = data.get("blocks")
        if raw_blocks is None:
            raise self.error("blocks", "a plan needs at least one [[blocks]] table", None)
        if not isinstance(raw_blocks, list) or not raw_blocks or not all(isinstance(b, dict) for b in raw_blocks):
            raise self.error("blocks", "must be one or more [[blocks]] tables", "blocks")
        blocks = tuple(self.block(b, i) for i, b in enumerate(raw_blocks, start=1))
        names = [b.name for b in blocks]
        for i, n in enumerate(names, start=1):
            if names.index(n) != i - 1:
                # History keys sets by block name, so two blocks may not share one.
                raise self.error(f"blocks[{i}].name", f"{n!r} is already the name of another block", "name", i)
        return Plan(name=name, title=title, blocks=blocks, goal=goal, description=description,
                    setup=setup, tags=tuple(tags))

    def block(self, data: dict[str, Any], i: int) -> Block:
        where = f"blocks[{i}]"
        self._no_unknown_keys(data, BLOCK_KEYS, i)
        name = self._text(data, "name", i, default=f"block {i}")
        variation = data.get("variation")
        if variation not in VARIATIONS:
            got = "nothing" if variation is None else _shown(variation)
            raise self.error(f"{where}.variation", f"must be one of {', '.join(VARIATIONS)}, got {got}", "variation", i)
        sets = self._whole(data, "sets", i, 1, 20, required=True)
        reps, rep_range = self._reps(data, i)
        tempo = self._tempo(data, i)
        if "hold" in data:
            tempo = tempo.with_hold(self._seconds(data, "hold", i, 0, 30))
        rest = self._seconds(data, "rest", i, 0, 600) if "rest" in data else DEFAULT_REST
        load = None
        if "load" in data:
            raw = data["load"]
            try:
                if not isinstance(raw, str):
                    raise ValueError
                load = Load.parse(raw)
            except ValueError:
                raise self.error(f"{where}.load", f"must be a number with kg or lb, e.g. \"60kg\" or \"135lb\", got {_shown(raw)}", "load", i) from None
            if variation == "bodyweight":
                raise self.error(f"{where}.load", "a bodyweight block takes no load (use dumbbell or barbell)", "load", i)
        return Block(name=name, variation=variation, sets=sets, reps=reps, tempo=tempo, rest=rest,
                     rep_range=rep_range, load=load)

    def _no_unknown_keys(self, data: dict[str, Any], allowed: tuple[str, ...], block: int | None) -> None:
        for key in data:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=2)
                field = key if block is None else f"blocks[{block}].{key}"
                advice = f"did you mean {' or '.join(map(repr, hint))}?" if hint else f"known fields: {', '.join(allowed)}"
                raise self.error(field, f"unknown field ({advice})", key, block)

    def _text(self, data: dict[str, Any], key: str, block: int | None, default: str) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or (key in data and not value.strip()):
            field = key if block is None else f"blocks[{block}].{key}"
            raise self.error(field, f"must be a non-empty text in quotes, got {_shown(value)}", key, block)
        return value.strip()

    def _whole(self, data: dict[str, Any], key: str, block: int, lo: int, hi: int, required: bool) -> int:
        value = data.get(key)
        field = f"blocks[{block}].{key}"
        if value is None and required:
            raise self.error(field, f"missing: give a whole number from {lo} to {hi}", None, block)
        # bool is an int in Python; `sets = true` is a mistake, not 1.
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.error(field, f"must be a whole number from {lo} to {hi}, got {_shown(value)}", key, block)
        return value

    def _seconds(self, data: dict[str, Any], key: str, block: int, lo: float, hi: float) -> float:
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise self.error(f"blocks[{block}].{key}", f"must be a number of seconds from {lo:g} to {hi:g}, got {_shown(value)}", key, block)
        return float(value)

    def _reps(self, data: dict[str, Any], block: int) -> tuple[int, tuple[int, int] | None]:
        """`reps = 10` (fixed) or `reps = "8-12"` (range; target starts at the low end)."""
        field = f"blocks[{block}].reps"
        value = data.get("reps")
        if value is None:
            raise self.error(field, "missing: give a whole number (10) or a range (\"8-12\")", None, block)
        if isinstance(value, int) and not isinstance(value, bool):
            if 1 <= value <= 100:
                return value, (value, value)
        elif isinstance(value, str):
            m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if 1 <= lo <= hi <= 100:
                    return lo, (lo, hi)
                raise self.error(field, f"range must go from low to high within 1-100, got {_shown(value)}", "reps", block)
        raise self.error(field, f"must be a whole number from 1 to 100 or a range like \"8-12\", got {_shown(value)}", "reps", block)

    def _tempo(self, data: dict[str, Any], block: int) -> Tempo:
        value = data.get("tempo", DEFAULT_TEMPO)
        try:
            if not isinstance(value, str):
                raise ValueError(f"must be text like \"2-1-3\" (up-hold-down seconds), got {_shown(value)}")
            return Tempo.parse(value)
        except ValueError as exc:
            raise self.error(f"blocks[{block}].tempo", str(exc), "tempo", block) from None


def _shown(value: Any) -> str:
    """A value as the person wrote it in TOML: strings in double quotes, true/false lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return repr(value)
