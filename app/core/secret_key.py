"""The key that signs widget identities and visitor tokens: never a value anyone knows.

With no ``KEFU_SECRET_KEY`` (or a known placeholder) a random key is made on first start and
kept in the data directory, readable by its owner only, so a laptop install is safe by
default and keeps its visitors' tokens valid across restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from app.core.config import DEV_SECRET, Settings

log = logging.getLogger(__name__)

KNOWN_DEFAULTS = frozenset({DEV_SECRET, "", "changeme", "change-me", "secret", "dev"})
FILE_NAME = "secret.key"
MIN_CHARS = 16


def is_known_default(value: str) -> bool:
    return value.strip() in KNOWN_DEFAULTS or len(value) < MIN_CHARS


def resolve(settings: Settings) -> None:
    """Replace a placeholder ``settings.secret_key`` by the data directory's own key."""
    if not is_known_default(settings.secret_key.get_secret_value()):
        return
    path = settings.data_dir / FILE_NAME
    settings.secret_key = SecretStr(_load_or_create(path))
    log.warning(
        "KEFU_SECRET_KEY is not set (or is a published placeholder): signing with a random "
        "key generated in %s. Set KEFU_SECRET_KEY to share one key between processes.",
        path,
    )


def _load_or_create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if is_known_default(value):
            raise RuntimeError(
                f"{path} holds no usable secret: delete it to make a new one"
            ) from None
        return value
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value
