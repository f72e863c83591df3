"""Markdown written by people (event descriptions, newsletters) made safe to show.

markdown-it-py in its ``js-default`` (safe) preset never passes raw HTML through
and refuses ``javascript:``/``vbscript:``/``data:`` links; nh3 (ammonia) then keeps
only an allow-list of tags and attributes and adds ``rel="noopener noreferrer"`` to
links, so a script, an event handler or a hostile link never reaches a page::

    html = render_markdown("**Reception** at [the residence](https://example.org)")
    text = markdown_to_text(source)     # for plain-text email parts
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
_URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("js-default", {"linkify": False, "typographer": False}).enable("table")


def sanitise_html(html: str) -> str:
    """Keep only the allow-listed tags, attributes and URL schemes."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


@lru_cache(maxsize=128)
def render_markdown(source: str) -> str:
    """Safe HTML for ``source`` (Markdown). Raw HTML in the source is shown as text.

    Cached by source: a campaign's emails render the same text once, not per recipient.
    """
    return sanitise_html(_parser().render(source or ""))


_TAG = re.compile(r"<[^>]+>")
_BLANKS = re.compile(r"\n{3,}")


@lru_cache(maxsize=128)
def markdown_to_text(source: str) -> str:
    """A readable plain-text version: the Markdown source with links spelled out."""
    text = re.sub(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)", r"\1 (\2)", source or "")
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)", r"\1 (\2)", text)
    return _BLANKS.sub("\n\n", text).strip()
