"""Events at embassies: kinds, scheduling in local time, visibility, calendar files.

Importing the package registers the ``event_ics`` attachment (calendar files in
invitations and notices), so the mail worker has it wherever it runs.
"""

from engage.events import calendar as _calendar  # noqa: F401
