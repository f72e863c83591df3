"""A rendered message as the bytes that go to the relay, assembled directly.

Building an ``EmailMessage`` costs more than sending it (header objects parsed and
folded, parts encoded and flattened). For the worker's send path the renderer hands
this module the header values, the text and HTML bodies and the attachments, and
gets back the same message (``Content-Type: multipart/alternative``, inside
``multipart/mixed`` with attachments; parts in 7bit when plain ASCII with short
lines, else quoted-printable; attachments in base64), with header lines folded by
the ``email`` package only when a value needs it (non-ASCII, or too long)::

    data = message_bytes(
        [("From", "Engage <alumni@engage.example>"), ("To", "Ama <ama@example.org>"), ...],
        text="Dear Ama, ...", html="<!DOCTYPE html>...", attachments=[ics],
    )
"""

from __future__ import annotations

import base64
import binascii
import random
import re
from collections.abc import Sequence
from email.message import MIMEPart
from email.policy import SMTP
from functools import lru_cache
from typing import Protocol

_PRINTABLE = re.compile(r"[\x20-\x7e]*")
#: RFC 5322's recommended line length, as the email package folds to.
_MAX_LINE = 78
_rng = random.SystemRandom()


class WireAttachment(Protocol):
    filename: str
    content_type: str
    data: bytes


def header_line(name: str, value: str) -> bytes:
    """``Name: value`` folded and encoded as the SMTP policy would write it."""
    if len(name) + len(value) + 2 <= _MAX_LINE and _PRINTABLE.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


@lru_cache(maxsize=4096)
def _folded(name: str, value: str) -> bytes:
    # Shared values (From, Subject) come back often: folded once.
    return SMTP.header_factory(name, value).fold(policy=SMTP).encode("ascii")


def _text_part(kind: str, text: str) -> bytes:
    data = text.encode("utf-8")
    lines = data.splitlines()
    body = b"\r\n".join(lines) + b"\r\n"
    if data.isascii() and max(map(len, lines), default=0) <= _MAX_LINE:
        cte = "7bit"
    else:
        cte, body = "quoted-printable", binascii.b2a_qp(body, istext=True)
    head = f'Content-Type: text/{kind}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    return head.encode("ascii") + body


def _content_type(value: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    kind, *rest = value.split(";")
    maintype, _slash, subtype = kind.strip().partition("/")
    params = []
    for item in rest:
        key, _eq, param = item.partition("=")
        if key.strip():
            params.append((key.strip().lower(), param.strip().strip('"')))
    return maintype, subtype, tuple(params)


@lru_cache(maxsize=256)
def _attachment_head(content_type: str, filename: str) -> bytes:
    # The email package writes these headers (parameters, RFC 2231 file names).
    maintype, subtype, params = _content_type(content_type)
    part = MIMEPart(policy=SMTP)
    part.set_content(
        b"",
        maintype=maintype,
        subtype=subtype,
        filename=filename,
        params=dict(params),
        disposition="attachment",
    )
    head, _sep, _body = part.as_bytes(policy=SMTP).partition(b"\r\n\r\n")
    return head + b"\r\n\r\n"


def _attachment_part(attachment: WireAttachment) -> bytes:
    body = base64.encodebytes(attachment.data).replace(b"\n", b"\r\n")
    return _attachment_head(attachment.content_type, attachment.filename) + body


def _boundary(parts: Sequence[bytes]) -> str:
    while True:
        boundary = f"==============={_rng.randrange(10**19):019d}=="
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary


def _multipart(subtype: str, parts: Sequence[bytes]) -> bytes:
    boundary = _boundary(parts)
    # As the email package writes it: the CRLF before a delimiter belongs to the
    # delimiter, so each part keeps its own last line break.
    head = f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n\r\n--{boundary}\r\n'
    between = f"\r\n--{boundary}\r\n".encode("ascii")
    return head.encode("ascii") + between.join(parts) + f"\r\n--{boundary}--\r\n".encode("ascii")


def message_bytes(
    headers: Sequence[tuple[str, str]],
    *,
    text: str,
    html: str,
    attachments: Sequence[WireAttachment] = (),
) -> bytes:
    """The whole message: ``headers`` in order, then the MIME structure."""
    body = _multipart("alternative", [_text_part("plain", text), _text_part("html", html)])
    if attachments:
        body = _multipart("mixed", [body, *(_attachment_part(a) for a in attachments)])
    head = b"".join(header_line(name, value) for name, value in headers)
    return head + b"MIME-Version: 1.0\r\n" + body
