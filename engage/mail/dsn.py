"""Reading what comes back: delivery status notifications and complaint reports.

Three shapes, tried in this order:

- a DSN (RFC 3464): ``multipart/report; report-type=delivery-status`` with a
  ``message/delivery-status`` part, one field block per recipient (Action, Status,
  Diagnostic-Code). Postfix, Exchange, Gmail and most modern servers send these.
- a complaint (ARF, RFC 5965): ``multipart/report; report-type=feedback-report``
  with a ``message/feedback-report`` part (Feedback-Type: abuse), sent by mailbox
  providers' feedback loops when someone presses "this is spam".
- anything else that looks like a bounce (from MAILER-DAEMON, "Undeliverable: ...",
  Exim's ``X-Failed-Recipients``): the SMTP reply or the enhanced status code is
  looked for in the human-readable text, with a few well-known phrases as a last
  resort. Mail that does not look like a bounce (an out-of-office reply) yields
  nothing.

Pure functions, no database::

    report = parse_report(raw_bytes)      # never raises: garbage gives an empty report
    for failure in report.failures: failure.kind, failure.status, failure.diagnostic
    report.envelope_senders, report.message_ids     # what points at the original

:func:`classify` decides hard or soft from a status code, an SMTP reply or words.
"""

from __future__ import annotations

import binascii
import email
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message

from engage.mail.models import BounceKind

#: How much of a report's text is searched (a DSN's own words come first).
_TEXT_LIMIT = 20_000
_DIAGNOSTIC_LIMIT = 1000

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY = re.compile(r"(?<![\d.\w])([245]\d\d)(?:[ -]|$)")
#: A reply code at the start of a line ("550 No such user"), when no enhanced code is.
_REPLY_LINE = re.compile(r"^[\s'\"(<]*[45][0-5]\d[ -]+\S", re.MULTILINE)
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_VERP = re.compile(r"bounces\+([a-z2-7]{29})@[\w.-]+", re.IGNORECASE)
_OUR_MESSAGE_ID = re.compile(r"<([0-9a-f]{32})@([^>\s]+)>", re.IGNORECASE)

#: Where a bounce's own words end and the returned message begins.
_ORIGINAL_MARKERS = (
    "------ this is a copy of the message",
    "----- original message -----",
    "--- below this line is a copy of the message",
    "----- the header of the original message is following. -----",
    "original message headers:",
)
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery (?:system|subsystem)", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|returning message|delivery (?:status notification"
    r" \(failure\)|failure|failed|has failed|problem)|mail delivery failed|failure notice"
    r"|non[- ]?delivery|could not be delivered|nicht zustellbar|non remis",
    re.I,
)
_HARD_WORDS = re.compile(
    r"user unknown|unknown user|no such (?:user|recipient|mailbox|address)|does not exist"
    r"|doesn't exist|not exist|recipient not found|mailbox not found|address not found"
    r"|invalid recipient|unknown recipient|addressee unknown|account (?:has been )?disabled"
    r"|mailbox unavailable|unrouteable address|couldn't be found|could not be found"
    r"|recipient address rejected|host or domain name not found|domain not found"
    r"|cannot be reached|not a valid mailbox|no mailbox here",
    re.I,
)
_SOFT_WORDS = re.compile(
    r"mailbox (?:is )?full|over quota|quota exceeded|exceeded (?:the )?storage|out of storage"
    r"|insufficient (?:system )?storage|retry timeout exceeded|delivery time expired"
    r"|message expired|temporar|try again later|greylist|too many connections|rate limit"
    r"|blocked|blacklist|blocklist|spam|policy",
    re.I,
)
#: Enhanced codes about the sender or the session, not the recipient's address.
_NOT_RECIPIENT = {("1", "7"), ("1", "8"), ("7", "8"), ("7", "9"), ("7", "11"), ("7", "13")}
#: 5.x.x codes that still leave the address good: counted as soft.
_SOFT_PERMANENT = {("2", "2"), ("2", "3"), ("2", "4"), ("4", "6"), ("4", "7"), ("3", "4")}
#: SMTP replies without an enhanced code, about the session rather than the address.
_SESSION_REPLIES = {500, 501, 502, 503, 504, 530, 534, 535, 538}
_HARD_REPLIES = {550, 551, 553, 521, 556}


@dataclass(frozen=True)
class Failure:
    """One recipient the report says failed."""

    address: str
    kind: BounceKind
    #: The RFC 3463 code ("5.1.1"), or the SMTP reply code, or "" when neither is known.
    status: str = ""
    diagnostic: str = ""


@dataclass(frozen=True)
class ParsedReport:
    #: "dsn", "arf", "text" (a bounce read by its words) or "none" (not a report).
    format: str = "none"
    failures: tuple[Failure, ...] = ()
    #: The reporting server ("mx.example.org"), or the report's sender.
    reporter: str = ""
    #: VERP tokens (``bounces+<token>@...``) found anywhere in the report.
    envelope_tokens: tuple[str, ...] = ()
    #: (message key, domain) of Message-IDs shaped like ours, found anywhere.
    message_ids: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def parse_report(raw: bytes) -> ParsedReport:
    """Everything a report says about failed recipients. Never raises."""
    try:
        return _parse(raw)
    except Exception:
        # Garbage in (a parser crash, a recursion bomb): nothing out.
        return ParsedReport()


