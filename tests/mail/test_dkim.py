"""DKIM: the worker signs what it sends when a key is configured; dkimpy's own verify,
with the public key served by a DNS stub, accepts the signature, and refuses it once
a signed header or the body is changed."""

from __future__ import annotations

import uuid
from email import message_from_bytes, policy

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engage.mail.dkim import DkimError, DkimSigner, dns_record
from engage.mail.models import Category, Topic
from engage.mail.outbox import enqueue
from engage.settings import SettingsError
from engage.worker.runner import Worker
from tests.conftest import make_settings

SELECTOR = "engage2026"
DOMAIN = "engage.localhost"


@pytest.fixture(scope="module")
def private_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def dns_stub(private_key: bytes):
    """dkimpy's dnsfunc: the TXT record at <selector>._domainkey.<domain>, only there."""
    record = dns_record(private_key).encode()
    asked = []

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


def _tags(data: bytes) -> dict[str, str]:
    msg = message_from_bytes(data, policy=policy.SMTP)
    value = "".join(str(msg["DKIM-Signature"]).split())
    return dict(item.split("=", 1) for item in value.split(";") if item)


@pytest.fixture
def dkim_settings(db_url, tmp_path, private_key, smtp_server):
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(private_key)
    return make_settings(
        db_url,
        tmp_path / "var",
        smtp={"host": "127.0.0.1", "port": smtp_server.port, "timeout_seconds": 5.0},
        mail={"dkim_key_file": str(key_file), "dkim_selector": SELECTOR, "domain": DOMAIN},
    )


async def test_bulk_mail_through_the_worker_carries_a_signature_that_verifies(
    dkim_settings, db, smtp_server, private_key
):
    from engage.mail.transport import SmtpTransport

    await enqueue(
        "test_message",
        to="ama@example.org",
        to_name="Ama Mensah",
        category=Category.BULK,
        topic=Topic.NEWSLETTER,
        campaign="newsletter:1",
        dedupe_key=f"dkim:{uuid.uuid4().hex}",
        context={"note": "Signed, sealed, delivered."},
    )
    transport = SmtpTransport(dkim_settings.smtp)
    try:
        assert await Worker(dkim_settings, transport, owner="w").run_until_empty() == 1
    finally:
        await transport.close()

    (received,) = smtp_server.received
    lookup = dns_stub(private_key)
    assert dkim.verify(received.data, dnsfunc=lookup)
    assert lookup.asked == [f"{SELECTOR}._domainkey.{DOMAIN}.".encode()]
    tags = _tags(received.data)
    assert tags["d"] == DOMAIN and tags["s"] == SELECTOR and tags["a"] == "rsa-sha256"
    assert tags["c"] == "relaxed/relaxed"
    signed = tags["h"].lower().split(":")
    for name in ("from", "subject", "date", "message-id"):
        assert name in signed
    # Bulk mail: the unsubscribe headers are signed too, so nobody can swap them.
    assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed


async def test_a_changed_header_or_body_fails_verification(dkim_settings, db, private_key):
    signer = DkimSigner.from_settings(dkim_settings.mail)
    assert signer is not None
    data = signer.sign(
        b"From: Engage <alumni@engage.localhost>\r\nTo: ama@example.org\r\n"
        b"Subject: Invitation\r\nDate: Sun, 29 Nov 2026 18:30:00 +0000\r\n"
        b"Message-ID: <x@engage.localhost>\r\n\r\nCome to the reception.\r\n"
    )
    lookup = dns_stub(private_key)
    assert dkim.verify(data, dnsfunc=lookup)
    # Transactional mail has no List-Unsubscribe: only the headers present are signed.
    assert "list-unsubscribe" not in _tags(data)["h"].lower()

    assert not dkim.verify(
        data.replace(b"Subject: Invitation", b"Subject: Invoice"), dnsfunc=lookup
    )
    assert not dkim.verify(data.replace(b"reception", b"party"), dnsfunc=lookup)
    # Relaxed canonicalisation: a relay re-spacing a header does not break it.
    assert dkim.verify(
        data.replace(b"Subject: Invitation", b"Subject:  Invitation"), dnsfunc=lookup
    )


async def test_no_key_no_signature(settings, db):
    assert DkimSigner.from_settings(settings.mail) is None
    assert Worker(settings, transport=None).signer is None  # type: ignore[arg-type]


def test_the_key_and_selector_are_checked_at_start_up(tmp_path, private_key):
    with pytest.raises(SettingsError, match=r"mail\.dkim_key_file"):
        make_settings("sqlite://x.db", tmp_path, mail={"dkim_key_file": str(tmp_path / "no")})
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(private_key)
    with pytest.raises(SettingsError, match=r"mail\.dkim_selector"):
        make_settings("sqlite://x.db", tmp_path, mail={"dkim_key_file": str(key_file)})
    with pytest.raises(DkimError):
        DkimSigner(domain=DOMAIN, selector=SELECTOR, private_key=b"not a key")
