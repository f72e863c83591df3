"""Small helpers for HTML forms: read fields, keep what was typed, show errors."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from engage.web.routing import form_data


@dataclass
class Form:
    """What was typed (echoed back on error) and what is wrong with it."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: An error about the whole form (shown at the top).
    message: str = ""

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


async def read_form(request: Request, *names: str) -> Form:
    data = await form_data(request)
    return Form(values={name: str(data.get(name, "")).strip() for name in names})
