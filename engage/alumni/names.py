"""Names in any script, folded into search tokens (case, accents and scripts).

::

    search_key("Олександр", "Коваленко", "Oleksandr", "Kovalenko", "Sasha")
    # "oleksandr kovalenko sasha"
    search_key("Nguyễn", "Văn Thành", "", "", "")    # "nguyen van thanh"
    search_key("伟", "张", "", "", "")               # "wei zhang"
    query_tokens("KOVALENKO, Oleksandr")             # ["kovalenko", "oleksandr"]

The key is stored on every write of a profile (``Alumnus.search_key``): space-separated,
each token once, in the order the names were given. A search folds its query with
:func:`query_tokens` and looks for each token, so "Dang", "Đặng" and "ĐẶNG" find the
same person, and so do "Коваленко" and "Kovalenko".
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

#: Apostrophes inside a name join its parts: "O'Brien" -> "obrien".
_APOSTROPHES = re.compile(r"['\u2019\u02bc\u0060\u00b4]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _syllabic(char: str) -> bool:
    """Han ideographs and Hangul syllables: one syllable each, written without spaces."""
    name = unicodedata.name(char, "")
    return name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HANGUL"))


def _word_tokens(word: str) -> list[str]:
    """Tokens of one whitespace-free word."""
    if any(_syllabic(c) for c in word):
        # "张伟" -> "zhang", "wei" and "zhangwei": people write it either way in Latin.
        chunks: list[str] = []
        run = ""
        for char in word:
            if _syllabic(char):
                chunks.extend([run, char])
                run = ""
            else:
                run += char
        chunks.append(run)
        syllables = [t for chunk in chunks if chunk for t in _split(_fold(chunk))]
        joined = "".join(syllables)
        return [*syllables, joined] if len(syllables) > 1 else syllables
    return _split(_fold(word))


def _fold(text: str) -> str:
    return anyascii(unicodedata.normalize("NFKC", text)).lower()


def _split(text: str) -> list[str]:
    text = _APOSTROPHES.sub("", text.lower())
    return [t for t in _NOT_ALNUM.split(text) if t]


def query_tokens(text: str) -> list[str]:
    """The folded tokens of ``text`` (a name or a search query), each once, in order."""
    tokens: list[str] = []
    for word in unicodedata.normalize("NFKC", text).split():
        tokens.extend(_word_tokens(word))
    return list(dict.fromkeys(tokens))


def search_key(
    given: str, family: str, given_latin: str = "", family_latin: str = "", preferred: str = ""
) -> str:
    """The ``search_key`` of a profile with these names (see the module doc)."""
    tokens = query_tokens(" ".join((given, family, given_latin, family_latin, preferred)))
    return " ".join(tokens)
