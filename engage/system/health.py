"""Is this installation working? The database answers; the mail queue moves."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from engage.mail.outbox import QueueStats, queue_stats

log = logging.getLogger("engage.health")


@dataclass(frozen=True)
class Health:
    database_ok: bool
    queue: QueueStats | None

    @property
    def ok(self) -> bool:
        return self.database_ok


async def check_health(*, within_seconds: float = 2.0) -> Health:
    """Ping the database (within ``within_seconds``) and read the mail queue's state."""
    try:
        async with asyncio.timeout(within_seconds):
            # The queue's aggregate query doubles as the database ping.
            stats = await queue_stats()
    except Exception as exc:  # any failure means "not healthy", never a 500
        log.warning("health check failed: %s", exc)
        return Health(database_ok=False, queue=None)
    return Health(database_ok=True, queue=stats)
