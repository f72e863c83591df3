"""Where the resource folders (templates/, emails/, events/) live.

From a checkout (or an editable install) they are the top-level folders; a wheel
ships them inside the package as ``engage/_resources/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder ``name`` (``"templates"``, ``"emails"``, ``"events"``)."""
    bundled = _PACKAGE / "_resources" / name
    if bundled.exists():
        return bundled
    return _PACKAGE.parent / name


def static_dir() -> Path:
    return _PACKAGE / "web" / "static"
