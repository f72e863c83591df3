"""Users, roles, sessions, API tokens, passwords, email verification, embassy scope.

Importing the package registers the account emails' send-time loaders (links), so
the mail worker has them wherever it runs.
"""

from engage.accounts import emails as _emails  # noqa: F401
