"""What a message to invitees needs at send time (``emails/invitee_message``).

The outbox row holds ``{"message": id, "invitation": id}``; the text is read from the
message and rendered here, when the email is sent: the Markdown body as sanitised
HTML (engage.markdown) and as plain text. The template also gets what every
invitation email gets (engage.invitations.emails: ``event``, ``name``,
``invitation``, ``rsvp_url``), and is sent From the embassy's alumni desk with
Reply-To the attaché who wrote the message (else the event's contact).

A revoked invitation, or a message deleted with its event, renders nothing (a
RenderError: the email is not sent). A row without a message id (the template
check) renders a sample.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from engage.accounts.models import User
from engage.invitations.emails import event_email_context
from engage.invitations.models import InviteeMessage
from engage.mail.models import OutboxMessage
from engage.mail.render import RenderError, register_context, shared
from engage.markdown import markdown_to_text, render_markdown
from engage.settings import Settings

#: The folder of ``emails/`` (and the outbox rows' template) of a message to invitees.
TEMPLATE = "invitee_message"
_SAMPLE_BODY = (
    "Thank you for coming. Tell us what you thought: [a short survey](https://example.org/survey)."
)


@register_context(TEMPLATE)
async def invitee_message_context(row: OutboxMessage, settings: Settings) -> dict[str, Any]:
    """The message (subject, ``body_html``, ``body_text``) and the event's variables."""
    if "message" not in row.context:
        context = await event_email_context(row, settings, message=TEMPLATE)
        return {**context, "message": _message("After the reception", _SAMPLE_BODY)}
    pk = int(row.context["message"])
    # The message and its author are the same for every invitee (shared lookups).
    message = await shared(("invitee_message", pk), lambda: InviteeMessage.get_or_none(id=pk))
    if message is None:
        raise RenderError(f"{row.template}: message {pk} no longer exists")
    context = await event_email_context(row, settings, message=TEMPLATE)
    author_id = message.created_by_id  # type: ignore[attr-defined]
    author = (
        await shared(
            ("active_user", author_id), lambda: User.get_or_none(id=author_id, is_active=True)
        )
        if author_id
        else None
    )
    if author is not None:
        context["sender"] = {**context["sender"], "reply_to": author.email, "reply_to_name": ""}
    return {**context, "message": _message(message.subject, message.body)}


def _message(subject: str, body: str) -> dict[str, Any]:
    return {
        "subject": subject,
        # Sanitised by render_markdown (markdown-it safe preset, then nh3).
        "body_html": Markup(render_markdown(body)),  # noqa: S704
        "body_text": markdown_to_text(body),
    }
