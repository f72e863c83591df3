"""Sending a rendered message: the boundary between Engage and an SMTP server.

::

    MailTransport (Protocol)
     ├── SmtpTransport     aiosmtplib, a pool of reused connections (real relays,
     │                     the embedded sink)
     └── MemoryTransport   keeps messages in a list (fast unit tests)

    DeliveryError
     ├── TemporaryFailure  4xx replies, refused or dropped connections, timeouts
     └── PermanentFailure  5xx replies: do not retry

A message is an ``EmailMessage``, or its bytes as they go on the wire (the worker
sends bytes: rendered once per campaign, perhaps DKIM-signed). ``SmtpTransport``
closes a connection after ``smtp.messages_per_connection`` messages and opens a new
one, and with a :class:`ConnectionGate` (``engage.mail.ratelimit.ConnectionSlots``)
leases a slot of the relay's connection limit, shared by every process, for each
connection it opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from typing import Protocol

import aiosmtplib

from engage.settings import SmtpSettings


class DeliveryError(Exception):
    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporaryFailure(DeliveryError):
    """Try again later."""


class PermanentFailure(DeliveryError):
    """The server refused for good (e.g. 550 5.1.1 no such user)."""


class MailTransport(Protocol):
    async def send(
        self, message: EmailMessage | bytes, *, sender: str, recipients: list[str]
    ) -> None:
        """Deliver or raise :class:`TemporaryFailure` / :class:`PermanentFailure`."""
        ...

    async def close(self) -> None: ...


class ConnectionGate(Protocol):
    """Permission to hold a connection to the relay open, shared across processes."""

    #: Seconds after which a lease in use is renewed.
    renew_after: float

    async def open(self) -> str | None:
        """A lease for one more connection, or None when the limit is reached."""
        ...

    async def renew(self, lease: str) -> bool:
        """Keep the lease; False when it was lost."""
        ...

    async def close(self, lease: str) -> None: ...


@dataclass
class MemoryTransport:
    """Keeps what it is given (bytes are parsed, and kept as they came in ``raw``);
    ``fail_with`` makes the next sends raise."""

    sent: list[EmailMessage] = field(default_factory=list)
    fail_with: list[DeliveryError] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def send(
        self, message: EmailMessage | bytes, *, sender: str, recipients: list[str]
    ) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        if isinstance(message, bytes):
            self.raw.append(message)
            parsed = message_from_bytes(message, policy=SMTP)
            assert isinstance(parsed, EmailMessage)
            message = parsed
        self.sent.append(message)

    async def close(self) -> None:
        return None


def classify(exc: Exception) -> DeliveryError:
    """Map an aiosmtplib error to a temporary or permanent failure with the reply."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        code = refusals[0].code if refusals else 550
        text = "; ".join(f"{r.code} {r.message}" for r in refusals)
        kind = PermanentFailure if code >= 500 else TemporaryFailure
        return kind(text or str(exc), code=code)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        kind = PermanentFailure if exc.code >= 500 else TemporaryFailure
        return kind(f"{exc.code} {exc.message}", code=exc.code)
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError, asyncio.TimeoutError)):
        return TemporaryFailure(f"{type(exc).__name__}: {exc}")
    return TemporaryFailure(f"{type(exc).__name__}: {exc}")


@dataclass(eq=False)
class _Connection:
    client: aiosmtplib.SMTP
    #: The slot of the relay's connection limit it holds (with a gate).
    lease: str | None = None
    #: Messages sent on it: closed at smtp.messages_per_connection.
    sent: int = 0
    #: When the lease was last renewed (time.monotonic()).
    renewed: float = 0.0


