"""The data directory holds the database, the vector store, uploaded originals and the
secret key: readable by the service's own user only."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from app.core.config import Settings

log = logging.getLogger(__name__)

_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def secure(settings: Settings) -> None:
    """Create the data directory (0700) and keep the embedded database file 0600."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _chmod(settings.data_dir, 0o700)
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    _chmod(settings.uploads_dir, 0o700)
    settings.attachments_dir.mkdir(parents=True, exist_ok=True)
    _chmod(settings.attachments_dir, 0o700)
    if settings.db.url is not None:
        return
    db = settings.data_dir / "kefu.db"
    if not db.exists():
        # Created here, so SQLite never makes it with the process's (often 0644) umask.
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in _SQLITE_SIDE_FILES:
        side = Path(f"{db}{suffix}")
        if side.exists():
            _chmod(side, 0o600)


def _chmod(path: Path, mode: int) -> None:
    try:
        path.chmod(mode)
    except PermissionError:  # a directory someone else owns (a mounted volume): say so
        log.warning("cannot restrict %s to mode %o: not its owner", path, mode)
