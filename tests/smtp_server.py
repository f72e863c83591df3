"""A real SMTP server (aiosmtpd) on loopback that tests can script.

::

    async def test_retry(smtp_server):
        smtp_server.script = ["451 4.3.0 Try again later", "accept"]
        ...
        assert len(smtp_server.received) == 1

Each entry of ``script`` answers one DATA command, in order; once it is used up
every message is accepted. An entry is ``"accept"``, an SMTP reply such as
``"550 5.1.1 No such user"``, ``"drop"`` (close the connection without a reply), or
``("stall", seconds)`` (wait that long before accepting).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class ScriptedSMTP:
    host: str = "127.0.0.1"
    port: int = 0
    script: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    server: asyncio.AbstractServer | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        action = self.script.pop(0) if self.script else "accept"
        if action == "drop":
            assert server.transport is not None
            server.transport.abort()
            return "421 4.4.2 Connection dropped"
        if isinstance(action, tuple) and action[0] == "stall":
            await asyncio.sleep(action[1])
            action = "accept"
        if action == "accept":
            self.received.append(
                Received(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=envelope.original_content or b"",
                )
            )
            return "250 2.0.0 OK"
        return str(action)

    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]


class _CountingSMTP(SMTP):
    def __init__(self, handler: ScriptedSMTP, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        handler.connections += 1


@pytest.fixture
async def smtp_server() -> AsyncIterator[ScriptedSMTP]:
    handler = ScriptedSMTP()
    loop = asyncio.get_running_loop()
    handler.server = await loop.create_server(
        lambda: _CountingSMTP(handler, hostname="test-smtp", enable_SMTPUTF8=True, loop=loop),
        host="127.0.0.1",
        port=0,
    )
    handler.port = handler.server.sockets[0].getsockname()[1]
    yield handler
    handler.server.close()
    await handler.server.wait_closed()
