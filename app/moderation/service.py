"""The configured word list, loaded once per file version, and a verdict per text."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.core.config import Settings
from app.moderation.filter import SensitiveWordFilter

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORDS = REPO_ROOT / "prompts" / "sensitive_words.txt"


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    words: tuple[str, ...]  # the list entries that matched, each once, in order of appearance
    masked: str


def default_words_path() -> Path:
    return DEFAULT_WORDS


def words_path(settings: Settings) -> Path:
    """``KEFU_SENSITIVE_WORDS_FILE``, else ``prompts/sensitive_words.txt`` of this checkout.

    A relative setting is read from the working directory when the file is there, else from
    the repository root, so ``prompts/custom.txt`` works from either place.
    """
    configured = settings.channels.sensitive_words_file
    if configured is None:
        return DEFAULT_WORDS
    if configured.is_absolute() or configured.exists():
        return configured
    return REPO_ROOT / configured


def parse(text: str) -> list[str]:
    """One entry a line; blank lines and lines starting with ``#`` are ignored."""
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> SensitiveWordFilter:
    # Keyed by the file's mtime and size as well: an edited list is picked up without a
    # restart, and an unchanged one is never read twice.
    words = parse(Path(path).read_text(encoding="utf-8"))
    built = SensitiveWordFilter(words)
    log.info("sensitive-word list loaded", extra={"path": path, "words": len(built)})
    return built


def load_filter(path: Path) -> SensitiveWordFilter:
    """The filter for ``path``; a missing file raises FileNotFoundError naming it."""
    resolved = path.resolve()
    stat = resolved.stat()
    return _load(str(resolved), stat.st_mtime_ns, stat.st_size)


def filter_for(settings: Settings) -> SensitiveWordFilter:
    return load_filter(words_path(settings))


def check(text: str, *, word_filter: SensitiveWordFilter) -> Verdict:
    matches = word_filter.find(text)
    if not matches:
        return Verdict(flagged=False, words=(), masked=text)
    words = tuple(dict.fromkeys(m.word for m in matches))
    return Verdict(flagged=True, words=words, masked=word_filter.mask(text))
