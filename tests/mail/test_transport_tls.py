"""STARTTLS, implicit TLS and AUTH against a real aiosmtpd server with a test CA."""

from __future__ import annotations

import asyncio
import ssl
import warnings
from email.message import EmailMessage

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from engage.mail.transport import PermanentFailure, SmtpTransport
from tests.conftest import make_settings


class _Collect:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(envelope.original_content)
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data == LoginPassword(
        b"desk", b"s3cret-password"
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def ca(tmp_path):
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return server_ctx, ca_file


async def _server(handler, *, implicit_tls: bool, server_ctx: ssl.SSLContext):
    loop = asyncio.get_running_loop()

    def factory():
        # With implicit TLS the whole session is encrypted, but aiosmtpd only counts
        # STARTTLS as TLS for AUTH; it then warns about auth_require_tls=False.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return SMTP(
                handler,
                hostname="relay.test",
                tls_context=None if implicit_tls else server_ctx,
                require_starttls=not implicit_tls,
                auth_required=True,
                auth_require_tls=not implicit_tls,
                authenticator=_authenticator,
                loop=loop,
            )

    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=server_ctx if implicit_tls else None
    )
    return server, server.sockets[0].getsockname()[1]


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alumni@engage.localhost"
    msg["To"] = "x@example.org"
    msg["Subject"] = "tls"
    msg.set_content("over TLS")
    return msg


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_and_auth(tmp_path, ca, security):
    server_ctx, ca_file = ca
    handler = _Collect()
    server, port = await _server(handler, implicit_tls=security == "tls", server_ctx=server_ctx)
    settings = make_settings(
        "sqlite://:memory:",
        tmp_path / "var",
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "security": security,
            "username": "desk",
            "password": "s3cret-password",
            "ca_file": str(ca_file),
        },
    )
    transport = SmtpTransport(settings.smtp)
    try:
        await transport.send(_message(), sender="a@engage.localhost", recipients=["x@example.org"])
    finally:
        await transport.close()
        server.close()
        await server.wait_closed()
    assert len(handler.received) == 1


async def test_wrong_password_is_a_permanent_failure(tmp_path, ca):
    server_ctx, ca_file = ca
    server, port = await _server(_Collect(), implicit_tls=False, server_ctx=server_ctx)
    settings = make_settings(
        "sqlite://:memory:",
        tmp_path / "var",
        smtp={
            "host": "127.0.0.1",
            "port": port,
            "security": "starttls",
            "username": "desk",
            "password": "wrong",
            "ca_file": str(ca_file),
        },
    )
    transport = SmtpTransport(settings.smtp)
    try:
        with pytest.raises(PermanentFailure, match="535"):
            await transport.send(_message(), sender="a@engage.localhost", recipients=["x@x.org"])
    finally:
        await transport.close()
        server.close()
        await server.wait_closed()
