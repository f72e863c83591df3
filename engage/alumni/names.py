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

Each token of the key is also a ``SearchToken`` row, so a search matches token
prefixes through an index, the same on SQLite and PostgreSQL
(``engage.alumni.audience``). Whatever writes names calls
:func:`refresh_search_tokens` in the same transaction::

    await refresh_search_tokens([person.id], using_db=conn)
"""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery

from engage.alumni.models import Alumnus, SearchToken

#: Apostrophes inside a name join its parts: "O'Brien" -> "obrien".
_APOSTROPHES = re.compile(r"['\u2019\u02bc\u0060\u00b4]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
#: ``SearchToken.token`` holds at most this many characters (a longer token is cut,
#: and so is a query token: a prefix match still finds it).
TOKEN_MAX = 64
#: Profiles per statement when tokens are rewritten (well under SQLite's variable limit).
_BATCH = 500


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


def prefix_bounds(token: str) -> tuple[str, str | None]:
    """The range ``low <= t < high`` of the tokens starting with ``token``.

    Tokens hold only ``0-9a-z``, so the upper bound is the next string in that
    alphabet ("nguy" -> "nguz", "az" -> "b", "a9" -> "aa"); None when there is none
    ("zz"). A range, unlike ``LIKE 'x%'``, uses a btree index on both databases
    whatever the collation.
    """
    low = token[:TOKEN_MAX]
    chars = list(low)
    while chars and chars[-1] == "z":
        chars.pop()
    if not chars:
        return low, None
    last = chars[-1]
    chars[-1] = "a" if last == "9" else chr(ord(last) + 1)
    return low, "".join(chars)


def key_tokens(key: str, given: str = "", family: str = "") -> list[str]:
    """The ``SearchToken`` values of a profile: its ``search_key``'s tokens and, for a
    name in Han or Hangul, the whole name run together both ways ("张", "伟" also
    gives "zhangwei" and "weizhang"), each once, cut to size."""
    tokens = key.split()
    if any(_syllabic(c) for c in given + family):
        for whole in (family + given, given + family):
            tokens.extend(query_tokens("".join(whole.split())))
    return list(dict.fromkeys(t[:TOKEN_MAX] for t in tokens if t))


async def refresh_search_tokens(
    alumnus_ids: list[int], *, using_db: BaseDBAsyncClient | None = None
) -> None:
    """Rewrite the ``SearchToken`` rows of these profiles from their ``search_key``.

    Merged and erased profiles keep none (no search shows them). Call it in the
    transaction that wrote the names.
    """
    ids = sorted({int(i) for i in alumnus_ids})
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        rows = (
            await Alumnus.filter(id__in=chunk, merged_into_id=None, erased_at=None)
            .using_db(using_db)
            .values_list("id", "search_key", "given_name", "family_name")
        )
        await SearchToken.filter(alumnus_id__in=chunk).using_db(using_db).delete()
        tokens = [
            SearchToken(alumnus_id=pk, token=token)
            for pk, key, given, family in rows
            if key
            for token in key_tokens(key, given, family)
        ]
        if tokens:
            await SearchToken.bulk_create(tokens, batch_size=1000, using_db=using_db)


async def rebuild_search_tokens(*, using_db: BaseDBAsyncClient | None = None) -> int:
    """Rewrite every profile's tokens (a database filled before tokens existed, or
    by raw SQL); how many profiles were indexed."""
    ids = (
        await Alumnus.filter(merged_into_id=None, erased_at=None)
        .using_db(using_db)
        .values_list("id", flat=True)
    )
    await SearchToken.all().using_db(using_db).delete()
    await refresh_search_tokens(list(ids), using_db=using_db)
    return len(ids)


async def ensure_search_tokens() -> int:
    """Index profiles that have no tokens yet (a database from before name search, or
    filled by raw SQL); cheap when every profile is indexed. Runs at migrate and start."""
    unindexed = Alumnus.filter(merged_into_id=None, erased_at=None).exclude(
        id__in=Subquery(SearchToken.all().values("alumnus_id"))
    )
    ids = await unindexed.values_list("id", flat=True)
    for start in range(0, len(ids), 500):
        await refresh_search_tokens(list(ids[start : start + 500]))
    return len(ids)
