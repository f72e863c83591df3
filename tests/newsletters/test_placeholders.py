"""Placeholders: our own small parser (never Jinja), fallbacks, and an error naming
each unknown or malformed placeholder."""

from __future__ import annotations

import pytest

from engage.errors import InvalidInput
from engage.newsletters.placeholders import (
    PLACEHOLDERS,
    Placeholder,
    check_placeholders,
    fill,
    parse,
    placeholder_errors,
)

VALUES = {"preferred_name": "Ama", "rank": "Colonel", "country": "Ghana", "embassy": "Embassy ACC"}


def test_each_placeholder_is_filled():
    text = "{{ rank }} {{ preferred_name }} of {{ country }}, {{embassy}}"
    assert fill(text, VALUES) == "Colonel Ama of Ghana, Embassy ACC"
    assert set(PLACEHOLDERS) == {"preferred_name", "rank", "country", "embassy"}


def test_fallback_when_the_value_is_empty():
    text = 'Dear {{ rank | "officer" }} {{ preferred_name | "colleague" }},'
    assert fill(text, {**VALUES, "rank": ""}) == "Dear officer Ama,"
    assert fill(text, {**VALUES, "preferred_name": "  "}) == "Dear Colonel colleague,"
    assert fill(text, {}) == "Dear officer colleague,"
    # Single quotes, no spaces; an empty value without a fallback prints nothing.
    assert fill("Hi {{preferred_name|'friend'}}!", {}) == "Hi friend!"
    assert fill("[{{ rank }}]", {"rank": ""}) == "[]"


def test_parse_keeps_text_and_placeholders_in_order():
    assert parse('a {{ rank }} b {{ country | "x y" }}') == (
        "a ",
        Placeholder("rank"),
        " b ",
        Placeholder("country", "x y"),
    )
    assert parse("no placeholders") == ("no placeholders",)
    assert parse("") == ()


def test_an_unknown_placeholder_is_an_error_naming_it():
    with pytest.raises(InvalidInput) as caught:
        check_placeholders("Dear {{ nmae }} and {{ rank }} and {{ grade | 'x' }}")
    message = caught.value.fields["body"]
    assert "{{ nmae }}" in message
    assert "{{ grade | 'x' }}" in message
    assert "{{ rank }}" not in message
    assert "preferred_name" in message  # the known ones are listed


@pytest.mark.parametrize(
    "text",
    [
        "{{ }}",
        "{{ rank | colleague }}",  # an unquoted fallback
        "{{ rank.upper() }}",
        '{{ preferred_name | "a" | "b" }}',
        "{{ ''.__class__ }}",
        "{{ 7*7 }}",
    ],
)
def test_anything_else_between_braces_is_an_error(text):
    assert placeholder_errors(text)
    with pytest.raises(InvalidInput) as caught:
        check_placeholders(text, field="subject")
    assert set(caught.value.fields) == {"subject"}


def test_jinja_syntax_is_plain_text():
    # Statements and comments are not ours: they stay text, never run.
    text = "{% for x in range(10**9) %}{# note #}"
    assert placeholder_errors(text) == []
    assert fill(text, VALUES) == text


def test_a_long_fallback_is_refused():
    assert placeholder_errors('{{ rank | "' + "x" * 101 + '" }}')
    assert not placeholder_errors('{{ rank | "' + "x" * 100 + '" }}')


def test_values_are_never_parsed_again():
    # A value that looks like a placeholder is printed as it is.
    assert fill("{{ preferred_name }}", {"preferred_name": "{{ rank }}"}) == "{{ rank }}"
