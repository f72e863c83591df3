"""The demo's mail troubles (engage.cli.demo_mail): failed and deferred invitations,
bounces, a complaint and an unsubscribe, written once; the mail page shows them."""

from __future__ import annotations

from engage.accounts.models import Role
from engage.alumni.models import Alumnus
from engage.cli.demo import load_demo
from engage.cli.demo_mail import seed_demo_mail
from engage.mail.models import Bounce, OutboxMessage, Status, Suppression, SuppressionReason
from engage.mail.stats import mail_overview


async def test_the_demo_shows_failures_bounces_and_suppressions(
    client, settings, make_user, sign_in
):
    await load_demo(settings)
    welcome = await OutboxMessage.filter(template="welcome").values_list("to_address", flat=True)
    # `engage demo` seeds the mail page itself: a second run adds nothing.
    assert await seed_demo_mail(settings) == 0

    failed = await OutboxMessage.filter(status=Status.FAILED).order_by("id")
    assert len(failed) == 2
    assert failed[0].last_error.startswith("550 5.1.1")
    assert failed[1].last_error.startswith("552 5.2.2")
    assert await OutboxMessage.filter(status=Status.DEFERRED).count() == 2
    overview = await mail_overview()
    assert overview.suppressed == 4
    assert overview.suppressed_by_reason[SuppressionReason.HARD_BOUNCE] == 2
    assert overview.suppressed_by_reason[SuppressionReason.COMPLAINT] == 1
    assert overview.suppressed_by_reason[SuppressionReason.UNSUBSCRIBED] == 1
    assert await Bounce.all().count() == 4
    # The people whose invitation bounced show "primary email failing".
    for row in failed:
        person = await Alumnus.get(id=row.recipient_id)
        assert person.email_failing_at is not None
    # Nobody with a welcome email waiting is suppressed: those all arrive.
    keys = set(await Suppression.all().values_list("address_key", flat=True))
    assert not keys & {a.lower() for a in welcome}

    # Once only.
    assert await seed_demo_mail(settings) == 0
    assert await Bounce.all().count() == 4

    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get("/admin/mail")
    assert page.status_code == 200
    assert "Recipient address rejected: User unknown" in page.text
    assert "over quota" in page.text
    assert "Greylisting in action" in page.text
    assert "Feedback-Type: abuse" in page.text
    assert page.text.count("Lift the suppression") == 3  # the bounces' and the complaint's
