"""Aggregating SQL over a report's people, the same text on SQLite and PostgreSQL.

::

    stmt = Statement(await population(flt, actor=actor))
    rows = await stmt.fetch(
        f"SELECT {PEOPLE}.country_id AS key, COUNT(*) AS n {stmt.people_from} "
        f"WHERE {stmt.people_where} AND {PEOPLE}.last_contacted_at >= :since "
        f"GROUP BY {PEOPLE}.country_id",
        since=cutoff,
    )

The people come from the shared audience filter's query (scope built in), compiled
by the ORM with every column named with its table (``"alumni_alumnus"."id"``), so
its FROM and WHERE clauses take further joins without ambiguity: a report over the
people scans them once, with their conditions. A pass over another table (training
records) checks its rows against the people's ids instead (:attr:`Statement.people_ids`),
which costs less than looking up each row's person.
Parameters are written ``:name`` (the people's own become ``:people_0``...) and go to
the database in the order they appear, as ``?`` (SQLite) or ``$n`` (PostgreSQL); a
list value becomes one parameter per item (``IN (:kinds)``) and must not be empty.

Two expressions differ between the databases: :meth:`Statement.days` (days between
two dates) and :meth:`Statement.join_tags` (the elements of a JSON list of text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from engage.alumni.models import Alumnus

#: The people's table, as the compiled query names it: qualify its columns with it.
PEOPLE = '"alumni_alumnus"'
#: Settings of a report's transaction on PostgreSQL (see :meth:`Statement.fetch`).
_REPORT_SETTINGS = (
    "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; "
    "SET LOCAL max_parallel_workers_per_gather = 0"
)
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
_HEAD = f'SELECT {PEOPLE}."id" "id" '
_COUNTRY = '"alumni_alumnus__country"'
_JOIN = f' LEFT OUTER JOIN "places_country" {_COUNTRY} ON {_COUNTRY}."code"={PEOPLE}."country_id"'
_JOINED = f' AND NOT {_COUNTRY}."code" IS NULL'


def by_country_key() -> str:
    """The people's country as a GROUP BY key. An expression, not the bare column: so
    SQLite reads the people in table order and sorts 30 countries, rather than following
    the index on country to each row in turn (PostgreSQL hashes either way)."""
    return f"({PEOPLE}.country_id || '')"


class UnexpectedQuery(Exception):
    """The ORM wrote the people's query in a shape this module does not know."""


def compiled(query: QuerySet[Alumnus]) -> tuple[str, list[Any]]:
    """The SQL of ``query``'s ids and its parameters, as the ORM would run them."""
    ids = query.values("id")
    # The ORM's own way to its SQL (what ``QuerySet.sql()`` does, keeping the values).
    ids._choose_db_if_not_chosen()
    ids._make_query()
    sql, params = ids.query.get_parameterized_sql()
    return sql, list(params)


def _people(query: QuerySet[Alumnus], postgres: bool) -> tuple[str, str, dict[str, Any]]:
    """The FROM and WHERE clauses of ``query`` with every column qualified (a join
    to the person's country makes the ORM name each table; it is taken out again),
    and their values."""
    sql, params = compiled(query.filter(country__code__isnull=False))
    if not sql.startswith(_HEAD + "FROM ") or " WHERE " not in sql or "'" in sql:
        raise UnexpectedQuery(sql[:200])
    people_from, _where, people_where = sql[len(_HEAD) :].partition(" WHERE ")
    # The join served only to qualify the columns: without it, one lookup less a row.
    if people_from.endswith(_JOIN) and people_where.endswith(_JOINED):
        people_from = people_from.removesuffix(_JOIN)
        people_where = people_where.removesuffix(_JOINED)
    values: dict[str, Any] = {}
    order = iter(range(len(params)))

    def name(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1 if postgres else next(order)
        values[f"people_{index}"] = params[index]
        return f":people_{index}"

    marks = re.compile(r"\$(\d+)" if postgres else r"\?")
    if marks.search(people_from):
        raise UnexpectedQuery(people_from[:200])
    return people_from, marks.sub(name, people_where), values


class Statement:
    """Statements over the people of ``population`` (or over anything)."""

    def __init__(self, population: QuerySet[Alumnus] | None = None) -> None:
        self.conn: BaseDBAsyncClient = connections.get("default")
        self.postgres = self.conn.capabilities.dialect == "postgres"
        self.people_from = f"FROM {PEOPLE}"
        self.people_where = "1 = 1"
        self.values: dict[str, Any] = {}
        if population is not None:
            self.people_from, self.people_where, self.values = _people(population, self.postgres)

    @property
    def people_ids(self) -> str:
        """A subquery of the people's ids, for ``IN (...)``."""
        return f"SELECT {PEOPLE}.id {self.people_from} WHERE {self.people_where}"

    def render(self, body: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
        """The statement's text and parameters in the database's style."""
        every = {**self.values, **values}
        params: list[Any] = []

        def mark(match: re.Match[str]) -> str:
            value = every[match.group(1)]
            items: Sequence[Any] = value if isinstance(value, list | tuple) else [value]
            if not items:
                raise ValueError(f"empty list for :{match.group(1)}")
            marks = []
            for item in items:
                params.append(item)
                marks.append(f"${len(params)}" if self.postgres else "?")
            return ", ".join(marks)

        return _NAMED.sub(mark, body), params

    async def fetch(self, body: str, **values: Any) -> list[dict[str, Any]]:
        """Run the statement; its rows as dicts.

        PostgreSQL runs it in a transaction of its own with settings for this
        transaction only: no JIT compilation (its estimates for derived tables run
        high, and it would spend longer compiling a report than running it), room to
        group a hundred thousand people in memory rather than on disk (``work_mem``),
        and no parallel workers (each would build the same hash tables again).
        """
        sql, params = self.render(body, values)
        if not self.postgres:
            return list(await self.conn.execute_query_dict(sql, params))
        async with in_transaction() as conn:
            await conn.execute_script(_REPORT_SETTINGS)
            return list(await conn.execute_query_dict(sql, params))

    def days(self, later: str, earlier: str) -> str:
        """Days from date ``earlier`` to date ``later`` (SQL expressions)."""
        if self.postgres:
            return f"({later} - {earlier})"
        return f"(julianday({later}) - julianday({earlier}))"

    def join_tags(self, column: str, alias: str) -> str:
        """A join of the text elements of JSON list ``column``, as ``alias.value``."""
        if self.postgres:
            return f"CROSS JOIN LATERAL jsonb_array_elements_text({column}) AS {alias}(value)"
        return f"JOIN json_each({column}) AS {alias}"
