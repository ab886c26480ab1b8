"""Word pronunciations from CMUdict (as PocketSphinx's wheel ships it), read without a decoder.

A PocketSphinx decoder given the whole dictionary holds it in ~22 MB; the PocketSphinx engine
runs three. They only need the words of their grammars (`entries`), while the moonshine engine
needs any word Moonshine may write, to compare it with the vocabulary's phrases by sound
(`moonshine_backend.PhraseMatcher`). So the file is kept once, as one 3 MB string searched per
word (a millisecond or two; an utterance has a few words), remembering the answers.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def dictionary_path() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"


class Pronunciations:
    """word -> its first pronunciation's phones in a CMUdict-format file ("word PH ON ES" lines;
    alternatives, "word(2) ...", come after it and are ignored)."""

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
        start += len(word) + 2
        return self._text[start : self._text.find("\n", start)].split()

    def __contains__(self, word: str) -> bool:
        return self.phones(word) is not None

    def entries(self, words: set[str]) -> str:
        """The dictionary's lines for `words`, alternatives included, as a dictionary file of its
        own: PocketSphinx given only the words its grammars use loads in a fifth of the memory."""
        lines = []
        for word in sorted(words):
            for key in [word] + [f"{word}({k})" for k in range(2, 10)]:
                start = self._text.find(f"\n{key} ")
                if start < 0:
                    break
                lines.append(self._text[start + 1 : self._text.find("\n", start + 1)])
        return "\n".join(lines) + "\n"


def default_pronunciations() -> Pronunciations:
    """The shipped dictionary, read once per process."""
    return _shared(os.fspath(dictionary_path()))


@lru_cache(maxsize=1)
def _shared(path: str) -> Pronunciations:
    return Pronunciations(Path(path))
