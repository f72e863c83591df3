"""The JSON API under ``/api/v1``: endpoints described by pydantic models."""

from engage.api import alumni as _alumni  # noqa: F401  (registers its endpoints)
from engage.api import events as _events  # noqa: F401
from engage.api import insights as _insights  # noqa: F401
from engage.api import invitations as _invitations  # noqa: F401
from engage.api import me as _me  # noqa: F401
from engage.api import meta as _meta  # noqa: F401
from engage.api import newsletters as _newsletters  # noqa: F401
from engage.api import places as _places  # noqa: F401
from engage.api import segments as _segments  # noqa: F401
from engage.api.endpoint import api_routes, endpoints, openapi_document

__all__ = ["api_routes", "endpoints", "openapi_document"]
