"""Match a sensitive-word list against customer and bot text, Chinese and English alike.

Both sides are folded the same way before matching: NFKC (full-width letters, digits and
punctuation become half-width, compatibility forms become plain ones) and case folding. Then:

- A word written in ASCII only (``scam``, ``kill you``) matches on word boundaries in the
  folded text, so ``ass`` never fires inside ``pass``; runs of spaces count as one.
- Any other word (Chinese, or mixed such as ``VPN翻墙``) matches as a substring of the folded
  text with separators, punctuation and symbols removed, because Chinese has no word
  boundaries and evasion by inserting ``*``, spaces or emoji between characters is common.

Every match is mapped back to its span in the original text, so masking replaces exactly
what the customer typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Match:
    word: str  # the list entry, as written in the file
    start: int  # span in the original text
    end: int


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _is_gap(ch: str) -> bool:
    # Separators, punctuation, symbols (emoji included) and format characters (zero-width).
    return unicodedata.category(ch)[0] in "ZPSC"


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so the longest entry wins where entries overlap.
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


class SensitiveWordFilter:
    def __init__(self, words: Iterable[str]) -> None:
        self._entries: dict[str, str] = {}  # folded form -> entry as written
        latin: set[str] = set()
        compact: set[str] = set()
        for raw in words:
            word = raw.strip()
            folded = " ".join(fold(word).split())
            if not any(ch.isalnum() for ch in folded):
                continue  # punctuation alone would flag every message that uses it
            if folded.isascii():
                key = folded
                latin.add(key)
            else:
                key = "".join(ch for ch in folded if not _is_gap(ch))
                compact.add(key)
            self._entries.setdefault(key, word)
        self._latin = (
            re.compile(rf"(?<![0-9a-z])(?:{_alternation(latin)})(?![0-9a-z])") if latin else None
        )
        self._compact = re.compile(_alternation(compact)) if compact else None

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, text: str) -> list[Match]:
        """Every match in ``text``, in order of position."""
        if not text or not self._entries:
            return []
        found: list[Match] = []
        if self._latin is not None:
            spaced, where = _project(text, keep_gaps=True)
            found += self._matches(self._latin, spaced, where)
        if self._compact is not None:
            squeezed, where = _project(text, keep_gaps=False)
            found += self._matches(self._compact, squeezed, where)
        found.sort(key=lambda m: (m.start, -m.end))
        return found

    def flagged(self, text: str) -> bool:
        return bool(self.find(text))

    def mask(self, text: str, *, char: str = "*") -> str:
        """``text`` with every matched span replaced by ``char`` per original character."""
        chars = list(text)
        for m in self.find(text):
            for i in range(m.start, m.end):
                if not chars[i].isspace():
                    chars[i] = char
        return "".join(chars)

    def _matches(self, pattern: re.Pattern[str], projected: str, where: list[int]) -> list[Match]:
        return [
            Match(
                word=self._entries[m.group(0)],
                start=where[m.start()],
                end=where[m.end() - 1] + 1,
            )
            for m in pattern.finditer(projected)
        ]


def _project(text: str, *, keep_gaps: bool) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index of its source character.

    With ``keep_gaps`` whitespace runs become one space (English phrases); without, every
    separator, punctuation mark and symbol is dropped (Chinese words).
    """
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for f in fold(ch):
            if f.isspace():
                if not keep_gaps or (out and out[-1] == " "):
                    continue
                f = " "
            elif not keep_gaps and _is_gap(f):
                continue
            out.append(f)
            where.append(i)
    return "".join(out), where
