"""Command lines as a shell reads them: a spec change as a `--set` word to paste."""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml


def format_override(path: str, value: Any) -> str:
    """`--set path=value` as words that bash and zsh take as-is and `--set` reads back to
    the same value: the value as YAML flow (JSON for lists and mappings; a string bare
    when YAML reads it back unchanged), single-quoted where the shell would split or
    expand it."""
    plain = isinstance(value, str) and _reads_back(value)
    text = value if plain else json.dumps(value, ensure_ascii=False)
    return "--set " + shlex.quote(f"{path}={text}")


def _reads_back(text: str) -> bool:
    try:
        return yaml.safe_load(text) == text
    except yaml.YAMLError:
        return False
