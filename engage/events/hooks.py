"""What other domains do when an event changes, called inside the change's transaction.

The events service announces changes; the invitations service listens (notices to
invitees, waitlist promotion when the capacity is raised) without events importing
it::

    @on_event_change
    async def _notify(event: Event, change: Change, conn: BaseDBAsyncClient) -> None: ...

    await event_changed(event, Change.TIME_OR_PLACE, conn)   # in the events service
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient

from engage.events.models import Event


class Change(StrEnum):
    #: The start, the end, the venue, the address or the online link of a published
    #: event changed (the calendar SEQUENCE was raised).
    TIME_OR_PLACE = "time_or_place"
    CANCELLED = "cancelled"
    #: The capacity was raised or removed: seats may be free for the waitlist. The
    #: event row is locked (``select_for_update``) in ``conn`` when this is announced.
    CAPACITY = "capacity"


Listener = Callable[[Event, Change, BaseDBAsyncClient], Awaitable[None]]
_LISTENERS: list[Listener] = []


def on_event_change(listener: Listener) -> Listener:
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)
    return listener


async def event_changed(event: Event, change: Change, conn: BaseDBAsyncClient) -> None:
    for listener in list(_LISTENERS):
        await listener(event, change, conn)
