"""Alumni records. Importing the package registers its email context loaders, and
the "primary email failing" flag with the bounce rules, and consent with the
unsubscribe link and the worker's send-time check (engage.alumni.consent), and the
engagement record with the mail package's delivery and bounce hooks
(engage.alumni.engagement)."""

from engage.alumni import addresses as _addresses  # noqa: F401
from engage.alumni import consent as _consent  # noqa: F401
from engage.alumni import engagement as _engagement  # noqa: F401
from engage.alumni import secondary as _secondary  # noqa: F401
