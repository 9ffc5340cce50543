"""Modules imported when first used. pandas costs about half a second to import, and most
runs (arrays, images, sound, the built-in sets) never touch it; the modules that read
tables write `pd = lazy("pandas")` and pay for it only when a table is read.

`loaded(name)` says whether a module has been imported by anyone, so that a check such
as "is this a DataFrame?" needs no import: no DataFrame can exist before pandas is.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType


class LazyModule:
    """Stands for a module: the first attribute read imports it (then a dict lookup)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        module: ModuleType = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> LazyModule:
    return LazyModule(name)


def loaded(name: str) -> ModuleType | None:
    """The module if it has been imported, else None (and nothing is imported)."""
    return sys.modules.get(name)


def is_frame(value, kinds: tuple[str, ...] = ("DataFrame",)) -> bool:
    """Whether `value` is a pandas object of one of `kinds` (DataFrame, Series), without
    importing pandas."""
    pd = loaded("pandas")
    return pd is not None and isinstance(value, tuple(getattr(pd, k) for k in kinds))
