"""``engage mail status``: the figures of the staff mail page, as an aligned table.

::

    $ engage mail status
    Messages by status
      queued       120
      sending        4
      ...
    Suppressed addresses: 3 (unsubscribed 1, hard bounce 1, complaint 1, manual 0)

    Campaigns, latest first (rate: sent per minute over the last 5 minutes)
      campaign      template     sent   total  queued ...  rate/min  left
      invite:12     invitation     80     124      40 ...      16.0  ~3 min
"""

from __future__ import annotations

import argparse
from datetime import datetime

from engage import db
from engage.logs import configure_logging
from engage.mail.models import Status
from engage.mail.stats import (
    PAGE_SIZE,
    CampaignProgress,
    MailOverview,
    Page,
    list_campaigns,
    mail_overview,
)
from engage.settings import load_settings

#: Columns of the campaigns table, after campaign and template.
_STATUS_COLUMNS = tuple(Status)


def status_lines(overview: MailOverview, campaigns: Page[CampaignProgress]) -> list[str]:
    """The report, one line per item (English: for whoever runs the server)."""
    lines = ["Messages by status"]
    for status, n in overview.counts.items():
        lines.append(f"  {status.value:<9} {n:>9}")
    lines.append(f"  {'total':<9} {overview.total:>9}")
    reasons = ", ".join(
        f"{reason.value.replace('_', ' ')} {n}"
        for reason, n in overview.suppressed_by_reason.items()
    )
    lines.append(f"Suppressed addresses: {overview.suppressed} ({reasons})")
    lines.append("Mail is going out now." if overview.in_flight else "Nothing is being sent now.")
    lines.append("")
    if not campaigns.rows:
        lines.append("No campaigns.")
        return lines
    window = campaigns.rows[0].window_minutes
    lines.append(f"Campaigns, latest first (rate: sent per minute over the last {window} minutes)")
    name_width = max(8, *(len(c.campaign) for c in campaigns.rows))
    template_width = max(8, *(len(c.template) for c in campaigns.rows))
    header = f"  {'campaign':<{name_width}}  {'template':<{template_width}}  {'total':>7}"
    header += "".join(f"  {s.value:>8}" for s in _STATUS_COLUMNS)
    lines.append(f"{header}  {'rate/min':>8}  left")
    for c in campaigns.rows:
        line = f"  {c.campaign:<{name_width}}  {c.template:<{template_width}}  {c.total:>7}"
        line += "".join(f"  {c.counts[s]:>8}" for s in _STATUS_COLUMNS)
        line += f"  {c.rate_per_minute:>8.1f}  {_left(c)}"
        lines.append(line.rstrip())
    if campaigns.total > len(campaigns.rows):
        lines.append(f"  ... and {campaigns.total - len(campaigns.rows)} older campaign(s)")
    return lines


def _left(c: CampaignProgress) -> str:
    if c.done:
        return "done"
    if c.retrying:
        return "retries later"
    if c.minutes_left is None:
        return "waiting"
    return f"~{c.minutes_left} min"


async def report(*, limit: int = PAGE_SIZE, now: datetime | None = None) -> list[str]:
    """The report's lines from the open database."""
    overview = await mail_overview(now=now)
    campaigns = await list_campaigns(page=1, size=limit, now=now)
    return status_lines(overview, campaigns)


async def mail_status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings)
    async with db.database(settings):
        lines = await report(limit=args.limit)
    for line in lines:
        print(line, flush=True)
    return 0
