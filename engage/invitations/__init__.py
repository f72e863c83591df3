"""Invitations, RSVP answers, capacity and waitlist, reminders, check-in, attendance.

Importing the package registers what the worker and the events service need from it:
the RSVP emails' context loaders and the waitlist's listener for capacity changes;
the invitation emails' loaders and the notices on a change of time or place or a
cancellation; the loader of messages to invitees.
"""

from engage.invitations import emails as _emails  # noqa: F401
from engage.invitations import message_emails as _message_emails  # noqa: F401
from engage.invitations import notices as _notices  # noqa: F401
from engage.invitations import rsvp as _rsvp  # noqa: F401
from engage.invitations import rsvp_emails as _rsvp_emails  # noqa: F401
from engage.invitations import send_checks as _send_checks  # noqa: F401
