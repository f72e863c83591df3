"""Aggregating SQL over a report's people, the same text on SQLite and PostgreSQL.

::

    stmt = Statement(await population(flt, actor=actor))     # WITH pop AS (...)
    rows = await stmt.fetch(
        "SELECT a.country_id AS key, COUNT(*) AS n FROM alumni_alumnus a "
        "WHERE a.id IN (SELECT id FROM pop) AND a.last_contacted_at >= :since "
        "GROUP BY a.country_id",
        since=cutoff,
    )

The people come from the shared audience filter's query (scope built in), compiled
by the ORM and put first as the common table ``pop``, so its parameters come first
and the statement's own ``:name`` parameters follow in the order they appear, as
``?`` (SQLite) or ``$n`` (PostgreSQL). A list value becomes one parameter per item
(``IN (:kinds)``); it must not be empty.

Some expressions differ between the two: :meth:`Statement.days` (days between two
dates) and :meth:`Statement.tag_values` (the elements of a JSON list of text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet

from engage.alumni.models import Alumnus

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def compiled(query: QuerySet[Alumnus]) -> tuple[str, list[Any]]:
    """The SQL of ``query``'s ids and its parameters, as the ORM would run them."""
    ids = query.values("id")
    # The ORM's own way to its SQL (what ``QuerySet.sql()`` does, keeping the values).
    ids._choose_db_if_not_chosen()
    ids._make_query()
    sql, params = ids.query.get_parameterized_sql()
    return sql, list(params)


class Statement:
    """One statement over the people of ``population`` (or over everything)."""

    def __init__(self, population: QuerySet[Alumnus] | None = None) -> None:
        self.conn: BaseDBAsyncClient = connections.get("default")
        self.postgres = self.conn.capabilities.dialect == "postgres"
        self.prefix = ""
        self.prefix_params: list[Any] = []
        if population is not None:
            sql, self.prefix_params = compiled(population)
            self.prefix = f"WITH pop AS ({sql}) "

    def render(self, body: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
        """The statement's text and parameters in the database's style."""
        params = list(self.prefix_params)

        def mark(match: re.Match[str]) -> str:
            value = values[match.group(1)]
            items: Sequence[Any] = value if isinstance(value, list | tuple) else [value]
            if not items:
                raise ValueError(f"empty list for :{match.group(1)}")
            marks = []
            for item in items:
                params.append(item)
                marks.append(f"${len(params)}" if self.postgres else "?")
            return ", ".join(marks)

        return self.prefix + _NAMED.sub(mark, body), params

    async def fetch(self, body: str, **values: Any) -> list[dict[str, Any]]:
        """Run the statement; its rows as dicts."""
        sql, params = self.render(body, values)
        return list(await self.conn.execute_query_dict(sql, params))

    def days(self, later: str, earlier: str) -> str:
        """Days from date ``earlier`` to date ``later`` (SQL expressions)."""
        if self.postgres:
            return f"({later} - {earlier})"
        return f"(julianday({later}) - julianday({earlier}))"

    def tag_values(self, column: str, alias: str) -> str:
        """A table of the text elements of JSON list ``column`` (``alias.value``)."""
        if self.postgres:
            return f"jsonb_array_elements_text({column}) AS {alias}(value)"
        return f"json_each({column}) AS {alias}"
