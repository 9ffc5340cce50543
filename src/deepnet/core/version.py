"""deepnet's version, read from the installed package's metadata (pyproject.toml)."""

from importlib.metadata import version

VERSION = version("deepnet")
