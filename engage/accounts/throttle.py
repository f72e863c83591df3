"""Attempt counters in the database, so a limit holds across web processes.

Usage::

    await check_and_count(f"login:ip:{ip}", limit=30, window_seconds=900, now=now)
    # raises Throttled(retry_after=...) once the limit is passed
"""

from __future__ import annotations

from datetime import datetime

from tortoise import connections

from engage.errors import Throttled
from engage.i18n import _

_UPSERT = (
    "INSERT INTO accounts_throttle (key, bucket, count) VALUES ({p1}, {p2}, 1) "
    "ON CONFLICT (key, bucket) DO UPDATE SET count = accounts_throttle.count + 1 "
    "RETURNING count"
)


async def check_and_count(key: str, *, limit: int, window_seconds: int, now: datetime) -> int:
    """Count one attempt for ``key``; raise :class:`Throttled` past ``limit``.

    One atomic statement (insert or increment), whatever the number of processes.
    """
    conn = connections.get("default")
    dialect = conn.capabilities.dialect
    p1, p2 = ("$1", "$2") if dialect == "postgres" else ("?", "?")
    epoch = int(now.timestamp())
    window = epoch // window_seconds
    rows = await conn.execute_query_dict(_UPSERT.format(p1=p1, p2=p2), [key, window])
    count = int(rows[0]["count"])
    if count == 1:
        # The first hit of a window tidies the key's old windows.
        p = "$1" if dialect == "postgres" else "?"
        q = "$2" if dialect == "postgres" else "?"
        await conn.execute_query(
            f"DELETE FROM accounts_throttle WHERE key = {p} AND bucket < {q}",  # noqa: S608 - placeholders only
            [key, window],
        )
    if count > limit:
        retry_after = (window + 1) * window_seconds - epoch
        raise Throttled(
            _("Too many attempts. Please wait a few minutes and try again."),
            retry_after=max(retry_after, 1),
        )
    return count


async def reset(key: str) -> None:
    """Forget the attempts of ``key`` (e.g. after a successful sign-in)."""
    conn = connections.get("default")
    p = "$1" if conn.capabilities.dialect == "postgres" else "?"
    await conn.execute_query(f"DELETE FROM accounts_throttle WHERE key = {p}", [key])  # noqa: S608
