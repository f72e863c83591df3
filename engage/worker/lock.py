"""SQLite is served by one process, which is also the only one that sends: an
exclusive lock on a file next to the database says which. (On PostgreSQL, several
web processes and workers share the database and the queue.) Short-lived commands
such as ``engage mail list`` or ``engage migrate`` do not take it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from urllib.parse import urlsplit

from engage.settings import Settings


class SenderLockHeld(Exception):
    """Another process already serves (and sends mail for) this SQLite database."""


class SenderLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SenderLockHeld(
                f"another process already serves this SQLite database and sends its mail "
                f"(lock {self.path}); use PostgreSQL to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def sender_lock(settings: Settings) -> SenderLock | None:
    """The lock the serving process holds, or None where the database is shared."""
    if not settings.database.is_sqlite:
        return None
    parts = urlsplit(settings.database.url)
    db_path = Path(parts.netloc + parts.path)
    return SenderLock(db_path.with_name(db_path.name + ".sender.lock"))
