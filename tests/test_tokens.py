from __future__ import annotations

from engage.tokens import make_token, read_token

SECRET = "s" * 40


def test_round_trip():
    token = make_token(SECRET, "reset", 42, 3)
    claim = read_token(SECRET, "reset", token)
    assert claim is not None and (claim.id, claim.version) == (42, 3)


def test_purpose_is_part_of_the_mac():
    token = make_token(SECRET, "rsvp", 42, 3)
    assert read_token(SECRET, "reset", token) is None


def test_forged_altered_or_malformed_tokens_are_refused():
    token = make_token(SECRET, "reset", 42, 3)
    assert read_token("t" * 40, "reset", token) is None
    assert read_token(SECRET, "reset", token.replace("42.", "43.", 1)) is None
    assert read_token(SECRET, "reset", token.replace(".3.", ".4.", 1)) is None
    for bad in ["", "42", "42.3", "x.y.z", token + "A", token[:-1], "42.3." + "A" * 43]:
        assert read_token(SECRET, "reset", bad) is None
