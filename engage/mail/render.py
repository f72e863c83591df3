"""Rendering an outbox row into an email, at send time.

A message is the folder ``emails/<template>/`` with ``subject.txt``, ``body.txt``
and ``body.html`` (which usually extends ``_layouts/base.html``). Domains add what a
template needs with two registries::

    @register_context("invitation")
    async def _invitation(row: OutboxMessage, settings: Settings) -> dict[str, object]:
        invitation = await Invitation.get(id=row.context["invitation"])
        return {"invitation": invitation, "rsvp_url": rsvp_link(invitation, settings)}

    @register_attachment("event_ics")
    async def _ics(spec: dict[str, object], settings: Settings) -> Attachment: ...

Links with tokens are derived here, at send time, never stored in the row.

A campaign's messages (rows with a ``campaign``) are rendered once per campaign and
filled in per recipient (engage.mail.frames): the templates with the layout, the
inlined CSS (css-inline, remote stylesheets off) and the Markdown the loaders
render are the same for everyone; only the :data:`PERSONAL` values, and the row's
own context ids, differ. The worker takes :meth:`Renderer.render_bytes`, the message
as it goes on the wire (engage.mail.wire); :meth:`Renderer.render` gives the same
message as an ``EmailMessage``.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime
from typing import Any, TypeVar

import css_inline
import jinja2

from engage import i18n
from engage.mail.frames import UNFRAMED, Frame, FrameCache, freeze, mark, shareable
from engage.mail.models import Category, OutboxMessage
from engage.mail.suppression import ONE_CLICK, unsubscribe_mailto, unsubscribe_url
from engage.mail.wire import message_bytes
from engage.resources import resource_dir
from engage.settings import Settings

#: Template variables that differ per recipient and are only printed (never tested
#: in a condition): a campaign's frame has markers in their place. Anything else a
#: context loader returns is part of the frame's key.
PERSONAL = frozenset({"recipient", "name", "rsvp_url", "unsubscribe_url"})


class RenderError(Exception):
    """The message cannot be built (missing template, bad context): not retried."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows as ``<img src="cid:{cid}">`` (a related part).

    A context loader returns them under ``inline_images`` (built at send time, like
    the links they may hold, e.g. a QR code)."""

    cid: str
    filename: str
    content_type: str
    data: bytes


#: ``loader(row, settings)``: settings carry the secret that derives link tokens.
ContextLoader = Callable[[OutboxMessage, Settings], Awaitable[dict[str, Any]]]
#: ``builder(spec, settings)``: ``spec`` is the row's ``{"kind": ..., ...}`` entry.
AttachmentBuilder = Callable[[dict[str, Any], Settings], Awaitable[Attachment]]

_CONTEXT: dict[str, ContextLoader] = {}
_ATTACHMENTS: dict[str, AttachmentBuilder] = {}


def register_context(template: str) -> Callable[[ContextLoader], ContextLoader]:
    """Register the loader that turns a row's ids into the template's variables."""

    def register(loader: ContextLoader) -> ContextLoader:
        _CONTEXT[template] = loader
        return loader

    return register


def register_attachment(kind: str) -> Callable[[AttachmentBuilder], AttachmentBuilder]:
    def register(builder: AttachmentBuilder) -> AttachmentBuilder:
        _ATTACHMENTS[kind] = builder
        return builder

    return register


_WS = re.compile(r"\s+")
_T = TypeVar("_T")
#: How long a lookup made through :func:`shared` is reused, in seconds.
SHARED_SECONDS = 5.0


class _SharedLookups:
    """A renderer's recent lookups that are the same for every recipient."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.found: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()


_LOOKUPS: contextvars.ContextVar[_SharedLookups | None] = contextvars.ContextVar(
    "engage_mail_shared_lookups", default=None
)


async def shared(key: Hashable, load: Callable[[], Awaitable[_T]]) -> _T:
    """``await load()``, reused for :data:`SHARED_SECONDS` by the renderer that is
    rendering: for a context loader's lookups that are the same for every recipient
    of a campaign (the event's embassy and sender, the text of a message), so they
    are not made again for each message. Outside a renderer it just loads::

        embassy = await shared(("embassy", event.embassy_id), lambda: Embassy.get(...))
    """
    lookups = _LOOKUPS.get()
    if lookups is None:
        return await load()
    now = time.monotonic()
    hit = lookups.found.get(key)
    if hit is not None and now - hit[0] < SHARED_SECONDS:
        return hit[1]  # type: ignore[no-any-return]
    value = await load()
    lookups.found[key] = (now, value)
    lookups.found.move_to_end(key)
    while len(lookups.found) > lookups.size:
        lookups.found.popitem(last=False)
    return value


