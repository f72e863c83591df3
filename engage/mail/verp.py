"""Envelope senders that name their message: ``bounces+<token>@<mail.domain>``.

Every message leaves with its own envelope sender (VERP), so a bounce, which goes
back to the envelope sender, says which message failed without anyone parsing the
report's guesswork. The token is derived, never stored (DESIGN.md): the outbox id
enciphered with the secret key (so it reveals nothing, not even how many messages
went out) and an HMAC (so nobody can make one up)::

    sender = envelope_sender(settings, row)        # "bounces+4k2...q7@engage.example"
    read_envelope_token(settings, "bounces+4k2...q7")   # -> row.id, or None if forged

The token is lower-case base32 (``a-z2-7``, 29 characters): a mail server that
folds the local part's case, as some do, keeps it valid, and the whole local part
(37 characters) fits the 64 that RFC 5321 allows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from engage.mail.models import OutboxMessage
from engage.settings import Settings

#: The local part's prefix; the receiver accepts ``bounces+<token>@<mail.domain>``.
PREFIX = "bounces"
#: Between the prefix and the token (Postfix's and Exim's usual recipient delimiter).
DELIMITER = "+"
_BLOCK = 8  # the enciphered id: 64 bits
_MAC = 10  # 80 bits of HMAC-SHA256
_LENGTH = 29  # base32 characters of 18 bytes, unpadded
_ROUNDS = 4
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def _key(settings: Settings, purpose: bytes) -> bytes:
    secret = settings.app.secret_key
    if not secret:
        raise ValueError("app.secret_key is needed to derive envelope senders")
    return hmac.new(secret.encode(), b"engage-verp\x00" + purpose, hashlib.sha256).digest()


def _round(key: bytes, number: int, half: int) -> int:
    digest = hmac.new(key, struct.pack(">BI", number, half), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big")


def _encipher(key: bytes, value: int) -> bytes:
    """A 4-round Feistel network keyed by HMAC: a secret permutation of 64-bit ids."""
    left, right = value >> 32, value & 0xFFFFFFFF
    for number in range(_ROUNDS):
        left, right = right, left ^ _round(key, number, right)
    return struct.pack(">II", left, right)


def _decipher(key: bytes, block: bytes) -> int:
    left, right = struct.unpack(">II", block)
    for number in reversed(range(_ROUNDS)):
        left, right = right ^ _round(key, number, left), left
    return (left << 32) | right


def _mac(key: bytes, block: bytes) -> bytes:
    return hmac.new(key, b"mac\x00" + block, hashlib.sha256).digest()[:_MAC]


def envelope_token(settings: Settings, message_id: int) -> str:
    """The token for outbox row ``message_id`` (29 characters of ``a-z2-7``)."""
    if not 0 < message_id < 2**64:
        raise ValueError(f"not an outbox id: {message_id!r}")
    block = _encipher(_key(settings, b"id"), message_id)
    raw = block + _mac(_key(settings, b"mac"), block)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def envelope_sender(settings: Settings, row: OutboxMessage) -> str:
    """``bounces+<token>@<mail.domain>``: the MAIL FROM of ``row``'s message."""
    return f"{PREFIX}{DELIMITER}{envelope_token(settings, row.id)}@{settings.mail.domain}"


def read_envelope_token(settings: Settings, local_part: str) -> int | None:
    """The outbox id a token names; None when it is forged, damaged or not one.

    Takes the token, the local part (``bounces+<token>``) or the whole address, in
    any case. Never raises on bad input.
    """
    text = (local_part or "").strip().strip("<>").lower()
    text = text.rpartition("@")[0] if "@" in text else text
    prefix = f"{PREFIX}{DELIMITER}"
    if text.startswith(prefix):
        text = text[len(prefix) :]
    if len(text) != _LENGTH or not set(text) <= _ALPHABET:
        return None
    try:
        raw = base64.b32decode(text.upper() + "===")
    except binascii.Error:
        return None
    block, mac = raw[:_BLOCK], raw[_BLOCK:]
    if not hmac.compare_digest(mac, _mac(_key(settings, b"mac"), block)):
        return None
    message_id = _decipher(_key(settings, b"id"), block)
    return message_id if message_id > 0 else None
