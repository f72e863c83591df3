"""Sending a rendered message: the boundary between Engage and an SMTP server.

::

    MailTransport (Protocol)
     ├── SmtpTransport     aiosmtplib, a pool of reused connections (real relays,
     │                     the embedded sink)
     └── MemoryTransport   keeps messages in a list (fast unit tests)

    DeliveryError
     ├── TemporaryFailure  4xx replies, refused or dropped connections, timeouts
     └── PermanentFailure  5xx replies: do not retry
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
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
    async def send(self, message: EmailMessage, *, sender: str, recipients: list[str]) -> None:
        """Deliver or raise :class:`TemporaryFailure` / :class:`PermanentFailure`."""
        ...

    async def close(self) -> None: ...


@dataclass
class MemoryTransport:
    """Keeps what it is given; ``fail_with`` makes the next sends raise."""

    sent: list[EmailMessage] = field(default_factory=list)
    fail_with: list[DeliveryError] = field(default_factory=list)

    async def send(self, message: EmailMessage, *, sender: str, recipients: list[str]) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
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


class SmtpTransport:
    """Up to ``concurrency`` SMTP connections, opened on demand and reused."""

    def __init__(
        self, settings: SmtpSettings, *, host: str | None = None, port: int | None = None
    ) -> None:
        self.settings = settings
        self.host = host or settings.host
        self.port = port or settings.port
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._all: set[aiosmtplib.SMTP] = set()

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

    async def _checkout(self) -> aiosmtplib.SMTP:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                return client
            self._all.discard(client)
        client = self._new_client()
        self._all.add(client)
        return client

    async def send(self, message: EmailMessage, *, sender: str, recipients: list[str]) -> None:
        async with self._slots:
            client = await self._checkout()
            try:
                if not client.is_connected:
                    await client.connect()
                await client.send_message(message, sender=sender, recipients=recipients)
            except Exception as exc:
                failure = classify(exc)
                if isinstance(exc, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPDataError):
                    # The session is still good after a refused message: reset and reuse.
                    try:
                        await client.rset()
                        self._idle.put_nowait(client)
                    except Exception:
                        await self._discard(client)
                else:
                    await self._discard(client)
                raise failure from exc
            self._idle.put_nowait(client)

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        self._all.discard(client)
        with contextlib.suppress(Exception):
            client.close()

    async def close(self) -> None:
        for client in list(self._all):
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await asyncio.wait_for(client.quit(), 2)
            with contextlib.suppress(Exception):
                client.close()
        self._all.clear()
