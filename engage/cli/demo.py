"""``engage demo``: realistic sample data, growing with each feature.

Idempotent: running it twice adds nothing the second time (every row it makes has a
natural key).
"""

from __future__ import annotations

from engage.mail import outbox
from engage.mail.models import Category
from engage.settings import Settings

#: Graduates from several regions, in their own scripts: the mail pipeline must carry
#: their names intact.
DEMO_PEOPLE = [
    ("Aigerim Nurlanovna", "aigerim.nurlanovna@example.kz"),
    ("Nguyễn Văn Minh", "nguyen.van.minh@example.vn"),
    ("José García Pérez", "jose.garcia@example.co"),
    ("Amani Wanjiru", "amani.wanjiru@example.ke"),
    ("Ілля Коваленко", "illia.kovalenko@example.ua"),
    ("محمد العتيبي", "m.alotaibi@example.sa"),
]


async def load_demo(settings: Settings) -> list[str]:
    created = 0
    for name, address in DEMO_PEOPLE:
        result = await outbox.enqueue(
            "welcome",
            to=address,
            to_name=name,
            category=Category.TRANSACTIONAL,
            dedupe_key=f"demo:welcome:{address}",
        )
        created += result.created
    base = settings.app.base_url
    lines = [
        f"Demo data loaded: {created} welcome email(s) queued for {len(DEMO_PEOPLE)} graduates.",
        "Start the app with `engage serve`, then open:",
        f"  {base}/                the home page",
    ]
    if settings.smtp.is_embedded:
        lines.append(f"  {base}/admin/mailbox   the emails, as received by the embedded server")
    lines.append("Accounts and logins arrive with the Accounts issue.")
    return lines
