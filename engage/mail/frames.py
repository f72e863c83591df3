"""Rendering what is the same for every recipient of a campaign once.

A campaign's messages differ only in a few personal values (the name, the RSVP
link...). The renderer (engage.mail.render) renders a message's templates once with
a *marker* in place of each personal value, inlines the CSS of the result, and keeps
it as a :class:`Frame`; each recipient's message is the frame with their values
filled in (escaped for HTML), which costs a string substitution instead of a
template render, a CSS inlining and a Markdown render::

    marked, slots = mark(personal)             # {"name": <marker 0>, ...}, ["Ama"]
    frame = Frame(subject, text, html)          # rendered with ``marked``
    frame.fill(slots)                           # ("Invitation", "Dear Ama", "<p>Dear Ama")

A marker may only be printed: a template that tests it (``{% if name %}``), compares
it, measures it or changes it with a string method raises :class:`PersonalValueUsed`,
and the renderer then renders that message per recipient as before. The frames are
kept in a :class:`FrameCache` under :func:`freeze` of everything that is *not*
personal, so a change to anything shared (the event moved, the text edited) is a new
key, never a stale frame.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, NoReturn

from markupsafe import Markup, escape

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: never in a template
_SLOT = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


class PersonalValueUsed(Exception):
    """A template does more with a personal value than print it."""


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise PersonalValueUsed("a personal value is used in a condition or changed by a filter")


class _Marker(str):
    """Stands for personal value number ``n`` while a frame renders."""

    __slots__ = ()

    def __html__(self) -> Markup:
        # Printed as is: fill() escapes the real value.
        return Markup(str(self))  # noqa: S704

    def __format__(self, spec: str) -> str:
        if spec:
            _refuse(self)
        return str(self)

    __hash__ = str.__hash__
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse  # type: ignore[assignment]
    __len__ = __iter__ = __getitem__ = __contains__ = __bool__ = _refuse  # type: ignore[assignment]
    __mod__ = __rmod__ = __mul__ = __rmul__ = _refuse  # type: ignore[assignment]
    capitalize = casefold = center = count = encode = endswith = expandtabs = _refuse
    find = format = format_map = index = isalnum = isalpha = isascii = _refuse
    isdecimal = isdigit = isidentifier = islower = isnumeric = isprintable = _refuse
    isspace = istitle = isupper = ljust = lower = lstrip = partition = _refuse
    removeprefix = removesuffix = replace = rfind = rindex = rjust = _refuse
    rpartition = rsplit = rstrip = split = splitlines = startswith = strip = _refuse
    swapcase = title = translate = upper = zfill = _refuse  # type: ignore[assignment]


def _marker(n: int) -> _Marker:
    return _Marker(f"{_OPEN}{n}{_CLOSE}")


def mark(personal: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any], Hashable]:
    """``personal`` with a marker for each printable value (str, int, float, also
    inside dicts), the values in marker order, and what was left unmarked (None,
    booleans, dates...: those belong to the frame's key)."""
    slots: list[Any] = []
    kept: list[tuple[str, Hashable]] = []

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            slots.append(value)
            return _marker(len(slots) - 1)
        if isinstance(value, Mapping):
            return {key: walk(item, f"{path}.{key}") for key, item in value.items()}
        kept.append((path, freeze(value)))
        return value

    marked = {name: walk(value, name) for name, value in sorted(personal.items())}
    return marked, slots, tuple(kept)


class _Unique:
    """A key part equal only to itself: a value whose content cannot be compared."""

    __slots__ = ()


_IMMUTABLE = (str, int, float, bool, type(None), Decimal, dt.date, dt.time, dt.timedelta, Enum)


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for ``value`` equal for equal contents. Anything that is
    not plain data (a model object, say) gets a fresh unique part: no frame is shared
    on its account."""
    if isinstance(value, _IMMUTABLE):
        return (type(value).__name__, value)
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), freeze(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("seq", tuple(freeze(v) for v in value))
    if isinstance(value, set | frozenset):
        return ("set", frozenset(freeze(v) for v in value))
    return _Unique()


def shareable(key: Hashable) -> bool:
    """Whether a key can find its frame again (holds no unique part)."""
    if isinstance(key, _Unique):
        return False
    if isinstance(key, tuple | frozenset):
        return all(shareable(part) for part in key)
    return True


@dataclass(frozen=True)
class Frame:
    """A message's subject, text and HTML (CSS inlined) with personal markers."""

    subject: str
    text: str
    html: str

    def fill(self, slots: list[Any]) -> tuple[str, str, str]:
        """The recipient's subject, text and HTML."""
        plain = [str(value) for value in slots]
        html = [str(escape(value)) for value in slots]
        return (
            _SLOT.sub(lambda m: plain[int(m.group(1))], self.subject),
            _SLOT.sub(lambda m: plain[int(m.group(1))], self.text),
            _SLOT.sub(lambda m: html[int(m.group(1))], self.html),
        )


#: Stored for a key whose templates cannot be framed (a personal value in a condition).
UNFRAMED = Frame("", "", "")


class FrameCache:
    """The most recently used frames, by key (least recently used dropped first)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._frames: OrderedDict[Hashable, Frame] = OrderedDict()

    def get(self, key: Hashable) -> Frame | None:
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: Hashable, frame: Frame) -> None:
        self._frames[key] = frame
        self._frames.move_to_end(key)
        while len(self._frames) > self.size:
            self._frames.popitem(last=False)

    def __len__(self) -> int:
        return len(self._frames)
