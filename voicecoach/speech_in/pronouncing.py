"""Word pronunciations from CMUdict (as PocketSphinx's wheel ships it), read without a decoder.

A PocketSphinx decoder given the whole dictionary holds it in ~22 MB; the PocketSphinx engine
runs three. They only need the words of their grammars (`entries`), while the moonshine engine
needs any word Moonshine may write, to compare it with the vocabulary's phrases by sound
(`moonshine_backend.PhraseMatcher`). So the file is kept once, as one 3 MB string searched per
word (a millisecond or two; an utterance has a few words), remembering the answers.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


def dictionary_path() -> Path:
    """CMUdict as the pocketsphinx wheel ships it."""
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"


class Pronunciations:
    """word -> its first pronunciation's phones in a CMUdict-format file ("word PH ON ES" lines;
    alternatives, "word(2) ...", come after it)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or dictionary_path()
        try:
            self._text = "\n" + self.path.read_text(encoding="utf-8") + "\n"
        except (OSError, UnicodeDecodeError) as exc:
            raise OSError(f"cannot read the pronunciation dictionary {self.path}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
        self.phones = lru_cache(maxsize=4096)(self._phones)

    def _phones(self, word: str) -> list[str] | None:
        """The phones of `word` (lowercase), or None if the dictionary lacks it."""
        start = self._text.find(f"\n{word} ")
        if start < 0:
            return None
        return self._text[start + 1 : self._text.find("\n", start + 1)].split()[1:]

    def __contains__(self, word: str) -> bool:
        return self.phones(word) is not None

    def _lines(self, words: set[str]) -> list[str]:
        """The lines of `words`, alternatives included, in the file's order: one pass over it
        (a search per word and alternative took a second for a vocabulary's few hundred)."""
        return [line for line in self._text.splitlines() if _word_of(line) in words]

    def known(self, words: set[str]) -> set[str]:
        """Those of `words` the dictionary can pronounce."""
        return {_word_of(line) for line in self._lines(words)}

    def words(self) -> set[str]:
        """Every word the dictionary can pronounce."""
        return {_word_of(line) for line in self._text.splitlines() if line}

    def entries(self, words: set[str]) -> str:
        """The dictionary's lines for `words`, alternatives included, as a dictionary file of its
        own: PocketSphinx given only the words its grammars use loads in a fifth of the memory."""
        return "\n".join(self._lines(words)) + "\n"


def _word_of(line: str) -> str:
    """The word a dictionary line is for ("either(2) AY DH ER" is for "either")."""
    return line.split(" ", 1)[0].split("(", 1)[0]


@lru_cache(maxsize=1)
def default_pronunciations() -> Pronunciations:
    """The shipped dictionary, read once per process."""
    return Pronunciations()
