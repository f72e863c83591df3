"""A transaction written once as a *flow* of SQL statements, run the fastest way each
database allows.

A flow is a generator: it yields a batch of statements (``?`` marks), receives their
rows, decides, yields the next batch, and returns its result. It does no I/O itself,
so the same rules run several ways::

    def flow(dialect: str) -> Flow[int]:
        (rows,) = yield [Sql("SELECT seats_taken FROM events_event WHERE id = ?", (7,))]
        ...
        return rows[0]["seats_taken"]

    conn = Event._choose_db(True)
    result = await run_flow(flow, conn)                         # a transaction of its own
    result = await run_flow(flow, tx, own_transaction=False)    # inside the caller's
    result = await run_batched(item, many, conn, key=event_id)  # sharing one (below)

- On SQLite, a transaction of its own runs whole in the connection's thread: ``BEGIN
  IMMEDIATE``, every statement, ``COMMIT``, in one trip. The database's one write lock
  is taken first, so the flow's reads are current and no other writer in any process
  gets in; and it is held for the statements alone, not for a round trip through the
  event loop per statement (which, under load, is what the lock would mostly wait on).
- On PostgreSQL, statement by statement on the Tortoise connection. A batch of several
  statements goes as *one* statement (all but the last as ``WITH w0 AS (...), w1 AS
  (...)`` parts; their effects are not visible to each other, so a batch holds
  independent writes and a last statement whose rows the flow reads): a row lock
  taken earlier in the flow is held for fewer round trips.

:func:`run_batched` queues items: those queued while a transaction for their key runs
go together in the next one, as one flow (``many(items, dialect)``) that returns each
item's outcome. One commit for all (one flush of PostgreSQL's log, where each would
wait for the previous one's flush while holding the row lock they all need), one trip
to SQLite's thread. If that flow fails (a database error, :class:`Stale`), the
transaction is rolled back and each item runs again alone.

A flow that finds it read something another transaction changed since raises
:class:`Stale`; its transaction is rolled back and it runs again.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
import weakref
from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Generic, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - an item
Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Sql:
    #: With ``?`` for each value (turned into ``$n`` on PostgreSQL).
    text: str
    values: Sequence[Any] = ()


#: Yields batches, receives each batch's rows (one list per statement), returns T.
Flow = Generator[list[Sql], list[Rows], T]
Make = Callable[[str], Flow[T]]


class Stale(Exception):
    """A row the flow read was changed by another transaction before the flow wrote:
    roll back and run it again."""


#: Runs of a flow that keeps meeting :class:`Stale` (another answer to the same row
#: each time) before giving up.
ATTEMPTS = 5


async def run_flow(make: Make[T], conn: BaseDBAsyncClient, *, own_transaction: bool = True) -> T:
    """Run the flow ``make(dialect)`` on ``conn`` (a model's ``_choose_db(True)``).

    ``own_transaction``: ``conn`` is not in a transaction and the flow gets one of its
    own (run again while it meets :class:`Stale`); otherwise it runs in the caller's.
    """
    dialect = conn.capabilities.dialect
    if not own_transaction or isinstance(conn, TransactionalDBClient):
        return await _run_async(make(dialect), conn, dialect)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await _transaction(make, conn)
        except Stale:
            if attempt == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _transaction(make: Make[T], conn: BaseDBAsyncClient) -> T:
    dialect = conn.capabilities.dialect
    if dialect == "sqlite":
        return await _in_sqlite_thread(conn, _run_sync, make, dialect)
    async with in_transaction(conn.connection_name) as tx:
        return await _run_async(make(dialect), tx, dialect)


# --- Statement by statement (PostgreSQL, or inside the caller's transaction) ----------------


async def _run_async(flow: Flow[T], conn: BaseDBAsyncClient, dialect: str) -> T:
    try:
        batch = next(flow)
        while True:
            if dialect == "postgres" and len(batch) > 1:
                rows = await conn.execute_query_dict(*_postgres(_merge(batch)))
                results: list[Rows] = [[] for _ in batch[:-1]] + [rows]
            else:
                results = [await conn.execute_query_dict(*_dialect(sql, dialect)) for sql in batch]
            batch = flow.send(results)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _merge(batch: list[Sql]) -> Sql:
    """One statement for a batch: the first ones as WITH parts, named ``w0``, ``w1``...
    in order (a later statement may read an earlier part by that name)."""
    *parts, last = batch
    head = ", ".join(f"w{n} AS ({sql.text})" for n, sql in enumerate(parts))
    values = [value for sql in batch for value in sql.values]
    return Sql(f"WITH {head} {last.text}", values)


def _dialect(sql: Sql, dialect: str) -> tuple[str, list[Any]]:
    return _postgres(sql) if dialect == "postgres" else (sql.text, list(sql.values))


def _postgres(sql: Sql) -> tuple[str, list[Any]]:
    return _numbered(sql.text), list(sql.values)


_MARK = re.compile(r"\?")


@lru_cache(maxsize=512)
def _numbered(text: str) -> str:
    """``?`` marks as ``$1``, ``$2``... (the statements hold no literal ``?``)."""
    counter = iter(range(1, text.count("?") + 1))
    return _MARK.sub(lambda _match: f"${next(counter)}", text)


# --- Items sharing a transaction --------------------------------------------------------

#: Each item's outcome: (True, its result) or (False, the exception it raised).
Outcome = tuple[bool, Any]
#: Many items' flow: ``many(items, dialect)`` returns an outcome per item, in order.
Many = Callable[[list[I], str], Flow[list[Outcome]]]


@dataclass
class _Queue(Generic[I]):
    """Items waiting for a transaction, and the task running them (if any)."""

    many: Many[I]
    pending: list[tuple[I, asyncio.Future[Any]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


_QUEUES: weakref.WeakKeyDictionary[BaseDBAsyncClient, dict[Hashable, _Queue[Any]]] = (
    weakref.WeakKeyDictionary()
)


async def run_batched(item: I, many: Many[I], conn: BaseDBAsyncClient, *, key: Hashable) -> Any:
    """Queue ``item`` for ``many``'s next transaction on ``conn`` (not in a transaction)
    among the items of the same ``key``; returns its result or raises its exception."""
    queues = _QUEUES.setdefault(conn, {})
    queue = queues.get((many, key))
    if queue is None:
        queue = queues[(many, key)] = _Queue(many)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    queue.pending.append((item, future))
    if queue.task is None:
        queue.task = asyncio.create_task(_run_queue(queue, conn))
    return await future


async def _run_queue(queue: _Queue[I], conn: BaseDBAsyncClient) -> None:
    """Run whatever is waiting, in one transaction, until nothing is."""
    try:
        while queue.pending:
            batch, queue.pending = queue.pending, []
            items = [item for item, _future in batch]
            try:
                outcomes = await _transaction(partial(queue.many, items), conn)
            except Exception:  # rolled back: each alone (Stale, a database error)
                outcomes = [await _alone(queue.many, item, conn) for item in items]
            for (_item, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # the caller went away: its item was done all the same
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
    finally:
        queue.task = None


async def _alone(many: Many[I], item: I, conn: BaseDBAsyncClient) -> Outcome:
    try:
        (outcome,) = await run_flow(partial(many, [item]), conn)
    except Exception as exc:
        return False, exc
    return outcome


# --- SQLite: whole transactions in the connection's thread -------------------------------


async def _in_sqlite_thread(conn: BaseDBAsyncClient, function: Callable[..., T], *args: Any) -> T:
    # Tortoise's lock on its one connection: none of its transactions is open meanwhile.
    async with conn.acquire_connection() as connection:
        # aiosqlite runs each call as a function in its thread: this one is whole
        # transactions. The caller's context goes along (its language, for messages).
        context = contextvars.copy_context()
        return await connection._execute(context.run, function, connection._conn, *args)  # type: ignore[no-any-return]


def _run_sync(db: sqlite3.Connection, make: Make[T], dialect: str) -> T:
    db.execute("BEGIN IMMEDIATE")
    try:
        result = _feed(make(dialect), db)
    except BaseException as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise _translated(exc) from exc
        raise
    db.execute("COMMIT")
    return result


def _translated(exc: sqlite3.Error) -> Exception:
    """sqlite3's errors as Tortoise's, as its own statements raise them."""
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(exc)
    return exc


def _feed(flow: Flow[T], db: sqlite3.Connection) -> T:
    try:
        batch = next(flow)
        while True:
            batch = flow.send([_fetch(db, sql) for sql in batch])
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _fetch(db: sqlite3.Connection, sql: Sql) -> Rows:
    cursor = db.execute(sql.text, tuple(sql.values))
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
