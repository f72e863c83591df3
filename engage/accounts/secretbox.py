"""Small secrets kept in the database, encrypted with a key derived from the app secret.

AES-256-GCM; the key is HKDF-SHA256 of ``app.secret_key`` bound to a purpose, so
the key that protects TOTP secrets protects nothing else. The row the value belongs
to is authenticated too (``context``): a sealed value copied onto another row does
not open.

Usage::

    sealed = seal(secret_key, "totp", "JBSWY3DPEHPK3PXP", context=f"user:{user.id}")
    plain = unseal(secret_key, "totp", sealed, context=f"user:{user.id}")

Changing ``app.secret_key`` makes every sealed value unreadable (:class:`SealedValueError`):
people then enrol their authenticator again (their recovery codes still work, being
stored as hashes, not sealed).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: The format tag; a new scheme gets a new tag and old values stay readable.
_VERSION = "v1"
_NONCE_BYTES = 12


class SealedValueError(Exception):
    """A sealed value is malformed, was made with another key, or was tampered with."""


@functools.lru_cache(maxsize=16)
def _key(secret_key: str, purpose: str) -> bytes:
    if not secret_key:
        raise SealedValueError("no app.secret_key to derive an encryption key from")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"engage-secretbox",
        info=f"engage/secretbox/{_VERSION}/{purpose}".encode(),
    ).derive(secret_key.encode())


def _aad(purpose: str, context: str) -> bytes:
    return f"{purpose}\x00{context}".encode()


def seal(secret_key: str, purpose: str, plaintext: str, *, context: str) -> str:
    """``plaintext`` encrypted and authenticated: ``v1.<base64url(nonce | ciphertext)>``."""
    nonce = os.urandom(_NONCE_BYTES)
    box = AESGCM(_key(secret_key, purpose))
    sealed = box.encrypt(nonce, plaintext.encode(), _aad(purpose, context))
    return f"{_VERSION}." + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(secret_key: str, purpose: str, sealed: str, *, context: str) -> str:
    """The plaintext of a value made by :func:`seal` (raises :class:`SealedValueError`)."""
    version, _sep, body = (sealed or "").partition(".")
    if version != _VERSION or not body:
        raise SealedValueError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise SealedValueError("not a sealed value") from None
    if len(raw) <= _NONCE_BYTES:
        raise SealedValueError("not a sealed value")
    box = AESGCM(_key(secret_key, purpose))
    try:
        plain = box.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(purpose, context))
    except InvalidTag:
        raise SealedValueError("sealed with another key, for another row, or altered") from None
    return plain.decode()
