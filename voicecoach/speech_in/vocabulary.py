"""The command vocabulary: which spoken phrases mean which command, loaded from a TOML file.

The shipped file is `voicecoach/data/commands.toml`; a user can point at their own copy with
`path=` (CLI `--vocabulary FILE`) or the `VOICECOACH_VOCABULARY` environment variable.
Every problem is reported as one VocabularyError line naming the file and what is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from voicecoach.commands import Command

ENV_VAR = "VOICECOACH_VOCABULARY"
"""Environment variable naming a user vocabulary file (used when no path is given)."""

STRICTNESS_RANGE = (0.5, 2.0)


class VocabularyError(ValueError):
    """The vocabulary file is unusable; str() is the one line to show the user."""


@dataclass(frozen=True)
class Vocabulary:
    """Phrases -> commands, as validated from a vocabulary file."""

    phrases: dict[str, str]
    """Normalized phrase (lowercase words, single spaces) -> canonical command name."""
    strictness: dict[str, float] = field(default_factory=dict)
    """Command -> rejection strictness (1.0 default; higher needs more evidence)."""
    source: str = "<memory>"
    """Where it was loaded from, for error messages."""
    not_commands: tuple[str, ...] = ()
    """Normalized phrases people say around a lifter that mean no command ("squeeze", "seven"):
    a recognizer that knows them can hear them as themselves instead of as the nearest command."""
    say: dict[str, str] = field(default_factory=dict)
    """Command -> the phrase the coach tells the lifter to say, where the file chose one."""

    @property
    def commands(self) -> list[str]:
        """The commands that have at least one phrase, in file order."""
        return list(dict.fromkeys(self.phrases.values()))

    def words(self) -> set[str]:
        """Every distinct word of every command phrase."""
        return {w for p in self.phrases for w in p.split()}

    def command_for(self, phrase: str) -> str | None:
        """The command a (possibly unnormalized) phrase means, or None."""
        return self.phrases.get(normalize_phrase(phrase))

    def spoken(self, command: str) -> str:
        """The phrase the coach names for `command` ("Say ready when you're set"): the file's
        `say`, else the command's first phrase, else (a command this vocabulary leaves out,
        still on its key) the command's own name."""
        phrase = self.say.get(command) or next((p for p, c in self.phrases.items() if c == command), command)
        return re.sub(r"\bi\b", "I", phrase)  # phrases are kept lowercase: "what can I say"

    def strictness_of(self, command: str) -> float:
        return self.strictness.get(command, 1.0)

    def all_words(self) -> set[str]:
        """Every distinct word of every command phrase and every not-command."""
        return self.words() | {w for p in self.not_commands for w in p.split()}

    def check_words(self, known: Callable[[str], bool], dictionary: str) -> None:
        """Raise VocabularyError if some word is missing from a recognizer's dictionary."""
        missing = sorted(w for w in self.all_words() if not known(w))
        if missing:
            raise VocabularyError(
                f"{self.source}: word(s) not in the {dictionary}: {', '.join(missing)} "
                "(rephrase with common words)"
            )


def normalize_phrase(text: str) -> str:
    """Lowercase, drop punctuation other than apostrophes, collapse whitespace."""
    text = re.sub(r"[^a-z' ]+", " ", text.lower())
    return " ".join(text.split())


def default_vocabulary_path() -> Path:
    """The vocabulary shipped with the package."""
    return Path(str(resources.files("voicecoach.data").joinpath("commands.toml")))


def load_vocabulary(
    path: str | Path | None = None,
    known_words: Callable[[str], bool] | None = None,
    dictionary: str = "recognizer's dictionary",
) -> Vocabulary:
    """Load and validate a vocabulary file.

    `path` None means $VOICECOACH_VOCABULARY if set, else the shipped file. `known_words`, when
    given, checks every word against a recognizer's dictionary (named `dictionary` in errors).
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or default_vocabulary_path()
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VocabularyError(f"{where}: no such vocabulary file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VocabularyError(f"{where}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise VocabularyError(f"{where}: not valid TOML ({exc})") from None
    vocab = parse_vocabulary(data, where)
    if known_words is not None:
        vocab.check_words(known_words, dictionary)
    return vocab


def parse_vocabulary(data: dict, where: str = "<memory>") -> Vocabulary:
    """Validate the parsed TOML structure {"commands": {name: {"phrases": [...]}}} and the
    optional {"not_commands": {"phrases": [...]}}."""
    table = data.get("commands")
    if not isinstance(table, dict) or not table:
        raise VocabularyError(f"{where}: needs a [commands.<name>] table per command")
    valid = {c.value for c in Command}
    phrases: dict[str, str] = {}
    strictness: dict[str, float] = {}
    say: dict[str, str] = {}
    for name, entry in table.items():
        if name not in valid:
            raise VocabularyError(
                f"{where}: unknown command {name!r} (choose from {', '.join(sorted(valid))})"
            )
        if not isinstance(entry, dict):
            raise VocabularyError(f"{where}: [commands.{name}] must be a table with `phrases`")
        unknown_keys = set(entry) - {"phrases", "strictness", "say"}
        if unknown_keys:
            raise VocabularyError(
                f"{where}: [commands.{name}] has unknown setting(s) {', '.join(sorted(unknown_keys))}"
            )
        raw = entry.get("phrases")
        if not isinstance(raw, list) or not raw:
            raise VocabularyError(f"{where}: command {name!r} has an empty phrase list")
        for item in raw:
            phrase = normalize_phrase(item) if isinstance(item, str) else ""
            if not phrase:
                raise VocabularyError(f"{where}: command {name!r} has an empty or non-text phrase {item!r}")
            other = phrases.get(phrase)
            if other is not None and other != name:
                raise VocabularyError(
                    f"{where}: phrase {phrase!r} is listed under both {other!r} and {name!r}"
                )
            phrases[phrase] = name
        if "strictness" in entry:
            value = entry["strictness"]
            lo, hi = STRICTNESS_RANGE
            if not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise VocabularyError(
                    f"{where}: command {name!r}: strictness must be a number from {lo} to {hi}"
                )
            strictness[name] = float(value)
        if "say" in entry:
            taught = normalize_phrase(entry["say"]) if isinstance(entry["say"], str) else ""
            if phrases.get(taught) != name:
                raise VocabularyError(f"{where}: command {name!r}: say must be one of its phrases, got {entry['say']!r}")
            say[name] = taught
    return Vocabulary(phrases=phrases, strictness=strictness, source=where,
                      not_commands=_parse_not_commands(data.get("not_commands", {}), phrases, where), say=say)


def _parse_not_commands(entry: object, phrases: dict[str, str], where: str) -> tuple[str, ...]:
    raw = entry.get("phrases", []) if isinstance(entry, dict) else None
    if not isinstance(raw, list) or set(entry) - {"phrases"}:
        raise VocabularyError(f"{where}: [not_commands] must be a table with a `phrases` list only")
    out: list[str] = []
    for item in raw:
        phrase = normalize_phrase(item) if isinstance(item, str) else ""
        if not phrase:
            raise VocabularyError(f"{where}: [not_commands] has an empty or non-text phrase {item!r}")
        if phrase in phrases:
            raise VocabularyError(
                f"{where}: {phrase!r} is both a phrase of {phrases[phrase]!r} and in [not_commands]")
        out.append(phrase)
    return tuple(dict.fromkeys(out))


def vocabulary_from_phrases(mapping: dict[str, Iterable[str]]) -> Vocabulary:
    """Build a validated vocabulary in code (tests, benchmarks)."""
    return parse_vocabulary({"commands": {k: {"phrases": list(v)} for k, v in mapping.items()}})
