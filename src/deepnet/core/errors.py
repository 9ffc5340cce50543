"""The exceptions deepnet raises for bad input. The CLI maps each to exit code 2.

A check that can find several problems gathers them in a `Problems` and raises one error
that lists every one (`listing`), the way the spec's schema errors do."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator, Sequence


class DeepnetError(Exception):
    """Bad input from the user (spec, data, files, arguments). Exit code 2.

    `path` is the spec path the problem is at (`model.layers[0]`), when it has one: code
    that handles the error reads it instead of matching the message's text."""

    exit_code = 2

    def __init__(self, *args: object, path: str | None = None):
        super().__init__(*args)
        self.path = path


class SpecError(DeepnetError):
    """The spec is invalid: a wrong key, value or shape."""


class DataError(DeepnetError):
    """The data cannot be read or does not fit the spec."""


class CheckpointError(DeepnetError):
    """A run directory or checkpoint is missing, truncated or altered."""


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """A ' (did you mean 'x'?)' hint for a misspelt name, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def listing(problems: Sequence[str], what: str) -> str:
    """'N problems {what}:' and then each problem on its own indented line."""
    noun = "problem" if len(problems) == 1 else "problems"
    lines = (p.replace("\n", "\n  ") for p in problems)  # a problem's own lines stay inside
    return f"{len(problems)} {noun} {what}:\n" + "\n".join(f"  {line}" for line in lines)


class Problems:
    """The problems one pass of checks finds, raised together by `raise_all`."""

    def __init__(self) -> None:
        self.errors: list[DeepnetError] = []

    def add(self, path: str, text: str, kind: type[DeepnetError] = SpecError) -> None:
        """One problem at a spec path: 'path: text'."""
        self.append(kind(f"{path}: {text}", path=path))

    def append(self, error: DeepnetError) -> None:
        self.errors.append(error)

    @contextlib.contextmanager
    def gather(self) -> Iterator[None]:
        """Run a check that raises: its error joins the problems and the pass goes on."""
        try:
            yield
        except DeepnetError as e:
            self.append(e)

    def raise_all(self, what: str) -> None:
        """One error listing every problem, 'N problems {what}:' (none: nothing): a
        DataError when each one is a DataError, a SpecError otherwise."""
        if not self.errors:
            return
        kind = DataError if all(isinstance(e, DataError) for e in self.errors) else SpecError
        only = self.errors[0].path if len(self.errors) == 1 else None
        raise kind(listing([str(e) for e in self.errors], what), path=only)

    def __bool__(self) -> bool:
        return bool(self.errors)
