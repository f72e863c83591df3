"""``/admin/ranks``: the rank mapping queue. Ranks the shipped tables do not know wait
here until staff give them a NATO grade; every waiting career entry then gets it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from engage.alumni.grades import GRADES, map_rank, queued_ranks
from engage.errors import InvalidInput, NotFound
from engage.i18n import _
from engage.web.forms import Form
from engage.web.identity import current_actor
from engage.web.routing import Access, form_data, page
from engage.web.templating import render


async def _queue_page(request: Request, form: Form | None = None, status: int = 200) -> Response:
    actor = await current_actor(request)
    return render(
        request,
        "ranks/queue.html",
        {
            "queue": await queued_ranks(actor=actor),
            "grades": GRADES,
            "form": form or Form(),
            "saved": request.query_params.get("saved", ""),
        },
        status_code=status,
    )


@page("/admin/ranks", access=Access.STAFF, name="rank_queue")
async def rank_queue(request: Request) -> Response:
    return await _queue_page(request)


@page("/admin/ranks/{mapping_id}", methods=["POST"], access=Access.STAFF, name="rank_map")
async def rank_map(request: Request) -> Response:
    actor = await current_actor(request)
    raw_id = request.path_params["mapping_id"]
    if not raw_id.isdigit():
        raise NotFound(_("Not found."))
    grade = str((await form_data(request)).get("grade", ""))
    try:
        await map_rank(int(raw_id), grade, actor=actor)
    except InvalidInput as exc:
        form = Form(values={"mapping": raw_id, "grade": grade}, errors=exc.fields)
        form.message = exc.message
        return await _queue_page(request, form, status=422)
    return RedirectResponse(f"/admin/ranks?saved={raw_id}", status_code=303)
