"""Paging for the API's list endpoints: the query fields and the page fields, once.

::

    class EventsQuery(PageQuery):
        status: EventStatus | None = None

    class EventPage(Paged):
        items: list[EventOut]

    return EventPage(items=..., **paged(total, query))
"""

from __future__ import annotations

from math import ceil
from typing import Any

from pydantic import BaseModel, Field

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 10_000


class PageQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    page_size: int = Field(default=PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Paged(BaseModel):
    total: int = Field(description="Everything the query selects, not only this page.")
    page: int
    page_size: int
    pages: int


def paged(total: int, query: PageQuery) -> dict[str, Any]:
    """The page fields of a ``Paged`` answer for ``total`` rows."""
    return {
        "total": total,
        "page": query.page,
        "page_size": query.page_size,
        "pages": max(1, ceil(total / query.page_size)),
    }
