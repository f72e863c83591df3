"""Envelope senders (engage.mail.verp): derived, opaque, short, case-proof, unforgeable."""

from __future__ import annotations

import itertools
import random
import string
from pathlib import Path

import pytest

from engage.mail.models import OutboxMessage
from engage.mail.verp import envelope_sender, envelope_token, read_envelope_token
from tests.conftest import make_settings

IDS = [1, 2, 3, 41, 1000, 123_456_789, 2**31 - 1, 2**40 + 7, 2**63 - 1]


@pytest.fixture
def verp_settings(tmp_path: Path):
    return make_settings(
        "sqlite://unused.sqlite3", tmp_path, mail={"domain": "mail.engage.example"}
    )


def _row(row_id: int) -> OutboxMessage:
    return OutboxMessage(id=row_id)


def test_round_trip_and_shape(verp_settings):
    for row_id in IDS:
        sender = envelope_sender(verp_settings, _row(row_id))
        local, _, domain = sender.partition("@")
        assert domain == "mail.engage.example"
        assert local.startswith("bounces+")
        assert len(local) <= 64  # RFC 5321's limit on a local part
        token = local.removeprefix("bounces+")
        assert set(token) <= set(string.ascii_lowercase + "234567")
        assert read_envelope_token(verp_settings, local) == row_id
        assert read_envelope_token(verp_settings, token) == row_id
        assert read_envelope_token(verp_settings, sender) == row_id
        assert read_envelope_token(verp_settings, f"<{sender}>") == row_id


def test_survives_case_folding(verp_settings):
    sender = envelope_sender(verp_settings, _row(987_654))
    assert read_envelope_token(verp_settings, sender.upper()) == 987_654
    assert read_envelope_token(verp_settings, sender.title()) == 987_654


def test_token_is_stable_and_reveals_nothing(verp_settings):
    # Derived, not stored: the same row gives the same sender (a resend after a crash).
    assert envelope_token(verp_settings, 42) == envelope_token(verp_settings, 42)
    tokens = [envelope_token(verp_settings, row_id) for row_id in range(1, 51)]
    assert len(set(tokens)) == 50
    # Consecutive ids do not give similar tokens: the id is enciphered, not encoded.
    for a, b in itertools.pairwise(tokens):
        same = sum(x == y for x, y in zip(a, b, strict=True))
        assert same < 10, (a, b)


def test_forged_damaged_and_foreign_tokens_are_refused(verp_settings, tmp_path):
    token = envelope_token(verp_settings, 77)
    for position in range(len(token)):
        replacement = "a" if token[position] != "a" else "b"
        damaged = token[:position] + replacement + token[position + 1 :]
        found = read_envelope_token(verp_settings, damaged)
        # The last character carries one spare bit: changing only it may name the
        # same message; never another one.
        assert found in (None, 77)
        if position < len(token) - 1:
            assert found is None, position
    other = make_settings(
        "sqlite://unused.sqlite3",
        tmp_path / "other",
        app={"secret_key": "another-secret-key-of-enough-length-000000"},
    )
    assert read_envelope_token(other, token) is None
    assert read_envelope_token(verp_settings, token[:-1]) is None
    assert read_envelope_token(verp_settings, token + "a") is None


def test_garbage_never_raises(verp_settings):
    rng = random.Random(5)
    alphabet = string.printable + "äß€\x00+@<>"
    samples = ["", "bounces+", "bounces", "@", "bounces+@x", "+" * 80, "a" * 10_000]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(500)
    ]
    samples += [
        "".join(rng.choice(string.ascii_lowercase + "234567") for _ in range(29))
        for _ in range(500)
    ]
    for sample in samples:
        assert read_envelope_token(verp_settings, sample) is None, sample


def test_needs_a_secret(tmp_path):
    settings = make_settings("sqlite://unused.sqlite3", tmp_path, app={"secret_key": ""})
    with pytest.raises(ValueError, match="secret_key"):
        envelope_token(settings, 1)
    with pytest.raises(ValueError, match="outbox id"):
        envelope_token(make_settings("sqlite://unused.sqlite3", tmp_path), 0)
