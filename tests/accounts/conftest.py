"""Fixtures for the account flows: deliver the outbox to the real aiosmtpd server and
find the links in what arrived."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest

from engage.clock import utcnow

#: What the registration form asks besides the address and password (a profile).
PROFILE = {
    "given_name": "Amani",
    "family_name": "Wanjiru",
    "country": "KE",
    "service": "army",
    "accepts_invitations": "on",
    "accepts_newsletter": "on",
}

LINK = re.compile(r"https?://[^\s\"<>]+/(?:verify|password/reset|invite)/[A-Za-z0-9._-]+")


class Mailbox:
    """What the test SMTP server received, delivered by a real worker on demand."""

    def __init__(self, worker, clock, smtp_server) -> None:
        self.worker = worker
        self.clock = clock
        self.server = smtp_server

    async def deliver(self) -> int:
        # The worker fixture runs on a fake clock; rows are queued at the real time
        # (or a little later, where a test moves the app's clock on).
        self.clock.now = utcnow() + timedelta(hours=1)
        return await self.worker.run_until_empty()

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        found = self.server.messages()
        if to is not None:
            found = [m for m in found if to.lower() in str(m["To"]).lower()]
        return found

    def last(self, to: str) -> EmailMessage:
        found = self.messages(to)
        assert found, f"no email to {to}; got {[str(m['To']) for m in self.messages()]}"
        return found[-1]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()


def link_in(message: EmailMessage) -> str:
    """The one token link of ``message``, as a path for the test client."""
    links = set(LINK.findall(text_of(message)))
    assert len(links) == 1, links
    return "/" + links.pop().split("/", 3)[3]


@pytest.fixture
async def mailbox(app, worker, clock, smtp_server) -> Mailbox:
    return Mailbox(worker, clock, smtp_server)


@pytest.fixture
def csrf(settings):
    """Give an anonymous ``client`` a CSRF cookie and header (as a browser's form would)."""
    from engage.web.identity import csrf_cookie_name

    def give(client: httpx.AsyncClient, token: str = "c" * 43) -> str:
        client.cookies.set(csrf_cookie_name(settings), token)
        client.headers["X-CSRF-Token"] = token
        return token

    return give
