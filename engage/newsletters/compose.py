"""A newsletter's text made ready to send: the Markdown rendered once, the
placeholders left as slots that each recipient's values fill.

::

    issue = compile_issue(subject, body)        # cached by the text itself
    issue.slots                                 # {"v0": Placeholder("preferred_name", "colleague")}
    fills = issue.fills({"preferred_name": "Ama", "rank": "", ...})   # {"v0": "Ama"}
    issue.html_for(fills), issue.text_for(fills), issue.subject_for(fills)

The body is Markdown rendered by engage.markdown (markdown-it's safe preset, then
nh3): raw HTML, scripts, event handlers and ``javascript:`` links never get
through. The placeholders are swapped for inert tokens before rendering and found
again afterwards, so a recipient's values are never parsed as Markdown or HTML: they
are escaped where they are printed. The email template prints the parts in order
(``{{ part.html }}`` or the recipient's ``fills[part.slot]``), which lets the mail
renderer build one frame per campaign and only fill in the values per recipient.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markupsafe import Markup, escape

from engage.markdown import markdown_to_text, render_markdown
from engage.newsletters.placeholders import Part, Placeholder, parse

#: Letters and digits only: Markdown, nh3 and URL quoting leave them as they are.
_TOKEN_PREFIX = "zqnl{nonce}s"  # noqa: S105 (not a secret)


@dataclass(frozen=True)
class Compiled:
    """A subject and body with the placeholders as slots (``v0``, ``v1``...)."""

    #: Each distinct placeholder (name and fallback) by its slot.
    slots: dict[str, Placeholder]
    #: Parts in order: {"text": ...} (or {"html": Markup} in the body) or {"slot": "v0"}.
    subject: tuple[dict[str, Any], ...]
    html: tuple[dict[str, Any], ...]
    text: tuple[dict[str, Any], ...]

    def fills(self, values: Mapping[str, str]) -> dict[str, str]:
        """Each slot's text for a person with ``values`` (by placeholder name)."""
        return {slot: p.value(values) for slot, p in self.slots.items()}

    def sample_fills(self) -> dict[str, str]:
        """For a preview without a recipient: the fallback, or the name in brackets."""
        return {slot: p.fallback or f"[{p.name}]" for slot, p in self.slots.items()}

    def subject_for(self, fills: Mapping[str, str]) -> str:
        return " ".join(_join(self.subject, fills, html=False).split())

    def html_for(self, fills: Mapping[str, str]) -> Markup:
        return Markup(_join(self.html, fills, html=True))  # noqa: S704 (parts are sanitised)

    def text_for(self, fills: Mapping[str, str]) -> str:
        return _join(self.text, fills, html=False)


def _join(parts: tuple[dict[str, Any], ...], fills: Mapping[str, str], *, html: bool) -> str:
    out = []
    for part in parts:
        if "slot" in part:
            value = fills.get(part["slot"], "")
            out.append(str(escape(value)) if html else value)
        else:
            out.append(str(part.get("html", part.get("text", ""))))
    return "".join(out)


@lru_cache(maxsize=64)
def compile_issue(subject: str, body: str) -> Compiled:
    """Render ``body`` (Markdown) once and find the placeholders of both texts.

    Raises InvalidInput for an unknown or malformed placeholder. Cached by the text,
    so every message of a campaign (and every preview of an unchanged draft) shares
    one rendering.
    """
    subject_parts = parse(subject)
    body_parts = parse(body)
    slots: dict[Placeholder, str] = {}
    for part in (*subject_parts, *body_parts):
        if isinstance(part, Placeholder) and part not in slots:
            slots[part] = f"v{len(slots)}"
    token = _token_for(subject + body)
    source = "".join(p if isinstance(p, str) else token.format(n=slots[p][1:]) for p in body_parts)
    pattern = re.compile(token.format(n=r"(\d+)"))
    return Compiled(
        slots={slot: p for p, slot in slots.items()},
        subject=tuple(_plain(subject_parts, slots)),
        html=tuple(_split(render_markdown(source), pattern, key="html")),
        text=tuple(_split(markdown_to_text(source), pattern, key="text")),
    )


def _token_for(text: str) -> str:
    """A token pattern (``...{n}e``) whose prefix does not occur in ``text``."""
    nonce = 0
    while _TOKEN_PREFIX.format(nonce=nonce) in text:
        nonce += 1
    return _TOKEN_PREFIX.format(nonce=nonce) + "{n}e"


def _plain(parts: tuple[Part, ...], slots: dict[Placeholder, str]) -> list[dict[str, Any]]:
    return [{"text": p} if isinstance(p, str) else {"slot": slots[p]} for p in parts]


def _split(rendered: str, pattern: re.Pattern[str], *, key: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    last = 0
    for match in pattern.finditer(rendered):
        if match.start() > last:
            found.append({key: _literal(rendered[last : match.start()], key)})
        found.append({"slot": f"v{match.group(1)}"})
        last = match.end()
    if last < len(rendered):
        found.append({key: _literal(rendered[last:], key)})
    return found


def _literal(value: str, key: str) -> Any:
    # The HTML comes from render_markdown (markdown-it safe preset, then nh3).
    return Markup(value) if key == "html" else value  # noqa: S704
