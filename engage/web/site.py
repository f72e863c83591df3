"""Every page module, imported so its ``@page`` routes register. A new module of
pages is added here."""

from engage.web import (  # noqa: F401
    account,
    alumni,
    auth_pages,
    health,
    mailbox,
    pages,
    password,
    places,
    registration,
    two_factor,
    users_admin,
)