def classify(
    status: str = "", diagnostic: str = "", *, code: int | None = None
) -> BounceKind | None:
    """Hard, soft, or None (not about the recipient's address: a session or sender
    problem, or a success).

    The enhanced status code decides when there is one (``status``, else found in
    ``diagnostic``); then the SMTP reply code (``code``, else found in ``diagnostic``);
    then words ("user unknown" is hard, "mailbox full" soft)::

        classify("5.1.1")                           # HARD
        classify("5.2.2")                           # SOFT (mailbox full: the address is good)
        classify(code=550, diagnostic="550 No such user")   # HARD
        classify(code=535, diagnostic="535 Authentication failed")   # None
    """
    match = _ENHANCED.search(status or "") or _ENHANCED.search(diagnostic or "")
    if code is None:
        reply = _REPLY.search(diagnostic or "")
        code = int(reply.group(1)) if reply else None
    if match:
        klass, subject, detail = match.groups()
        if klass == "2":
            return None
        if klass == "4":
            return BounceKind.SOFT
        if (subject, detail) in _NOT_RECIPIENT or subject == "5" or code in _SESSION_REPLIES:
            return None
        if (subject, detail) in _SOFT_PERMANENT or subject in ("3", "6", "7"):
            return BounceKind.SOFT
        if subject == "4" and detail not in ("1", "4"):  # routing trouble, not "no such domain"
            return BounceKind.SOFT
        if subject == "0" and _SOFT_WORDS.search(diagnostic or ""):
            return BounceKind.SOFT
        return BounceKind.HARD
    if code is not None and 400 <= code < 600:
        if code < 500:
            return BounceKind.SOFT
        if code in _SESSION_REPLIES:
            return None
        if code == 552 or _SOFT_WORDS.search(diagnostic or ""):
            return BounceKind.SOFT
        return BounceKind.HARD
    if _SOFT_WORDS.search(diagnostic or ""):
        return BounceKind.SOFT
    if _HARD_WORDS.search(diagnostic or ""):
        return BounceKind.HARD
    return None


def enhanced_status(text: str) -> str:
    """The first RFC 3463 status code in ``text`` ("5.1.1"), or ""."""
    found = _ENHANCED.search(text or "")
    return ".".join(found.groups()) if found else ""


# --- Parsing --------------------------------------------------------------------------


def _parse(raw: bytes) -> ParsedReport:
    msg = email.message_from_bytes(raw or b"")
    text = raw.decode("latin-1", errors="replace") if raw else ""
    tokens = tuple(dict.fromkeys(t.lower() for t in _VERP.findall(text)))
    ids = tuple(dict.fromkeys((k.lower(), d.lower()) for k, d in _OUR_MESSAGE_ID.findall(text)))
    common = {"envelope_tokens": tokens, "message_ids": ids}
    parts = list(msg.walk())
    for part in parts:
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            return ParsedReport(format="dsn", **_from_dsn(part), **common)  # type: ignore[arg-type]
    for part in parts:
        if part.get_content_type() == "message/feedback-report":
            return ParsedReport(format="arf", **_from_arf(part, msg), **common)  # type: ignore[arg-type]
    if _looks_like_bounce(msg):
        failures = _from_text(msg)
        if failures:
            reporter = _sender_domain(msg)
            return ParsedReport(format="text", failures=failures, reporter=reporter, **common)
    return ParsedReport(**common)  # type: ignore[arg-type]


def _from_dsn(part: Message) -> dict[str, object]:
    blocks = _field_blocks(part)
    head = blocks[0] if blocks else {}
    reporter = _after_type(head.get("reporting-mta", ""))
    failures = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        recipient = block.get("final-recipient") or block.get("original-recipient") or ""
        if not recipient:
            continue
        action = block.get("action", "").strip().lower()
        status = block.get("status", "")
        diagnostic = _after_type(block.get("diagnostic-code", ""))
        if action and action != "failed":
            continue  # delayed, delivered, relayed, expanded: not (yet) a bounce
        enhanced = _ENHANCED.search(status)
        if not action and not (enhanced and enhanced.group(1) == "5"):
            continue  # no Action field: only an explicit permanent status counts
        kind = classify(status, diagnostic)
        if kind is None:
            continue
        found = enhanced or _ENHANCED.search(diagnostic)
        failures.append(
            Failure(
                address=_after_type(recipient).strip("<> "),
                kind=kind,
                status=".".join(found.groups()) if found else _reply_code(diagnostic),
                diagnostic=(diagnostic or status)[:_DIAGNOSTIC_LIMIT],
            )
        )
    return {"failures": tuple(failures), "reporter": reporter}