class SmtpTransport:
    """Up to ``concurrency`` SMTP connections, opened on demand and reused; each
    closed after ``messages_per_connection`` messages. With a ``gate``, a connection
    opens only with a lease from it (waiting at most ``timeout_seconds``)."""

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        host: str | None = None,
        port: int | None = None,
        gate: ConnectionGate | None = None,
    ) -> None:
        self.settings = settings
        self.host = host or settings.host
        self.port = port or settings.port
        self.gate = gate
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._all: set[_Connection] = set()
        #: Connections opened so far (tests and logs).
        self.opened = 0

    def _new_client(self) -> aiosmtplib.SMTP:
        security = self.settings.security
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.settings.timeout_seconds,
            use_tls=security == "tls",
            start_tls=security == "starttls",
            tls_context=self._tls_context() if security != "none" else None,
            username=self.settings.username or None,
            password=self.settings.password or None,
        )

    def _tls_context(self) -> ssl.SSLContext:
        # Certificates are always verified; a private CA is trusted via smtp.ca_file.
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def _new(self, lease: str | None = None) -> _Connection:
        conn = _Connection(self._new_client(), lease=lease, renewed=time.monotonic())
        self._all.add(conn)
        self.opened += 1
        return conn

    async def _checkout(self) -> _Connection:
        deadline = time.monotonic() + self.settings.timeout_seconds
        delay = 0.02
        while True:
            while not self._idle.empty():
                conn = self._idle.get_nowait()
                if conn.client.is_connected and await self._still_leased(conn):
                    return conn
                await self._discard(conn)
            if self.gate is None:
                return self._new()
            try:
                lease = await self.gate.open()
            except Exception as exc:
                raise TemporaryFailure(f"connection slots: {type(exc).__name__}: {exc}") from exc
            if lease is not None:
                return self._new(lease)
            if time.monotonic() > deadline:
                raise TemporaryFailure(
                    "every connection to the relay is in use (smtp.max_connections)"
                )
            # Another lane of this process may give a connection back meanwhile.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _still_leased(self, conn: _Connection) -> bool:
        if self.gate is None or conn.lease is None:
            return True
        if time.monotonic() - conn.renewed < self.gate.renew_after:
            return True
        try:
            kept = await self.gate.renew(conn.lease)
        except Exception:
            kept = False
        if kept:
            conn.renewed = time.monotonic()
        else:
            conn.lease = None  # lost: another process holds the slot now
        return kept

    async def send(
        self, message: EmailMessage | bytes, *, sender: str, recipients: list[str]
    ) -> None:
        async with self._slots:
            conn = await self._checkout()
            client = conn.client
            try:
                if not client.is_connected:
                    await client.connect()
                if isinstance(message, bytes):
                    await _send_bytes(client, message, sender=sender, recipients=recipients)
                else:
                    await client.send_message(message, sender=sender, recipients=recipients)
            except Exception as exc:
                failure = classify(exc)
                if isinstance(exc, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPDataError):
                    # The session is still good after a refused message: reset and reuse.
                    try:
                        await client.rset()
                        await self._checkin(conn)
                    except Exception:
                        await self._discard(conn)
                else:
                    await self._discard(conn)
                raise failure from exc
            conn.sent += 1
            await self._checkin(conn)

    async def _checkin(self, conn: _Connection) -> None:
        cap = self.settings.messages_per_connection
        if cap and conn.sent >= cap:
            # Enough on this connection: say goodbye; the next send opens a new one.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.client.quit(), 2)
            await self._discard(conn)
            return
        self._idle.put_nowait(conn)

    async def _discard(self, conn: _Connection) -> None:
        self._all.discard(conn)
        with contextlib.suppress(Exception):
            conn.client.close()
        if conn.lease is not None and self.gate is not None:
            lease, conn.lease = conn.lease, None
            with contextlib.suppress(Exception):
                await self.gate.close(lease)

    async def close_idle(self) -> None:
        """Close the connections nobody is using (the worker has nothing to send), so
        their slots of the relay's connection limit go to other processes."""
        if self.gate is None:
            return
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                if conn.client.is_connected:
                    await asyncio.wait_for(conn.client.quit(), 2)
            await self._discard(conn)

    async def close(self) -> None:
        for conn in list(self._all):
            with contextlib.suppress(Exception):
                if conn.client.is_connected:
                    await asyncio.wait_for(conn.client.quit(), 2)
            await self._discard(conn)
        self._all.clear()
        while not self._idle.empty():
            self._idle.get_nowait()


async def _send_bytes(
    client: aiosmtplib.SMTP, data: bytes, *, sender: str, recipients: list[str]
) -> None:
    """Send a serialised message with the options aiosmtplib's send_message would use."""
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    options = []
    if not (sender + "".join(recipients)).isascii():
        options.append("SMTPUTF8")
    if client.supports_extension("8BITMIME"):
        options.append("BODY=8BITMIME")
    await client.sendmail(sender, recipients, data, mail_options=options)
