"""Newsletters: issues and recurring series, audiences, personalised sections, archive, stats.

Importing the package registers the newsletter email's context loader, so the mail
worker can render issues wherever it runs.
"""

from engage.newsletters import emails as _emails  # noqa: F401
