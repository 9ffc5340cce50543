"""The exceptions deepnet raises for bad input. The CLI maps each to exit code 2."""

from __future__ import annotations


class DeepnetError(Exception):
    """Bad input from the user (spec, data, files, arguments). Exit code 2."""

    exit_code = 2


class SpecError(DeepnetError):
    """The spec is invalid: a wrong key, value or shape."""


class DataError(DeepnetError):
    """The data cannot be read or does not fit the spec."""


class CheckpointError(DeepnetError):
    """A run directory or checkpoint is missing, truncated or altered."""


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A ' (did you mean 'x'?)' hint for a misspelt name, or ''."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def choose(kind: str, name: str, registry: dict):
    """registry[name], or a ValueError listing the valid names (ARCHITECTURE.md §3.1)."""
    try:
        return registry[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(registry))
        raise ValueError(
            f"unknown {kind} {name!r}{did_you_mean(name, list(registry))}; valid: {valid}"
        ) from None