def _from_arf(part: Message, msg: Message) -> dict[str, object]:
    blocks = _field_blocks(part)
    fields: dict[str, str] = {}
    for block in blocks:
        for key, value in block.items():
            fields.setdefault(key, value)
    feedback = fields.get("feedback-type", "").strip().lower()
    reporter = (
        _after_type(fields.get("reporting-mta", ""))
        or fields.get("user-agent", "")
        or _sender_domain(msg)
    )
    if feedback not in ("abuse", "fraud"):
        return {"failures": (), "reporter": reporter}
    detail = f"Feedback-Type: {feedback}"
    if fields.get("user-agent"):
        detail += f" (User-Agent: {fields['user-agent']})"
    recipient = fields.get("original-rcpt-to", "").strip("<> ")
    failure = Failure(address=recipient, kind=BounceKind.COMPLAINT, diagnostic=detail)
    return {"failures": (failure,), "reporter": reporter[:200]}


def _from_text(msg: Message) -> tuple[Failure, ...]:
    text = _human_text(msg)
    kind, diagnostic = None, ""
    code = _ENHANCED.search(text) or _REPLY_LINE.search(text)
    if code:
        diagnostic = _lines_at(text, code.start(), paragraph=True)
        kind = classify(diagnostic=diagnostic)
    if kind is None:
        # No code anywhere: the words of the notice ("retry timeout exceeded").
        words = _SOFT_WORDS.search(text) or _HARD_WORDS.search(text)
        if words:
            diagnostic = _lines_at(text, words.start(), paragraph=False)
            kind = classify(diagnostic=diagnostic)
    if kind is None:
        return ()
    found = _ENHANCED.search(diagnostic)
    status = ".".join(found.groups()) if found else _reply_code(diagnostic)
    recipients = [a.strip() for a in str(msg.get("X-Failed-Recipients", "")).split(",")]
    recipients = [a for a in recipients if "@" in a] or _ADDRESS.findall(text)[:1] or [""]
    return tuple(
        Failure(address=a, kind=kind, status=status, diagnostic=diagnostic[:_DIAGNOSTIC_LIMIT])
        for a in dict.fromkeys(recipients)
    )


def _lines_at(text: str, index: int, *, paragraph: bool) -> str:
    """The line holding ``index`` (and, with ``paragraph``, the lines after it up to a
    blank one), whitespace folded."""
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n\n" if paragraph else "\n", index)
    return " ".join(text[start : end if end != -1 else None].split())


def _looks_like_bounce(msg: Message) -> bool:
    if msg.get("X-Failed-Recipients"):
        return True
    sender = str(msg.get("From", ""))
    subject = str(msg.get("Subject", ""))
    return bool(_BOUNCE_SENDER.search(sender) or _BOUNCE_SUBJECT.search(subject))


def _human_text(msg: Message) -> str:
    """The notice's own words: its first text part, cut before the returned message."""
    for part in msg.walk():
        if part.get_content_maintype() == "message":
            break  # the returned original: not the notice
        if part.get_content_type() in ("text/plain", "text/html"):
            text = _decoded(part)
            if part.get_content_type() == "text/html":
                text = re.sub(r"<[^>]*>", " ", text)
            lowered = text.lower()
            cut = min((i for m in _ORIGINAL_MARKERS if (i := lowered.find(m)) != -1), default=-1)
            return (text[:cut] if cut != -1 else text)[:_TEXT_LIMIT]
    return ""


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a report part (per-message first, then per-recipient)."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        # Parsed as fields before decoding: take the body back and decode it first.
        _head, _blank, body = part.as_string().partition("\n\n")
        return _text_blocks(_transfer_decoded(body, encoding))
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = []
        for item in payload:
            if not isinstance(item, Message):
                continue
            blocks.append({k.lower(): _unfold(str(v)) for k, v in item.items()})
            rest = item.get_payload()
            # A subtype the parser does not split (global-delivery-status) keeps the
            # later blocks in the first one's body.
            if isinstance(rest, str) and rest.strip():
                blocks.extend(_text_blocks(rest))
        return [b for b in blocks if b]
    data = part.get_payload(decode=True)
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(payload)
    return _text_blocks(text)


def _transfer_decoded(body: str, encoding: str) -> str:
    data = body.encode("ascii", errors="ignore")
    try:
        if encoding == "base64":
            decoded = binascii.a2b_base64(re.sub(rb"[^A-Za-z0-9+/=]", b"", data))
        else:
            decoded = quopri.decodestring(data)
    except (binascii.Error, ValueError):
        return ""
    return decoded.decode("utf-8", errors="replace")


def _text_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += " " + line.strip()
        elif ":" in line:
            name, _colon, value = line.partition(":")
            last = name.strip().lower()
            current[last] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _unfold(value: str) -> str:
    return " ".join(value.split())


def _after_type(value: str) -> str:
    """ "rfc822; a@b" -> "a@b", "dns; mx.example.org" -> "mx.example.org"."""
    kind, semicolon, rest = value.partition(";")
    return (rest if semicolon else kind).strip()


def _reply_code(text: str) -> str:
    found = _REPLY.search(text or "")
    return found.group(1) if found else ""


def _sender_domain(msg: Message) -> str:
    found = _ADDRESS.search(str(msg.get("From", "")))
    return found.group(0).rpartition("@")[2][:200] if found else ""
