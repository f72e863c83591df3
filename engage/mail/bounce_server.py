"""The bounce receiver: an SMTP server for what comes back to ``mail.domain``.

Every message leaves with the envelope sender ``bounces+<token>@<mail.domain>``
(:mod:`engage.mail.verp`) and, when bulk, a ``mailto:unsubscribe+<token>@...`` in
its List-Unsubscribe header. The mail server for the domain passes those addresses
here (a transport map, say); this server takes:

- ``bounces+<token>@``: a bounce (RFC 3464 DSN, or a server's own text) or a
  complaint (RFC 5965 ARF) about the message the token names;
- ``bounces@``: the same, the message found from the report's copy of it (our
  envelope sender or Message-ID): where feedback loops send complaints;
- ``unsubscribe+<token>@``: an unsubscribe by mail (RFC 8058's mailto form).

Anything else is refused at RCPT. A forged or unknown token, mail that is no
bounce (an out-of-office reply) and garbage are accepted and dropped: never a
crash, never a bounce of a bounce. A database error answers 451 so the sending
server tries again later.

Runs inside each worker when ``mail.bounce_port`` is set, or alone::

    server = await start_bounce_server(settings)       # mail.bounce_host/port
    ... server.port ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from enum import StrEnum

from aiosmtpd.smtp import SMTP, Envelope, Session

from engage.mail.bounces import BounceReport, record_bounce
from engage.mail.dsn import Failure, ParsedReport, parse_report
from engage.mail.models import OutboxMessage
from engage.mail.suppression import address_key, unsubscribe_by_token
from engage.mail.verp import DELIMITER, PREFIX, read_envelope_token
from engage.settings import Settings

log = logging.getLogger("engage.mail.bounces")

#: Reports larger than this are refused (a DSN with the whole original attached
#: stays far below it).
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
UNSUBSCRIBE = "unsubscribe"


class Outcome(StrEnum):
    """What became of one message to one of our addresses (logged, and tested)."""

    RECORDED = "recorded"
    UNSUBSCRIBED = "unsubscribed"
    #: The token is not one of ours (made up, damaged, or from another secret).
    FORGED = "forged"
    #: A genuine token, but its message is gone, or no message could be found.
    UNKNOWN = "unknown"
    #: Not a bounce or complaint (an auto-reply, a delay warning), or garbage.
    NOT_A_REPORT = "not_a_report"
    #: Already counted (the same report twice).
    DUPLICATE = "duplicate"


class _Kind(StrEnum):
    BOUNCE = "bounce"
    UNSUBSCRIBE = "unsubscribe"


def _route(settings: Settings, address: str) -> tuple[_Kind, str] | None:
    """(what the address is for, its token) or None when it is not ours."""
    local, at, domain = (address or "").strip().strip("<>").rpartition("@")
    if not at or domain.lower() != settings.mail.domain.lower():
        return None
    name, plus, token = local.partition(DELIMITER)
    name = name.lower()
    if name == PREFIX:
        return _Kind.BOUNCE, token
    if name == UNSUBSCRIBE and plus and token:
        return _Kind.UNSUBSCRIBE, token
    return None


async def handle_message(settings: Settings, recipient: str, raw: bytes) -> Outcome:
    """Act on ``raw`` as received for ``recipient`` (one of the addresses above).

    Database errors propagate (the server answers 451); nothing else does.
    """
    route = _route(settings, recipient)
    if route is None:
        return Outcome.UNKNOWN
    kind, token = route
    if kind is _Kind.UNSUBSCRIBE:
        done = await unsubscribe_by_token(settings, token)
        return Outcome.UNSUBSCRIBED if done is not None else Outcome.FORGED
    message_id = read_envelope_token(settings, token) if token else None
    if token and message_id is None:
        return Outcome.FORGED
    report = parse_report(raw)
    if not report.failures:
        return Outcome.NOT_A_REPORT
    if not token:
        message_id = await _message_named(settings, report)
    row = await OutboxMessage.get_or_none(id=message_id) if message_id else None
    if row is None:
        return Outcome.UNKNOWN
    failure = _failure_for(report, row.to_address)
    recorded = await record_bounce(
        BounceReport(
            kind=failure.kind,
            message_id=row.id,
            status=failure.status,
            diagnostic=failure.diagnostic,
            reporter=report.reporter,
            address=failure.address,
        ),
        mail=settings.mail,
    )
    return Outcome.RECORDED if recorded is not None else Outcome.DUPLICATE


async def _message_named(settings: Settings, report: ParsedReport) -> int | None:
    """The message a report without a token is about: our envelope sender in it,
    else a Message-ID of ours."""
    for token in report.envelope_tokens:
        if (found := read_envelope_token(settings, token)) is not None:
            return found
    domain = settings.mail.domain.lower()
    keys = [key for key, at in report.message_ids if at == domain]
    if not keys:
        return None
    row = await OutboxMessage.filter(message_key__in=keys[:10]).only("id").first()
    return row.id if row is not None else None


def _failure_for(report: ParsedReport, address: str) -> Failure:
    """The report's line about ``address`` (the one we sent to), else its first."""
    key = address_key(address)
    for failure in report.failures:
        if address_key(failure.address) == key:
            return failure
    return report.failures[0]


class BounceHandler:
    """aiosmtpd handler: refuses addresses that are not ours, acts on the rest."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: Outcomes so far, by kind (for logs and tests).
        self.outcomes: dict[Outcome, int] = {}

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if _route(self.settings, address) is None:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        for recipient in dict.fromkeys(envelope.rcpt_tos):
            try:
                outcome = await handle_message(self.settings, recipient, raw)
            except Exception:
                log.exception("cannot record a bounce; the sender will try again")
                return "451 4.3.0 Cannot take this report now, try again later"
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            log.info("bounce receiver: %s", outcome, extra={"outcome": str(outcome)})
        return "250 2.0.0 OK"


@dataclass
class BounceServer:
    server: asyncio.AbstractServer
    handler: BounceHandler
    host: str
    port: int

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_bounce_server(
    settings: Settings, *, host: str | None = None, port: int | None = None
) -> BounceServer:
    """Listen on ``host:port`` (default mail.bounce_host and mail.bounce_port; port 0
    picks a free one). Several processes on one host may share the port (Linux
    SO_REUSEPORT): each worker runs one."""
    loop = asyncio.get_running_loop()
    handler = BounceHandler(settings)
    bind_host = host or settings.mail.bounce_host
    bind_port = settings.mail.bounce_port if port is None else port
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname=settings.mail.domain,
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            ident="Engage bounce receiver",
            loop=loop,
        ),
        host=bind_host,
        port=bind_port,
        reuse_port=hasattr(socket, "SO_REUSEPORT") and bind_port != 0,
    )
    bound = server.sockets[0].getsockname()[1]
    log.info("bounce receiver listening", extra={"host": bind_host, "port": bound})
    return BounceServer(server=server, handler=handler, host=bind_host, port=bound)
