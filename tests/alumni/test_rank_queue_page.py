from __future__ import annotations

from datetime import date

from engage.accounts.models import Role
from engage.alumni.grades import grade_for
from engage.alumni.models import Alumnus, CareerEntry, CareerSource, RankMapping, Service


async def test_staff_map_a_queued_rank_from_the_page(client, make_user, sign_in, make_alumnus):
    person = await make_alumnus(country="KE", service=Service.ARMY)
    rank = "Field Marshal of the Realm"
    await CareerEntry.create(
        alumnus=person,
        rank=rank,
        grade=await grade_for("KE", Service.ARMY, rank),
        effective_date=date(2023, 5, 1),
        source=CareerSource.STAFF_VERIFIED,
    )
    mapping = await RankMapping.get(grade="")
    await sign_in(client, await make_user(role=Role.STAFF))
    page = await client.get("/admin/ranks")
    assert page.status_code == 200
    assert rank in page.text
    bad = await client.post(f"/admin/ranks/{mapping.id}", data={"grade": "OF-99"})
    assert bad.status_code == 422
    done = await client.post(f"/admin/ranks/{mapping.id}", data={"grade": "OF-10"})
    assert done.status_code == 303
    await person.refresh_from_db()
    assert person.grade == "OF-10"
    assert "No rank is waiting" in (await client.get("/admin/ranks")).text


async def test_only_staff_see_the_queue(client, make_user, sign_in):
    await sign_in(client, await make_user(role=Role.ATTACHE))
    assert (await client.get("/admin/ranks")).status_code == 403
    assert (await client.post("/admin/ranks/1", data={"grade": "OF-1"})).status_code == 403
    assert await Alumnus.all().count() == 0
