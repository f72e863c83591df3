"""Event factories, on top of the alumni ones.

::

    async def test_x(make_embassy, make_event, actor_for):
        embassy = await make_embassy(code="RIX", country="LV", timezone="Europe/Riga")
        event = await make_event(embassy, title="Reception", capacity=50)
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engage.events.models import Event, EventStatus, Visibility
from engage.places.models import Embassy
from tests.alumni.conftest import actor_for, make_alumnus, make_course  # noqa: F401

_seq = itertools.count(1)


@pytest.fixture
def make_event(settings):
    """An event row with sensible defaults: published, in two weeks, two hours long."""

    async def make(embassy: Embassy, **fields: Any) -> Event:
        starts = fields.pop(
            "starts_at", datetime.now(UTC).replace(microsecond=0) + timedelta(days=14)
        )
        values: dict[str, Any] = {
            "kind": "reception",
            "title": f"Reception {next(_seq)}",
            "venue": "The Residence",
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "timezone": embassy.timezone,
            "visibility": Visibility.INVITATION,
            "status": EventStatus.PUBLISHED,
            "uid": f"{uuid.uuid4().hex}@engage.test",
            "guests_allowed": 1,
        }
        values.update(fields)
        return await Event.create(embassy=embassy, **values)

    return make
