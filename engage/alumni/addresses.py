"""Which address mail to an alumnus goes to, and the "primary email failing" flag.

Mail goes to the primary address. Once that address hard-bounces, the profile is
flagged (``email_failing_at``, shown to staff and the attaché) and mail goes to
the secondary address instead, if its owner has verified it; changing the primary
address clears the flag. Everyone who picks a recipient asks here::

    to = deliverable_address(alumnus)                     # a model
    to = deliverable_address(row, prefix="alumnus__")     # a .values() row
    query.values("id", *address_fields("alumnus__"))      # the fields it needs

The flag is set by the mail package's bounce rules (:func:`on_hard_bounce`), which
this module registers into (the mail package knows nothing of alumni).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.alumni.models import Alumnus
from engage.mail.bounces import on_hard_bounce

#: What :func:`deliverable_address` reads.
ADDRESS_FIELDS = ("email", "email_failing_at", "secondary_email", "secondary_verified_at")


def address_fields(prefix: str = "") -> tuple[str, ...]:
    """The fields :func:`deliverable_address` needs, for ``.values()``."""
    return tuple(f"{prefix}{name}" for name in ADDRESS_FIELDS)


def deliverable_address(person: Alumnus | Mapping[str, Any], *, prefix: str = "") -> str | None:
    """The address mail to ``person`` goes to (None: they have none).

    The primary, unless it is failing and a verified secondary exists.
    """
    if isinstance(person, Alumnus):
        values: Mapping[str, Any] = {name: getattr(person, name) for name in ADDRESS_FIELDS}
    else:
        values = {name: person.get(f"{prefix}{name}") for name in ADDRESS_FIELDS}
    secondary = values["secondary_email"]
    if values["email_failing_at"] and secondary and values["secondary_verified_at"]:
        return str(secondary)
    return str(values["email"]) if values["email"] else None


@on_hard_bounce
async def _flag_failing_primary(key: str, now: datetime, conn: BaseDBAsyncClient) -> None:
    """A hard bounce of someone's primary address flags their profile (once)."""
    await (
        Alumnus.filter(email_key=key, email_failing_at__isnull=True)
        .using_db(conn)
        .update(email_failing_at=now)
    )
