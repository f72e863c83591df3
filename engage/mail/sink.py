"""The embedded mail sink: a real SMTP server on loopback that keeps every message.

With ``smtp.host = "embedded"``, ``engage serve`` starts it next to the worker, so
a fresh install sends every email across real SMTP; admins read them at
``/admin/mailbox``. Messages are stored in a Maildir under ``var/mailbox``.

Usage::

    sink = await start_sink(Path("var/mailbox"), port=0)   # 0: any free port
    ... sink.port ...
    await sink.stop()
"""

from __future__ import annotations

import asyncio
import mailbox
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildirHandler:
    """aiosmtpd handler writing each message, with its envelope, to a Maildir."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(str(path), create=True)
        for sub in ("tmp", "new", "cur"):  # a folder made by hand may lack these
            (path / sub).mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        prefix = (
            f"Return-Path: <{envelope.mail_from}>\r\n"
            f"X-Engage-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        # The write is small and local; a thread keeps the loop free all the same.
        await asyncio.to_thread(self.maildir.add, prefix + content)
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class Sink:
    server: asyncio.AbstractServer
    port: int
    path: Path

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def start_sink(path: Path, *, host: str = "127.0.0.1", port: int = 0) -> Sink:
    loop = asyncio.get_running_loop()
    handler = MaildirHandler(path)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="engage-sink", enable_SMTPUTF8=True, loop=loop),
        host=host,
        port=port,
    )
    bound = server.sockets[0].getsockname()[1]
    return Sink(server=server, port=bound, path=path)


@dataclass(frozen=True)
class StoredMessage:
    key: str
    subject: str
    sender: str
    to: str
    date: datetime | None
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else None

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return [
            {"filename": p.get_filename(), "content_type": p.get_content_type()}
            for p in self.message.iter_attachments()
        ]


def _parse(key: str, raw: bytes) -> StoredMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    try:
        date = parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else None
    except (TypeError, ValueError):
        date = None
    return StoredMessage(
        key=key,
        subject=str(msg["Subject"] or ""),
        sender=str(msg["From"] or ""),
        to=str(msg["To"] or ""),
        date=date,
        message=msg,
    )


def read_mailbox(path: Path, *, limit: int = 200) -> list[StoredMessage]:
    """The newest ``limit`` messages, newest first."""
    if not path.exists():
        return []
    box = mailbox.Maildir(str(path), create=False)
    found = []
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        found.append(_parse(key, raw))
    epoch = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda m: (m.date or epoch, m.key), reverse=True)
    return found[:limit]


def read_message(path: Path, key: str) -> StoredMessage | None:
    if not path.exists() or "/" in key or key.startswith("."):
        return None
    box = mailbox.Maildir(str(path), create=False)
    try:
        raw = box.get_bytes(key)
    except KeyError:
        return None
    return _parse(key, raw)
