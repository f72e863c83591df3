"""Every page module, imported so its ``@page`` routes register. A new module of
pages is added here."""

from engage.web import (  # noqa: F401
    account,
    alumni,
    audit_log,
    auth_pages,
    directory,
    door,
    events,
    health,
    imports,
    invitations,
    invitee_messages,
    mail_admin,
    mailbox,
    pages,
    password,
    places,
    ranks,
    registration,
    rights,
    rsvp,
    secondary_email,
    two_factor,
    users_admin,
    vetting,
)
