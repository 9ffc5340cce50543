"""Registries: one per kind of named thing (layers, activations, optimizers, schedules,
losses, metrics, attacks, ...). A registry is the only source of its names: the spec
validates against it, and `get(name)` raises a ValueError that lists the valid names.

    OPTIMIZERS = Registry("optimizer", {"sgd": _sgd, "adam": _adam})
    OPTIMIZERS.get("adma")  # ValueError: unknown optimizer 'adma' (did you mean 'adam'?); ...
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from deepnet.core.errors import did_you_mean

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Names of one kind mapped to what they stand for, in registration order."""

    def __init__(self, kind: str, items: Mapping[str, T] | None = None):
        self.kind = kind
        self._items: dict[str, T] = dict(items or {})

    def register(self, name: str):
        """Decorator: `@REGISTRY.register("name")` adds the decorated object."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def remove(self, name: str) -> T:
        """Take `name` out (a registration from Python undone); KeyError when absent."""
        return self._items.pop(name)

    def get(self, name: Any) -> T:  # type: ignore[override]
        """The registered object `name`; ValueError naming the valid ones otherwise."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(self.unknown(name)) from None

    def check(self, name: Any) -> str:
        """`name` itself when it is registered (a pydantic field validator)."""
        self.get(name)
        return name

    def unknown(self, name: Any) -> str:
        return (f"unknown {self.kind} {name!r}{did_you_mean(str(name), self.names)}; "
                f"valid: {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names)})"
