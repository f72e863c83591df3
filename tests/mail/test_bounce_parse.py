"""Reading bounce and complaint reports (engage.mail.dsn): the formats of real mail
servers (tests/mail/fixtures/bounces), the classification, and garbage."""

from __future__ import annotations

import random

import pytest

from engage.mail.dsn import classify, enhanced_status, parse_report
from engage.mail.models import BounceKind
from tests.mail.fixtures.bounces import NAMES, load

HARD, SOFT, COMPLAINT = BounceKind.HARD, BounceKind.SOFT, BounceKind.COMPLAINT
ENVELOPE = "bounces+k527crdxfxgd5oswhbjvm4c7cm6ie@engage.localhost"
MESSAGE_ID = "<0123456789abcdef0123456789abcdef@engage.localhost>"

#: fixture -> (format, kind, status, words in the diagnostic, reporter)
EXPECTED = {
    "postfix_hard": ("dsn", HARD, "5.1.1", "User unknown in virtual mailbox", "mail.relay.example"),
    "postfix_mailbox_full": ("dsn", SOFT, "5.2.2", "Mailbox full", "mail.relay.example"),
    "exim_hard": ("text", HARD, "5.1.1", "User unknown", "mx.relay.example"),
    "exim_soft": ("text", SOFT, "", "retry timeout exceeded", "mx.relay.example"),
    "exchange_hard": (
        "dsn",
        HARD,
        "5.1.10",
        "RESOLVER.ADR.RecipientNotFound",
        "AM9PR06MB7201.eurprd06.prod.outlook.com",
    ),
    "exchange_legacy": ("text", HARD, "5.1.1", "RecipNotFound", "ministry.example"),
    "gmail_hard": ("dsn", HARD, "5.1.1", "does not exist", "googlemail.com"),
    "gmail_soft": ("dsn", SOFT, "5.2.2", "over quota", "googlemail.com"),
    "arf_complaint": ("arf", COMPLAINT, "", "Feedback-Type: abuse", "fbl.mailbox.example"),
}


def _load(name: str, recipient: str = "amani@example.org") -> bytes:
    return load(name, envelope=ENVELOPE, recipient=recipient, message_id=MESSAGE_ID)


def test_every_fixture_says_where_it_comes_from():
    assert len(NAMES) >= 10
    for name in NAMES:
        first = load(name).split(b"\n", 1)[0]
        assert first.startswith(b"X-Fixture-Origin: "), name
        text = load(name)[:1200].decode()
        assert "written for Engage" in text, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name):
    fmt, kind, status, words, reporter = EXPECTED[name]
    report = parse_report(_load(name, recipient="Person.Name@Example.org"))
    assert report.format == fmt
    assert len(report.failures) == 1
    failure = report.failures[0]
    assert failure.kind == kind
    assert failure.status == status
    assert words in failure.diagnostic
    assert failure.address.lower() == "person.name@example.org"
    assert report.reporter == reporter
    # What points back at our message, for reports that come without a token.
    assert report.envelope_tokens == ("k527crdxfxgd5oswhbjvm4c7cm6ie",)
    assert ("0123456789abcdef0123456789abcdef", "engage.localhost") in report.message_ids


def test_the_returned_message_is_not_read_as_the_notice():
    # exim_hard's copy of the original says "550 guests": the notice's own code wins,
    # and a notice whose only code sits in the copy is not taken from it.
    report = parse_report(_load("exim_hard"))
    assert report.failures[0].diagnostic.startswith("550 5.1.1")
    raw = _load("exim_soft").replace(b"retry timeout exceeded", b"see below")
    raw += b"\n550 5.1.1 quoted in the original\n"
    assert parse_report(raw).failures == ()


def test_delay_warning_is_not_a_bounce():
    report = parse_report(_load("postfix_delayed"))
    assert report.format == "dsn"
    assert report.failures == ()


def test_out_of_office_reply_is_not_a_bounce():
    report = parse_report(_load("autoreply"))
    assert report.format == "none"
    assert report.failures == ()


def test_arf_other_feedback_types_are_not_complaints():
    raw = _load("arf_complaint").replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    report = parse_report(raw)
    assert report.format == "arf"
    assert report.failures == ()


