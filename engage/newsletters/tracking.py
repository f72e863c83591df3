"""Open and click tracking for newsletters, off unless ``newsletters.tracking`` is on.

When on, each copy carries a pixel and its links go through a redirect::

    open_pixel_url(settings, row)    # {base_url}/t/o/<token>.gif, or None when off
    track_links(html, settings, row) # every http(s) link -> /t/c/<token>?u=<url>&s=<sig>

``<token>`` names the outbox row (engage.tokens, purpose ``newsletter-track``) and
``<sig>`` is an HMAC over the row id and the URL, so the redirect only goes where
the newsletter sent that recipient: a link whose ``u`` was changed answers 404 (no
open redirect). Links to the site's own unsubscribe and preference pages are left
alone. When off nothing is rewritten and nothing is recorded; links of copies sent
while it was on still lead where they pointed, without being recorded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from engage.clock import utcnow
from engage.errors import NotFound
from engage.i18n import _
from engage.mail.models import OutboxMessage
from engage.newsletters.models import Tracking, TrackingKind
from engage.settings import Settings
from engage.tokens import make_token, read_token

PURPOSE = "newsletter-track"
#: A 1x1 transparent GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
#: Links longer than this are not rewritten (the redirect would be too long).
URL_MAX = 2000
_SIG_BYTES = 16
_LINK = re.compile(r"""(<a\b[^>]*?\bhref=")([^"]*)(")""", re.IGNORECASE)


@dataclass(frozen=True)
class Click:
    """A checked click: where to send the browser, and for which message."""

    url: str
    message_id: int


def _newsletter_of(row: OutboxMessage) -> int | None:
    campaign = row.campaign or ""
    prefix, _colon, number = campaign.partition(":")
    if prefix != "newsletter" or not number.isdigit():
        return None
    return int(number)


def tracking_token(settings: Settings, row: OutboxMessage) -> str:
    return make_token(settings.app.secret_key, PURPOSE, int(row.id), 0)


def link_signature(settings: Settings, message_id: int, url: str) -> str:
    """HMAC over (message id, URL), URL-safe base64."""
    payload = f"engage-click\x00{message_id}\x00{url}".encode()
    digest = hmac.new(settings.app.secret_key.encode(), payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_SIG_BYTES]).decode().rstrip("=")


def open_pixel_url(settings: Settings, row: OutboxMessage) -> str | None:
    """The pixel's address for this copy; None when tracking is off."""
    if not settings.newsletters.tracking:
        return None
    return f"{settings.app.base_url}/t/o/{tracking_token(settings, row)}.gif"


def click_url(settings: Settings, row: OutboxMessage, url: str) -> str:
    """The redirect through which ``url`` is followed in this copy."""
    token = tracking_token(settings, row)
    signature = link_signature(settings, int(row.id), url)
    return f"{settings.app.base_url}/t/c/{token}?u={quote(url, safe='')}&s={signature}"


def _trackable(settings: Settings, url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > URL_MAX:
        return False
    base = settings.app.base_url
    # Unsubscribing, and the preference page, are never counted as clicks.
    return not url.startswith((f"{base}/unsubscribe/", f"{base}/t/"))


def track_links(html_text: str, settings: Settings, row: OutboxMessage) -> str:
    """``html_text`` with each http(s) link of ``<a href="...">`` going through the
    click redirect of this copy; unchanged when tracking is off."""
    if not settings.newsletters.tracking:
        return html_text

    def rewrite(match: re.Match[str]) -> str:
        url = html.unescape(match.group(2)).strip()
        if not _trackable(settings, url):
            return match.group(0)
        tracked = html.escape(click_url(settings, row, url), quote=True)
        return f"{match.group(1)}{tracked}{match.group(3)}"

    return _LINK.sub(rewrite, html_text)


async def _message(settings: Settings, token: str) -> tuple[OutboxMessage, int] | None:
    claim = read_token(settings.app.secret_key, PURPOSE, token)
    if claim is None or claim.version != 0:
        return None
    row = await OutboxMessage.get_or_none(id=claim.id)
    if row is None:
        return None
    newsletter_id = _newsletter_of(row)
    return None if newsletter_id is None else (row, newsletter_id)


async def record_open(settings: Settings, token: str, *, now: datetime | None = None) -> bool:
    """Count the first open of a copy (when tracking is on); True when recorded.
    A forged token, or tracking off, records nothing (the pixel is served anyway)."""
    if not settings.newsletters.tracking:
        return False
    found = await _message(settings, token)
    if found is None:
        return False
    row, newsletter_id = found
    if await Tracking.filter(message_id=row.id, kind=TrackingKind.OPEN).exists():
        return False
    await Tracking.create(
        newsletter_id=newsletter_id,
        message_id=row.id,
        kind=TrackingKind.OPEN,
        at=now or utcnow(),
    )
    return True


async def follow_click(
    settings: Settings, token: str, url: str, signature: str, *, now: datetime | None = None
) -> Click:
    """Check a click and record it (when tracking is on); NotFound for a forged
    token, a changed URL or a wrong signature: the redirect goes nowhere else."""
    url = url or ""
    expected = ""
    claim = read_token(settings.app.secret_key, PURPOSE, token)
    if claim is not None and claim.version == 0:
        expected = link_signature(settings, claim.id, url)
    if not expected or not hmac.compare_digest(expected, signature or "") or not _safe(url):
        raise NotFound(_("This link is not valid."))
    assert claim is not None
    if settings.newsletters.tracking:
        found = await _message(settings, token)
        if found is not None:
            row, newsletter_id = found
            await Tracking.create(
                newsletter_id=newsletter_id,
                message_id=row.id,
                kind=TrackingKind.CLICK,
                url=url,
                at=now or utcnow(),
            )
    return Click(url=url, message_id=claim.id)


def _safe(url: str) -> bool:
    """Only web addresses are followed (a signed link is one of the newsletter's,
    this is the second lock)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and "\n" not in url
