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
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import jinja2

from engage import i18n
from engage.mail.models import Category, OutboxMessage
from engage.mail.suppression import ONE_CLICK, unsubscribe_mailto, unsubscribe_url
from engage.resources import resource_dir
from engage.settings import Settings


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


def template_names() -> list[str]:
    """Every message folder under ``emails/`` (layouts excluded)."""
    root = resource_dir("emails")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))


class Renderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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
        variables: dict[str, Any] = {
            "site_name": self.settings.app.site_name,
            "base_url": self.settings.app.base_url,
            "programme_name": self.settings.programme.name,
            "recipient": {"name": row.to_name, "address": row.to_address},
            **row.context,
        }
        if row.category == Category.BULK:
            # The footer's link to the preference page (and one-click unsubscribe).
            variables["unsubscribe_url"] = unsubscribe_url(self.settings, row)
        loader = _CONTEXT.get(row.template)
        if loader is not None:
            variables.update(await loader(row, self.settings))
        try:
            subject = self._render(f"{row.template}/subject.txt", variables)
            text = self._render(f"{row.template}/body.txt", variables)
            html = self._render(f"{row.template}/body.html", variables)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"email template not found: {exc.name}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"cannot render {row.template}: {exc}") from None

        mail = self.settings.mail
        msg = EmailMessage(policy=SMTP)
        # A context loader may name the sender (an embassy's alumni desk) and a
        # Reply-To (the attaché), so replies reach a person.
        sender = variables.get("sender") or {}
        msg["From"] = Address(
            display_name=str(sender.get("name") or mail.from_name),
            addr_spec=str(sender.get("address") or mail.from_address),
        )
        if sender.get("reply_to"):
            msg["Reply-To"] = Address(
                display_name=str(sender.get("reply_to_name") or ""),
                addr_spec=str(sender["reply_to"]),
            )
        msg["To"] = Address(display_name=row.to_name, addr_spec=row.to_address)
        msg["Subject"] = _WS.sub(" ", subject).strip()
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = self.message_id(row)
        if row.auto_submitted:
            msg["Auto-Submitted"] = "auto-generated"
        if row.category == Category.BULK:
            # RFC 2369 links, the https one taking an RFC 8058 one-click POST. Never
            # on transactional mail (nothing to unsubscribe from).
            msg["List-Unsubscribe"] = (
                f"<{unsubscribe_url(self.settings, row)}>, "
                f"<{unsubscribe_mailto(self.settings, row)}>"
            )
            msg["List-Unsubscribe-Post"] = ONE_CLICK
        msg.set_content(text, charset="utf-8")
        msg.add_alternative(html, subtype="html", charset="utf-8")
        for image in variables.get("inline_images") or ():
            maintype, subtype, _params = _content_type(image.content_type)
            msg.get_body(("html",)).add_related(  # type: ignore[union-attr]
                image.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{image.cid}>",
                filename=image.filename,
                disposition="inline",
            )
        for spec in row.context.get("attachments", []):
            builder = _ATTACHMENTS.get(str(spec.get("kind")))
            if builder is None:
                raise RenderError(f"unknown attachment kind {spec.get('kind')!r}")
            attachment = await builder(spec, self.settings)
            maintype, subtype, params = _content_type(attachment.content_type)
            msg.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params=params,
            )
        return msg

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
