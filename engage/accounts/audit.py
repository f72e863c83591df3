"""The audit log: security-relevant actions, who took them, on what."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.accounts.models import AuditEvent, User
from engage.clock import utcnow


async def record(
    action: str,
    *,
    actor: User | None,
    target: tuple[str, object] | None = None,
    details: dict[str, Any] | None = None,
    ip: str = "",
    using_db: BaseDBAsyncClient | None = None,
) -> AuditEvent:
    return await AuditEvent.create(
        at=utcnow(),
        actor=actor,
        action=action,
        target_type=target[0] if target else "",
        target_id=str(target[1]) if target else "",
        details=details or {},
        ip=ip,
        using_db=using_db,
    )