def test_dsn_with_several_recipients_keeps_the_failed_ones():
    raw = _load("postfix_hard").replace(
        b"Final-Recipient: rfc822; amani@example.org",
        b"Final-Recipient: rfc822; ok@example.org\nAction: delivered\nStatus: 2.0.0\n\n"
        b"Final-Recipient: rfc822; amani@example.org",
        1,
    )
    report = parse_report(raw)
    assert [f.address for f in report.failures] == ["amani@example.org"]


def test_dsn_encoded_in_base64_is_read():
    import base64

    block = (
        b"Reporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; b64@example.org\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 no such mailbox\n"
    )
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nFailed.\n\n--b\n"
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(block)
        + b"\n--b--\n"
    )
    report = parse_report(raw)
    assert [(f.address, f.kind, f.status) for f in report.failures] == [
        ("b64@example.org", HARD, "5.1.1")
    ]
    assert report.reporter == "mx.example.net"


@pytest.mark.parametrize(
    ("status", "diagnostic", "code", "kind"),
    [
        ("5.1.1", "", None, HARD),
        ("5.1.10", "", None, HARD),
        ("5.2.1", "mailbox disabled", None, HARD),
        ("5.4.4", "unable to route: no such domain", None, HARD),
        ("5.0.0", "550 5.0.0 unknown user", None, HARD),
        ("5.2.2", "", None, SOFT),
        ("5.3.4", "message too big", None, SOFT),
        ("5.4.7", "delivery time expired", None, SOFT),
        ("5.7.1", "blocked as spam", None, SOFT),
        ("5.7.26", "unauthenticated mail, DMARC", None, SOFT),
        ("5.0.0", "554 5.0.0 mailbox full", None, SOFT),
        ("4.2.2", "", None, SOFT),
        ("4.4.1", "connection timed out", None, SOFT),
        ("", "550 Requested action not taken: mailbox unavailable", None, HARD),
        ("", "554 delivery error: no such user", None, HARD),
        ("", "552 Requested mail action aborted: exceeded storage", None, SOFT),
        ("", "451 try again", None, SOFT),
        ("", "retry timeout exceeded", None, SOFT),
        ("", "User unknown", None, HARD),
        ("2.0.0", "", None, None),
        ("5.1.7", "bad sender address syntax", None, None),
        ("5.1.8", "sender domain does not exist", None, None),
        ("5.7.8", "authentication credentials invalid", None, None),
        ("5.5.1", "bad sequence of commands", None, None),
        ("", "535 Authentication failed", None, None),
        ("", "Thank you for your message", None, None),
        ("", "", None, None),
    ],
)
def test_classify(status, diagnostic, code, kind):
    assert classify(status, diagnostic, code=code) == kind


def test_enhanced_status():
    assert enhanced_status("smtp; 550-5.1.1 The email account") == "5.1.1"
    assert enhanced_status("host 192.0.2.25 said 5.7.26 no") == "5.7.26"
    assert enhanced_status("Exim 4.97 at 10.20.1.5") == ""


# --- Garbage never crashes the parser -------------------------------------------------


def test_random_bytes():
    rng = random.Random(10)
    for _ in range(300):
        raw = rng.randbytes(rng.randint(0, 4000))
        report = parse_report(raw)
        assert report.failures == () or report.format != "none"


def test_truncated_and_mangled_fixtures():
    rng = random.Random(11)
    for name in NAMES:
        raw = _load(name)
        for cut in range(0, len(raw), max(1, len(raw) // 60)):
            parse_report(raw[:cut])  # never raises
        for _ in range(30):
            mangled = bytearray(raw)
            for _ in range(rng.randint(1, 40)):
                mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            parse_report(bytes(mangled))


def test_pathological_nesting_and_sizes():
    nested = b"Content-Type: multipart/mixed; boundary=a0\n\n"
    for depth in range(1, 3000):
        nested += f"--a{depth - 1}\nContent-Type: multipart/mixed; boundary=a{depth}\n\n".encode()
    assert parse_report(nested).failures == ()
    header_storm = b"".join(b"X-H%d: %s\n" % (i, b"v" * 50) for i in range(20_000)) + b"\nbody"
    assert parse_report(header_storm).failures == ()
    long_line = b"From: MAILER-DAEMON@x\nSubject: Undeliverable\n\n" + b"5" * 2_000_000
    parse_report(long_line)
    assert parse_report(b"").failures == ()
    assert parse_report(b"\x00" * 1000).failures == ()
