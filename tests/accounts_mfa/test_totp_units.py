"""The pieces: the secret box, TOTP steps with drift, one claim per step, and code
normalisation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from engage.accounts import recovery_codes, totp
from engage.accounts.secretbox import SealedValueError, seal, unseal

KEY = "a-test-secret-key-for-the-secret-box-0123456789"
NOW = datetime(2026, 3, 29, 1, 0, 15, tzinfo=UTC)


def test_sealed_values_differ_each_time_and_open_only_unaltered():
    one = seal(KEY, "totp", "JBSWY3DPEHPK3PXP", context="user:1")
    two = seal(KEY, "totp", "JBSWY3DPEHPK3PXP", context="user:1")
    assert one != two  # a fresh nonce each time
    assert unseal(KEY, "totp", one, context="user:1") == "JBSWY3DPEHPK3PXP"
    flipped = one[:-2] + ("A" if one[-2] != "A" else "B") + one[-1]
    for bad in (flipped, "", "v1.", "v2." + one[3:], "v1.!!!", "v1.AAAA", "plain"):
        with pytest.raises(SealedValueError):
            unseal(KEY, "totp", bad, context="user:1")
    with pytest.raises(SealedValueError):
        seal("", "totp", "x", context="user:1")


def test_codes_one_step_either_side_are_accepted():
    secret = pyotp.random_base32()
    generator = pyotp.TOTP(secret)
    step = int(NOW.timestamp()) // 30
    for offset in (-1, 0, 1):
        moment = NOW + timedelta(seconds=30 * offset)
        assert totp.matching_step(secret, generator.at(moment), NOW) == step + offset
    for offset in (-3, 2, 5):
        moment = NOW + timedelta(seconds=30 * offset)
        typed = generator.at(moment)
        if typed not in {generator.at(NOW + timedelta(seconds=30 * o)) for o in (-1, 0, 1)}:
            assert totp.matching_step(secret, typed, NOW) is None
    assert totp.matching_step(secret, "12345", NOW) is None
    assert totp.matching_step(secret, "abcdef", NOW) is None


def test_check_secret_refuses_bad_base32():
    assert (
        totp.check_secret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    )
    with pytest.raises(ValueError):  # too short: under 112 bits
        totp.check_secret("JBSWY3DPEHPK3PXP")
    with pytest.raises(ValueError):  # binascii.Error is a ValueError
        totp.check_secret("not base32 at all!")


def test_recovery_codes_are_normalised_forgivingly():
    assert recovery_codes.normalise(" ABCDEF-ghijkl mnopqr\tstuvwx ") == "abcdefghijklmnopqrstuvwx"
    assert recovery_codes.normalise("0o1l8b") == "oollbb"
    assert recovery_codes.SHAPE.match(recovery_codes.normalise("abcdef-ghijkl-mnopqr-stuv2x"))


async def test_a_step_is_claimed_once_even_at_the_same_moment(db, make_user):
    user = await make_user()
    results = await asyncio.gather(*(totp.claim_step(user, 1000) for _i in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert not await totp.claim_step(user, 999)  # older steps are gone too
    assert await totp.claim_step(user, 1001)
