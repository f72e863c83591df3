"""Translation: every user-facing string goes through ``_()`` (code) or
``{% trans %}``/``_()`` (templates), so adding a language only adds a catalogue.

Catalogues live in ``engage/locale/<lang>/LC_MESSAGES/messages.mo`` (Babel);
extract with ``pybabel extract -F babel.cfg -k N_ -o engage/locale/messages.pot .``.
"""

from __future__ import annotations

import contextvars
import functools
from pathlib import Path

from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: The language of the current request or message being rendered.
current_language: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_language", default="en"
)


@functools.lru_cache(maxsize=32)
def translations(language: str) -> NullTranslations:
    """The catalogue for ``language`` (an empty one when none exists yet)."""
    return Translations.load(str(LOCALE_DIR), [language, "en"])


def gettext(message: str, **variables: object) -> str:
    text = translations(current_language.get()).ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = translations(current_language.get()).ungettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (module constants)."""
    return message


_ = gettext
