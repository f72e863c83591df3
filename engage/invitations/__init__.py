"""Invitations, RSVP answers, capacity and waitlist, reminders, check-in, attendance.

Importing the package registers what the worker and the events service need from it:
the RSVP emails' context loaders and the waitlist's listener for capacity changes.
"""

from engage.invitations import rsvp as _rsvp  # noqa: F401
from engage.invitations import rsvp_emails as _rsvp_emails  # noqa: F401