def template_names() -> list[str]:
    """Every message folder under ``emails/`` (layouts excluded)."""
    root = resource_dir("emails")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


@dataclass
class _Rendered:
    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[Attachment] = field(default_factory=list)
    inline_images: list[InlineImage] = field(default_factory=list)


class Renderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        #: Campaign frames (engage.mail.frames), most recently used kept.
        self.frames = FrameCache()
        #: What was rendered: "frames" (shared parts of a campaign), "full" (a
        #: message rendered whole), "filled" (a recipient's copy of a frame).
        self.counts: Counter[str] = Counter()
        self._inliner = css_inline.CSSInliner(load_remote_stylesheets=False)
        self._lookups = _SharedLookups()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(resource_dir("emails")),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            keep_trailing_newline=True,
        )
        self.env.install_gettext_callables(  # type: ignore[attr-defined]
            i18n.gettext, i18n.ngettext, newstyle=True
        )
        # Imported here: engage.events imports this module (its calendar attachment).
        from engage.events.timefmt import format_local_datetime, format_local_time

        # {{ event.starts_at | local_datetime(event.timezone) }}
        self.env.filters.update(local_datetime=format_local_datetime, local_time=format_local_time)

    def message_id(self, row: OutboxMessage) -> str:
        return f"<{row.message_key}@{self.settings.mail.domain}>"

    async def render(self, row: OutboxMessage, *, now: datetime) -> EmailMessage:
        return self._message(await self._rendered(row, now=now))

    async def render_bytes(self, row: OutboxMessage, *, now: datetime) -> bytes:
        """The message as it goes to the relay (what the worker sends and signs)."""
        rendered = await self._rendered(row, now=now)
        if rendered.inline_images or not row.to_address.isascii():
            # Rare (a QR code; an address that needs SMTPUTF8): the email package.
            policy = SMTP if row.to_address.isascii() else SMTPUTF8
            return self._message(rendered).as_bytes(policy=policy)
        return message_bytes(
            rendered.headers,
            text=rendered.text,
            html=rendered.html,
            attachments=rendered.attachments,
        )

    async def _rendered(self, row: OutboxMessage, *, now: datetime) -> _Rendered:
        context = {k: v for k, v in row.context.items() if k != "attachments"}
        variables: dict[str, Any] = {
            "site_name": self.settings.app.site_name,
            "base_url": self.settings.app.base_url,
            "programme_name": self.settings.programme.name,
            "recipient": {"name": row.to_name, "address": row.to_address},
            **context,
        }
        if row.category == Category.BULK:
            # The footer's link to the preference page (and one-click unsubscribe).
            variables["unsubscribe_url"] = unsubscribe_url(self.settings, row)
        loaded: dict[str, Any] = {}
        loader = _CONTEXT.get(row.template)
        if loader is not None:
            token = _LOOKUPS.set(self._lookups)  # what shared() reuses
            try:
                loaded = await loader(row, self.settings)
            finally:
                _LOOKUPS.reset(token)
            variables.update(loaded)
        # The row's own ids and scalars are personal unless a loader replaced them.
        personal = (PERSONAL | (context.keys() - loaded.keys())) if row.campaign else None
        try:
            subject, text, html = self._bodies(row.template, variables, personal)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"email template not found: {exc.name}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"cannot render {row.template}: {exc}") from None
        attachments = []
        for spec in row.context.get("attachments", []):
            builder = _ATTACHMENTS.get(str(spec.get("kind")))
            if builder is None:
                raise RenderError(f"unknown attachment kind {spec.get('kind')!r}")
            attachments.append(await builder(spec, self.settings))
        return _Rendered(
            headers=self._headers(row, variables, subject, now=now),
            text=text,
            html=html,
            attachments=attachments,
            inline_images=list(variables.get("inline_images") or ()),
        )

    def _headers(
        self, row: OutboxMessage, variables: dict[str, Any], subject: str, *, now: datetime
    ) -> list[tuple[str, str]]:
        """The message's headers, in order (both ways of building a message use them)."""
        mail = self.settings.mail
        # A context loader may name the sender (an embassy's alumni desk) and a
        # Reply-To (the attaché), so replies reach a person.
        sender = variables.get("sender") or {}
        headers = [
            (
                "From",
                str(
                    Address(
                        display_name=str(sender.get("name") or mail.from_name),
                        addr_spec=str(sender.get("address") or mail.from_address),
                    )
                ),
            )
        ]
        if sender.get("reply_to"):
            reply_to = Address(
                display_name=str(sender.get("reply_to_name") or ""),
                addr_spec=str(sender["reply_to"]),
            )
            headers.append(("Reply-To", str(reply_to)))
        headers += [
            ("To", str(Address(display_name=row.to_name, addr_spec=row.to_address))),
            ("Subject", _WS.sub(" ", subject).strip()),
            ("Date", format_datetime(now)),
            ("Message-ID", self.message_id(row)),
        ]
        if row.auto_submitted:
            headers.append(("Auto-Submitted", "auto-generated"))
        if row.category == Category.BULK:
            # RFC 2369 links, the https one taking an RFC 8058 one-click POST. Never
            # on transactional mail (nothing to unsubscribe from).
            links = (
                f"<{unsubscribe_url(self.settings, row)}>, "
                f"<{unsubscribe_mailto(self.settings, row)}>"
            )
            headers += [("List-Unsubscribe", links), ("List-Unsubscribe-Post", ONE_CLICK)]
        return headers

    def _message(self, rendered: _Rendered) -> EmailMessage:
        msg = EmailMessage(policy=SMTP)
        for name, value in rendered.headers:
            msg[name] = value
        msg.set_content(rendered.text, charset="utf-8")
        msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
        for image in rendered.inline_images:
            maintype, subtype, _params = _content_type(image.content_type)
            msg.get_body(("html",)).add_related(  # type: ignore[union-attr]
                image.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{image.cid}>",
                filename=image.filename,
                disposition="inline",
            )
        for attachment in rendered.attachments:
            maintype, subtype, params = _content_type(attachment.content_type)
            msg.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params=params,
            )
        return msg

    # --- Bodies: whole, or from the campaign's frame ---------------------------------

    def _bodies(
        self, template: str, variables: dict[str, Any], personal: Collection[str] | None
    ) -> tuple[str, str, str]:
        """Subject, text and HTML (CSS inlined) of ``template`` for these variables."""
        if personal is None:  # one of a kind: nothing to share
            return self._render_all(template, variables)
        marked, slots, kept = mark({k: v for k, v in variables.items() if k in personal})
        shared = {k: v for k, v in variables.items() if k not in personal}
        key = (template, i18n.current_language.get(), freeze(shared), kept)
        if not shareable(key):
            return self._render_all(template, variables)
        frame = self.frames.get(key)
        if frame is None:
            frame = self._frame(template, {**shared, **marked}, slots, variables)
            self.frames.put(key, frame)
        if frame is UNFRAMED:
            return self._render_all(template, variables)
        self.counts["filled"] += 1
        return frame.fill(slots)

    def _render_all(self, template: str, variables: dict[str, Any]) -> tuple[str, str, str]:
        self.counts["full"] += 1
        return (
            self._render(f"{template}/subject.txt", variables),
            self._render(f"{template}/body.txt", variables),
            self._inline(self._render(f"{template}/body.html", variables)),
        )

    def _frame(
        self, template: str, marked: dict[str, Any], slots: list[Any], real: dict[str, Any]
    ) -> Frame:
        """The frame of ``template``, or UNFRAMED when the templates do more with a
        personal value than print it. Checked once against the whole rendering for
        the first recipient, so a filter that changes a value cannot go unnoticed."""
        try:
            frame = Frame(
                self._render(f"{template}/subject.txt", marked),
                self._render(f"{template}/body.txt", marked),
                self._inline(self._render(f"{template}/body.html", marked)),
            )
        except Exception:  # a personal value in a condition (PersonalValueUsed), say
            return UNFRAMED
        self.counts["frames"] += 1
        subject, text, html = frame.fill(slots)
        whole = self._render_all(template, real)
        # Compared as css-inline (html5ever) writes them: "&#39;" and "'" are one text.
        normal = self._inliner.inline
        if (subject, text, normal(html)) != (whole[0], whole[1], normal(whole[2])):
            return UNFRAMED
        return frame

    def _inline(self, html: str) -> str:
        """The HTML with its <style> rules moved into style attributes."""
        return self._inliner.inline(html) if "<style" in html else html

    def _render(self, name: str, variables: dict[str, Any]) -> str:
        return self.env.get_template(name).render(variables)


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """ "text/calendar; method=REQUEST" -> ("text", "calendar", {"method": "REQUEST"})."""
    kind, *rest = value.split(";")
    maintype, _slash, subtype = kind.strip().partition("/")
    params: dict[str, str] = {}
    for item in rest:
        key, _eq, param = item.partition("=")
        if key.strip():
            params[key.strip().lower()] = param.strip().strip('"')
    return maintype, subtype, params


@register_attachment("text")
async def _text_attachment(spec: dict[str, Any], settings: Settings) -> Attachment:
    """A plain-text attachment given inline (tests, and notes such as directions)."""
    return Attachment(
        filename=str(spec.get("filename", "note.txt")),
        content_type="text/plain",
        data=str(spec.get("text", "")).encode(),
    )
