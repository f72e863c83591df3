"""Alumni records. Importing the package registers its email context loaders."""

from engage.alumni import secondary as _secondary  # noqa: F401
