"""Placeholders in a newsletter's subject and body: a small language of our own, never
Jinja (what people write is text, and is never run as a template).

::

    parse('Dear {{ preferred_name | "colleague" }},')
    # ("Dear ", Placeholder("preferred_name", "colleague"), ",")
    check_placeholders("Hello {{ nmae }}")        # InvalidInput naming {{ nmae }}
    fill('Dear {{ rank }} {{ preferred_name | "colleague" }}', {"rank": "", ...})

A placeholder is ``{{ name }}`` or ``{{ name | "fallback" }}`` (single quotes work
too). The names are :data:`PLACEHOLDERS`: ``preferred_name`` (the name the person
goes by: their preferred name, else their given name), ``rank``, ``country`` (its
name) and ``embassy`` (the embassy serving their country). A value that is empty
gives the fallback, or nothing when there is none. Anything else between ``{{``
and ``}}`` is an error, shown before the issue can be saved or sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from engage.errors import InvalidInput
from engage.i18n import N_, _

#: The placeholders, and how the form describes them.
PLACEHOLDERS: dict[str, str] = {
    "preferred_name": N_("The name the person goes by (preferred name, else given name)"),
    "rank": N_("Their current rank"),
    "country": N_("Their country"),
    "embassy": N_("The embassy serving their country"),
}
#: Fallbacks longer than this are refused (a fallback is a word or two).
FALLBACK_MAX = 100

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_INSIDE = re.compile(
    r"""\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*
        (?:\|\s*(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)')\s*)?""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Placeholder:
    name: str
    fallback: str = ""

    def value(self, values: Mapping[str, str]) -> str:
        """This placeholder for a person: their value, else the fallback."""
        return str(values.get(self.name) or "").strip() or self.fallback

    @property
    def source(self) -> str:
        """How it is written (``{{ rank | "officer" }}``)."""
        if self.fallback:
            return f'{{{{ {self.name} | "{self.fallback}" }}}}'
        return f"{{{{ {self.name} }}}}"


Part = str | Placeholder


def placeholder_errors(text: str) -> list[str]:
    """One sentence per problem in ``text`` (empty: none), in the order they appear."""
    errors: list[str] = []
    for match in _TAG.finditer(text or ""):
        found = _INSIDE.fullmatch(match.group(1))
        shown = " ".join(match.group(0).split())
        if found is None:
            errors.append(
                _(
                    '%(tag)s is not a placeholder: write {{ name }} or {{ name | "fallback" }}.',
                    tag=shown,
                )
            )
        elif found.group("name") not in PLACEHOLDERS:
            errors.append(
                _(
                    "Unknown placeholder %(tag)s. Known: %(known)s.",
                    tag=shown,
                    known=", ".join(PLACEHOLDERS),
                )
            )
        elif len(found.group("dq") or found.group("sq") or "") > FALLBACK_MAX:
            errors.append(
                _(
                    "The fallback of %(tag)s is longer than %(n)s characters.",
                    tag=shown,
                    n=FALLBACK_MAX,
                )
            )
    return errors


def check_placeholders(text: str, *, field: str = "body") -> None:
    """InvalidInput naming each unknown or malformed placeholder of ``text`` (on
    ``field``); nothing when all are known."""
    errors = placeholder_errors(text)
    if errors:
        raise InvalidInput(" ".join(errors), fields={field: " ".join(errors)})


def parse(text: str) -> tuple[Part, ...]:
    """``text`` as literal strings and placeholders, in order (checked first: raises
    InvalidInput like :func:`check_placeholders`)."""
    check_placeholders(text)
    parts: list[Part] = []
    last = 0
    for match in _TAG.finditer(text or ""):
        if match.start() > last:
            parts.append(text[last : match.start()])
        found = _INSIDE.fullmatch(match.group(1))
        assert found is not None  # checked above
        fallback = found.group("dq") or found.group("sq") or ""
        parts.append(Placeholder(found.group("name"), fallback.strip()))
        last = match.end()
    if last < len(text or ""):
        parts.append(text[last:])
    return tuple(parts)


def fill(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each placeholder replaced by its value (or fallback) for a person."""
    return "".join(p if isinstance(p, str) else p.value(values) for p in parse(text))
