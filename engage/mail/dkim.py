"""DKIM signing (RFC 6376) of outgoing mail, with dkimpy, when a key is configured.

The worker signs each message after rendering it, over the bytes it sends: a
``DKIM-Signature`` header (rsa-sha256, relaxed/relaxed canonicalisation) is put in
front. It covers :data:`SIGNED_HEADERS` that the message has (From always; Subject,
Date, Message-ID, the List-Unsubscribe pair of bulk mail...), and the body::

    signer = DkimSigner.from_settings(settings.mail)    # None without mail.dkim_key_file
    data = signer.sign(data) if signer else data

The public key goes in DNS as TXT at ``<selector>._domainkey.<domain>``:
``v=DKIM1; k=rsa; p=<base64 of the DER public key>`` (:func:`dns_record` writes it).
"""

from __future__ import annotations

import base64
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization

from engage.settings import MailSettings

#: Headers signed when present, in this order. From is always there; signing To,
#: Reply-To and the MIME structure too keeps a relay from rewriting them unseen.
SIGNED_HEADERS = (
    "From",
    "To",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
)


class DkimError(Exception):
    """The key cannot be read or used."""


def _header_names(data: bytes) -> set[str]:
    head, _sep, _body = data.partition(b"\r\n\r\n")
    names = set()
    for line in head.split(b"\r\n"):
        if line and line[:1] not in (b" ", b"\t"):
            name, colon, _value = line.partition(b":")
            if colon:
                names.add(name.strip().decode("ascii", "replace").lower())
    return names


class DkimSigner:
    """Signs messages for ``domain`` with ``selector`` and a PEM private key."""

    def __init__(self, *, domain: str, selector: str, private_key: bytes) -> None:
        self.domain = domain
        self.selector = selector
        self._key = private_key
        try:
            serialization.load_pem_private_key(private_key, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimError(f"not a PEM private key without a password: {exc}") from None

    @classmethod
    def from_settings(cls, mail: MailSettings) -> DkimSigner | None:
        if not mail.dkim_key_file:
            return None
        return cls(
            domain=mail.dkim_domain or mail.domain,
            selector=mail.dkim_selector,
            private_key=Path(mail.dkim_key_file).read_bytes(),
        )

    def sign(self, data: bytes) -> bytes:
        """``data`` (a whole message, CRLF line ends) with its DKIM-Signature in front."""
        present = _header_names(data)
        headers = [name.encode() for name in SIGNED_HEADERS if name.lower() in present]
        signature = dkim.sign(
            data,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self._key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
            linesep=b"\r\n",
        )
        return signature + data


def dns_record(private_key: bytes) -> str:
    """The TXT record that publishes the public half of ``private_key``."""
    key = serialization.load_pem_private_key(private_key, password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"
